"""ServiceContext: everything one service call can reach, built per request by the dispatchers' context factory.

It satisfies `moqui_bridge.mantle`'s `MantleContext` protocol (`entity` and `call_service`), so the standalone Mantle
rules and the services they name call each other through the same registry with the same context, as Moqui's
`ec.service.sync()` does; a rule passes its write transaction along (begun only when the called service first writes,
after the gateway answered), and serializes on its record with a row lease (`rule_lease`).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from typing import Any, Final

from moqui_bridge.entity import EntityFacade
from moqui_bridge.mantle.context import RuleTransaction
from moqui_bridge.service import ServiceRegistry
from moqui_bridge.web.auth import Principal
from service.clock import SYSTEM_CLOCK, Clock
from service.config import Settings
from service.mantle_rule_lease import rule_lease
from service.stripe_gateway.client import StripeGateways
from service.stripe_gateway.deadline import Deadline

__all__ = ["IDEMPOTENCY_KEY_HEADER", "STANDALONE_CLIENT", "ServiceContext"]

# The header an integrator may send to make a repeated request explicit (Moqui's remote runners send none).
IDEMPOTENCY_KEY_HEADER: Final = "Idempotency-Key"
# The client name of the Mantle rules that run in this process (docs/gateway-api.md: "the client standalone").
STANDALONE_CLIENT: Final = "standalone"


@dataclass(frozen=True)
class ServiceContext:
    """The per-call context of every service in the registry.

    `principal` is the authenticated caller (None for anonymous calls and in-process work); `client_request_key`
    is the caller's Idempotency-Key header, if any; `arrived` is the request's deadline, set when it arrived
    (None for in-process work, which gets one per call). `installation_id` is this database's (every Stripe
    idempotency key carries it). `transaction` is the write transaction of a Mantle rule calling a service
    in-process (None otherwise). `clock` is the one the journal and the reconciler read (tests move theirs).
    """

    entity: EntityFacade
    gateways: StripeGateways
    settings: Settings
    services: ServiceRegistry[ServiceContext]
    installation_id: str
    principal: Principal | None = None
    client_request_key: str | None = None
    arrived: Deadline | None = None
    transaction: RuleTransaction | None = None
    acting_for: str | None = None
    clock: Clock = SYSTEM_CLOCK
    # This process's ProcessLiveness key (0: none), written on the leases it takes so a dead holder is seen at once.
    liveness_key: int = 0

    @property
    def client_name(self) -> str:
        """Whose namespace a gateway request works in: the authenticated name, or `standalone` in-process."""
        if self.acting_for is not None:
            return self.acting_for
        return self.principal.name if self.principal is not None else STANDALONE_CLIENT

    @property
    def deadline(self) -> Deadline:
        """The request's deadline; in-process work without one gets a fresh one of the configured length."""
        return self.arrived or Deadline.after(self.settings.server.request_deadline_seconds)

    async def call_service(
        self, name: str, parameters: Mapping[str, Any], *, transaction: RuleTransaction | None = None
    ) -> dict[str, Any]:
        """Call a registered service by Moqui name with this context; returns its out-parameters.

        `transaction`: the caller's write transaction, which the called service writes in (a Mantle rule calling
        the gateway implementation its PaymentGatewayConfig names; it asks for it only after the gateway answered).
        ServiceError and ParameterError from the called service propagate, as a nested Moqui call's errors do.
        """
        context = self if transaction is None else replace(self, transaction=transaction)
        return await self.services.call(name, parameters, context)

    def rule_lease(self, kind: str, record_id: str) -> AbstractAsyncContextManager[None]:
        """The lease a standalone Mantle rule call holds on its record (service/mantle_rule_lease.py), until this
        call's deadline."""
        return rule_lease(self.entity, kind, record_id, self.deadline, holder_key=self.liveness_key)

    def for_request(self, principal: Principal | None, client_request_key: str | None = None) -> ServiceContext:
        """A copy for one request that has just arrived: this caller and key, and the request's deadline."""
        key = client_request_key.strip() if client_request_key else None
        return replace(
            self,
            principal=principal,
            client_request_key=key or None,
            arrived=Deadline.after(self.settings.server.request_deadline_seconds),
        )

    def as_client(self, client_name: str) -> ServiceContext:
        """A copy that calls the gateway API as `client_name` (the standalone rules act as `standalone`), outside
        any caller's transaction: the gateway API never works in the caller's database."""
        return replace(self, acting_for=client_name, transaction=None)
