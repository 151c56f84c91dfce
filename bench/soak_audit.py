"""Compares every payment the soak made with Stripe's own objects (read from the emulator's Stripe API).

Double actions, from Stripe's objects of one Mantle Payment (PaymentIntents by `metadata.paymentId`, their refunds):
- double charge: more than one PaymentIntent holding money (status `requires_capture` or `succeeded`), or more than
  one successful Charge on one PaymentIntent;
- double capture: more captured (the Charges' `amount_captured`) across them than the largest capture the client
  asked for (or any capture when it asked for none);
- double refund: more refunded (refunds not failed or canceled) than the sum of the client's distinct refund
  requests, or more refunds than distinct refund requests.
Disagreements, after a final `get#SinglePaymentGatewayDetails` of every payment: the Payment's status is not the one
Stripe's current PaymentIntent implies, a captured Payment's amount is not what Stripe captured, or Mantle's
delivered refund Payments do not add up to Stripe's refunds (in amount or number).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import aiohttp
from soak_client import CarefulClient, as_amount
from soak_run import Ledger
from soak_stack import stripe_read

from service.money import from_minor_units

HOLDING_MONEY = frozenset({"requires_capture", "succeeded"})
REFUND_COUNTS = frozenset({"succeeded", "pending", "requires_action"})
# The Mantle status Stripe's current PaymentIntent implies (docs/payment-services.md, "details").
EXPECTED_STATUS = {
    "requires_capture": {"PmntAuthorized"},
    "succeeded": {"PmntDelivered"},
    "canceled": {"PmntPromised"},
    "requires_payment_method": {"PmntDeclined"},
}


@dataclass
class Finding:
    """One double action or disagreement, with the Stripe objects that show it."""

    kind: str
    sequence: int
    payment_id: str
    detail: str
    steps: list[str]
    stripe: list[dict[str, Any]]


@dataclass
class AuditResult:
    """Counts and findings."""

    doubles: dict[str, int] = field(default_factory=lambda: {"charge": 0, "capture": 0, "refund": 0})
    disagreements: int = 0
    findings: list[Finding] = field(default_factory=list)
    payments_checked: int = 0
    intents_seen: int = 0
    refunds_seen: int = 0


async def _list_all(session: aiohttp.ClientSession, base: str, path: str) -> list[dict[str, Any]]:
    """Every object of a Stripe list endpoint, following `starting_after`."""
    items: list[dict[str, Any]] = []
    query = {"limit": "100"}
    while True:
        page: dict[str, Any] = await stripe_read(session, base, path, query)
        items.extend(page["data"])
        if not page.get("has_more") or not page["data"]:
            return items
        query = {"limit": "100", "starting_after": page["data"][-1]["id"]}


def _by_intent(objects: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in objects:
        grouped[str(item.get("payment_intent"))].append(item)
    return grouped


def _money(minor: int) -> Decimal:
    return from_minor_units(minor, "USD")


@dataclass(frozen=True)
class StripeView:
    """One Mantle Payment's objects at Stripe: its PaymentIntents (oldest first), their Charges and Refunds."""

    intents: list[dict[str, Any]]
    charges: dict[str, list[dict[str, Any]]]
    refunds: dict[str, list[dict[str, Any]]]

    def captured(self, intents: list[dict[str, Any]] | None = None) -> Decimal:
        """What the Charges of these PaymentIntents (all by default) captured."""
        chosen = self.intents if intents is None else intents
        minor = sum(c.get("amount_captured", 0) for i in chosen for c in self.charges[i["id"]])
        return _money(minor)

    def counted_refunds(self) -> list[dict[str, Any]]:
        """Refunds that moved or will move money (not failed or canceled)."""
        return [r for i in self.intents for r in self.refunds[i["id"]] if r["status"] in REFUND_COUNTS]

    def summary(self) -> list[dict[str, Any]]:
        """The objects, short, for a report."""
        return [
            {
                "id": i["id"],
                "status": i["status"],
                "amount": i["amount"],
                "charges": [
                    {"id": c["id"], "status": c["status"], "captured": c.get("amount_captured", 0)}
                    for c in self.charges[i["id"]]
                ],
                "refunds": [
                    {"id": r["id"], "amount": r["amount"], "status": r["status"]} for r in self.refunds[i["id"]]
                ],
            }
            for i in self.intents
        ]


