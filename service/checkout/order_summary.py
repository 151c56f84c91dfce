"""What the checkout page shows of the order: its lines and totals, as text in the order's currency.

A Moqui order shows the part's OrderItems (products, shipping, tax, discounts: quantity times unit amount, as Mantle
totals them); the service's own tables keep orders as Mantle's header and parts without items
(moqui_bridge/mantle/orders.py), so there the part is the one line: its name and total. What earlier Payments already
cover shows as "Already paid", so the amount to pay always adds up on the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

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
    lines = tuple(_item_line(item, currency) for item in payable.items) or (
        SummaryLine(payable.order_name, "", format_amount(part_total, currency)),
    )
    return OrderSummary(
        lines=lines,
        total=format_amount(part_total, currency),
        already_paid=format_amount(paid, currency) if paid > 0 else "",
    )


def _item_line(item: dict[str, Any], currency: str) -> SummaryLine:
    # Mantle's item total is quantity x unitAmount (a missing quantity is one); the quantity shows when not one.
    quantity = item.get("quantity")
    count = quantity if isinstance(quantity, Decimal) else Decimal(1)
    unit = item.get("unitAmount")
    amount = count * (unit if isinstance(unit, Decimal) else Decimal(0))
    description = str(item.get("itemDescription") or item.get("productId") or item.get("orderItemSeqId") or "")
    shown = "" if count == 1 else f"{count.normalize():f}"
    return SummaryLine(description, shown, format_amount(amount, currency))
