"""Which services the registry holds in each deployment mode."""

from __future__ import annotations

from moqui_bridge.mantle.order_rules import register_order_rules
from moqui_bridge.mantle.payment_rules import register_payment_rules
from moqui_bridge.service import ServiceRegistry
from service.checkout.checkout_url_service import register_checkout_url_service
from service.config import Settings
from service.context import ServiceContext
from service.payment_services.registration import register_payment_services
from service.webhooks import register_webhook_services


def register_services(registry: ServiceRegistry[ServiceContext], settings: Settings) -> None:
    """Our Stripe services always; Mantle's generic rules only standalone (in shared mode Moqui runs its own)."""
    register_payment_services(registry)
    register_checkout_url_service(registry)
    register_webhook_services(registry)
    if settings.server.mode == "standalone":
        register_payment_rules(registry)
        register_order_rules(registry)
