"""An attempt's journal work around its Stripe call in two round trips: two PL/pgSQL functions of our own schema.

`MOQUI_STRIPE_BEGIN_ATTEMPT_V1` takes the payment's lease (payment_lease.py's rule: free, expired, or its holder's
process gone) and, when the attempt is plainly new, journals it in the same transaction. Plainly new: no journal row
of its identity, no other unresolved attempt of the same operation, and the operation's `NewAttempt` conditions hold
(the PaymentIntent it acts on is linked to this client's payment under this config; the PaymentMethod it charges was
never put into a PaymentIntent of this payment). It answers `busy` (the lease is someone else's), `begun` (leased and
journaled: send the write), or `leased` (leased only: attempt.py decides with the journal's rows, as for a replay,
an unresolved attempt or a refusal to word). Its statements run one after another, each with a fresh snapshot
(PL/pgSQL under READ COMMITTED), so the journal is read as the previous holder left it when it gave the lease back.

`MOQUI_STRIPE_FINISH_ATTEMPT_V1` records Stripe's answer on the journal row with the PaymentIntent link or the refund
the write made, and gives the lease back, in one transaction.

Both are created (or replaced) when the database is prepared (database_setup.py), under an advisory lock so instances
starting together do not collide. Their names carry a version: instances of two releases may share a database during
a rolling upgrade, each calling its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Final, Literal

from moqui_bridge.entity import EntityFacade, advisory_lock
from moqui_bridge.entity.liveness import holder_is_gone_sql
from service.payment_services.intent_link import IntentLink
from service.payment_services.journal import SGO_IN_DOUBT, SGO_STARTED, Attempt
from service.payment_services.payment_lease import PaymentLease
from service.stripe_gateway.deadline import Deadline

__all__ = [
    "BEGIN_ATTEMPT",
    "FINISH_ATTEMPT",
    "BeginOutcome",
    "NewAttempt",
    "RefundRow",
    "begin_leased_attempt",
    "finish_leased_attempt",
    "install_journal_functions",
]

BEGIN_ATTEMPT: Final = "MOQUI_STRIPE_BEGIN_ATTEMPT_V1"
FINISH_ATTEMPT: Final = "MOQUI_STRIPE_FINISH_ATTEMPT_V1"
_NOW: Final = "(now() AT TIME ZONE 'UTC')"

BeginOutcome = Literal["busy", "leased", "begun"]

_BEGIN_SQL: Final = f"""
CREATE OR REPLACE FUNCTION {BEGIN_ATTEMPT}(
    P_CLIENT TEXT, P_PAYMENT TEXT, P_LEASE_TOKEN TEXT, P_LEASE_SECONDS FLOAT8, P_HOLDER_KEY BIGINT,
    P_CONFIG TEXT, P_OPERATION TEXT, P_ATTEMPT INT, P_STRIPE_CALL TEXT, P_LINKED_INTENT TEXT, P_UNUSED_METHOD TEXT,
    P_OPERATION_ID TEXT, P_FINGERPRINT TEXT, P_INTENT TEXT, P_AMOUNT NUMERIC, P_CURRENCY TEXT, P_METHOD TEXT,
    P_CUSTOMER TEXT, P_ORDER TEXT, P_ORDER_PART TEXT, P_STARTED TIMESTAMP
) RETURNS TEXT LANGUAGE plpgsql AS $fn$
BEGIN
    INSERT INTO STRIPE_PAYMENT_LEASE AS lease (CLIENT_NAME, PAYMENT_ID, LEASE_TOKEN, LEASE_EXPIRES, HOLDER_KEY,
        LAST_UPDATED_STAMP)
    VALUES (P_CLIENT, P_PAYMENT, P_LEASE_TOKEN, {_NOW} + make_interval(secs => P_LEASE_SECONDS), P_HOLDER_KEY, {_NOW})
    ON CONFLICT (CLIENT_NAME, PAYMENT_ID) DO UPDATE SET LEASE_TOKEN = EXCLUDED.LEASE_TOKEN,
        LEASE_EXPIRES = EXCLUDED.LEASE_EXPIRES, HOLDER_KEY = EXCLUDED.HOLDER_KEY,
        LAST_UPDATED_STAMP = EXCLUDED.LAST_UPDATED_STAMP
    WHERE lease.LEASE_EXPIRES < {_NOW} OR {holder_is_gone_sql("lease.HOLDER_KEY")};
    IF NOT FOUND THEN
        RETURN 'busy';
    END IF;
    IF P_STRIPE_CALL IS NULL THEN
        RETURN 'leased';
    END IF;
    IF EXISTS (SELECT 1 FROM STRIPE_GATEWAY_OPERATION WHERE CLIENT_NAME = P_CLIENT
            AND PAYMENT_GATEWAY_CONFIG_ID = P_CONFIG AND PAYMENT_ID = P_PAYMENT AND OPERATION_NAME = P_OPERATION
            AND (ATTEMPT_NUM = P_ATTEMPT OR OPERATION_STATUS_ID IN ('{SGO_STARTED}', '{SGO_IN_DOUBT}')))
        OR (P_LINKED_INTENT IS NOT NULL AND NOT EXISTS (SELECT 1 FROM STRIPE_PAYMENT_INTENT
            WHERE PAYMENT_INTENT_ID = P_LINKED_INTENT AND CLIENT_NAME = P_CLIENT AND PAYMENT_ID = P_PAYMENT
            AND PAYMENT_GATEWAY_CONFIG_ID = P_CONFIG))
        OR (P_UNUSED_METHOD IS NOT NULL AND EXISTS (SELECT 1 FROM STRIPE_GATEWAY_OPERATION WHERE CLIENT_NAME = P_CLIENT
            AND PAYMENT_GATEWAY_CONFIG_ID = P_CONFIG AND PAYMENT_ID = P_PAYMENT
            AND STRIPE_PAYMENT_METHOD_ID = P_UNUSED_METHOD AND STRIPE_CALL IN ('create', 'confirm'))) THEN
        RETURN 'leased';
    END IF;
    INSERT INTO STRIPE_GATEWAY_OPERATION (OPERATION_ID, CLIENT_NAME, PAYMENT_GATEWAY_CONFIG_ID, PAYMENT_ID,
        OPERATION_NAME, ATTEMPT_NUM, REQUEST_FINGERPRINT, STRIPE_CALL, PAYMENT_INTENT_ID, AMOUNT, AMOUNT_UOM_ID,
        STRIPE_PAYMENT_METHOD_ID, STRIPE_CUSTOMER_ID, ORDER_ID, ORDER_PART_SEQ_ID, OPERATION_STATUS_ID, STARTED_DATE,
        LAST_UPDATED_STAMP)
    VALUES (P_OPERATION_ID, P_CLIENT, P_CONFIG, P_PAYMENT, P_OPERATION, P_ATTEMPT, P_FINGERPRINT, P_STRIPE_CALL,
        P_INTENT, P_AMOUNT, P_CURRENCY, P_METHOD, P_CUSTOMER, P_ORDER, P_ORDER_PART, '{SGO_STARTED}', P_STARTED,
        {_NOW});
    RETURN 'begun';
