"""One run of a Mantle rule: its context, the transaction it works in and the messages it leaves for the caller."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from moqui_bridge.entity.facade import EntityFacade
from moqui_bridge.entity.locks import advisory_lock
from moqui_bridge.mantle import gateway
from moqui_bridge.mantle.context import MantleContext
from moqui_bridge.mantle.records import Connection, Record, load_payment

log = logging.getLogger(__name__)


@dataclass
class RuleCall:
    """The context and open transaction of one rule; nested rules (capture authorizing first) share it."""

    context: MantleContext
    connection: Connection
    messages: list[str] = field(default_factory=list)

    @property
    def entity(self) -> EntityFacade:
        """The context's entity facade."""
        return self.context.entity

    def note(self, message: str) -> None:
        """Leave a message for the caller (Moqui's message facade: shown, not an error)."""
        log.info("%s", message)
        self.messages.append(message)

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
        result = await gateway.call_gateway(self.context, self.connection, implementation, parameters)
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


def lock_key(kind: str, record_id: str) -> str:
    """The advisory-lock key for a record. Deliberately not the gateway services' `payment:<id>` key: a rule holds
    its lock while it calls the gateway, which takes that one in another connection."""
    return f"mantle-{kind}:{record_id}"


# A rule call holds its own connection while the gateway operation it calls is admitted separately.
_CONNECTIONS_PER_RULE_CALL = 4


@asynccontextmanager
async def locked_rule_call(context: MantleContext, kind: str, record_id: str) -> AsyncIterator[RuleCall]:
    """A transaction holding the record's advisory lock until it commits (never a row lock on Moqui's rows).

    Admitted through its own slots (a rule holds its connection while the gateway operation it calls takes more),
    so under load rule calls queue instead of exhausting the pool.
    """
    async with (
        context.entity.admission("mantle-rule", _CONNECTIONS_PER_RULE_CALL),
        context.entity.transaction() as connection,
        advisory_lock(connection, lock_key(kind, record_id)),
    ):
        yield RuleCall(context, connection)
