"""One attempt of a gateway operation, exactly once: the identity rules of docs/gateway-api.md in one place.

Under the lease of (client, payment), taken together with the journal row of a plainly new attempt
(journal_functions.py: one round trip before the Stripe call, one after, when nothing stands in the way):

1. The journal row of the attempt's identity decides first. Other parameters than it was journaled with: 400.
   Completed: its recorded answer, `replayed: "Y"`, without calling Stripe. Unresolved (in doubt, or its holder
   died before recording): `settle_attempt` — younger than the safe age, its journaled write is sent again with its
   own key; older (Stripe may have forgotten the key), Stripe is read (lost_writes.py): what the write made is the
   answer, and a write that never happened frees the identity for a new attempt.
2. A new identity while another attempt of the same payment and operation is unresolved: 409.
3. Otherwise the operation plans its write (it may refuse the request, or find nothing to write), the attempt is
   journaled and committed, and the write is sent once, under the request's deadline.

Stripe's answer is then recorded: a definitive one (success, decline, an echo that does not match) completes the
row with the answer; no answer (timeout, 5xx, rate limit past our back-off, the deadline) leaves it in doubt and
answers a resultError PGR, so the caller retries the same attemptNum; a request Stripe refuses as such (nothing
happened there) frees the identity and is a 400. No database connection is held while Stripe is called.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

import stripe

from moqui_bridge.service import ServiceError
from service import metrics
from service.money import from_minor_units
from service.payment_services.answer import gateway_answer, gateway_response
from service.payment_services.gateway_call import GatewayCall
from service.payment_services.intent_link import IntentLink, required_link
from service.payment_services.journal import (
    SGO_COMPLETED,
    SGO_IN_DOUBT,
    UNRESOLVED,
    Attempt,
    JournaledRequest,
    answer_text,
    begin_attempt,
    finish_attempt,
    forget_attempt,
    new_attempt,
    read_attempts,
)
from service.payment_services.journal_functions import (
    BeginOutcome,
    NewAttempt,
    RefundRow,
    begin_leased_attempt,
    finish_leased_attempt,
)
from service.payment_services.lost_writes import READABLE_WRITES, WriteNotMade, read_write
from service.payment_services.payment_lease import PaymentLease
from service.payment_services.stripe_writes import NONE, StripeWrite, capture_method, outcome_of, send_write
from service.stripe_gateway.deadline import Deadline
from service.stripe_gateway.operations import StripeIntegrityError
from service.stripe_gateway.outcome import GatewayOutcome, StripeRequestRejected, outcome_from_error, safe_message
from service.stripe_gateway.rate_limit import stripe_waits_until

__all__ = [
    "STRIPE_REFUND",
    "NewAttempt",
    "Plan",
    "planned_write",
    "run_attempt",
    "run_planned_write",
    "settle_attempt",
    "unreachable_outcome",
]

STRIPE_REFUND: Final = "stripe.StripeRefund"
# Waits before repeating a rate-limited request (same key); cut to the deadline.
RATE_LIMIT_BACKOFF_SECONDS: Final = (0.5, 1.0, 2.0)
# Errors after which Stripe has not acted (the card or the key said no): the attempt is over.
_DEFINITIVE_ERRORS: Final = (stripe.CardError, stripe.AuthenticationError, stripe.PermissionError)


@dataclass(frozen=True)
class Plan:
    """What a new attempt does: one Stripe write (`stripe_call`), or nothing but answer `answer`, journaled as
    completed (an authorization the checkout page made) unless `journal` is False (a read that failed: nothing
    happened, the same identity may come again)."""

    stripe_call: str = NONE
    answer: dict[str, Any] | None = None
    journal: bool = True


async def planned_write(call: GatewayCall, payment_intent_id: str, stripe_call: str) -> Plan:
    """The plan of capture, release and refund: their write, on a PaymentIntent linked to this client's payment
    under this config (a 400 otherwise). No read of the PaymentIntent: Stripe refuses what cannot be done."""
    await required_link(
        call.entity, call.client_name, call.payment_gateway_config_id, call.payment_id, payment_intent_id
    )
    return Plan(stripe_call)


async def run_planned_write(call: GatewayCall, request: JournaledRequest, stripe_call: str) -> dict[str, Any]:
    """capture, release and refund: `stripe_call` on the request's PaymentIntent, once per attempt (planned_write;
    a plainly new attempt is journaled with the lease, its link checked in the same round trip)."""
    intent_id = str(request.payment_intent_id)
    return await run_attempt(
        call,
        request,
        lambda: planned_write(call, intent_id, stripe_call),
        new=NewAttempt(stripe_call, linked_intent=intent_id),
    )


def unreachable_outcome(error: BaseException) -> GatewayOutcome:
    """The resultError outcome of a call that got no answer in time (a timeout, an outage)."""
    if isinstance(error, stripe.StripeError):
        return outcome_from_error(error)
    return GatewayOutcome(
        result_error=True,
        response_code="deadline_reached",
        reason_code="timeout",
        reason_message="Stripe did not answer within the request's deadline; retry the same attempt.",
    )


async def run_attempt(
    call: GatewayCall,
    request: JournaledRequest,
    plan: Callable[[], Awaitable[Plan]],
    *,
    new: NewAttempt | None = None,
) -> dict[str, Any]:
    """Run (or replay, or refuse) the attempt `request` names; the answer as GatewayAnswerOut takes it.

    `new`: what the attempt writes when it is plainly new (known without reading anything); then the lease and the
    journal row are taken in one round trip and `plan` runs only when something stands in the way.
    """
    identity = request.identity
    entity = call.entity
    lease = PaymentLease.of(entity, identity.client_name, identity.payment_id, call.liveness_key)
    fresh = None
    if new is not None:
        fresh = await new_attempt(entity, request, new.stripe_call, call.installation_id, clock=call.clock)
    began: BeginOutcome = "busy"

    async def take() -> bool:
        nonlocal began
        began = await begin_leased_attempt(lease, call.deadline, fresh, new)
        return began != "busy"

    async with lease.held(call.deadline, identity.describe(), take):
        if began == "begun" and fresh is not None:
            return await _send_and_record(call, fresh, send_write, lease)
        journaled = await read_attempts(entity, identity, call.installation_id)
        attempt = journaled.this()
        if attempt is not None:
            if attempt.row["requestFingerprint"] != request.fingerprint():
                raise ServiceError(_changed_request_message(attempt, journaled.next_num()))
            recorded = attempt.answer
            if attempt.status == SGO_COMPLETED and recorded is not None:
                return {**recorded, "replayed": "Y"}
            settled = await settle_attempt(call, attempt, lease=lease)
            if settled is not None:
                return settled
            attempt = None  # Stripe never made it: a new attempt below, with a new key
        if attempt is None:
            unresolved = journaled.unresolved_num()
            if unresolved is not None:
                raise ServiceError(
                    f"{identity.operation.value} attempt {unresolved} of payment {identity.payment_id} is unresolved: "
                    f"retry that request (attemptNum {unresolved}) first",
                    http_status=409,
                )
            chosen = await plan()
            if chosen.stripe_call == NONE:
                if chosen.answer is None:
                    raise ValueError("a plan without a write must give the answer")
                if chosen.journal:
                    recorded_attempt = await begin_attempt(
                        entity, request, NONE, call.installation_id, clock=call.clock
                    )
                    await finish_attempt(
                        entity,
                        recorded_attempt,
                        answer=chosen.answer,
                        stripe_object_id=chosen.answer.get("paymentIntentId"),
                        stripe_request_id=None,
                        clock=call.clock,
                    )
                return chosen.answer
            attempt = await begin_attempt(entity, request, chosen.stripe_call, call.installation_id, clock=call.clock)
        return await _send_and_record(call, attempt, send_write, lease)


async def settle_attempt(
    call: GatewayCall, attempt: Attempt, *, lease: PaymentLease | None = None
) -> dict[str, Any] | None:
    """The answer of an unresolved attempt (the caller holds the payment's lease; given as `lease`, it is given back
    with the answer's record): its write sent again with its key while Stripe still remembers the key, past
    `call.safe_age` read from Stripe instead. None when Stripe shows the write never happened: the row is forgotten
    and the identity is free for a new attempt with a new key."""
    if attempt.status not in UNRESOLVED:
        raise ValueError(f"journal row {attempt.operation_id} is not unresolved")
    if call.clock.now() - attempt.started < call.safe_age or attempt.stripe_call not in READABLE_WRITES:
        return await _send_and_record(call, attempt, send_write, lease)
    try:
        return await _send_and_record(call, attempt, read_write, lease)
    except WriteNotMade:
        await forget_attempt(call.entity, attempt)
        return None


def _changed_request_message(attempt: Attempt, next_num: int) -> str:
    journaled = attempt.request
    identity = journaled.identity
    return (
        f"{identity.describe()} was for {journaled.describe()}; retry it unchanged, or send attemptNum {next_num} "
        f"for a new {identity.operation.value}"
    )


async def _with_rate_limit_backoff(send: Callable[[], Awaitable[StripeWrite]], deadline: Deadline) -> StripeWrite:
    for delay in RATE_LIMIT_BACKOFF_SECONDS:
        try:
            return await send()
        except stripe.RateLimitError:
            if deadline.for_stripe() <= delay:
                raise
            await asyncio.sleep(delay)
    return await send()


async def _send_and_record(
    call: GatewayCall,
    attempt: Attempt,
    obtain: Callable[[GatewayCall, Attempt], Awaitable[StripeWrite]],
    lease: PaymentLease | None,
) -> dict[str, Any]:
    """`obtain` the attempt's Stripe object (send its write, or read what it made), record the answer and what the
    write made, and give `lease` back with them (None: the caller gives its lease back)."""
    request = attempt.request
    identity = request.identity
    answer_object: StripeWrite | None = None
    request_id: str | None = None
    definitive = True
    try:
        with stripe_waits_until(call.deadline.for_stripe()):
            async with asyncio.timeout(call.deadline.for_stripe()):
                answer_object = await _with_rate_limit_backoff(lambda: obtain(call, attempt), call.deadline)
        outcome = outcome_of(attempt, answer_object)
        request_id = answer_object.request_id
    except StripeRequestRejected as rejected:
        if rejected.code == "idempotency_error":
            # Stripe holds another request under this key: its outcome stays unknown, so the key is kept.
            raise ServiceError(
                f"Stripe refused to repeat {identity.describe()} ({rejected.message}); check the payment in Stripe",
                http_status=409,
            ) from rejected
        await forget_attempt(call.entity, attempt)
        raise ServiceError(
            f"Stripe refused the {identity.operation.value} of payment {identity.payment_id}: {rejected.message}"
        ) from rejected
    except StripeIntegrityError as mismatch:
        outcome = GatewayOutcome(
            result_error=True,
            response_code="integrity_error",
            reason_code="echo_mismatch",
            reason_message=safe_message(str(mismatch)),
            reference_num=mismatch.object_id if (mismatch.object_id or "").startswith("pi_") else None,
        )
    except stripe.StripeError as error:
        outcome = unreachable_outcome(error)
        definitive = isinstance(error, _DEFINITIVE_ERRORS)
        request_id = error.request_id
    except TimeoutError as timed_out:
        outcome = unreachable_outcome(timed_out)
        definitive = False
    metrics.count_gateway_operation(identity.operation.payment_operation_enum_id, outcome, definitive=definitive)
    response = gateway_response(
        call,
        identity.operation.payment_operation_enum_id,
        outcome,
        requested_amount=request.amount,
        currency=request.currency,
    )
    intent_id = _intent_id(answer_object, outcome) or request.payment_intent_id
    answer = gateway_answer(response, payment_intent_id=intent_id, attempt_num=identity.attempt_num)
    link, refund = _made_rows(call, attempt, answer_object, outcome, intent_id)
    await finish_leased_attempt(
        attempt,
        entity=call.entity,
        status=SGO_COMPLETED if definitive else SGO_IN_DOUBT,
        completed=call.clock.now(),
        answer_text=answer_text(answer) if definitive else None,
        stripe_object_id=(answer_object.id if answer_object is not None else None)
        or outcome.sub_reference
        or intent_id,
        stripe_request_id=request_id,
        link=link,
        refund=refund,
        lease=lease,
    )
    return answer


def _intent_id(answer: StripeWrite | None, outcome: GatewayOutcome) -> str | None:
    if answer is not None and answer.object == "payment_intent":
        return answer.id
    # A refund names its PaymentIntent; a decline names the PaymentIntent it left behind.
    reference = outcome.reference_num
    return reference if reference and reference.startswith("pi_") else None


def _made_rows(
    call: GatewayCall,
    attempt: Attempt,
    answer: StripeWrite | None,
    outcome: GatewayOutcome,
    intent_id: str | None,
) -> tuple[IntentLink | None, RefundRow | None]:
    """Our own rows of what the write made: the PaymentIntent link, or the refund."""
    request = attempt.request
    identity = request.identity
    if answer is not None and answer.object == "refund":
        refund = RefundRow(
            refund_id=answer.id,
            payment_intent_id=request.payment_intent_id,
            charge_id=outcome.alt_reference,
            amount=from_minor_units(answer.value("amount"), answer.value("currency")),
            currency=request.currency,
            status=answer.value("status"),
            created=call.clock.now(),
        )
        return None, refund
    if intent_id is None:
        return None, None
    status = answer.value("status") if answer is not None else outcome.transaction_status
    link = IntentLink(
        payment_intent_id=intent_id,
        client_name=identity.client_name,
        payment_id=identity.payment_id,
        payment_gateway_config_id=identity.payment_gateway_config_id,
        operation_id=attempt.operation_id,
        order_id=request.order_id,
        order_part_seq_id=request.order_part_seq_id,
        capture_method=capture_method(identity.operation),
        intent_status=status,
        amount=request.amount,
        amount_uom_id=request.currency,
    )
    return link, None
