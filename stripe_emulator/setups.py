"""How SetupIntents move: confirm, 3-D Secure, MOTO and the saved card becoming usable off-session.

Every confirmation attempt with a card is a SetupAttempt (listed by `GET /v1/setup_attempts?setup_intent=`), whose
`payment_method_details.card.moto` records whether the card was flagged as taken by mail or telephone.
"""

from __future__ import annotations

from typing import Any

from stripe_emulator.context import current_request
from stripe_emulator.errors import StripeError, card_error, invalid_request, unknown_parameter
from stripe_emulator.events import public_view
from stripe_emulator.objects import build_setup_attempt
from stripe_emulator.params import Params
from stripe_emulator.payments import attach, end_authentication, profile_of
from stripe_emulator.state import EmulatorState
from stripe_emulator.store import StripeObject

CONFIRMABLE = ("requires_payment_method", "requires_confirmation", "requires_action")
MOTO_PARAM = "payment_method_options[card][moto]"


def moto_option(state: EmulatorState, params: Params, *, confirming: bool) -> bool:
    """Whether this request flags the card as MOTO (`payment_method_options[card][moto]=true`).

    Stripe takes the flag only from accounts it has enabled MOTO for (docs.stripe.com/payments/payment-intents/moto:
    "Before you can enable MOTO transactions, Stripe must verify that you're PCI compliant"); elsewhere the name is
    unknown to the API, as stripe/stripe-dotnet#2898 shows ("Received unknown parameter:
    payment_method_options[card][moto]"). It "can only be provided during confirmation" (the SDK's
    SetupIntentCreateParamsPaymentMethodOptionsCard.moto): create with `confirm=true`, or confirm.
    """
    card = (params.hash("payment_method_options") or {}).get("card")
    if not isinstance(card, dict) or "moto" not in card:
        return False
    if not state.limits.settings.moto_enabled:
        raise unknown_parameter(MOTO_PARAM)
    value = str(card["moto"]).lower()
    if value not in ("true", "false"):
        raise invalid_request(f"Invalid boolean: {card['moto']}", param=MOTO_PARAM, stored=False)
    if not confirming:
        raise invalid_request(f"{MOTO_PARAM} can only be provided during confirmation.", param=MOTO_PARAM, stored=False)
    return value == "true"


def attempt_setup(state: EmulatorState, intent: StripeObject) -> StripeError | None:
    """Confirm a SetupIntent with its payment method: succeed, ask for 3-D Secure, or decline (returned).

    A MOTO confirmation (`intent["_moto"]`, set by the confirming request) asks for no 3-D Secure: MOTO is out of
    scope of Strong Customer Authentication and "the SetupIntent should succeed immediately"
    (docs.stripe.com/payments/payment-intents/moto); the card's own decline still applies.
    """
    pm = state.store.require("payment_method", intent["payment_method"], "payment_method")
    profile = profile_of(pm)
    moto = bool(intent.get("_moto"))
    attempt = state.store.add(build_setup_attempt(intent, pm, state.clock.now(), moto=moto))
    intent["latest_attempt"] = attempt["id"]
    requested = intent["payment_method_options"]["card"]["request_three_d_secure"] in ("any", "challenge")
    if (requested or profile.three_d_secure != "none") and not moto and not intent.get("_authenticated"):
        attempt["status"] = "requires_action"
        full_url = f"{current_request.get().base_url}/_emulator/3ds/{intent['id']}"
        if intent["_return_url"]:
            action: dict[str, Any] = {
                "type": "redirect_to_url",
                "redirect_to_url": {"return_url": intent["_return_url"], "url": full_url},
            }
        else:
            action = {
                "type": "use_stripe_sdk",
                "use_stripe_sdk": {"type": "three_d_secure_redirect", "stripe_js": full_url},
            }
        intent.update(status="requires_action", next_action=action)
        state.events.emit("setup_intent.requires_action", intent)
        return None
    intent["_authenticated"] = False
    decline = profile.decline
    if decline is not None and profile.declines_setup:
        error: dict[str, Any] = {
            **decline.advice(),
            "code": decline.code,
            "decline_code": decline.decline_code,
            "message": decline.message,
            "payment_method": public_view(pm),
            "type": "card_error",
        }
        attempt.update(status="failed", setup_error=error)
        intent.update(status="requires_payment_method", last_setup_error=error, payment_method=None, next_action=None)
        state.events.emit("setup_intent.setup_failed", intent)
        return card_error(
            decline.message,
            decline.code,
            decline_code=decline.decline_code,
            param=decline.param,
            extra={**decline.advice(), "setup_intent": public_view(intent), "payment_method": public_view(pm)},
        )
    attempt["status"] = "succeeded"
    succeed(state, intent, pm)
    return None


def succeed(state: EmulatorState, intent: StripeObject, pm: StripeObject) -> None:
    """The card is set up: attached to the customer and usable later without authentication."""
    pm["_set_up"] = True
    if intent["customer"] is not None:
        attach(state, pm, intent["customer"])
    intent.update(status="succeeded", last_setup_error=None, next_action=None)
    state.events.emit("setup_intent.succeeded", intent)


def finish_authentication(state: EmulatorState, intent: StripeObject, succeeded: bool) -> StripeError | None:
    """The shopper completed or failed 3-D Secure for a SetupIntent in `requires_action`."""
    return end_authentication(
        state,
        intent,
        succeeded,
        retry=attempt_setup,
        error_field="last_setup_error",
        code="setup_intent_authentication_failure",
        message="The latest attempt to set up the payment method has failed because authentication failed.",
        failed_event="setup_intent.setup_failed",
    )
