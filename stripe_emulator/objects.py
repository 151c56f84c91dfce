"""Builders for Stripe-shaped objects and their rendering (with `expand`).

Objects are stored as plain dicts in Stripe's JSON shape; keys starting with `_` are the emulator's own
bookkeeping (the full test card number, whether a card was set up for off-session use) and never leave it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
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
    "setup_intent": {"payment_method": "payment_method", "customer": "customer", "latest_attempt": "setup_attempt"},
    "setup_attempt": {"payment_method": "payment_method", "customer": "customer", "setup_intent": "setup_intent"},
    "payment_method": {"customer": "customer"},
    "dispute": {"charge": "charge", "payment_intent": "payment_intent"},
    "customer": {},
}


# Fields the SDK's resource classes declare that the emulator's objects leave out, as Stripe leaves them out
# (each with why). Every other declared field is on every object (`tests/conformance/test_objects.py`).
_OTHER_TYPES = (
    "acss_debit affirm afterpay_clearpay alipay alma amazon_pay au_becs_debit bacs_debit bancontact billie bizum blik "
    "boleto card_present cashapp crypto custom customer_balance eps fpx giropay grabpay ideal interac_present "
    "kakao_pay klarna konbini kr_card link mb_way mobilepay multibanco naver_pay nz_bank_account oxxo p24 pay_by_bank "
    "payco paynow paypal paypay payto pix promptpay revolut_pay samsung_pay satispay scalapay sepa_debit sequra sofort "
    "sunbit swish twint upi us_bank_account wechat_pay zip"
)
OMITTED: dict[str, dict[str, str]] = {
    "charge": {
        # /changelog/2022-11-15/deprecates-charges-auto-expand: `refunds` only when expanded (`expand[]=refunds`).
        "refunds": "only when expanded",
    },
    "customer": {
        # Includable fields (API reference, Customer object: "expandable"/"includable"): never by default.
        "cash_balance": "only when expanded",
        "invoice_credit_balance": "only when expanded",
        "sources": "only when expanded",
        "subscriptions": "only when expanded",
        "tax": "only when expanded",
        "tax_ids": "only when expanded",
        "deleted": "only on a deleted customer",
    },
    "payment_method": {name: "only on a PaymentMethod of that type" for name in _OTHER_TYPES.split()},
    "event": {
        "account": "only on events of a connected account (Connect)",
        "context": "only on events of an accounts v2 context",
    },
}


def empty_address() -> dict[str, Any]:
    """An address with every field null, as Stripe shows unset addresses."""
    return {"city": None, "country": None, "line1": None, "line2": None, "postal_code": None, "state": None}


def charge_refunds(store: Store, charge: StripeObject, expand: list[str]) -> StripeObject:
    """`charge.refunds` when expanded: the charge's refunds, newest first (the first page of ten)."""
    refunds = [r for r in store.newest_first("refund") if r["charge"] == charge["id"]]
    items = [render(store, r, [path.removeprefix("data.") for path in expand]) for r in refunds[:10]]
    return list_object(f"/v1/charges/{charge['id']}/refunds", items, len(refunds) > 10)


# Fields that are lists Stripe includes only when expanded, built at render time.
EXPANDABLE_LISTS: dict[str, dict[str, Callable[[Store, StripeObject, list[str]], StripeObject]]] = {
    "charge": {"refunds": charge_refunds},
}


def render(store: Store, obj: StripeObject, expand: list[str]) -> StripeObject:
    """The public view of `obj` with the requested fields expanded (dotted paths expand deeper)."""
    view = {k: v for k, v in obj.items() if not k.startswith("_")}
    if not expand:
        return view
    fields = EXPANDABLE.get(obj["object"], {})
    lists = EXPANDABLE_LISTS.get(obj["object"], {})
    nested: dict[str, list[str]] = {}
    for path in expand:
        head, _, rest = path.partition(".")
        if head not in fields and head not in lists:
            raise invalid_request(f"This property cannot be expanded ({path}).", param="expand", stored=False)
        nested.setdefault(head, [])
        if rest:
            nested[head].append(rest)
    for head, deeper in nested.items():
        if head in lists:
            view[head] = lists[head](store, obj, deeper)
            continue
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
        "customer_account": None,
        "livemode": False,
        "metadata": metadata or {},
        "radar_options": None,
        "type": "card",
        "_number": profile.number,
        "_set_up": profile.set_up_from_start,
        "_used_up": False,
    }


