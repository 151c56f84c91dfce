"""What the checkout page shows of the order: its lines and totals, as text in the order's currency.

The service's database keeps orders as Mantle's header and parts without items (moqui_bridge/mantle/orders.py), so
the part being paid is the one line: its name and total. What earlier Payments already cover shows as "Already
paid", so the amount to pay always adds up on the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from service.checkout.order_check import PayableOrder
from service.money import format_amount

__all__ = ["OrderSummary", "SummaryLine", "order_summary"]


@dataclass(frozen=True)
class SummaryLine:
    """One line of the order as shown: what it is, how many (empty when one), and its amount."""

    description: str
    quantity: str
    amount: str


@dataclass(frozen=True)
class OrderSummary:
    """The order's lines, its total, and what is already paid (empty when nothing is)."""

    lines: tuple[SummaryLine, ...]
    total: str
    already_paid: str


def order_summary(payable: PayableOrder) -> OrderSummary:
    """The summary of the part `payable` pays for."""
    total = payable.part.get("partTotal")
    part_total = total if isinstance(total, Decimal) else payable.amount_due
    paid = part_total - payable.amount_due
    currency = payable.currency
    line = SummaryLine(payable.order_name, "", format_amount(part_total, currency))
    return OrderSummary(
        lines=(line,),
        total=format_amount(part_total, currency),
        already_paid=format_amount(paid, currency) if paid > 0 else "",
    )
