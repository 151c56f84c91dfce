"""How card payments move: authorization, declines, 3-D Secure, capture, cancellation and authorization expiry.

These functions change PaymentIntents and Charges in the store and emit the events Stripe emits; the route
modules only check parameters and call them. None of them awaits, so each change is atomic on the event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from stripe_emulator.cards import EXPIRED, PAYMENT_METHOD_TOKENS, CardProfile, Decline, luhn_valid, profile_for_number
from stripe_emulator.context import RequestInfo, current_request
from stripe_emulator.errors import (
    StripeError,
    card_error,
    invalid_request,
    missing_parameter,
    parameter_error,
    resource_missing,
)
from stripe_emulator.events import public_view
from stripe_emulator.ids import new_id
from stripe_emulator.objects import build_balance_transaction, build_payment_method
from stripe_emulator.state import EmulatorState
from stripe_emulator.store import StripeObject

CONFIRMABLE = ("requires_confirmation", "requires_payment_method", "requires_action")
CANCELABLE = ("requires_payment_method", "requires_capture", "requires_confirmation", "requires_action", "processing")
_AUTH_FAILED_MESSAGE = (
    "The provided PaymentMethod has failed authentication. You can provide payment_method_data or a new "
    "PaymentMethod to attempt to fulfill this PaymentIntent again."
)


# -- payment methods -------------------------------------------------------------------------------------------


def resolve_payment_method(
    state: EmulatorState, pm_id: str, param: str = "payment_method", *, to_use: bool = True
) -> StripeObject:
    """A stored PaymentMethod, or a fresh one made from a `pm_card_*` test token (each use makes a new one, as on
    Stripe: docs.stripe.com/testing, "PaymentMethods"). `to_use`: refuse one used up without a Customer."""
    token_number = PAYMENT_METHOD_TOKENS.get(pm_id)
    if token_number is not None:
        return state.store.add(build_payment_method(profile_for_number(token_number), state.clock.now()))
    found = state.store.get("payment_method", pm_id)
    if found is None:
        raise resource_missing("PaymentMethod", pm_id, param)
    if to_use and found["_used_up"] and found["customer"] is None:
        raise invalid_request(_USED_UP_MESSAGE, param=param)
    return found


# Stripe's answer to a second use of a PaymentMethod attached to no Customer, worded as Stripe words it (quoted in
# github.com/Automattic/woocommerce-payments/issues/323 and liberapay/liberapay.com#2686; the detach reference,
# docs.stripe.com/api/payment_methods/detach, says a detached PaymentMethod cannot be used or attached again).
_USED_UP_MESSAGE = (
    "The provided PaymentMethod was previously used with a PaymentIntent without Customer attachment, shared with a "
    "connected account without Customer attachment, or was detached from a Customer. It may not be used again. To "
    "use a PaymentMethod multiple times, you must attach it to a Customer first."
)


def use_up_unless_attached(pm: StripeObject) -> None:
    """A PaymentMethod a payment used while attached to no Customer can never be used (or attached) again."""
    if pm["customer"] is None:
        pm["_used_up"] = True


def payment_method_from_card(
    state: EmulatorState,
    card: dict[str, Any],
    billing_details: dict[str, Any] | None,
    metadata: dict[str, str] | None,
    param: str = "card",
) -> StripeObject:
    """A PaymentMethod from raw test card details (`card[number]`, `card[exp_month]`, ...), validated as Stripe does."""
    for key in card:
        if key not in ("number", "exp_month", "exp_year", "cvc"):
            raise parameter_error(f"Received unknown parameter: {param}[{key}]", f"{param}[{key}]", "parameter_unknown")
    number = str(card.get("number") or "").replace(" ", "")
    if not number:
        raise missing_parameter(f"{param}[number]")
    if not luhn_valid(number):
        raise card_error("Your card number is incorrect.", "incorrect_number", param="number")
    try:
        exp_month = int(card.get("exp_month") or "")
    except ValueError:
        raise missing_parameter(f"{param}[exp_month]") from None
    try:
        exp_year = int(card.get("exp_year") or "")
    except ValueError:
        raise missing_parameter(f"{param}[exp_year]") from None
    if exp_year < 100:
        exp_year += 2000
    if not 1 <= exp_month <= 12:
        raise card_error("Your card's expiration month is invalid.", "invalid_expiry_month", param="exp_month")
    if exp_year < 2000 or exp_year > 2100:
        raise card_error("Your card's expiration year is invalid.", "invalid_expiry_year", param="exp_year")
    cvc = card.get("cvc")
    if cvc is not None and (not str(cvc).isdigit() or len(str(cvc)) not in (3, 4)):
        raise card_error("Your card's security code is invalid.", "invalid_cvc", param="cvc")
    pm = build_payment_method(
        profile_for_number(number),
        state.clock.now(),
        exp_month=exp_month,
        exp_year=exp_year,
        billing_details=billing_details,
        metadata=metadata,
        cvc_provided=bool(cvc),
    )
    return state.store.add(pm)


def payment_method_from_data(state: EmulatorState, data: dict[str, Any]) -> StripeObject:
    """`payment_method_data[...]` on a PaymentIntent or SetupIntent: a card PaymentMethod made on the spot."""
    kind = data.get("type")
    if kind is None:
        raise missing_parameter("payment_method_data[type]")
    if kind != "card":
        raise parameter_error(
            f"The payment method type {kind!r} is not supported by this emulator.",
            "payment_method_data[type]",
            "parameter_invalid_string",
        )
    card = data.get("card")
    if not isinstance(card, dict):
        raise missing_parameter("payment_method_data[card]")
    billing = data.get("billing_details")
    metadata = data.get("metadata")
    return payment_method_from_card(
        state,
        card,
        billing if isinstance(billing, dict) else None,
        metadata if isinstance(metadata, dict) else None,
        "payment_method_data[card]",
    )


def profile_of(pm: StripeObject) -> CardProfile:
    """The test-card behaviour behind a PaymentMethod."""
    return profile_for_number(pm["_number"])


def needs_authentication(pm: StripeObject, intent: StripeObject) -> bool:
    """Whether using this card now triggers 3-D Secure: the card asks always, or until it has been set up, or the
    intent asks for it (`payment_method_options[card][request_three_d_secure]` `any` or `challenge`)."""
    mode = profile_of(pm).three_d_secure
    requested = intent["payment_method_options"]["card"]["request_three_d_secure"] in ("any", "challenge")
    return requested or mode == "always" or (mode == "unless_set_up" and not pm["_set_up"])


def attach(state: EmulatorState, pm: StripeObject, customer_id: str) -> None:
    """Attach a PaymentMethod to a customer (a no-op if it already is)."""
    if pm["customer"] == customer_id:
        return
    if pm["_used_up"]:
        raise invalid_request(_USED_UP_MESSAGE, param="payment_method")
    if pm["customer"] is not None:
        raise invalid_request(
            "The payment method you provided has already been attached to a customer.", param="payment_method"
        )
    pm["customer"] = customer_id
    state.events.emit("payment_method.attached", pm)


# -- charges ---------------------------------------------------------------------------------------------------


def _outcome(profile: CardProfile, decline: Decline | None) -> dict[str, Any]:
    outcome: dict[str, Any] = {
        "advice_code": None,
        "network_advice_code": None,
        "network_decline_code": None,
        "network_status": "approved_by_network",
        "reason": None,
        "risk_level": profile.risk_level,
        "risk_score": profile.risk_score,
        "seller_message": "Payment complete.",
        "type": "authorized",
    }
    if profile.risk_level == "elevated":
        outcome["reason"] = "elevated_risk_level"
    if decline is not None and decline.blocked_by_radar:
        outcome.update(
            network_status="not_sent_to_network",
            reason="highest_risk_level",
            seller_message="Stripe blocked this payment as too risky.",
            type="blocked",
        )
    elif decline is not None:
        outcome.update(decline.advice())
        outcome.update(
            network_status="declined_by_network",
            reason=decline.decline_code,
            seller_message="The bank did not return any further details with this decline.",
            type="issuer_declined",
        )
    return outcome


def _new_charge(
    state: EmulatorState, intent: StripeObject, pm: StripeObject, decline: Decline | None, authenticated: bool
) -> StripeObject:
    now = state.clock.now()
    profile = profile_of(pm)
    paid = decline is None
    manual = intent["capture_method"] == "manual"
    captured = paid and not manual
    charge_id = new_id("ch")
    card = pm["card"]
    three_d_secure = None
    if authenticated:
        three_d_secure = {
            "authentication_flow": "challenge",
            "electronic_commerce_indicator": "05",
            "exemption_indicator": None,
            "result": "authenticated",
            "result_reason": None,
            "transaction_id": new_id("3ds"),
            "version": "2.2.0",
        }
    charge: StripeObject = {
        "id": charge_id,
        "object": "charge",
        "amount": intent["amount"],
        "amount_captured": intent["amount"] if captured else 0,
        "amount_refunded": 0,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "authorization_code": None,
        "balance_transaction": None,
        "billing_details": pm["billing_details"],
        "calculated_statement_descriptor": "EMULATOR",
        "captured": captured,
        "created": now,
        "currency": intent["currency"],
        "customer": intent["customer"],
        "description": intent["description"],
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": decline.code if decline else None,
        "failure_message": decline.message if decline else None,
        "fraud_details": {"stripe_report": "fraudulent"} if decline and decline.blocked_by_radar else {},
        "level3": None,
        "livemode": False,
        "metadata": dict(intent["metadata"]),
        "on_behalf_of": None,
        "outcome": _outcome(profile, decline),
        "paid": paid,
        "payment_intent": intent["id"],
        "payment_method": pm["id"],
        "payment_method_details": {
            "card": {
                "amount_authorized": intent["amount"] if paid else None,
                "authorization_code": f"{abs(hash(charge_id)) % 1_000_000:06d}" if paid else None,
                "brand": card["brand"],
                "capture_before": now + state.config.authorization_window_seconds if paid and manual else None,
                "checks": dict(card["checks"]),
                "country": card["country"],
                "exp_month": card["exp_month"],
                "exp_year": card["exp_year"],
                "extended_authorization": {"status": "disabled"},
                "fingerprint": card["fingerprint"],
                "funding": card["funding"],
                "incremental_authorization": {"status": "unavailable"},
                "installments": None,
                "last4": card["last4"],
                "mandate": None,
                "multicapture": {"status": "unavailable"},
                "network": card["brand"],
                "network_token": {"used": False},
                "network_transaction_id": new_id("ntx", 15)[4:] if paid else None,
                "overcapture": {"maximum_amount_capturable": intent["amount"], "status": "unavailable"},
                "regulated_status": "unregulated",
                "three_d_secure": three_d_secure,
                "wallet": None,
            },
            "type": "card",
        },
        "radar_options": {},
        "receipt_email": intent["receipt_email"],
        "receipt_number": None,
        "receipt_url": None,
        "presentment_details": None,
        "refunded": False,
        "review": None,
        "shipping": intent["shipping"],
        "source": None,
        "source_transfer": None,
        "statement_descriptor": intent["statement_descriptor"],
        "statement_descriptor_suffix": intent["statement_descriptor_suffix"],
        "status": "succeeded" if paid else "failed",
        "transfer": None,
        "transfer_data": None,
        "transfer_group": intent["transfer_group"],
    }
    if captured:
        settle(state, charge, intent["amount"])
    return state.store.add(charge)


def settle(state: EmulatorState, charge: StripeObject, amount: int) -> None:
    """Record the balance transaction of a captured amount on the charge."""
    entry = build_balance_transaction(charge["id"], amount, charge["currency"], state.clock.now())
    charge["balance_transaction"] = state.store.add(entry)["id"]


# -- payment intents -------------------------------------------------------------------------------------------


def _fail(
    state: EmulatorState, intent: StripeObject, pm: StripeObject, decline: Decline, charge: StripeObject | None
) -> StripeError:
    """Record a declined attempt on the PaymentIntent and build the 402 that reports it."""
    error: dict[str, Any] = {
        **decline.advice(),
        "code": decline.code,
        "decline_code": decline.decline_code,
        "doc_url": f"https://stripe.com/docs/error-codes/{decline.code.replace('_', '-')}",
        "message": decline.message,
        "payment_method": public_view(pm),
        "type": "card_error",
    }
    if charge is not None:
        error["charge"] = charge["id"]
        intent["latest_charge"] = charge["id"]
    if decline.param is not None:
        error["param"] = decline.param
    intent.update(status="requires_payment_method", last_payment_error=error, payment_method=None, next_action=None)
    if charge is not None:
        state.events.emit("charge.failed", charge)
    state.events.emit("payment_intent.payment_failed", intent)
    extra: dict[str, Any] = {
        **decline.advice(),
        "payment_intent": public_view(intent),
        "payment_method": public_view(pm),
    }
    if charge is not None:
        extra["charge"] = charge["id"]
    return card_error(
        decline.message, decline.code, decline_code=decline.decline_code, param=decline.param, extra=extra
    )


def _authorized(state: EmulatorState, intent: StripeObject, pm: StripeObject, authenticated: bool) -> None:
    charge = _new_charge(state, intent, pm, None, authenticated)
    intent.update(latest_charge=charge["id"], last_payment_error=None, next_action=None)
    if intent["setup_future_usage"] is not None:
        # Saving the card for later is what lets 4000002500003155 skip authentication on later payments.
        pm["_set_up"] = True
        if intent["customer"] is not None:
            attach(state, pm, intent["customer"])
    use_up_unless_attached(pm)
    state.events.emit("charge.succeeded", charge)
    if intent["capture_method"] == "manual":
        intent.update(status="requires_capture", amount_capturable=intent["amount"])
        state.events.emit("payment_intent.amount_capturable_updated", intent)
    else:
        intent.update(status="succeeded", amount_received=intent["amount"], amount_capturable=0)
        state.events.emit("payment_intent.succeeded", intent)


def attempt(state: EmulatorState, intent: StripeObject) -> StripeError | None:
    """Confirm a PaymentIntent that has its payment method: authorize, ask for 3-D Secure, or decline.

    Returns the 402 to raise on a decline (after recording it) or None.
    """
    pm = state.store.require("payment_method", intent["payment_method"], "payment_method")
    profile = profile_of(pm)
    if _expired(pm, state.clock.now()):
        # A saved card whose expiry has passed (by the emulator's clock) is declined as Stripe's issuers decline it:
        # `expired_card` (docs.stripe.com/declines/codes), before any authentication is asked for.
        return _fail(state, intent, pm, EXPIRED, _new_charge(state, intent, pm, EXPIRED, False))
    authenticated = bool(intent.get("_authenticated"))
    if needs_authentication(pm, intent) and not authenticated:
        if intent["_off_session"]:
            decline = Decline(
                "authentication_required",
                "authentication_required",
                "Your card was declined. This transaction requires authentication.",
            )
            return _fail(state, intent, pm, decline, None)
        intent.update(status="requires_action", next_action=_three_d_secure_action(intent))
        state.events.emit("payment_intent.requires_action", intent)
        return None
    intent["_authenticated"] = False
    if profile.decline is not None:
        return _fail(state, intent, pm, profile.decline, _new_charge(state, intent, pm, profile.decline, authenticated))
    _authorized(state, intent, pm, authenticated)
    return None


def _expired(pm: StripeObject, now: int) -> bool:
    """Whether the card's expiry month (it is valid to its last day, UTC) is over at `now`."""
    card = pm.get("card") or {}
    month, year = card.get("exp_month"), card.get("exp_year")
    if not isinstance(month, int) or not isinstance(year, int):
        return False
    first_after = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return now >= int(first_after.timestamp())


