"""What the Mantle rules need from a service call's context, and the clock they use."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from moqui_bridge.entity.connection import Connection
from moqui_bridge.entity.facade import EntityFacade


class MantleContext(Protocol):
    """The per-call context the Mantle rules run with (the service package's ServiceContext satisfies it)."""

    @property
    def entity(self) -> EntityFacade:
        """The entity facade over the Moqui-shaped database."""
        ...

    async def call_service(
        self, name: str, parameters: Mapping[str, Any], *, transaction: Connection | None = None
    ) -> dict[str, Any]:
        """Call any registered service by its Moqui name with this same context and return its out-parameters.

        This is how the rules reach the gateway implementation a PaymentGatewayConfig names
        (``authorizeServiceName`` and so on), passing their open ``transaction``: as in Moqui, the called service
        runs in the caller's transaction, so what it records (the PaymentGatewayResponse) commits or rolls back
        with the rule. A ``ServiceError`` raised by that service propagates.
        """
        ...


def now_timestamp() -> datetime:
    """Now as Moqui stores a date-time: naive, in UTC (Moqui's default database_time_zone)."""
    return datetime.now(UTC).replace(tzinfo=None)


MantleContextT = TypeVar("MantleContextT", bound=MantleContext)
"""The context type of a ServiceRegistry the Mantle rules are registered into."""
