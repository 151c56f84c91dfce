"""What the shopper reads when a payment does not go through: short, friendly, and never Stripe's own text.

Stripe's `message` is written for developers ("The provided PaymentMethod has failed authentication. You can provide
payment_method_data..."), so the checkout shows text of its own, chosen by the error's `decline_code`, then its
`code`, then its `type` (Stripe's error object: https://docs.stripe.com/api/errors and its decline codes,
https://docs.stripe.com/declines/codes). As Stripe advises, a card reported lost, stolen or fraudulent gets the
plain decline text: the shopper is not told why.

The same table serves both places a message is shown: the page rendered after a failed 3-D Secure challenge (here)
and the browser after `stripe.confirmPayment` answers an error (checkout.js reads it from the form's
`data-error-messages`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from moqui_bridge.web import moqui_json
from service.stripe_gateway.outcome import field_value

__all__ = ["SHOPPER_MESSAGES", "messages_for_browser", "shopper_message"]

_DECLINED: Final = "Your card was declined. Please try another card."
_TRY_AGAIN: Final = "The payment did not go through. Please try again."
_UNREACHABLE: Final = "We could not reach the payment service. Please try again in a moment."

SHOPPER_MESSAGES: Final[Mapping[str, str]] = {
    # decline codes
    "generic_decline": _DECLINED,
    "do_not_honor": _DECLINED,
    "fraudulent": _DECLINED,
    "lost_card": _DECLINED,
    "stolen_card": _DECLINED,
    "pickup_card": _DECLINED,
    "insufficient_funds": "Your card has insufficient funds. Please try another card.",
    "card_velocity_exceeded": "Your card has reached its limit. Please try another card.",
    "withdrawal_count_limit_exceeded": "Your card has reached its limit. Please try another card.",
    "card_not_supported": "Your card does not support this purchase. Please try another card.",
    "currency_not_supported": "Your card does not support this currency. Please try another card.",
    # error codes
    "card_declined": _DECLINED,
    "expired_card": "Your card has expired. Please use another card.",
    "incorrect_cvc": "Your card's security code is incorrect. Please check it and try again.",
    "invalid_cvc": "Your card's security code is incorrect. Please check it and try again.",
    "incorrect_number": "Your card number is incorrect. Please check it and try again.",
    "invalid_number": "Your card number is incorrect. Please check it and try again.",
    "invalid_expiry_month": "Your card's expiration date is incorrect. Please check it and try again.",
    "invalid_expiry_year": "Your card's expiration date is incorrect. Please check it and try again.",
    "processing_error": "We could not process your card. Please try again.",
    "authentication_required": "Your bank asks you to confirm this payment. Please try again.",
    "payment_intent_authentication_failure": (
        "We could not confirm the payment with your bank. Please try again or use another card."
    ),
    # error types, when nothing more precise is known
    "card_error": _DECLINED,
    "api_connection_error": _UNREACHABLE,
    "api_error": _UNREACHABLE,
    "rate_limit_error": _UNREACHABLE,
    "": _TRY_AGAIN,
}


def shopper_message(error: Any) -> str:
    """The shopper's text for a Stripe error object (`last_payment_error`, a mapping or a StripeObject with
    `decline_code`, `code`, `type`); the general "did not go through" text for anything unknown."""
    for key in ("decline_code", "code", "type"):
        value = field_value(error, key)
        if isinstance(value, str) and value in SHOPPER_MESSAGES:
            return SHOPPER_MESSAGES[value]
    return SHOPPER_MESSAGES[""]


def messages_for_browser() -> str:
    """The table as JSON text, for the checkout form's `data-error-messages` attribute."""
    return moqui_json.dumps(dict(SHOPPER_MESSAGES))