END
$fn$
"""

_FINISH_SQL: Final = f"""
CREATE OR REPLACE FUNCTION {FINISH_ATTEMPT}(
    P_OPERATION_ID TEXT, P_STATUS TEXT, P_COMPLETED TIMESTAMP, P_ANSWER TEXT, P_OBJECT_ID TEXT, P_REQUEST_ID TEXT,
    P_CLIENT TEXT, P_PAYMENT TEXT, P_CONFIG TEXT, P_LEASE_TOKEN TEXT,
    P_INTENT_ID TEXT, P_ORDER TEXT, P_ORDER_PART TEXT, P_CAPTURE_METHOD TEXT, P_INTENT_STATUS TEXT,
    P_AMOUNT NUMERIC, P_CURRENCY TEXT, P_LINK_CREATED TIMESTAMP,
    P_REFUND_ID TEXT, P_REFUND_INTENT TEXT, P_CHARGE_ID TEXT, P_REFUND_AMOUNT NUMERIC, P_REFUND_CURRENCY TEXT,
    P_REFUND_STATUS TEXT, P_REFUND_CREATED TIMESTAMP
) RETURNS VOID LANGUAGE plpgsql AS $fn$
BEGIN
    UPDATE STRIPE_GATEWAY_OPERATION SET OPERATION_STATUS_ID = P_STATUS, COMPLETED_DATE = P_COMPLETED,
        ANSWER_TEXT = COALESCE(P_ANSWER, ANSWER_TEXT), STRIPE_OBJECT_ID = COALESCE(P_OBJECT_ID, STRIPE_OBJECT_ID),
        STRIPE_REQUEST_ID = COALESCE(P_REQUEST_ID, STRIPE_REQUEST_ID), LAST_UPDATED_STAMP = {_NOW}
    WHERE OPERATION_ID = P_OPERATION_ID;
    IF P_REFUND_ID IS NOT NULL THEN
        -- A webhook may have recorded it first (as Stripe's): it is ours, so it takes our operation.
        INSERT INTO STRIPE_REFUND AS refund (REFUND_ID, PAYMENT_ID, PAYMENT_INTENT_ID, CHARGE_ID, AMOUNT, AMOUNT_UOM_ID,
            REFUND_STATUS, ORIGIN_ENUM_ID, OPERATION_ID, CREATED_DATE, LAST_UPDATED_STAMP)
        VALUES (P_REFUND_ID, P_PAYMENT, P_REFUND_INTENT, P_CHARGE_ID, P_REFUND_AMOUNT, P_REFUND_CURRENCY,
            P_REFUND_STATUS, 'SroService', P_OPERATION_ID, P_REFUND_CREATED, {_NOW})
        ON CONFLICT (REFUND_ID) DO UPDATE SET REFUND_STATUS = EXCLUDED.REFUND_STATUS,
            ORIGIN_ENUM_ID = EXCLUDED.ORIGIN_ENUM_ID, OPERATION_ID = EXCLUDED.OPERATION_ID,
            LAST_UPDATED_STAMP = EXCLUDED.LAST_UPDATED_STAMP
        WHERE refund.REFUND_STATUS IS DISTINCT FROM EXCLUDED.REFUND_STATUS
            OR refund.ORIGIN_ENUM_ID IS DISTINCT FROM EXCLUDED.ORIGIN_ENUM_ID
            OR refund.OPERATION_ID IS DISTINCT FROM EXCLUDED.OPERATION_ID;
    ELSIF P_INTENT_ID IS NOT NULL THEN
        -- A new link is inserted whole; an existing one takes only the status, and only when it differs.
        INSERT INTO STRIPE_PAYMENT_INTENT AS link (PAYMENT_INTENT_ID, CLIENT_NAME, PAYMENT_ID,
            PAYMENT_GATEWAY_CONFIG_ID, OPERATION_ID, ORDER_ID, ORDER_PART_SEQ_ID, CAPTURE_METHOD, INTENT_STATUS, AMOUNT,
            AMOUNT_UOM_ID, CREATED_DATE, LAST_UPDATED_STAMP)
        VALUES (P_INTENT_ID, P_CLIENT, P_PAYMENT, P_CONFIG, P_OPERATION_ID, P_ORDER, P_ORDER_PART, P_CAPTURE_METHOD,
            P_INTENT_STATUS, P_AMOUNT, P_CURRENCY, P_LINK_CREATED, {_NOW})
        ON CONFLICT (PAYMENT_INTENT_ID) DO UPDATE SET INTENT_STATUS = EXCLUDED.INTENT_STATUS,
            LAST_UPDATED_STAMP = EXCLUDED.LAST_UPDATED_STAMP
        WHERE link.INTENT_STATUS IS DISTINCT FROM EXCLUDED.INTENT_STATUS;
    END IF;
    IF P_LEASE_TOKEN IS NOT NULL THEN
        DELETE FROM STRIPE_PAYMENT_LEASE
        WHERE CLIENT_NAME = P_CLIENT AND PAYMENT_ID = P_PAYMENT AND LEASE_TOKEN = P_LEASE_TOKEN;
    END IF;
END
$fn$
"""

_BEGIN_CALL: Final = f"SELECT {BEGIN_ATTEMPT}({', '.join(f'${n}' for n in range(1, 22))})"
_FINISH_CALL: Final = f"SELECT {FINISH_ATTEMPT}({', '.join(f'${n}' for n in range(1, 26))})"


async def install_journal_functions(entity: EntityFacade) -> None:
    """Create or replace both functions (idempotent; instances starting at once take turns)."""
    async with entity.transaction() as connection, advisory_lock(connection, "moqui-stripe:journal-functions"):
        await connection.execute(_BEGIN_SQL)
        await connection.execute(_FINISH_SQL)


@dataclass(frozen=True)
class NewAttempt:
    """What a plainly new attempt of an operation writes, known before anything is read: its Stripe call, the
    PaymentIntent that must be linked to this client's payment under this config (capture, release, refund), and
    the PaymentMethod that must never have been put into a PaymentIntent of the payment (authorize: otherwise it is
    a re-authorization, which attempt.py's plan decides)."""

    stripe_call: str
    linked_intent: str | None = None
    unused_payment_method: str | None = None


@dataclass(frozen=True)
class RefundRow:
    """The stripe.StripeRefund row of a refund the write made."""

    refund_id: str
    payment_intent_id: str | None
    charge_id: str | None
    amount: Decimal
    currency: str | None
    status: str | None
    created: datetime


async def begin_leased_attempt(
    lease: PaymentLease, deadline: Deadline, attempt: Attempt | None, new: NewAttempt | None
) -> BeginOutcome:
    """Try for the lease and, when `attempt` (a row not yet written, made for `new`) is plainly new, journal it;
    one round trip. Without them only the lease is taken."""
    request = attempt.request if attempt is not None else None
    async with lease.entity.connection() as connection:
        outcome: BeginOutcome = await connection.fetchval(
            _BEGIN_CALL,
            lease.client_name,
            lease.payment_id,
            lease.token,
            lease.seconds(deadline),
            lease.holder_key,
            *(
                (None,) * 16
                if attempt is None or request is None or new is None
                else (
                    request.identity.payment_gateway_config_id,
                    request.identity.operation.value,
                    request.identity.attempt_num,
                    attempt.stripe_call,
                    new.linked_intent,
                    new.unused_payment_method,
                    attempt.operation_id,
                    attempt.row["requestFingerprint"],
                    request.payment_intent_id,
                    request.amount,
                    request.currency,
                    request.payment_method,
                    request.customer,
                    request.order_id,
                    request.order_part_seq_id,
                    attempt.started,
                )
            ),
        )
    return outcome


async def finish_leased_attempt(
    attempt: Attempt,
    *,
    entity: EntityFacade,
    status: str,
    completed: datetime,
    answer_text: str | None,
    stripe_object_id: str | None,
    stripe_request_id: str | None,
    link: IntentLink | None,
    refund: RefundRow | None,
    lease: PaymentLease | None,
) -> None:
    """Record the answer on the journal row with the link or refund the write made, and give `lease` back (None:
    the caller gives its lease back itself); one round trip."""
    identity = attempt.request.identity
    async with entity.connection() as connection:
        await connection.execute(
            _FINISH_CALL,
            attempt.operation_id,
            status,
            completed,
            answer_text,
            stripe_object_id,
            stripe_request_id,
            identity.client_name,
            identity.payment_id,
            identity.payment_gateway_config_id,
            None if lease is None or lease.given_back else lease.token,
            *(
                (None,) * 8
                if link is None
                else (
                    link.payment_intent_id,
                    link.order_id,
                    link.order_part_seq_id,
                    link.capture_method,
                    link.intent_status,
                    link.amount,
                    link.amount_uom_id,
                    datetime.now(UTC).replace(tzinfo=None),
                )
            ),
            *(
                (None,) * 7
                if refund is None
                else (
                    refund.refund_id,
                    refund.payment_intent_id,
                    refund.charge_id,
                    refund.amount,
                    refund.currency,
                    refund.status,
                    refund.created,
                )
            ),
        )
    if lease is not None:
        lease.given_back = True
