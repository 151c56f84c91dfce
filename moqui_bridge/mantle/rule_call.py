"""One run of a Mantle rule: its context, its record's lease, the short transactions it writes in and the messages
it leaves for the caller.

A rule call holds no database connection while the gateway it calls waits for Stripe. Rule calls on one record
serialize on the record's lease (`MantleContext.rule_lease`), not on a transaction. Reads run on connections of their
own, or in the open write unit when there is one. Writes go into a *write unit*: one short transaction, begun by the
first write (or by the gateway implementation when it records the gateway's answer, `RuleTransaction`) and committed
before the rule calls the gateway again, or when the rule ends (rolled back if it fails). So everything that follows
from one gateway answer -- its PaymentGatewayResponse and the Payment's moves -- commits together or not at all:
a rule call that dies before that commit leaves no PGR, its retry sends the gateway the same attempt (the count of
definitive PGRs, docs/gateway-api.md) and is answered from the journal, not by a second Stripe action.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from moqui_bridge.entity.facade import EntityFacade
from moqui_bridge.mantle import gateway
from moqui_bridge.mantle.context import MantleContext
from moqui_bridge.mantle.records import Connection, Record, load_payment

log = logging.getLogger(__name__)

# A write unit holds its transaction's connection and may wait for one more (a sequence bank refilling for a new
# record's id), so units are admitted (moqui_bridge/entity/facade.py); nothing else in a rule call holds a connection.
_CONNECTIONS_PER_WRITE_UNIT = 2


@dataclass
class RuleCall:
    """The context and write units of one rule call; nested rules (capture authorizing first) share it."""

    context: MantleContext
    messages: list[str] = field(default_factory=list)
    _unit: AsyncExitStack | None = field(default=None, init=False, repr=False)
    _connection: Connection | None = field(default=None, init=False, repr=False)

    @property
    def entity(self) -> EntityFacade:
        """The context's entity facade."""
        return self.context.entity

    @property
    def connection(self) -> Connection | None:
        """The open write unit's transaction, for reads that must see the rule's own writes; None when no unit is
        open (a read then takes a pooled connection of its own)."""
        return self._connection

    async def writing(self) -> Connection:
        """The open write unit's transaction, begun now if none is open (RuleTransaction)."""
        if self._connection is not None:
            return self._connection
        unit = AsyncExitStack()
        try:
            await unit.enter_async_context(self.entity.admission("mantle-rule", _CONNECTIONS_PER_WRITE_UNIT))
            connection = await unit.enter_async_context(self.entity.transaction())
        except BaseException:
            await unit.aclose()
            raise
        self._unit, self._connection = unit, connection
        return connection

    async def commit(self) -> None:
        """Commit the open write unit, if any."""
        unit, self._unit, self._connection = self._unit, None, None
        if unit is not None:
            await unit.aclose()

    async def roll_back(self, error: BaseException) -> None:
        """Roll the open write unit back, if any, because of `error`."""
        unit, self._unit, self._connection = self._unit, None, None
        if unit is not None:
            await unit.__aexit__(type(error), error, error.__traceback__)

    def note(self, message: str) -> None:
        """Leave a message for the caller (Moqui's message facade: shown, not an error)."""
        log.info("%s", message)
        self.messages.append(message)

    async def call_gateway(self, implementation: str, parameters: Mapping[str, Any]) -> dict[str, Any]:
        """Call a gateway implementation: the open write unit is committed first, so no connection is held while
        the gateway works; the implementation records its answer in the next unit (`writing`)."""
        await self.commit()
        return await gateway.call_gateway(self.context, self, implementation, parameters)

    async def gateway_service(
        self, payment: Record, payment_method: Record | None, operation: gateway.Operation, refusal: str
    ) -> tuple[str, Record, str] | None:
        """The gateway config of an existing payment and its service for `operation`, as (config id, config,
        service name); or None after noting why nothing is done (`refusal`, e.g. "not capturing"), as Mantle
        skips an operation whose gateway or service is not configured instead of failing."""
        payment_id = payment["paymentId"]
        config_id = await gateway.config_id_for_existing(self.entity, self.connection, payment, payment_method)
        if config_id is None:
            self.note(f"No payment gateway is configured for Payment {payment_id}, {refusal}")
            return None
        config = await gateway.load_config(self.entity, self.connection, config_id)
        implementation = gateway.service_name(config, operation)
        if implementation is None:
            self.note(f"Payment gateway {config_id} has no {operation} service, {refusal} (Payment {payment_id})")
            return None
        return config_id, config, implementation

    async def run_gateway_operation(
        self, implementation: str, parameters: Mapping[str, Any]
    ) -> tuple[Record, Record | None]:
        """Call a gateway implementation for the payment `parameters["paymentId"]`, then re-read the Payment and the
        PaymentGatewayResponse it wrote: (payment, response or None).

        The Payment is re-read because the implementation may have changed it (reference number, status) through its
        own calls, and the caller's next decision must see that.
        """
        payment_id = str(parameters["paymentId"])
        result = await self.call_gateway(implementation, parameters)
        payment = await load_payment(self.entity, self.connection, payment_id)
        response = await gateway.read_gateway_response(
            self.entity, self.connection, payment, result.get("paymentGatewayResponseId"), implementation
        )
        return payment, response


@dataclass
class PaymentOutcome:
    """What a payment rule did: the Payment as it now is, the gateway's response (if it was called) and messages."""

    payment: Record
    response: Record | None = None
    messages: list[str] = field(default_factory=list)
    refund_payment_id: str | None = None

    @property
    def response_id(self) -> str | None:
        """The id of the PaymentGatewayResponse the gateway wrote, if any."""
        return None if self.response is None else str(self.response["paymentGatewayResponseId"])


@asynccontextmanager
async def leased_rule_call(context: MantleContext, kind: str, record_id: str) -> AsyncIterator[RuleCall]:
    """A rule call holding the record's lease (`kind` "payment" or "order"): its last write unit is committed when
    the body ends, or rolled back when it fails."""
    async with context.rule_lease(kind, record_id):
        call = RuleCall(context)
        try:
            yield call
        except BaseException as error:
            await call.roll_back(error)
            raise
        await call.commit()
