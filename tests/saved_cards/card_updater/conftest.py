"""The card updater's events reach the webhook endpoint of the real app (tests/webhooks' world: standalone, the
emulator delivering when the test says)."""

from tests.webhooks.conftest import WebhookWorld, webhook_deadline_seconds, webhook_pool_max_size, world

__all__ = ["WebhookWorld", "webhook_deadline_seconds", "webhook_pool_max_size", "world"]