class Auditor:
    """Reads Stripe's objects once and checks each ledger against them."""

    def __init__(self, session: aiohttp.ClientSession, emulator_url: str, client: CarefulClient) -> None:
        self._session = session
        self._emulator_url = emulator_url
        self._client = client

    async def audit(self, ledgers: list[Ledger]) -> AuditResult:
        """Reconcile (details of every payment), then compare each payment with Stripe."""
        for ledger in ledgers:
            if ledger.payment_id:
                await self._client.details(ledger.payment_id)
        intents = await _list_all(self._session, self._emulator_url, "/v1/payment_intents")
        charges = await _list_all(self._session, self._emulator_url, "/v1/charges")
        refunds = await _list_all(self._session, self._emulator_url, "/v1/refunds")
        by_payment: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for intent in intents:
            by_payment[str((intent.get("metadata") or {}).get("paymentId"))].append(intent)
        charges_by_intent = _by_intent(charges)
        refunds_by_intent = _by_intent(refunds)
        result = AuditResult(intents_seen=len(intents), refunds_seen=len(refunds))

        def view(payment_id: str) -> StripeView:
            mine = sorted(by_payment.get(payment_id, []), key=lambda i: (i["created"], i["id"]))
            return StripeView(
                mine,
                {i["id"]: charges_by_intent.get(i["id"], []) for i in mine},
                {i["id"]: refunds_by_intent.get(i["id"], []) for i in mine},
            )

        for ledger in ledgers:
            if not ledger.payment_id:
                continue
            result.payments_checked += 1
            stripe = view(ledger.payment_id)
            self._doubles(result, ledger, stripe)
            await self._agreement(result, ledger, stripe)
            for remainder_id in ledger.remainder_ids:
                await self._remainder(result, ledger, remainder_id, view(remainder_id))
        return result

    @staticmethod
    def _doubles(result: AuditResult, ledger: Ledger, stripe: StripeView) -> None:
        def found(kind: str, detail: str) -> None:
            result.doubles[kind] += 1
            result.findings.append(
                Finding(f"double {kind}", ledger.index, ledger.payment_id, detail, ledger.steps, stripe.summary())
            )

        holding = [i for i in stripe.intents if i["status"] in HOLDING_MONEY]
        if len(holding) > 1:
            found("charge", f"{len(holding)} PaymentIntents hold money: {[i['id'] for i in holding]}")
        for intent in stripe.intents:
            paid = [c for c in stripe.charges[intent["id"]] if c["status"] == "succeeded"]
            if len(paid) > 1:
                found("charge", f"{intent['id']} has {len(paid)} successful charges")
        captured = stripe.captured()
        allowed = max(ledger.capture_requests, default=Decimal(0))
        if captured > allowed:
            found("capture", f"captured {captured} while the largest capture asked for was {allowed}")
        counted = stripe.counted_refunds()
        refunded = sum((_money(r["amount"]) for r in counted), Decimal(0))
        asked = sum(ledger.refund_requests, Decimal(0))
        if refunded > asked or len(counted) > len(ledger.refund_requests):
            found(
                "refund",
                f"{len(counted)} refunds of {refunded} for {len(ledger.refund_requests)} requests of {asked}",
            )

    async def _agreement(self, result: AuditResult, ledger: Ledger, stripe: StripeView) -> None:
        intents = stripe.intents
        payment = await self._client.get(f"/payments/{ledger.payment_id}")
        status = payment.get("statusId")
        problems = []
        live = [i for i in intents if i["status"] != "canceled"]
        current = live[-1] if live else (intents[-1] if intents else None)
        if current is None:
            if status not in ("PmntPromised", "PmntDeclined"):
                problems.append(f"no PaymentIntent at Stripe but the Payment is {status}")
        else:
            expected = EXPECTED_STATUS.get(current["status"], set())
            if status not in expected:
                problems.append(f"Stripe's {current['id']} is {current['status']} but the Payment is {status}")
            if current["status"] == "succeeded":
                captured = stripe.captured([current])
                if as_amount(payment.get("amount")) != captured:
                    problems.append(f"Payment amount {payment.get('amount')} but Stripe captured {captured}")
        stripe_refunds = stripe.counted_refunds()
        mantle_refunds = [r for r in payment.get("refundPayments") or [] if r.get("statusId") == "PmntDelivered"]
        stripe_total = sum((_money(r["amount"]) for r in stripe_refunds), Decimal(0))
        mantle_total = sum((as_amount(r.get("amount")) for r in mantle_refunds), Decimal(0))
        if stripe_total != mantle_total or len(stripe_refunds) != len(mantle_refunds):
            problems.append(
                f"Stripe has {len(stripe_refunds)} refunds of {stripe_total}, "
                f"Mantle {len(mantle_refunds)} delivered refund Payments of {mantle_total}"
            )
        if problems:
            result.disagreements += 1
            detail = "; ".join(problems)
            result.findings.append(
                Finding("disagreement", ledger.index, ledger.payment_id, detail, ledger.steps, stripe.summary())
            )

    async def _remainder(self, result: AuditResult, ledger: Ledger, remainder_id: str, stripe: StripeView) -> None:
        """A partial capture's remainder Payment was never authorized by the soak: Stripe has nothing for it."""
        payment = await self._client.get(f"/payments/{remainder_id}")
        if stripe.intents or payment.get("statusId") != "PmntPromised":
            result.disagreements += 1
            status, count = payment.get("statusId"), len(stripe.intents)
            detail = f"remainder Payment {remainder_id} is {status} with {count} PaymentIntents"
            result.findings.append(
                Finding("disagreement", ledger.index, remainder_id, detail, ledger.steps, stripe.summary())
            )
