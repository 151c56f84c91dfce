"""Random sequences of payment operations for the soak, each drawn from its own seeded generator.

A plan depends only on (seed, sequence index), so `--seed S --only N` replays sequence N's plan alone. Timing under
concurrency is not reproducible; the plan (operations, amounts, faults, styles) is.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Final, Literal

Operation = Literal["authorize", "capture", "release", "refund", "details"]
# How a step's request is sent: once; twice at once under the same key; twice at once as two distinct requests;
# with the client giving up on its first attempt early (its answer lost on the client's side) and retrying.
Style = Literal["single", "duplicate", "concurrent", "abandon"]
WebhookChaos = Literal["none", "duplicate", "out_of_order"]

STRIPE_FAULTS: Final = ("stripe_500", "stripe_429", "stripe_hang", "stripe_drop", "lost_response")
FAULT_KINDS: Final = (*STRIPE_FAULTS, "kill")
# What the first sequences of every run carry, one each, so that even a short run meets every disturbance.
COVERAGE: Final = (*FAULT_KINDS, "webhook_duplicate", "webhook_out_of_order")
CARDS: Final = (
    ("pm_card_visa", 80),
    ("pm_card_mastercard", 8),
    ("pm_card_visa_chargeDeclined", 4),
    ("pm_card_visa_chargeDeclinedInsufficientFunds", 4),
    ("pm_card_chargeDeclinedExpiredCard", 4),  # Stripe's token has no visa_ prefix
)
CENT: Final = Decimal("0.01")


@dataclass(frozen=True)
class Step:
    """One operation of a sequence, with the fault injected around it and how it is sent."""

    operation: Operation
    amount: Decimal | None = None  # capture/refund amount; None: Mantle's default (the whole payment)
    fault: str | None = None  # one of FAULT_KINDS
    fault_count: int = 1  # how many Stripe requests the fault hits (3 outlasts the SDK's retries)
    kill_delay: float = 0.0  # seconds after the request is sent that the service is killed
    style: Style = "single"
    webhooks: WebhookChaos = "none"

    def describe(self) -> str:
        """One line for reports."""
        parts: list[str] = [self.operation]
        if self.amount is not None:
            parts.append(str(self.amount))
        if self.style != "single":
            parts.append(self.style)
        if self.fault:
            parts.append(f"{self.fault}x{self.fault_count}" if self.fault != "kill" else f"kill@{self.kill_delay:.2f}s")
        if self.webhooks != "none":
            parts.append(f"webhooks:{self.webhooks}")
        return " ".join(parts)


@dataclass(frozen=True)
class Plan:
    """A sequence: the order total, the card, and the steps."""

    index: int
    total: Decimal
    card: str
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class PlanOptions:
    """Probabilities of the disturbances per step."""

    fault_rate: float = 0.35
    kill_share: float = 0.06  # of the faulted steps, the share that kill the service
    duplicate_rate: float = 0.12
    concurrent_rate: float = 0.08
    abandon_rate: float = 0.08
    webhook_chaos_rate: float = 0.15
    details_rate: float = 0.3


def _amount_between(rng: random.Random, low: Decimal, high: Decimal) -> Decimal:
    return Decimal(rng.randint(int(low / CENT), int(high / CENT))) * CENT


def _refund_amounts(rng: random.Random, captured: Decimal) -> list[Decimal]:
    """0-4 partial refunds: equal amounts (a repeated equal refund is a distinct request), or random parts."""
    count = rng.choice((0, 1, 1, 2, 2, 3, 4))
    if count == 0 or captured < CENT * 4:
        return []
    if rng.random() < 0.5:
        each = _amount_between(rng, CENT, (captured / count).quantize(CENT, rounding="ROUND_DOWN"))
        amounts = [each] * count
    else:
        left, amounts = captured, []
        for _ in range(count):
            if left < CENT:
                break
            part = _amount_between(rng, CENT, max(CENT, (left / 2).quantize(CENT, rounding="ROUND_DOWN")))
            amounts.append(part)
            left -= part
    if rng.random() < 0.1:
        amounts.append(captured + CENT)  # more than is left: must be refused and change nothing
    return amounts


class Planner:
    """Draws plans for one seed."""

    def __init__(self, seed: int, options: PlanOptions) -> None:
        self._seed = seed
        self._options = options

    def plan(self, index: int) -> Plan:
        """The plan of sequence `index`."""
        rng = random.Random(f"{self._seed}/{index}")
        total = _amount_between(rng, Decimal("1.00"), Decimal("500.00"))
        card = rng.choices([c for c, _ in CARDS], weights=[w for _, w in CARDS])[0]
        covering = index < len(COVERAGE)
        if covering:
            card = "pm_card_visa"
        operations: list[tuple[Operation, Decimal | None]] = []
        if covering or rng.random() < 0.85:
            operations.append(("authorize", None))
        branch = 0.5 if covering else rng.random()
        captured = Decimal(0)
        if branch < 0.2 and operations:
            operations.append(("release", None))
        elif branch < 0.95:
            full = rng.random() < 0.5 or total < Decimal("1.00")
            captured = total if full else _amount_between(rng, Decimal("0.50"), total - CENT)
            operations.append(("capture", None if full and rng.random() < 0.5 else captured))
            operations.extend(("refund", amount) for amount in _refund_amounts(rng, captured))
        steps: list[Step] = []
        for operation, amount in operations:
            if rng.random() < self._options.details_rate:
                steps.append(self._step(rng, "details", None))
            steps.append(self._step(rng, operation, amount))
        steps.append(self._step(rng, "details", None))
        if covering:
            steps = self._cover(index, steps)
        return Plan(index, total, card, tuple(steps))

    @staticmethod
    def _cover(index: int, steps: list[Step]) -> list[Step]:
        """The first sequences each carry one disturbance on their authorization, so any run has them all."""
        position = next(i for i, step in enumerate(steps) if step.operation == "authorize")
        chosen = COVERAGE[index]
        step = steps[position]
        if chosen in FAULT_KINDS:
            step = replace(step, fault=chosen, fault_count=1, kill_delay=0.05 if chosen == "kill" else 0.0)
        else:
            step = replace(step, fault=None, webhooks="duplicate" if chosen == "webhook_duplicate" else "out_of_order")
        steps[position] = step
        return steps

    def _step(self, rng: random.Random, operation: Operation, amount: Decimal | None) -> Step:
        options = self._options
        fault: str | None = None
        fault_count, kill_delay = 1, 0.0
        if rng.random() < options.fault_rate:
            if rng.random() < options.kill_share:
                fault, kill_delay = "kill", rng.uniform(0.0, 0.4)
            else:
                fault = rng.choice(STRIPE_FAULTS)
                fault_count = rng.choice((1, 1, 2, 3)) if fault != "stripe_429" else rng.choice((1, 2, 4))
        style: Style = "single"
        draw = rng.random()
        if operation != "details":
            if draw < options.duplicate_rate:
                style = "duplicate"
            elif draw < options.duplicate_rate + options.concurrent_rate:
                style = "concurrent"
            elif draw < options.duplicate_rate + options.concurrent_rate + options.abandon_rate:
                style = "abandon"
        webhooks: WebhookChaos = "none"
        if rng.random() < options.webhook_chaos_rate:
            webhooks = rng.choice(("duplicate", "out_of_order"))
        return Step(operation, amount, fault, fault_count, kill_delay, style, webhooks)
