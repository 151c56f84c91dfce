"""Runs one plan against the service as a careful integrator, recording what it asked for in a ledger.

The ledger is the client's side of the books: each logical capture and refund request (a request that was asked
again under a new key after a `resultError` answer is still one request), so the audit can tell a repeat that
Stripe executed twice from a second request the client really made.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from soak_client import Answer, CarefulClient, StillInProgressError
from soak_faults import Disturbances
from soak_plan import Plan, Step
from soak_stack import CONFIG_ID, CUSTOMER_PARTY_ID, VENDOR_PARTY_ID

# A resultError answer (Stripe down or in doubt) is asked again under a new key at most this many times.
MAX_ATTEMPTS = 5
_REMAINDER = re.compile(r"is now Payment (\S+)")


@dataclass
class Ledger:
    """One sequence's payment as the client knows it."""

    index: int
    order_id: str = ""
    payment_id: str = ""
    total: Decimal = Decimal(0)
    intent_id: str | None = None
    capture_requests: list[Decimal] = field(default_factory=list)
    refund_requests: list[Decimal] = field(default_factory=list)
    remainder_ids: list[str] = field(default_factory=list)
    results: Counter[str] = field(default_factory=Counter)
    steps: list[str] = field(default_factory=list)
    failure: str | None = None  # a step that got no definitive answer (the sequence stopped there)
    repeats: int = 0  # requests sent twice under one key, not yet recorded a second time


