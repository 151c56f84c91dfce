"""Standalone start-up: a Mantle PaymentGatewayConfig row for every configured `[gateways.<id>]` section.

Mantle's rules find a payment's gateway through its PaymentGatewayConfig row (which services authorize, capture,
...); a new standalone database has none, so without this a configured gateway could take no payment. A missing
row is created naming the Moqui component's services, authorize then capture later (as StripeDemoData.xml's
`StripeGateway`). A row that exists is the operator's and is left as it is (to charge at once, point its
authorizeServiceName at `authorizeAndCapture#Payment` and empty its captureServiceName). No secret is ever written:
keys stay in the configuration. With a shared database these rows are Moqui's (the component's data), so this
runs standalone only.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Final

import asyncpg

from moqui_bridge.entity import EntityFacade
from moqui_bridge.mantle import names
from service.payment_services.registration import AUTHORIZE, CAPTURE, DETAILS, REFUND, RELEASE

__all__ = ["GATEWAY_TYPE", "ensure_gateway_configs", "warn_without_gateways"]

log = logging.getLogger(__name__)

GATEWAY_TYPE: Final = "PgtStripe"
_SERVICE_NAMES: Final = {
    "authorizeServiceName": AUTHORIZE,
    "captureServiceName": CAPTURE,
    "releaseServiceName": RELEASE,
    "refundServiceName": REFUND,
    "detailsServiceName": DETAILS,
}


async def ensure_gateway_configs(entity: EntityFacade, payment_gateway_config_ids: Collection[str]) -> list[str]:
    """Create the missing PaymentGatewayConfig rows of the configured gateways; the ids created."""
    created: list[str] = []
    for config_id in sorted(payment_gateway_config_ids):
        if await entity.find_one(names.GATEWAY_CONFIG, {"paymentGatewayConfigId": config_id}) is not None:
            continue
        values = {
            "paymentGatewayConfigId": config_id,
            "paymentGatewayTypeEnumId": GATEWAY_TYPE,
            "description": f"Stripe ({config_id}), made from moqui-stripe's configuration",
            **_SERVICE_NAMES,
        }
        try:
            await entity.create(names.GATEWAY_CONFIG, values)
        except asyncpg.UniqueViolationError:
            continue  # another process sharing the database made it a moment ago
        created.append(config_id)
    if created:
        log.info("created PaymentGatewayConfig rows (authorize, capture later) for %s", ", ".join(created))
    return created


def warn_without_gateways(payment_gateway_config_ids: Collection[str]) -> None:
    """One warning when no gateway is configured: the service then answers but can take no payment."""
    if not payment_gateway_config_ids:
        log.warning(
            "no [gateways.<paymentGatewayConfigId>] section is configured: no payment can be taken "
            "(see README, Configuration)"
        )
