"""A GatewayOutcome as the gateway API's answer: the PaymentGatewayResponse fields under Mantle's names.

The caller creates its PGR from these (adding paymentMethodId), so all six result indicators are always "Y" or "N",
amounts are plain decimal strings (no client parses them as floating point) and the date is epoch milliseconds.
The answer is plain JSON data: the journal keeps it as it was sent, and a repeat gets it again.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from service.money import from_minor_units, to_minor_units
from service.payment_services.gateway_call import GatewayCall
from service.payment_services.parameters import API_VERSION
from service.stripe_gateway.outcome import GatewayOutcome

__all__ = ["gateway_answer", "gateway_response"]


def gateway_response(
    call: GatewayCall,
    payment_operation_enum_id: str,
    outcome: GatewayOutcome,
    *,
    requested_amount: Decimal | None,
    currency: str | None,
) -> dict[str, Any]:
    """The PGR fields of one outcome; the amount is Stripe's for the operation when it says, else the one asked."""
    fields: dict[str, Any] = dict(outcome.response_fields())
    amount = outcome.amount if outcome.amount is not None else requested_amount
    amount_uom_id = outcome.currency or currency
    if amount is not None and amount_uom_id:
        # In the currency's own scale ("10.00"), whether Stripe said it or the journal's column held it.
        amount = from_minor_units(to_minor_units(amount, amount_uom_id), amount_uom_id)
    fields.update(
        {
            "paymentGatewayConfigId": call.payment_gateway_config_id,
            "paymentOperationEnumId": payment_operation_enum_id,
            "paymentId": call.payment_id,
            "amount": None if amount is None else format(amount, "f"),
            "amountUomId": amount_uom_id,
            "transactionDate": int(time.time() * 1000),
        }
    )
    return fields


def gateway_answer(
    response: dict[str, Any], *, payment_intent_id: str | None, attempt_num: int | None, **extra: Any
) -> dict[str, Any]:
    """The whole answer (as GatewayAnswerOut / DetailsOut take it), not yet replayed."""
    return {
        "apiVersion": API_VERSION,
        "paymentGatewayResponse": response,
        "paymentIntentId": payment_intent_id,
        "attemptNum": attempt_num,
        "replayed": "N",
        **extra,
    }
