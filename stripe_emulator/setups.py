"""How SetupIntents move: confirm, 3-D Secure and the saved card becoming usable off-session."""

from __future__ import annotations

from typing import Any

from stripe_emulator.context import current_request
from stripe_emulator.errors import StripeError, card_error
from stripe_emulator.events import public_view
from stripe_emulator.ids import new_id
from stripe_emulator.payments import attach, end_authentication, profile_of
from stripe_emulator.state import EmulatorState
from stripe_emulator.store import StripeObject

CONFIRMABLE = ("requires_payment_method", "requires_confirmation", "requires_action")


def attempt_setup(state: EmulatorState, intent: StripeObject) -> StripeError | None:
    """Confirm a SetupIntent with its payment method: succeed, ask for 3-D Secure, or decline (returned)."""
    pm = state.store.require("payment_method", intent["payment_method"], "payment_method")
    profile = profile_of(pm)
    requested = intent["payment_method_options"]["card"]["request_three_d_secure"] in ("any", "challenge")
    if (requested or profile.three_d_secure != "none") and not intent.get("_authenticated"):
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
        intent.update(status="requires_payment_method", last_setup_error=error, payment_method=None, next_action=None)
        state.events.emit("setup_intent.setup_failed", intent)
        return card_error(
            decline.message,
            decline.code,
            decline_code=decline.decline_code,
            param=decline.param,
            extra={**decline.advice(), "setup_intent": public_view(intent), "payment_method": public_view(pm)},
        )
    succeed(state, intent, pm)
    return None


def succeed(state: EmulatorState, intent: StripeObject, pm: StripeObject) -> None:
    """The card is set up: attached to the customer and usable later without authentication."""
    pm["_set_up"] = True
    if intent["customer"] is not None:
        attach(state, pm, intent["customer"])
    intent.update(status="succeeded", last_setup_error=None, next_action=None, latest_attempt=new_id("setatt"))
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