def build_customer(created: int) -> StripeObject:
    """An empty Customer."""
    customer_id = new_id("cus", 14)
    return {
        "id": customer_id,
        "object": "customer",
        "address": None,
        "balance": 0,
        "business_name": None,
        "created": created,
        "currency": None,
        "customer_account": None,
        "default_source": None,
        "delinquent": False,
        "description": None,
        "discount": None,
        "email": None,
        "individual_name": None,
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
        "allowed_payment_method_types": None,
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
        "customer_account": None,
        "description": None,
        "excluded_payment_method_types": None,
        "hooks": None,
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": False,
        "managed_payments": None,
        "metadata": {},
        "next_action": None,
        "on_behalf_of": None,
        "payment_details": None,
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
        "payment_record": None,
        "presentment_details": None,
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
        "_searchable_at": created,
    }


def build_setup_intent(created: int) -> StripeObject:
    """A new SetupIntent in `requires_payment_method`."""
    intent_id = new_id("seti")
    return {
        "id": intent_id,
        "object": "setup_intent",
        "allowed_payment_method_types": None,
        "application": None,
        "attach_to_self": None,
        "automatic_payment_methods": None,
        "cancellation_reason": None,
        "client_secret": new_secret(intent_id),
        "created": created,
        "customer": None,
        "customer_account": None,
        "description": None,
        "excluded_payment_method_types": None,
        "flow_directions": None,
        "last_setup_error": None,
        "latest_attempt": None,
        "livemode": False,
        "managed_payments": None,
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
        "_moto": False,
    }


def build_setup_attempt(intent: StripeObject, pm: StripeObject, created: int, *, moto: bool) -> StripeObject:
    """The SetupAttempt one confirmation of `intent` with the card `pm` makes; `payment_method_details.card.moto`
    says whether it was flagged MOTO (changelog 2026-04-22.dahlia, setup-attempt-payment-method-details-for-cards-moto).
    Its `status` and `setup_error` are filled in when the attempt ends."""
    card = pm["card"]
    return {
        "id": new_id("setatt"),
        "object": "setup_attempt",
        "application": None,
        "attach_to_self": None,
        "created": created,
        "customer": intent["customer"],
        "customer_account": None,
        "flow_directions": None,
        "livemode": False,
        "on_behalf_of": None,
        "payment_method": pm["id"],
        "payment_method_details": {
            "card": {
                "brand": card["brand"],
                "checks": {
                    "address_line1_check": None,
                    "address_postal_code_check": None,
                    "cvc_check": card["checks"]["cvc_check"],
                },
                "country": card["country"],
                "description": None,
                "exp_month": card["exp_month"],
                "exp_year": card["exp_year"],
                "fingerprint": card["fingerprint"],
                "funding": card["funding"],
                "iin": None,
                "issuer": None,
                "last4": card["last4"],
                "moto": moto,
                "network": card["brand"],
                "three_d_secure": None,
                "wallet": None,
            },
            "type": "card",
        },
        "setup_error": None,
        "setup_intent": intent["id"],
        "status": "processing",
        "usage": intent["usage"],
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
        "customer": charge["customer"],
        "customer_account": None,
        "description": None,
        "destination_details": {"card": {"reference_status": "pending", "type": "refund"}, "type": "card"},
        "failure_balance_transaction": None,
        "failure_reason": None,
        "instructions_email": None,
        "metadata": {},
        "next_action": None,
        "payment_intent": charge["payment_intent"],
        "payment_method": charge["payment_method"],
        "pending_reason": None,
        "presentment_details": None,
        "reason": None,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": "succeeded",
        "transfer_reversal": None,
    }


# The evidence fields of a Dispute (all unset until the merchant responds), as the API reference lists them.
_EVIDENCE = (
    "access_activity_log billing_address cancellation_policy cancellation_policy_disclosure cancellation_rebuttal "
    "customer_communication customer_email_address customer_name customer_purchase_ip customer_signature "
    "duplicate_charge_documentation duplicate_charge_explanation duplicate_charge_id product_description receipt "
    "refund_policy refund_policy_disclosure refund_refusal_explanation service_date service_documentation "
    "shipping_address shipping_carrier shipping_date shipping_documentation shipping_tracking_number "
    "uncategorized_file uncategorized_text"
)


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
        "evidence": {**dict.fromkeys(_EVIDENCE.split()), "enhanced_evidence": {}},
        "intended_submission_method": None,
        "evidence_details": {
            "due_by": created + 21 * 24 * 3600,
            "has_evidence": False,
            "past_due": False,
            "submission_count": 0,
            "enhanced_eligibility": {},
        },
        "is_charge_refundable": False,
        "livemode": False,
        "metadata": {},
        "network_reason_code": None,
        "payment_intent": charge["payment_intent"],
        "payment_method_details": {
            "card": {
                "brand": charge["payment_method_details"]["card"]["brand"],
                "case_type": "chargeback",
                "network_reason_code": None,
            },
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
        "balance_type": "payments",
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