class SequenceRunner:
    """Runs plans; one runner for all sequences."""

    def __init__(self, client: CarefulClient, disturbances: Disturbances, run_id: str) -> None:
        self._client = client
        self._disturbances = disturbances
        self._run_id = run_id

    async def run(self, plan: Plan) -> Ledger:
        """Create the order, payment method and payment, then run the steps."""
        ledger = Ledger(plan.index, total=plan.total)
        prefix = f"soak/{self._run_id}/{plan.index}"
        order = await self._request(
            "/orders",
            {
                "customerPartyId": CUSTOMER_PARTY_ID,
                "vendorPartyId": VENDOR_PARTY_ID,
                "currencyUomId": "USD",
                "grandTotal": plan.total,
                "orderName": f"soak {plan.index}",
            },
            f"{prefix}/order",
        )
        ledger.order_id = _required(order, "orderId")
        method = await self._request(
            "/parties/paymentMethods",
            {"ownerPartyId": CUSTOMER_PARTY_ID, "gatewayCimId": plan.card, "description": plan.card},
            f"{prefix}/method",
        )
        payment = await self._request(
            f"/orders/{ledger.order_id}/parts/01/payments",
            {
                "paymentMethodId": _required(method, "paymentMethodId"),
                "paymentGatewayConfigId": CONFIG_ID,
                "amount": plan.total,  # named: a second attempt under a new key must not get what is left (0)
            },
            f"{prefix}/payment",
        )
        ledger.payment_id = _required(payment, "paymentId")
        for number, step in enumerate(plan.steps):
            ledger.steps.append(step.describe())
            await self._step(ledger, step, f"{prefix}/{number}")
        return ledger

    async def _step(self, ledger: Ledger, step: Step, key: str) -> None:
        disturbances = self._disturbances
        kill: asyncio.Task[None] | None = None
        if step.fault == "kill":
            kill = asyncio.create_task(disturbances.kill_after(step.kill_delay))
        elif step.fault is not None:
            await disturbances.stripe_fault(step.fault, step.fault_count, step.operation, ledger.intent_id)
        try:
            if step.webhooks == "out_of_order":
                async with disturbances.webhooks_out_of_order():
                    await self._send(ledger, step, key)
            else:
                await self._send(ledger, step, key)
        except BaseException:
            if kill is not None:
                kill.cancel()  # stopping (an error or Ctrl-C): no restart of the service any more
            raise
        finally:
            if kill is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await kill
        if step.webhooks == "duplicate":
            await disturbances.redeliver_latest(ledger.intent_id)

    async def _send(self, ledger: Ledger, step: Step, key: str) -> None:
        call = self._operation(ledger, step)
        if step.style == "duplicate":
            # The same request twice at once under one key: the service must run it once.
            if step.operation in ("capture", "refund"):
                ledger.repeats += 1  # the second call is the same request: the ledger records it once
            await asyncio.gather(call(key, None), call(key, None))
        elif step.style == "concurrent":
            # Two distinct requests at once (each its own key): both count as asked.
            await asyncio.gather(call(key + "/a", None), call(key + "/b", None))
        elif step.style == "abandon":
            await call(key, 0.05)
        else:
            await call(key, None)

    def _operation(self, ledger: Ledger, step: Step) -> Callable[[str, float | None], Awaitable[None]]:
        payment_path = f"/payments/{ledger.payment_id}/gateways"
        client = self._client

        async def logical(path: str, body: dict[str, Any], key: str, abandon: float | None) -> Answer:
            async def inconclusive(answer: Answer) -> bool:
                return await self._inconclusive(ledger, step, answer)

            return await self._request(path, body, key, abandon, inconclusive)

        async def authorize(key: str, abandon: float | None) -> None:
            answer = await logical(f"{payment_path}/authorize", {}, key, abandon)
            self._record(ledger, "authorize", answer)

        def asked(requests: list[Decimal], amount: Decimal) -> None:
            if ledger.repeats:
                ledger.repeats -= 1
            else:
                requests.append(amount)

        async def capture(key: str, abandon: float | None) -> None:
            asked(ledger.capture_requests, step.amount if step.amount is not None else ledger.total)
            body = {} if step.amount is None else {"amount": step.amount}
            answer = await logical(f"{payment_path}/capture", body, key, abandon)
            self._record(ledger, "capture", answer)
            for message in answer.body.get("messages") or []:
                ledger.remainder_ids.extend(_REMAINDER.findall(str(message)))

        async def release(key: str, abandon: float | None) -> None:
            self._record(ledger, "release", await logical(f"{payment_path}/release", {}, key, abandon))

        async def refund(key: str, abandon: float | None) -> None:
            assert step.amount is not None
            asked(ledger.refund_requests, step.amount)
            answer = await logical(f"{payment_path}/refund", {"amount": step.amount}, key, abandon)
            self._record(ledger, "refund", answer)

        async def details(key: str, abandon: float | None) -> None:
            answer = await client.details(ledger.payment_id)
            ledger.results["details " + ("ok" if answer.ok else "refused")] += 1

        return {
            "authorize": authorize,
            "capture": capture,
            "release": release,
            "refund": refund,
            "details": details,
        }[step.operation]

    async def _request(
        self,
        path: str,
        body: dict[str, Any],
        key: str,
        abandon: float | None = None,
        inconclusive: Callable[[Answer], Awaitable[bool]] | None = None,
    ) -> Answer:
        """One logical request: the same key until definitive, then a new key while the answer is inconclusive.

        A resultError answer is replayed under its key, and a key whose request died with the service may stay
        busy (StillInProgressError): either way the next attempt of this one request takes a new key.
        """
        attempt = 0
        while True:
            attempt_key = key if attempt == 0 else f"{key}/again{attempt}"
            attempt += 1
            try:
                first_abandon = abandon if attempt == 1 else None
                answer = await self._client.post(path, body, attempt_key, abandon_after=first_abandon)
            except StillInProgressError:
                if attempt >= MAX_ATTEMPTS:
                    raise
                continue
            if attempt >= MAX_ATTEMPTS or inconclusive is None or not await inconclusive(answer):
                return answer

    async def _inconclusive(self, ledger: Ledger, step: Step, answer: Answer) -> bool:
        """A 2xx whose gateway result is an error: Stripe was down or the outcome is in doubt; ask again."""
        if not answer.ok:
            return False
        if step.operation in ("authorize", "capture"):
            return answer.result == "error"
        if step.operation == "refund":
            return not answer.body.get("refundPaymentId")
        if step.operation == "release":
            payment = await self._client.get(f"/payments/{ledger.payment_id}")
            return payment.get("statusId") == "PmntAuthorized"
        return False

    def _record(self, ledger: Ledger, operation: str, answer: Answer) -> None:
        if operation in ("authorize", "capture"):
            reference = answer.gateway_response.get("referenceNum")
            if isinstance(reference, str) and reference.startswith("pi_"):
                ledger.intent_id = reference
            outcome = answer.result
        elif operation == "refund":
            outcome = "success" if answer.body.get("refundPaymentId") else ("refused" if not answer.ok else "error")
        else:
            outcome = "success" if answer.ok else "refused"
        ledger.results[f"{operation} {outcome}"] += 1


def _required(answer: Answer, name: str) -> str:
    value = answer.body.get(name)
    if not answer.ok or not isinstance(value, str):
        raise RuntimeError(f"expected {name} in a 2xx answer, got {answer.status} {answer.body}")
    return value
