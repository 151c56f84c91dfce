"""stripe.StripeGatewayOperation: the journal of the gateway API, one row per attempt.

An attempt is identified by (client, paymentGatewayConfigId, paymentId, operation, attemptNum), the caller's own
count of definitive answers (docs/gateway-api.md, "The attempt identity"). The row holds the request as asked (and a
fingerprint of it), the one Stripe write the attempt makes, and, once Stripe answered definitively, the answer given;
its id is the last part of the Stripe idempotency key. Every read and write here is one short statement: the
per-payment lease (payment_lease.py) keeps other requests of the same client and payment out meanwhile, and no
connection is held while Stripe is called.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from moqui_bridge.entity import EntityFacade
from service.clock import SYSTEM_CLOCK, Clock
from service.money import from_minor_units, to_minor_units
from service.stripe_gateway.idempotency import GatewayOperation, idempotency_key

__all__ = [
    "GATEWAY_OPERATION",
    "SGO_COMPLETED",
    "SGO_IN_DOUBT",
    "SGO_STARTED",
    "UNRESOLVED",
    "Attempt",
    "AttemptIdentity",
    "JournaledRequest",
    "OperationAttempts",
    "answer_text",
    "begin_attempt",
    "find_attempt",
    "finish_attempt",
    "forget_attempt",
    "new_attempt",
    "read_attempts",
]

GATEWAY_OPERATION: Final = "stripe.StripeGatewayOperation"
SGO_STARTED: Final = "SgoStarted"
SGO_COMPLETED: Final = "SgoCompleted"
SGO_IN_DOUBT: Final = "SgoInDoubt"
UNRESOLVED: Final = (SGO_STARTED, SGO_IN_DOUBT)


@dataclass(frozen=True)
class AttemptIdentity:
    """Who asks for which attempt of which operation on which payment."""

    client_name: str
    payment_gateway_config_id: str
    payment_id: str
    operation: GatewayOperation
    attempt_num: int

    def conditions(self) -> dict[str, Any]:
        """The journal's identity columns."""
        return {
            "clientName": self.client_name,
            "paymentGatewayConfigId": self.payment_gateway_config_id,
            "paymentId": self.payment_id,
            "operationName": self.operation.value,
            "attemptNum": self.attempt_num,
        }

    def describe(self) -> str:
        """ "attempt N of refund for payment P", for messages."""
        return f"attempt {self.attempt_num} of {self.operation.value} for payment {self.payment_id}"


@dataclass(frozen=True)
class JournaledRequest:
    """The parameters of an attempt that decide what Stripe is asked; the same identity must always ask the same."""

    identity: AttemptIdentity
    payment_intent_id: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    payment_method: str | None = None
    customer: str | None = None
    order_id: str | None = None
    order_part_seq_id: str | None = None

    def fingerprint(self) -> str:
        """SHA-256 of what the attempt asks for (amounts compared by value: 10.0 and 10.00 are the same)."""
        canonical = {
            "paymentIntentId": self.payment_intent_id,
            "amount": None if self.amount is None else format(self.amount.normalize(), "f"),
            "currency": self.currency,
            "paymentMethod": self.payment_method,
            "customer": self.customer,
        }
        return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()

    def describe(self) -> str:
        """What was asked, for the message refusing a changed request."""
        parts = []
        if self.amount is not None and self.currency:
            # In the currency's own scale (10.00 USD), as the caller sent it, not as the column holds it.
            parts.append(
                f"{from_minor_units(to_minor_units(self.amount, self.currency), self.currency)} {self.currency}"
            )
        elif self.currency:
            parts.append(f"all of it in {self.currency}")
        if self.payment_intent_id:
            parts.append(f"PaymentIntent {self.payment_intent_id}")
        if self.payment_method:
            parts.append(f"PaymentMethod {self.payment_method}")
        return ", ".join(parts) or "no parameters"


@dataclass(frozen=True)
class Attempt:
    """One journal row, as read."""

    row: dict[str, Any]
    installation_id: str

    @property
    def operation_id(self) -> str:
        """The row's id."""
        return str(self.row["operationId"])

    @property
    def idempotency_key(self) -> str:
        """The Stripe idempotency key of the attempt's write."""
        return idempotency_key(self.installation_id, self.operation_id)

    @property
    def status(self) -> str:
        """SgoStarted, SgoCompleted or SgoInDoubt."""
        return str(self.row["operationStatusId"])

    @property
    def started(self) -> datetime:
        """When the attempt was journaled (its key exists since), naive UTC."""
        started: datetime = self.row["startedDate"]
        return started

    @property
    def stripe_call(self) -> str:
        """The Stripe write this attempt makes (create, confirm, capture, cancel, refund) or none."""
        return str(self.row["stripeCall"])

    @property
    def request(self) -> JournaledRequest:
        """The request as journaled (a replay sends exactly this)."""
        row = self.row
        identity = AttemptIdentity(
            row["clientName"],
            row["paymentGatewayConfigId"],
            row["paymentId"],
            GatewayOperation(row["operationName"]),
            int(row["attemptNum"]),
        )
        return JournaledRequest(
            identity,
            payment_intent_id=row["paymentIntentId"],
            amount=row["amount"],
            currency=row["amountUomId"],
            payment_method=row["stripePaymentMethodId"],
            customer=row["stripeCustomerId"],
            order_id=row["orderId"],
            order_part_seq_id=row["orderPartSeqId"],
        )

    @property
    def answer(self) -> dict[str, Any] | None:
        """The answer recorded for a completed attempt."""
        text = self.row.get("answerText")
        return json.loads(text) if text else None


