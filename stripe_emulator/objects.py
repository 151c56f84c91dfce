"""Builders for Stripe-shaped objects and their rendering (with `expand`).

Objects are stored as plain dicts in Stripe's JSON shape; keys starting with `_` are the emulator's own
bookkeeping (the full test card number, whether a card was set up for off-session use) and never leave it.
"""

from __future__ import annotations

import hashlib
from typing import Any

from stripe_emulator.cards import CardProfile
from stripe_emulator.errors import invalid_request
from stripe_emulator.ids import new_id, new_secret
from stripe_emulator.store import Store, StripeObject

# Which fields of each object type hold an id that `expand` can replace with the object.
EXPANDABLE: dict[str, dict[str, str]] = {
    "payment_intent": {"latest_charge": "charge", "payment_method": "payment_method", "customer": "customer"},
    "charge": {
        "payment_intent": "payment_intent",
        "customer": "customer",
        "balance_transaction": "balance_transaction",
    },
    "refund": {"charge": "charge", "payment_intent": "payment_intent", "balance_transaction": "balance_transaction"},
    "balance_transaction": {},
    "setup_intent": {"payment_method": "payment_method", "customer": "customer"},
    "payment_method": {"customer": "customer"},
    "dispute": {"charge": "charge", "payment_intent": "payment_intent"},
    "customer": {},
}


def empty_address() -> dict[str, Any]:
    """An address with every field null, as Stripe shows unset addresses."""
    return {"city": None, "country": None, "line1": None, "line2": None, "postal_code": None, "state": None}


def render(store: Store, obj: StripeObject, expand: list[str]) -> StripeObject:
    """The public view of `obj` with the requested fields expanded (dotted paths expand deeper)."""
    view = {k: v for k, v in obj.items() if not k.startswith("_")}
    if not expand:
        return view
    fields = EXPANDABLE.get(obj["object"], {})
    nested: dict[str, list[str]] = {}
    for path in expand:
        head, _, rest = path.partition(".")
        if head not in fields:
            raise invalid_request(f"This property cannot be expanded ({path}).", param="expand", stored=False)
        nested.setdefault(head, [])
        if rest:
            nested[head].append(rest)
    for head, deeper in nested.items():
        target_id = view.get(head)
        if isinstance(target_id, str):
            target = store.get(fields[head], target_id)
            if target is not None:
                view[head] = render(store, target, deeper)
    return view


def list_object(url: str, data: list[StripeObject], has_more: bool) -> StripeObject:
    """Stripe's list envelope."""
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def card_fingerprint(number: str) -> str:
    """A stable per-number fingerprint, as Stripe gives the same card the same fingerprint."""
    return hashlib.sha256(number.encode()).hexdigest()[:16]


def build_payment_method(
    profile: CardProfile,
    created: int,
    *,
    exp_month: int = 12,
    exp_year: int = 2034,
    billing_details: dict[str, Any] | None = None,
    metadata: dict[str, str] | None = None,
    cvc_provided: bool = True,
) -> StripeObject:
    """A card PaymentMethod for a test card; the checks reflect what was provided, as Stripe's do."""
    details = billing_details or {}
    address = {**empty_address(), **(details.get("address") or {})}
    checks = {
        "address_line1_check": profile.address_line1_check if address["line1"] else None,
        "address_postal_code_check": profile.address_postal_code_check if address["postal_code"] else None,
        "cvc_check": profile.cvc_check if cvc_provided else None,
    }
    # A provided address on an ordinary card passes; a card whose catalogue entry names a result keeps it.
    if address["line1"] and checks["address_line1_check"] is None:
        checks["address_line1_check"] = "pass"
    if address["postal_code"] and checks["address_postal_code_check"] is None:
        checks["address_postal_code_check"] = "pass"
    return {
        "id": new_id("pm"),
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": {
            "address": address,
            "email": details.get("email"),
            "name": details.get("name"),
            "phone": details.get("phone"),
            "tax_id": None,
        },
        "card": {
            "brand": profile.brand,
            "checks": checks,
            "country": profile.country,
            "display_brand": profile.brand,
            "exp_month": exp_month,
            "exp_year": exp_year,
            "fingerprint": card_fingerprint(profile.number),
            "funding": profile.funding,
            "generated_from": None,
            "last4": profile.last4,
            "networks": {"available": [profile.brand], "preferred": None},
            "regulated_status": "unregulated",
            "three_d_secure_usage": {"supported": True},
            "wallet": None,
        },
        "created": created,
        "customer": None,
        "livemode": False,
        "metadata": metadata or {},
        "type": "card",
        "_number": profile.number,
        "_set_up": False,
    }


