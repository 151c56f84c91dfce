"""What the Mantle rules need from a service call's context, and the clock they use."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from moqui_bridge.entity.connection import Connection
from moqui_bridge.entity.facade import EntityFacade


class RuleTransaction(Protocol):
    """The transaction a running Mantle rule writes in, begun only when first asked for (rule_call.RuleCall).

    A gateway implementation the rule calls asks for it after the gateway has answered, to record its
    PaymentGatewayResponse in the same short transaction as the rule's own writes that follow from that answer; so
    nothing holds a database connection while the gateway is waited for.
    """

    async def writing(self) -> Connection:
        """The rule's open transaction, begun now if none is open."""
        ...


class MantleContext(Protocol):
    """The per-call context the Mantle rules run with (the service package's ServiceContext satisfies it)."""

    @property
    def entity(self) -> EntityFacade:
        """The entity facade over the Moqui-shaped database."""
        ...

    async def call_service(
        self, name: str, parameters: Mapping[str, Any], *, transaction: RuleTransaction | None = None
    ) -> dict[str, Any]:
        """Call any registered service by its Moqui name with this same context and return its out-parameters.

        This is how the rules reach the gateway implementation a PaymentGatewayConfig names
        (``authorizeServiceName`` and so on), passing their ``transaction``: the called service writes what it
        records (the PaymentGatewayResponse) there, so it commits or rolls back with the rule's writes that follow.
        A ``ServiceError`` raised by that service propagates.
        """
        ...

    def rule_lease(self, kind: str, record_id: str) -> AbstractAsyncContextManager[None]:
        """Hold the lease that makes rule calls on one record (``kind`` "payment" or "order") run one at a time,
        in every process sharing the database, for the body; no database connection is held meanwhile."""
        ...


def now_timestamp() -> datetime:
    """Now as Moqui stores a date-time: naive, in UTC (Moqui's default database_time_zone)."""
    return datetime.now(UTC).replace(tzinfo=None)


MantleContextT = TypeVar("MantleContextT", bound=MantleContext)
"""The context type of a ServiceRegistry the Mantle rules are registered into."""