@dataclass(frozen=True)
class OperationAttempts:
    """Every journal row of one client's operation on one payment (all attempt numbers), read in one statement."""

    identity: AttemptIdentity
    rows: tuple[dict[str, Any], ...]
    installation_id: str

    def this(self) -> Attempt | None:
        """The row of the identity's own attempt number, if any."""
        return next(
            (Attempt(row, self.installation_id) for row in self.rows if row["attemptNum"] == self.identity.attempt_num),
            None,
        )

    def unresolved_num(self) -> int | None:
        """The attempt number of another unresolved attempt, if any."""
        return min(
            (
                int(row["attemptNum"])
                for row in self.rows
                if row["operationStatusId"] in UNRESOLVED and row["attemptNum"] != self.identity.attempt_num
            ),
            default=None,
        )

    def next_num(self) -> int:
        """One more than the highest attempt number journaled (what a genuinely new attempt should send)."""
        return max((int(row["attemptNum"]) for row in self.rows), default=self.identity.attempt_num) + 1


async def read_attempts(entity: EntityFacade, identity: AttemptIdentity, installation_id: str) -> OperationAttempts:
    """The journal rows of the identity's client, config, payment and operation."""
    conditions = identity.conditions()
    del conditions["attemptNum"]
    rows = await entity.find(GATEWAY_OPERATION, conditions, order_by=["attemptNum"])
    return OperationAttempts(identity, tuple(rows), installation_id)


def answer_text(answer: dict[str, Any]) -> str:
    """An answer as the journal keeps it (answerText), replayed to a repeated request."""
    return json.dumps(answer, sort_keys=True)


async def find_attempt(entity: EntityFacade, identity: AttemptIdentity, installation_id: str) -> Attempt | None:
    """The journal row of this identity, if any."""
    rows = await entity.find(GATEWAY_OPERATION, identity.conditions(), limit=1)
    return Attempt(rows[0], installation_id) if rows else None


async def new_attempt(
    entity: EntityFacade,
    request: JournaledRequest,
    stripe_call: str,
    installation_id: str,
    *,
    clock: Clock = SYSTEM_CLOCK,
) -> Attempt:
    """A new attempt's row, with its id, not yet written: `begin_attempt` writes it alone, journal_functions.py
    together with the payment's lease."""
    row: dict[str, Any] = dict.fromkeys(entity.definition(GATEWAY_OPERATION).field_names)
    row.update(
        {
            **request.identity.conditions(),
            "operationId": await entity.sequenced_id(GATEWAY_OPERATION),
            "requestFingerprint": request.fingerprint(),
            "stripeCall": stripe_call,
            "paymentIntentId": request.payment_intent_id,
            "amount": request.amount,
            "amountUomId": request.currency,
            "stripePaymentMethodId": request.payment_method,
            "stripeCustomerId": request.customer,
            "orderId": request.order_id,
            "orderPartSeqId": request.order_part_seq_id,
            "operationStatusId": SGO_STARTED,
            "startedDate": clock.now(),
        }
    )
    return Attempt(row, installation_id)


async def begin_attempt(
    entity: EntityFacade,
    request: JournaledRequest,
    stripe_call: str,
    installation_id: str,
    *,
    clock: Clock = SYSTEM_CLOCK,
) -> Attempt:
    """Journal a new attempt (committed before Stripe is called): its key exists from now on."""
    attempt = await new_attempt(entity, request, stripe_call, installation_id, clock=clock)
    return Attempt(await entity.create(GATEWAY_OPERATION, attempt.row), installation_id)


async def finish_attempt(
    entity: EntityFacade,
    attempt: Attempt,
    *,
    answer: dict[str, Any] | None,
    stripe_object_id: str | None,
    stripe_request_id: str | None,
    clock: Clock = SYSTEM_CLOCK,
) -> None:
    """Record Stripe's answer: with `answer`, completed (replayed to repeats); without, in doubt (sent again)."""
    values: dict[str, Any] = {
        "operationStatusId": SGO_COMPLETED if answer is not None else SGO_IN_DOUBT,
        "completedDate": clock.now(),
    }
    if answer is not None:
        values["answerText"] = answer_text(answer)
    if stripe_object_id is not None:
        values["stripeObjectId"] = stripe_object_id
    if stripe_request_id is not None:
        values["stripeRequestId"] = stripe_request_id
    await entity.update(GATEWAY_OPERATION, {"operationId": attempt.operation_id}, values)


async def forget_attempt(entity: EntityFacade, attempt: Attempt) -> None:
    """Stripe refused the request as such (nothing happened there): the identity is free for a new attempt."""
    await entity.delete(GATEWAY_OPERATION, {"operationId": attempt.operation_id})
