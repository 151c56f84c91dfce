"""What processing one webhook event can reach: our rows, the gateway config's Stripe client, the Mantle side."""

from __future__ import annotations

from dataclasses import dataclass, field

from moqui_bridge.entity import EntityFacade
from moqui_bridge.mantle.party_cards import PartyCardsSide
from moqui_bridge.mantle.remote_moqui import RemoteMantleSide
from moqui_bridge.mantle.side import MantleSide
from service.config import ServerSettings
from service.stripe_gateway.client import StripeGateway, StripeGateways
from service.stripe_gateway.deadline import Deadline

__all__ = ["MoquiRecipient", "WebhookContext"]

_DEFAULT_DEADLINE_SECONDS: float = ServerSettings.model_fields["request_deadline_seconds"].default


@dataclass(frozen=True)
class MoquiRecipient:
    """The configured Moqui and the client its component calls as: events about that client's PaymentIntents are
    sent to the component's REST resources."""

    side: RemoteMantleSide
    client_name: str
    # checkout.place_order: a checkout payment a webhook records also places its order.
    place_order: bool = False


@dataclass(frozen=True)
class WebhookContext:
    """One delivery's context: the endpoint's gateway config and everything its handlers use."""

    entity: EntityFacade
    gateways: StripeGateways
    mantle: MantleSide
    payment_gateway_config_id: str
    moqui: MoquiRecipient | None = None
    # Where saved cards are recorded (the Moqui's component, or the local Mantle tables); None: card events ignored.
    cards: PartyCardsSide | None = None
    # The delivery's deadline (server.request_deadline_seconds from its arrival): the order's checkout lease it may
    # take is waited for and held until then at most (service/checkout/order_lease.py).
    deadline: Deadline = field(default_factory=lambda: Deadline.after(_DEFAULT_DEADLINE_SECONDS))
    # This process's liveness key (0: none), written on the leases the processing takes.
    liveness_key: int = 0

    @property
    def gateway(self) -> StripeGateway:
        """The Stripe client of the endpoint's gateway config."""
        return self.gateways.get(self.payment_gateway_config_id)
