"""stripe.StripeGatewayOperation: the journal that makes every mutating Stripe call happen exactly once.

Before a mutating call we commit a `SgoStarted` row holding the idempotency key; after Stripe's answer the row is
finished in the same transaction as the PaymentGatewayResponse. A row that is still `SgoStarted` (we died between
Stripe's answer and our commit) or `SgoInDoubt` (timeout, 5xx: Stripe may or may not have acted) is *unfinished*:
the next call of the same operation replays its key, so Stripe answers with what it did the first time instead of
acting twice. Rows are also closed without a replay: when the PaymentIntent an unfinished create made becomes known
another way (a webhook's link, `paymentRefNum`), authorize closes the create's row with its id, because replaying
it later would bring back Stripe's first answer for a PaymentIntent that may since have been released. Refund
replays the unfinished attempt before checking what is left to refund. Only a finished (`SgoCompleted`) attempt
moves the attempt number on, which is what lets two equal partial refunds be two refunds.

Attempts are counted per (payment, gateway config, operation as the key names it, PaymentIntent the call is made
on); the call that creates a PaymentIntent has none, which is why the journal keeps the created one apart in
`stripeObjectId`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

from moqui_bridge.entity import EntityFacade
from moqui_bridge.entity.connection import Connection
from service.stripe_gateway.idempotency import GatewayOperation, idempotency_key, key_operation

__all__ = [
    "GATEWAY_OPERATION",
    "SGO_COMPLETED",
    "SGO_IN_DOUBT",
    "SGO_STARTED",
    "JournalEntry",
    "OperationScope",
    "ScopeAttempts",
    "begin_operation",
    "finish_operation",
    "read_attempts",
]

GATEWAY_OPERATION: Final = "stripe.StripeGatewayOperation"
SGO_STARTED: Final = "SgoStarted"
SGO_COMPLETED: Final = "SgoCompleted"
SGO_IN_DOUBT: Final = "SgoInDoubt"
_UNFINISHED = frozenset({SGO_STARTED, SGO_IN_DOUBT})


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class JournalEntry:
    """One reserved attempt: the key to send and whether it replays an attempt whose outcome we never recorded."""

    operation_id: str
    idempotency_key: str
    attempt: int
    replay: bool
    # What the reserved attempt asked for. journaled_call hands the entry to `send`, so a replay asks for this
    # amount again: the very request Stripe keyed (another request under the key would be refused).
    amount: Decimal | None


@dataclass(frozen=True)
class OperationScope:
    """Which calls share an attempt counter."""

    payment_id: str
    payment_gateway_config_id: str
    operation: GatewayOperation
    payment_intent_id: str | None

    def conditions(self) -> dict[str, Any]:
        """The journal rows that may be of this scope (None matches an empty paymentIntentId); `read_attempts`
        keeps those whose key names this operation."""
        return {
            "paymentId": self.payment_id,
            "paymentGatewayConfigId": self.payment_gateway_config_id,
            "paymentOperationEnumId": self.operation.payment_operation_enum_id,
            "paymentIntentId": self.payment_intent_id,
        }


@dataclass(frozen=True)
class ScopeAttempts:
    """The journal rows of one scope as read under the payment lock, oldest attempt first.

    Read once and handed on: the payment lock keeps every other writer of this payment's journal out until the
    operation ends, so the rows cannot change between a use case's look at them and `begin_operation`.
    """

    scope: OperationScope
    rows: tuple[dict[str, Any], ...]

    def unfinished(self) -> JournalEntry | None:
        """The attempt whose outcome we never recorded, if any (the next call of the scope replays it)."""
        for row in self.rows:
            if row["operationStatusId"] in _UNFINISHED:
                return JournalEntry(row["operationId"], row["idempotencyKey"], row["attemptNum"], True, row["amount"])
        return None

    def next_attempt(self) -> int:
        """One more than the highest attempt number so far (0 for the first)."""
        return max((row["attemptNum"] for row in self.rows), default=-1) + 1


async def read_attempts(
    entity: EntityFacade, scope: OperationScope, *, connection: Connection | None = None
) -> ScopeAttempts:
    """Every journal row of `scope` (one query); the caller must hold the payment lock for the rows to stay true."""
    rows = await entity.find(GATEWAY_OPERATION, scope.conditions(), order_by=["attemptNum"], connection=connection)
    # Two calls may record the same Mantle operation on one PaymentIntent (authorizeAndCapture's confirm and its
    # capture): the operation named in each row's key keeps their attempts, and so their replays, apart.
    return ScopeAttempts(scope, tuple(row for row in rows if key_operation(row["idempotencyKey"]) == scope.operation))


async def begin_operation(
    entity: EntityFacade,
    scope: OperationScope,
    *,
    amount: Decimal | None,
    amount_uom_id: str | None,
    client_request_key: str | None = None,
    attempts: ScopeAttempts | None = None,
    connection: Connection | None = None,
) -> JournalEntry:
    """Reserve the key for the next Stripe call of `scope` and commit it before Stripe is called.

    An unfinished attempt of the same scope is reused (same row, same key): its outcome is unknown, so repeating
    it is the only safe move. Otherwise the next attempt number is taken. The caller holds the payment lock, so no
    other call of this process or another can be between the read and the insert. `attempts`: the scope's rows
    when the caller has already read them under the same lock (spares reading them again). `connection` must not
    be in a transaction: the row is committed as soon as it is written.
    """
    if attempts is None:
        attempts = await read_attempts(entity, scope, connection=connection)
    elif attempts.scope != scope:
        raise ValueError(f"journal rows of {attempts.scope} given to begin an operation of {scope}")
    unfinished = attempts.unfinished()
    if unfinished is not None:
        return unfinished
    attempt = attempts.next_attempt()
    key = idempotency_key(
        scope.payment_gateway_config_id,
        scope.payment_id,
        scope.operation,
        attempt,
        payment_intent_id=scope.payment_intent_id,
    )
    created = await entity.create(
        GATEWAY_OPERATION,
        {
            **scope.conditions(),
            "attemptNum": attempt,
            "idempotencyKey": key,
            "clientRequestKey": client_request_key,
            "amount": amount,
            "amountUomId": amount_uom_id,
            "operationStatusId": SGO_STARTED,
            "startedDate": _now(),
        },
        connection=connection,
    )
    return JournalEntry(created["operationId"], key, attempt, False, amount)


async def finish_operation(
    entity: EntityFacade,
    entry: JournalEntry,
    *,
    definitive: bool,
    stripe_object_id: str | None,
    payment_gateway_response_id: str | None,
    stripe_request_id: str | None = None,
    connection: Connection | None = None,
) -> None:
    """Record Stripe's answer on the journal row: `SgoCompleted` when definitive, else `SgoInDoubt` (replayed next).

    A None id leaves what the row already holds (an earlier attempt's PGR stays findable from the row).
    """
    values: dict[str, Any] = {
        "operationStatusId": SGO_COMPLETED if definitive else SGO_IN_DOUBT,
        "completedDate": _now(),
    }
    if payment_gateway_response_id is not None:
        values["paymentGatewayResponseId"] = payment_gateway_response_id
    if stripe_object_id is not None:
        values["stripeObjectId"] = stripe_object_id
    if stripe_request_id is not None:
        values["stripeRequestId"] = stripe_request_id
    await entity.update(GATEWAY_OPERATION, {"operationId": entry.operation_id}, values, connection=connection)
