"""The catalogue of Stripe's documented test cards and `pm_card_*` test PaymentMethods, and how each behaves.

Source: docs.stripe.com/testing (sections "Cards by brand", "Cards by country", "Declined payments", "Fraud
prevention", "Invalid data", "Authentication and setup", "3D Secure"), which names each PaymentMethod exactly; some
declines are `pm_card_visa_chargeDeclined...`, others `pm_card_chargeDeclined...` without `visa_` (expired card,
incorrect CVC, processing error). A name not listed there does not exist on Stripe and gets `resource_missing` here.
Not modelled: the dispute cards (4000000000000259...; open one with the control API) and the refund-failure card
(4000000000005126; fail a refund with the control API).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ThreeDSecure = Literal["none", "always", "unless_set_up"]


@dataclass(frozen=True)
class Decline:
    """How the issuer (or Radar) refuses a charge: Stripe's error code, decline code, message and param."""

    code: str
    decline_code: str
    message: str
    param: str | None = None
    blocked_by_radar: bool = False
    # Since 2024-12-18.acacia declines carry the network's advice and decline codes, and Stripe's own advice code
    # (/changelog/acacia/2024-12-18/network-advice-code-network-decline-code,
    # /changelog/acacia/2025-01-27/charge-outcome-advice-code); the test cards document none, so they are null.
    advice_code: str | None = None
    network_advice_code: str | None = None
    network_decline_code: str | None = None

    def advice(self) -> dict[str, str | None]:
        """The advice fields of a decline, as the error, `last_payment_error` and `charge.outcome` carry them."""
        return {
            "advice_code": self.advice_code,
            "network_advice_code": self.network_advice_code,
            "network_decline_code": self.network_decline_code,
        }


@dataclass(frozen=True)
class CardProfile:
    """What a test card number does when used."""

    number: str
    brand: str
    funding: str = "credit"
    country: str = "US"
    decline: Decline | None = None
    three_d_secure: ThreeDSecure = "none"
    risk_level: str = "normal"
    risk_score: int = 20
    cvc_check: str | None = "pass"
    address_line1_check: str | None = None
    address_postal_code_check: str | None = None
    # Declining cards also refuse the zero-amount check a SetupIntent makes, except the one that fails later.
    declines_setup: bool = True
    # Behaves as a card already set up for off-session payments (4000003800000446).
    set_up_from_start: bool = False

    @property
    def last4(self) -> str:
        """The last four digits, as Stripe shows them."""
        return self.number[-4:]


_GENERIC = Decline("card_declined", "generic_decline", "Your card was declined.")
_INSUFFICIENT = Decline("card_declined", "insufficient_funds", "Your card has insufficient funds.")
EXPIRED = Decline("expired_card", "expired_card", "Your card has expired.", param="exp_month")
_CVC = Decline("incorrect_cvc", "incorrect_cvc", "Your card's security code is incorrect.", param="cvc")
_PROCESSING = Decline(
    "processing_error", "processing_error", "An error occurred while processing your card. Try again in a little bit."
)
_FRAUD = Decline("card_declined", "fraudulent", "Your card was declined.", blocked_by_radar=True)
_LOST = Decline("card_declined", "lost_card", "Your card was declined.")
_STOLEN = Decline("card_declined", "stolen_card", "Your card was declined.")
_VELOCITY = Decline(
    "card_declined",
    "card_velocity_exceeded",
    "Your card was declined for making repeated attempts too frequently or exceeding its amount limit.",
)

_CARDS = [
    CardProfile("4242424242424242", "visa"),
    CardProfile("4000056655665556", "visa", funding="debit"),
    CardProfile("5555555555554444", "mastercard"),
    CardProfile("5200828282828210", "mastercard", funding="debit"),
    CardProfile("5105105105105100", "mastercard", funding="prepaid"),
    CardProfile("4000008260000000", "visa", country="GB"),
    CardProfile("4000002760000016", "visa", country="DE"),
    CardProfile("4000002500000003", "visa", country="FR"),
    CardProfile("4000001240000000", "visa", country="CA"),
    CardProfile("4000003920000003", "visa", country="JP"),
    CardProfile("4000000360000006", "visa", country="AU"),
    CardProfile("378282246310005", "amex"),
    CardProfile("6011111111111117", "discover"),
    CardProfile("3566002020360505", "jcb", country="JP"),
    CardProfile("3056930009020004", "diners"),
    CardProfile("6200000000000005", "unionpay", country="CN"),
    CardProfile("4000000000000002", "visa", decline=_GENERIC),
    CardProfile("4000000000009995", "visa", decline=_INSUFFICIENT),
    CardProfile("4000000000000069", "visa", decline=EXPIRED),
    CardProfile("4000000000000127", "visa", decline=_CVC, cvc_check="fail"),
    CardProfile("4000000000000119", "visa", decline=_PROCESSING),
    CardProfile("4000000000009987", "visa", decline=_LOST),
    CardProfile("4000000000009979", "visa", decline=_STOLEN),
    CardProfile("4000000000006975", "visa", decline=_VELOCITY),
    CardProfile("4100000000000019", "visa", decline=_FRAUD, risk_level="highest", risk_score=95),
    # Highest risk: Radar's default rules block it.
    CardProfile("4000000000004954", "visa", decline=_FRAUD, risk_level="highest", risk_score=90),
    # Attaches to a customer fine, fails once charged.
    CardProfile("4000000000000341", "visa", decline=_GENERIC, declines_setup=False),
    CardProfile("4000000000009235", "visa", risk_level="elevated", risk_score=70),
    CardProfile("4000002500003155", "visa", three_d_secure="unless_set_up"),
    CardProfile("4000002760003184", "visa", three_d_secure="always"),
    # Already set up for off-session use: no authentication off-session, asked on-session until set up.
    CardProfile("4000003800000446", "visa", three_d_secure="unless_set_up", set_up_from_start=True),
    # Authentication, then the issuer declines for insufficient funds.
    CardProfile("4000008260003178", "visa", decline=_INSUFFICIENT, three_d_secure="always", country="GB"),
    CardProfile("4000000000003220", "visa", three_d_secure="always"),
    # 3-D Secure 2 supported, not required: the payment goes through without a challenge.
    CardProfile("4000000000003055", "visa"),
    CardProfile("4000000000000010", "visa", address_line1_check="fail", address_postal_code_check="fail"),
    CardProfile("4000000000000028", "visa", address_line1_check="fail", address_postal_code_check="pass"),
    CardProfile("4000000000000036", "visa", address_line1_check="pass", address_postal_code_check="fail"),
    CardProfile("4000000000000044", "visa", address_line1_check="unavailable", address_postal_code_check="unavailable"),
    CardProfile("4000000000000101", "visa", cvc_check="fail"),
    # Succeeds; the funds skip the pending balance (modelled as an ordinary success).
    CardProfile("4000000000000077", "visa"),
]
CARDS_BY_NUMBER = {card.number: card for card in _CARDS}