def _three_d_secure_action(intent: StripeObject) -> dict[str, Any]:
    url = f"{current_request.get().base_url}/_emulator/3ds/{intent['id']}"
    if intent["_return_url"]:
        return {"type": "redirect_to_url", "redirect_to_url": {"return_url": intent["_return_url"], "url": url}}
    return {
        "type": "use_stripe_sdk",
        "use_stripe_sdk": {"type": "three_d_secure_redirect", "stripe_js": url, "source": new_id("src")},
    }


def end_authentication(
    state: EmulatorState,
    intent: StripeObject,
    succeeded: bool,
    *,
    retry: Callable[[EmulatorState, StripeObject], StripeError | None],
    error_field: str,
    code: str,
    message: str,
    failed_event: str,
) -> StripeError | None:
    """The shopper completed or failed the 3-D Secure challenge of an intent (Payment- or SetupIntent) in
    `requires_action`.

    Success runs `retry` (the intent's confirm step) again, now authenticated. Failure detaches the payment method and
    records the `code`/`message` error under `error_field`, emitting `failed_event`, as Stripe does for both kinds.
    """
    kind = intent["object"]
    if intent["status"] != "requires_action":
        class_name = "".join(part.title() for part in kind.split("_"))
        raise parameter_error(
            f"This {class_name} is not awaiting authentication (status {intent['status']}).",
            "intent",
            f"{kind}_unexpected_state",
        )
    if succeeded:
        intent["_authenticated"] = True
        return retry(state, intent)
    pm = state.store.get("payment_method", intent["payment_method"])
    intent.update(
        {
            "status": "requires_payment_method",
            "payment_method": None,
            "next_action": None,
            error_field: {
                "code": code,
                "doc_url": f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}",
                "message": message,
                "payment_method": public_view(pm) if pm else None,
                "type": "invalid_request_error",
            },
        }
    )
    state.events.emit(failed_event, intent)
    return None