def build_customer(created: int) -> StripeObject:
    """An empty Customer."""
    customer_id = new_id("cus", 14)
    return {
        "id": customer_id,
        "object": "customer",
        "address": None,
        "balance": 0,
        "created": created,
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": None,
        "email": None,
        "invoice_prefix": customer_id[-8:].upper(),
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": {},
        "name": None,
        "next_invoice_sequence": 1,
        "phone": None,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }


def build_payment_intent(amount: int, currency: str, created: int) -> StripeObject:
    """A new PaymentIntent in `requires_payment_method`."""
    intent_id = new_id("pi")
    return {
        "id": intent_id,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": 0,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": None,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": "automatic_async",
        "client_secret": new_secret(intent_id),
        "confirmation_method": "automatic",
        "created": created,
        "currency": currency,
        "customer": None,
        "description": None,
        "excluded_payment_method_types": None,
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": False,
        "metadata": {},
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": None,
        "payment_method_configuration_details": None,
        "payment_method_options": {
            "card": {
                "installments": None,
                "mandate_options": None,
                "network": None,
                "request_three_d_secure": "automatic",
            }
        },
        "payment_method_types": ["card"],
        "processing": None,
        "receipt_email": None,
        "review": None,
        "setup_future_usage": None,
        "shipping": None,
        "source": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "requires_payment_method",
        "transfer_data": None,
        "transfer_group": None,
        "_return_url": None,
        "_off_session": False,
    }


def build_setup_intent(created: int) -> StripeObject:
    """A new SetupIntent in `requires_payment_method`."""
    intent_id = new_id("seti")
    return {
        "id": intent_id,
        "object": "setup_intent",
        "application": None,
        "automatic_payment_methods": None,
        "cancellation_reason": None,
        "client_secret": new_secret(intent_id),
        "created": created,
        "customer": None,
        "description": None,
        "excluded_payment_method_types": None,
        "flow_directions": None,
        "last_setup_error": None,
        "latest_attempt": None,
        "livemode": False,
        "mandate": None,
        "metadata": {},
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": None,
        "payment_method_configuration_details": None,
        "payment_method_options": {
            "card": {"mandate_options": None, "network": None, "request_three_d_secure": "automatic"}
        },
        "payment_method_types": ["card"],
        "single_use_mandate": None,
        "status": "requires_payment_method",
        "usage": "off_session",
        "_return_url": None,
    }


def build_refund(charge: StripeObject, amount: int, created: int) -> StripeObject:
    """A card Refund against `charge`."""
    return {
        "id": new_id("re"),
        "object": "refund",
        "amount": amount,
        "balance_transaction": None,
        "charge": charge["id"],
        "created": created,
        "currency": charge["currency"],
        "destination_details": {"card": {"reference_status": "pending", "type": "refund"}, "type": "card"},
        "metadata": {},
        "payment_intent": charge["payment_intent"],
        "reason": None,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": "succeeded",
        "transfer_reversal": None,
    }


def build_dispute(charge: StripeObject, amount: int, reason: str, created: int) -> StripeObject:
    """A Dispute opened against `charge` (needs response, evidence due in 3 weeks)."""
    return {
        "id": new_id("dp"),
        "object": "dispute",
        "amount": amount,
        "balance_transactions": [],
        "charge": charge["id"],
        "created": created,
        "currency": charge["currency"],
        "enhanced_eligibility_types": [],
        "evidence": {},
        "evidence_details": {
            "due_by": created + 21 * 24 * 3600,
            "has_evidence": False,
            "past_due": False,
            "submission_count": 0,
        },
        "is_charge_refundable": False,
        "livemode": False,
        "metadata": {},
        "payment_intent": charge["payment_intent"],
        "payment_method_details": {
            "card": {"brand": charge["payment_method_details"]["card"]["brand"], "case_type": "chargeback"},
            "type": "card",
        },
        "reason": reason,
        "status": "needs_response",
    }


def build_balance_transaction(source_id: str, amount: int, currency: str, created: int) -> StripeObject:
    """The ledger entry of a capture (positive, with Stripe's card fee) or a refund (negative, no fee)."""
    fee = round(amount * 0.029) + 30 if amount > 0 else 0
    return {
        "id": new_id("txn"),
        "object": "balance_transaction",
        "amount": amount,
        "available_on": created + 2 * 24 * 3600,
        "created": created,
        "currency": currency,
        "description": None,
        "exchange_rate": None,
        "fee": fee,
        "fee_details": [
            {
                "amount": fee,
                "application": None,
                "currency": currency,
                "description": "Stripe processing fees",
                "type": "stripe_fee",
            }
        ]
        if fee
        else [],
        "net": amount - fee,
        "reporting_category": "charge" if amount > 0 else "refund",
        "source": source_id,
        "status": "pending",
        "type": "charge" if amount > 0 else "refund",
    }