# Stripe's ready-made test PaymentMethods (docs.stripe.com/testing), each standing for one of the numbers above.
PAYMENT_METHOD_TOKENS = {
    # Cards by brand
    "pm_card_visa": "4242424242424242",
    "pm_card_visa_debit": "4000056655665556",
    "pm_card_mastercard": "5555555555554444",
    "pm_card_mastercard_debit": "5200828282828210",
    "pm_card_mastercard_prepaid": "5105105105105100",
    "pm_card_amex": "378282246310005",
    "pm_card_discover": "6011111111111117",
    "pm_card_diners": "3056930009020004",
    "pm_card_jcb": "3566002020360505",
    "pm_card_unionpay": "6200000000000005",
    # Cards by country (a few)
    "pm_card_us": "4242424242424242",
    "pm_card_gb": "4000008260000000",
    "pm_card_de": "4000002760000016",
    "pm_card_fr": "4000002500000003",
    "pm_card_ca": "4000001240000000",
    "pm_card_jp": "4000003920000003",
    "pm_card_au": "4000000360000006",
    # Declined payments
    "pm_card_visa_chargeDeclined": "4000000000000002",
    "pm_card_visa_chargeDeclinedInsufficientFunds": "4000000000009995",
    "pm_card_visa_chargeDeclinedLostCard": "4000000000009987",
    "pm_card_visa_chargeDeclinedStolenCard": "4000000000009979",
    "pm_card_chargeDeclinedExpiredCard": "4000000000000069",
    "pm_card_chargeDeclinedIncorrectCvc": "4000000000000127",
    "pm_card_chargeDeclinedProcessingError": "4000000000000119",
    "pm_card_visa_chargeDeclinedVelocityLimitExceeded": "4000000000006975",
    "pm_card_chargeCustomerFail": "4000000000000341",
    # Fraud prevention
    "pm_card_radarBlock": "4100000000000019",
    "pm_card_riskLevelHighest": "4000000000004954",
    "pm_card_riskLevelElevated": "4000000000009235",
    "pm_card_cvcCheckFail": "4000000000000101",
    "pm_card_avsZipFail": "4000000000000036",
    "pm_card_avsLine1Fail": "4000000000000028",
    "pm_card_avsFail": "4000000000000010",
    "pm_card_avsUnchecked": "4000000000000044",
    # Authentication and setup; 3D Secure
    "pm_card_authenticationRequiredOnSetup": "4000002500003155",
    "pm_card_authenticationRequired": "4000002760003184",
    "pm_card_authenticationRequiredSetupForOffSession": "4000003800000446",
    "pm_card_authenticationRequiredChargeDeclinedInsufficientFunds": "4000008260003178",
    "pm_card_threeDSecure2Required": "4000000000003220",
    "pm_card_threeDSecureOptional": "4000000000003055",
    "pm_card_amex_threeDSecureNotSupported": "378282246310005",
    # Available balance
    "pm_card_bypassPending": "4000000000000077",
}

_BRAND_PREFIXES = [("4", "visa"), ("5", "mastercard"), ("2", "mastercard"), ("34", "amex"), ("37", "amex")]


def luhn_valid(number: str) -> bool:
    """The card-number checksum Stripe validates before anything else."""
    if not number.isdigit() or not 12 <= len(number) <= 19:
        return False
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = int(char)
        if index % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def profile_for_number(number: str) -> CardProfile:
    """The documented behaviour of a number, or an ordinary successful card of its brand."""
    known = CARDS_BY_NUMBER.get(number)
    if known is not None:
        return known
    brand = next((b for prefix, b in reversed(_BRAND_PREFIXES) if number.startswith(prefix)), "unknown")
    return CardProfile(number, brand)