def finish_authentication(state: EmulatorState, intent: StripeObject, succeeded: bool) -> StripeError | None:
    """The shopper completed or failed the 3-D Secure challenge of a PaymentIntent in `requires_action`."""
    return end_authentication(
        state,
        intent,
        succeeded,
        retry=attempt,
        error_field="last_payment_error",
        code="payment_intent_authentication_failure",
        message=_AUTH_FAILED_MESSAGE,
        failed_event="payment_intent.payment_failed",
    )


def capture(state: EmulatorState, intent: StripeObject, amount_to_capture: int | None) -> None:
    """Capture all or part of an authorization; the rest is released (not a refund since 2025-03-31.basil)."""
    amount = intent["amount_capturable"] if amount_to_capture is None else amount_to_capture
    if amount > intent["amount_capturable"]:
        raise parameter_error(
            f"The amount to capture ({amount}) must be less than or equal to the amount capturable "
            f"({intent['amount_capturable']}).",
            "amount_to_capture",
            "amount_too_large",
        )
    if amount < 1:
        raise parameter_error("Capture amount must be greater than zero.", "amount_to_capture", "amount_too_small")
    charge = state.store.require("charge", intent["latest_charge"], "charge")
    # Since 2025-03-31.basil the uncaptured rest is released without a Refund and is not in amount_refunded
    # (/changelog/basil/2025-03-31/remove-refund-from-partial-capture-and-payment-cancellation-flow).
    charge.update(captured=True, amount_captured=amount)
    settle(state, charge, amount)
    intent.update(status="succeeded", amount_received=amount, amount_capturable=0)
    state.events.emit("charge.captured", charge)
    state.events.emit("payment_intent.succeeded", intent)


