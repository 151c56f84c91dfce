"""Which services the registry holds: the gateway API, its standalone client, and Mantle's rules over the local
tables (the standalone client's Moqui), plus checkout and webhook services."""

from __future__ import annotations

from moqui_bridge.mantle.order_rules import register_order_rules
from moqui_bridge.mantle.payment_rules import register_payment_rules
from moqui_bridge.service import ServiceRegistry
from service.checkout.checkout_url_service import register_checkout_url_service
from service.context import ServiceContext
from service.payment_services.registration import register_gateway_api
from service.payment_services.standalone_client import register_standalone_client
from service.recovery.recovery_url_service import register_recovery_url_service
from service.webhooks import register_webhook_services


def register_services(registry: ServiceRegistry[ServiceContext]) -> None:
    """Every service this process serves."""
    register_gateway_api(registry)
    register_standalone_client(registry)
    register_checkout_url_service(registry)
    register_recovery_url_service(registry)
    register_webhook_services(registry)
    register_payment_rules(registry)
    register_order_rules(registry)
