"""The card updater's events reach the webhook endpoint of the real app (tests/webhooks' world: standalone, the
emulator delivering when the test says)."""

from tests.webhooks.conftest import WebhookWorld, world

__all__ = ["WebhookWorld", "world"]
