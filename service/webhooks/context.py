"""What processing one webhook event can reach: our rows, the gateway config's Stripe client, the Mantle side."""

from __future__ import annotations

from dataclasses import dataclass

from moqui_bridge.entity import EntityFacade
from moqui_bridge.mantle.side import MantleSide
from service.stripe_gateway.client import StripeGateway, StripeGateways

__all__ = ["WebhookContext"]


@dataclass(frozen=True)
class WebhookContext:
    """One delivery's context: the endpoint's gateway config and everything its handlers use."""

    entity: EntityFacade
    gateways: StripeGateways
    mantle: MantleSide
    payment_gateway_config_id: str

    @property
    def gateway(self) -> StripeGateway:
        """The Stripe client of the endpoint's gateway config."""
        return self.gateways.get(self.payment_gateway_config_id)
