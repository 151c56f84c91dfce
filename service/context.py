"""ServiceContext: everything one service call can reach, built per request by the dispatchers' context factory.

It satisfies `moqui_bridge.mantle`'s `MantleContext` protocol (`entity` and `call_service`), so the standalone Mantle
rules and our gateway services call each other through the same registry with the same context, as Moqui's
`ec.service.sync()` does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from moqui_bridge.entity import EntityFacade
from moqui_bridge.service import ServiceRegistry
from moqui_bridge.web.auth import Principal
from service.config import Settings
from service.stripe_gateway.client import StripeGateways

__all__ = ["IDEMPOTENCY_KEY_HEADER", "ServiceContext"]

# The header an integrator may send to make a repeated request explicit (Moqui's remote runners send none).
IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"


@dataclass(frozen=True)
class ServiceContext:
    """The per-call context of every service in the registry.

    `principal` is the authenticated caller (None for anonymous calls); `client_request_key` is the caller's
    Idempotency-Key header, if any. Both are request facts, so `for_request` copies a shared base context.
    """

    entity: EntityFacade
    gateways: StripeGateways
    settings: Settings
    services: ServiceRegistry[ServiceContext]
    principal: Principal | None = None
    client_request_key: str | None = None

    async def call_service(self, name: str, parameters: Mapping[str, Any]) -> dict[str, Any]:
        """Call a registered service by Moqui name with this same context; returns its out-parameters.

        ServiceError and ParameterError from the called service propagate, as a nested Moqui call's errors do.
        """
        return await self.services.call(name, parameters, self)

    def for_request(self, principal: Principal | None, client_request_key: str | None = None) -> ServiceContext:
        """A copy for one request: same facade, gateways, settings and registry; this caller and key."""
        key = client_request_key.strip() if client_request_key else None
        return replace(self, principal=principal, client_request_key=key or None)
