"""Helpers shared by the resource routes."""

from __future__ import annotations

from aiohttp import web

from stripe_emulator.accepted import ACCEPTS, EXCLUSIVE_WITH_ALLOWED_TYPES, unsupported_parameter
from stripe_emulator.errors import invalid_request, parameter_error
from stripe_emulator.middleware import is_publishable
from stripe_emulator.params import Params, merge_metadata
from stripe_emulator.payments import payment_method_from_data, resolve_payment_method
from stripe_emulator.state import EmulatorState
from stripe_emulator.store import StripeObject
from stripe_emulator.wire import request_params

# Three-decimal currencies: Stripe requires card amounts in them to end in 0.
THREE_DECIMAL = frozenset({"bhd", "jod", "kwd", "omr", "tnd"})
_MINIMUMS = {"gbp": 30, "jpy": 50, "huf": 17500, "inr": 50, "mxn": 1000, "hkd": 400, "sek": 300, "nok": 300, "dkk": 250}


def check_amount(amount: int, currency: str, param: str = "amount") -> None:
    """Stripe's amount rules: a per-currency minimum and the trailing zero of three-decimal currencies."""
    minimum = _MINIMUMS.get(currency, 50)
    if amount < minimum:
        raise parameter_error(
            f"Amount must be at least {minimum} {currency} (in the currency's smallest unit).",
            param,
            "amount_too_small",
        )
    if amount > 99_999_999:
        raise parameter_error("Amount must be no more than 99999999.", param, "amount_too_large")
    if currency in THREE_DECIMAL and amount % 10:
        raise parameter_error(
            f"Amounts in {currency.upper()} must be divisible by 10 (the last digit must be 0).",
            param,
            "invalid_amount",
        )


def check_currency(value: str) -> str:
    """A three-letter ISO currency code, lower-cased as Stripe returns it."""
    currency = value.lower()
    if len(currency) != 3 or not currency.isalpha():
        raise parameter_error(f"Invalid currency: {value}.", "currency", "parameter_invalid_string")
    return currency


async def checked_params(request: web.Request) -> Params:
    """The call's parameters, each name checked against what the route takes (`stripe_emulator.accepted`)."""
    method = "GET" if request.method == "HEAD" else request.method
    accepts = ACCEPTS[(method, request.match_info.route.resource.canonical)]  # type: ignore[union-attr]
    data = await request_params(request)
    accepts.check(data, is_publishable(request))
    return Params(data)


def require_customer(state: EmulatorState, customer_id: str, param: str = "customer") -> StripeObject:
    """An existing customer or Stripe's 404."""
    return state.store.require("customer", customer_id, param)


def check_client_secret(request: web.Request, params: Params, intent: StripeObject) -> None:
    """A publishable-key caller (stripe.js) must prove it holds the intent's client secret."""
    if not is_publishable(request):
        return
    if params.str("client_secret") != intent["client_secret"]:
        raise invalid_request(
            "The client_secret provided does not match the client_secret associated with this object.",
            param="client_secret",
            stored=False,
        )


def object_id(request: web.Request) -> str:
    """The `{id}` path segment."""
    return request.match_info["id"]


def expand_of(params: Params) -> list[str]:
    """The `expand[]` paths."""
    return params.string_list("expand")


def set_fields(target: StripeObject, params: Params, names: tuple[str, ...]) -> None:
    """Copy plain string fields the caller sent (an empty value clears one)."""
    for name in names:
        if params.has(name):
            target[name] = params.str(name)


def apply_customer_and_method(state: EmulatorState, intent: StripeObject, params: Params) -> None:
    """`customer`, `metadata` and `payment_method` / `payment_method_data`, as PaymentIntents and SetupIntents take
    them on create, update and confirm (an empty `payment_method` clears it)."""
    customer = params.str("customer")
    if customer is not None:
        require_customer(state, customer)
        intent["customer"] = customer
    intent["metadata"] = merge_metadata(intent["metadata"], params.metadata())
    method_data = params.hash("payment_method_data")
    method_id = params.str("payment_method")
    if method_data is not None:
        intent["payment_method"] = payment_method_from_data(state, method_data)["id"]
    elif method_id is not None:
        intent["payment_method"] = resolve_payment_method(state, method_id)["id"]
    elif params.has("payment_method"):
        intent["payment_method"] = None


def apply_method_types(intent: StripeObject, params: Params) -> None:
    """`allowed_payment_method_types`, `automatic_payment_methods` and `payment_method_options` of a Payment- or
    SetupIntent (create, update, confirm).

    `allowed_payment_method_types` (changelog 2026-07-29.dahlia, allowed-payment-method-types-parameter) cannot be
    sent with `automatic_payment_methods` (nor with the other exclusive names, which the emulator refuses before);
    the types that can be used end up in `payment_method_types`. The emulator charges cards only.
    """
    if params.has("allowed_payment_method_types"):
        for other in EXCLUSIVE_WITH_ALLOWED_TYPES:
            if params.has(other):
                raise parameter_error(
                    f"You may only specify one of these parameters: allowed_payment_method_types, {other}.",
                    other,
                    "parameter_invalid_string",
                )
        types = params.string_list("allowed_payment_method_types")
        if not types:
            raise parameter_error(
                "allowed_payment_method_types must list at least one type.",
                "allowed_payment_method_types",
                "parameter_invalid_array",
            )
        if any(kind != "card" for kind in types):
            raise unsupported_parameter("allowed_payment_method_types (other types than card)")
        intent.update(allowed_payment_method_types=types, payment_method_types=["card"], automatic_payment_methods=None)
    automatic = params.hash("automatic_payment_methods", ("enabled", "allow_redirects"))
    if automatic is not None:
        intent["automatic_payment_methods"] = {
            "allow_redirects": automatic.get("allow_redirects", "always"),
            "enabled": str(automatic.get("enabled", "false")).lower() == "true",
        }
    options = params.hash("payment_method_options")
    if options is not None:
        for kind, value in options.items():
            if kind != "card":
                raise unsupported_parameter(f"payment_method_options[{kind}]")
            for key in value if isinstance(value, dict) else {}:
                # `moto` is modelled on SetupIntents only (stripe_emulator/setups.py, `moto_option`).
                if key != "request_three_d_secure" and not (key == "moto" and intent["object"] == "setup_intent"):
                    raise unsupported_parameter(f"payment_method_options[card][{key}]")
        card = options.get("card")
        if isinstance(card, dict) and "request_three_d_secure" in card:
            choice = card["request_three_d_secure"]
            if choice not in ("automatic", "any", "challenge"):
                raise parameter_error(
                    "Invalid request_three_d_secure: must be one of automatic, any, challenge",
                    "payment_method_options[card][request_three_d_secure]",
                    "parameter_invalid_string",
                )
            intent["payment_method_options"]["card"]["request_three_d_secure"] = choice