def cancel(state: EmulatorState, intent: StripeObject, reason: str | None) -> None:
    """Cancel a PaymentIntent, releasing any authorization.

    Since 2025-03-31.basil the released authorization is no Refund: the charge keeps amount_captured 0,
    amount_refunded 0 and refunded false, and no charge.refunded is sent
    (/changelog/basil/2025-03-31/remove-refund-from-partial-capture-and-payment-cancellation-flow).
    """
    intent.update(
        status="canceled",
        cancellation_reason=reason,
        canceled_at=state.clock.now(),
        amount_capturable=0,
        next_action=None,
    )
    state.events.emit("payment_intent.canceled", intent)


def expire_if_due(state: EmulatorState, intent: StripeObject) -> StripeObject:
    """Cancel an authorization left uncaptured past `capture_before`, as Stripe does: `cancellation_reason` is
    `expired` since 2025-03-31.basil (`automatic` before), and the charge sends `charge.expired` (no refund)."""
    if intent["status"] != "requires_capture":
        return intent
    charge = state.store.get("charge", intent["latest_charge"])
    deadline = charge["payment_method_details"]["card"]["capture_before"] if charge else None
    if deadline is None or state.clock.now() < deadline:
        return intent
    # Stripe expires authorizations on its own, not as part of whichever request noticed.
    token = current_request.set(RequestInfo(base_url=current_request.get().base_url))
    try:
        if charge is not None:
            state.events.emit("charge.expired", charge)
        intent.update(status="canceled", cancellation_reason="expired", canceled_at=deadline, amount_capturable=0)
        state.events.emit("payment_intent.canceled", intent)
    finally:
        current_request.reset(token)
    return intent


def expire_all(state: EmulatorState) -> int:
    """Expire every authorization past its deadline; returns how many were canceled."""
    due = [pi for pi in state.store.newest_first("payment_intent") if pi["status"] == "requires_capture"]
    return sum(1 for pi in due if expire_if_due(state, pi)["status"] == "canceled")
