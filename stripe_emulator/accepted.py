"""What every API route takes, as the pinned API version lists it, and how the emulator handles each name.

The list of what Stripe accepts on a route is the SDK's typed parameters for it (`stripe.params.<sdk_params>`,
generated from Stripe's OpenAPI description of the pinned version; request options such as `api_key` or
`idempotency_key` are not parameters). Every name on that list is here exactly once: `modelled` (the emulator
does what Stripe does with it) or `unsupported` (refused with 400 `emulator_parameter_unsupported`, never silently
ignored). A name that is not on the list gets Stripe's 400 `parameter_unknown`; a name the pinned version
removed gets the error Stripe answers it with. `tests/conformance/test_parameters.py` checks this table
against the installed SDK.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from stripe_emulator.errors import StripeError, invalid_request, unknown_parameter

# The API version the emulator follows: stripe-python 16.x speaks it.
PINNED_API_VERSION = "2026-10-28.endive"

# Parameters stripe.js adds to the calls it makes with a publishable key (its key and version travel as
# parameters; the stand-in in `stripe_js/` sends only `client_secret` and uses the Authorization header); the
# SDK's typed params, made for secret-key callers, do not list them. With a secret key they are unknown.
STRIPE_JS_EXTRAS = frozenset(("key", "_stripe_version"))
STRIPE_JS_CONFIRM = STRIPE_JS_EXTRAS | {"client_secret"}

# Exclusive with `allowed_payment_method_types` (changelog 2026-07-29.dahlia,
# /changelog/dahlia/2026-07-29/allowed-payment-method-types-parameter).
EXCLUSIVE_WITH_ALLOWED_TYPES = (
    "payment_method_types",
    "excluded_payment_method_types",
    "automatic_payment_methods",
    "payment_method_configuration",
)


def removed_payment_method_types() -> StripeError:
    """`payment_method_types` is no longer writable on PaymentIntents and SetupIntents (changelog 2026-09-30.endive,
    /changelog/endive/2026-09-30/removes-the-payment-method-types-parameter-from-payment-intents-and-setup-intents)."""
    return invalid_request(
        "The payment_method_types parameter is no longer supported. Use allowed_payment_method_types to limit the "
        "payment method types, or leave it out to use your payment method settings.",
        param="payment_method_types",
        code="payment_method_types_no_longer_supported",
        stored=False,
    )


def unsupported_parameter(name: str) -> StripeError:
    """A parameter Stripe takes that the emulator does not model: refused so that no test relies on it quietly."""
    return invalid_request(
        f"The Stripe emulator does not model the parameter {name} (Stripe accepts it; see stripe_emulator/README.md).",
        param=name,
        code="emulator_parameter_unsupported",
        stored=False,
    )


@dataclass(frozen=True)
class Accepts:
    """The parameters of one route and the emulator's handling of each."""

    sdk_params: str
    modelled: frozenset[str]
    unsupported: frozenset[str] = frozenset()
    # Names the pinned version refuses with an error of its own (not on the SDK's list any more).
    removed_payment_method_types: bool = False
    # Names accepted beyond the SDK's list from a publishable-key caller (stripe.js) only.
    stripe_js: frozenset[str] = frozenset()

    def check(self, names: Collection[str], publishable: bool) -> None:
        """Raise Stripe's (or the emulator's) error for the first name this route does not take as sent."""
        for name in names:
            if name in self.modelled:
                continue
            if name in self.unsupported:
                raise unsupported_parameter(name)
            if name == "payment_method_types" and self.removed_payment_method_types:
                raise removed_payment_method_types()
            if publishable and name in self.stripe_js:
                continue
            raise unknown_parameter(name)


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


_LIST = "created ending_before expand limit starting_after"
_PI_UNSUPPORTED = "amount_details application_fee_amount customer_account excluded_payment_method_types hooks "
_PI_UNSUPPORTED += "payment_details payment_method_configuration transfer_data"
_PI_WRITABLE = "allowed_payment_method_types amount capture_method currency customer description expand metadata "
_PI_WRITABLE += "payment_method payment_method_data payment_method_options receipt_email setup_future_usage shipping "
_PI_WRITABLE += "statement_descriptor statement_descriptor_suffix transfer_group"
_SI_UNSUPPORTED = "attach_to_self customer_account excluded_payment_method_types flow_directions "
_SI_UNSUPPORTED += "payment_method_configuration"
_PM_TYPES_UNSUPPORTED = (
    "acss_debit affirm afterpay_clearpay alipay alma amazon_pay au_becs_debit bacs_debit bancontact billie bizum "
    "blik boleto cashapp crypto custom customer_balance eps fpx giropay grabpay ideal interac_present kakao_pay "
    "klarna konbini kr_card link mb_way mobilepay multibanco naver_pay nz_bank_account oxxo p24 pay_by_bank payco "
    "paynow paypal paypay payto pix promptpay revolut_pay samsung_pay satispay scalapay sepa_debit sequra sofort "
    "sunbit swish twint upi us_bank_account wechat_pay zip"
)
_CUSTOMER_UNSUPPORTED = "balance business_name cash_balance individual_name invoice_prefix next_invoice_sequence "
_CUSTOMER_UNSUPPORTED += "source tax validate"
_CUSTOMER_MODELLED = "address description email expand invoice_settings metadata name phone preferred_locales "
_CUSTOMER_MODELLED += "shipping tax_exempt"

# Keyed by (method, route path as registered).
ACCEPTS: dict[tuple[str, str], Accepts] = {
    # -- PaymentIntents ----------------------------------------------------------------------------------------
    ("POST", "/v1/payment_intents"): Accepts(
        "PaymentIntentCreateParams",
        _names(f"{_PI_WRITABLE} automatic_payment_methods confirm confirmation_method off_session return_url"),
        _names(
            f"{_PI_UNSUPPORTED} confirmation_token error_on_requires_action mandate mandate_data on_behalf_of "
            "radar_options use_stripe_sdk"
        ),
        removed_payment_method_types=True,
    ),
    ("GET", "/v1/payment_intents/search"): Accepts("PaymentIntentSearchParams", _names("expand limit page query")),
    ("GET", "/v1/payment_intents"): Accepts(
        "PaymentIntentListParams", _names(f"{_LIST} customer"), _names("customer_account")
    ),
    ("GET", "/v1/payment_intents/{id}"): Accepts(
        "PaymentIntentRetrieveParams", _names("client_secret expand"), stripe_js=STRIPE_JS_EXTRAS
    ),
    ("POST", "/v1/payment_intents/{id}"): Accepts(
        "PaymentIntentUpdateParams",
        _names(_PI_WRITABLE),
        _names(_PI_UNSUPPORTED),
        removed_payment_method_types=True,
    ),
    ("POST", "/v1/payment_intents/{id}/confirm"): Accepts(
        "PaymentIntentConfirmParams",
        _names(
            "allowed_payment_method_types capture_method expand off_session payment_method "
            "payment_method_data payment_method_options receipt_email return_url setup_future_usage shipping"
        ),
        _names(
            "amount_details amount_to_confirm confirmation_token error_on_requires_action "
            "excluded_payment_method_types hooks mandate mandate_data payment_details radar_options use_stripe_sdk"
        ),
        removed_payment_method_types=True,
        stripe_js=STRIPE_JS_CONFIRM,
    ),
    ("POST", "/v1/payment_intents/{id}/capture"): Accepts(
        "PaymentIntentCaptureParams",
        _names("amount_to_capture expand final_capture metadata statement_descriptor statement_descriptor_suffix"),
        _names("amount_details application_fee_amount hooks payment_details transfer_data"),
    ),
    ("POST", "/v1/payment_intents/{id}/cancel"): Accepts(
        "PaymentIntentCancelParams", _names("cancellation_reason expand")
    ),
    # -- Charges, Disputes, BalanceTransactions ----------------------------------------------------------------
    ("GET", "/v1/charges"): Accepts("ChargeListParams", _names(f"{_LIST} customer payment_intent transfer_group")),
    ("GET", "/v1/charges/{id}"): Accepts("ChargeRetrieveParams", _names("expand")),
    ("POST", "/v1/charges/{id}"): Accepts(
        "ChargeUpdateParams",
        _names("description expand metadata receipt_email shipping transfer_group"),
        _names("customer fraud_details"),
    ),
    ("GET", "/v1/disputes"): Accepts("DisputeListParams", _names(f"{_LIST} charge payment_intent")),
    ("GET", "/v1/disputes/{id}"): Accepts("DisputeRetrieveParams", _names("expand")),
    ("GET", "/v1/balance_transactions/{id}"): Accepts("BalanceTransactionRetrieveParams", _names("expand")),
    # -- Refunds -----------------------------------------------------------------------------------------------
    ("POST", "/v1/refunds"): Accepts(
        "RefundCreateParams",
        _names("amount charge expand metadata payment_intent reason"),
        _names("currency customer instructions_email origin refund_application_fee reverse_transfer"),
    ),
    ("GET", "/v1/refunds"): Accepts("RefundListParams", _names(f"{_LIST} charge payment_intent")),
    ("GET", "/v1/refunds/{id}"): Accepts("RefundRetrieveParams", _names("expand")),
    ("POST", "/v1/refunds/{id}"): Accepts("RefundUpdateParams", _names("expand metadata")),
    # -- Customers ---------------------------------------------------------------------------------------------
    ("POST", "/v1/customers"): Accepts(
        "CustomerCreateParams",
        _names(f"{_CUSTOMER_MODELLED} payment_method"),
        _names(f"{_CUSTOMER_UNSUPPORTED} tax_id_data test_clock"),
    ),
    ("GET", "/v1/customers"): Accepts("CustomerListParams", _names(f"{_LIST} email"), _names("test_clock")),
    ("GET", "/v1/customers/{id}"): Accepts("CustomerRetrieveParams", _names("expand")),
    ("POST", "/v1/customers/{id}"): Accepts(
        "CustomerUpdateParams", _names(_CUSTOMER_MODELLED), _names(f"{_CUSTOMER_UNSUPPORTED} default_source")
    ),
    ("DELETE", "/v1/customers/{id}"): Accepts("CustomerDeleteParams", frozenset()),
    ("GET", "/v1/customers/{id}/payment_methods"): Accepts(
        "CustomerPaymentMethodListParams", _names("allow_redisplay ending_before expand limit starting_after type")
    ),
    # -- PaymentMethods ----------------------------------------------------------------------------------------
    ("POST", "/v1/payment_methods"): Accepts(
        "PaymentMethodCreateParams",
        _names("allow_redisplay billing_details card expand metadata type"),
        # `customer` and `payment_method` together clone a PaymentMethod onto a connected account (Connect).
        _names(f"{_PM_TYPES_UNSUPPORTED} customer payment_method radar_options"),
        stripe_js=STRIPE_JS_EXTRAS,
    ),
    ("GET", "/v1/payment_methods"): Accepts(
        "PaymentMethodListParams",
        _names("allow_redisplay customer ending_before expand limit starting_after type"),
        _names("customer_account"),
    ),
    ("GET", "/v1/payment_methods/{id}"): Accepts("PaymentMethodRetrieveParams", _names("expand")),
    ("POST", "/v1/payment_methods/{id}"): Accepts(
        "PaymentMethodUpdateParams",
        _names("allow_redisplay billing_details card expand metadata"),
        _names("us_bank_account"),
    ),
    ("POST", "/v1/payment_methods/{id}/attach"): Accepts(
        "PaymentMethodAttachParams", _names("customer expand"), _names("customer_account")
    ),
    ("POST", "/v1/payment_methods/{id}/detach"): Accepts("PaymentMethodDetachParams", _names("expand")),
    # -- SetupIntents ------------------------------------------------------------------------------------------
    ("POST", "/v1/setup_intents"): Accepts(
        "SetupIntentCreateParams",
        _names(
            "allowed_payment_method_types automatic_payment_methods confirm customer description expand metadata "
            "payment_method payment_method_data payment_method_options return_url usage"
        ),
        _names(f"{_SI_UNSUPPORTED} confirmation_token mandate_data on_behalf_of single_use use_stripe_sdk"),
        removed_payment_method_types=True,
    ),
    ("GET", "/v1/setup_intents"): Accepts(
        "SetupIntentListParams",
        _names(f"{_LIST} customer payment_method"),
        _names("attach_to_self customer_account"),
    ),
    ("GET", "/v1/setup_intents/{id}"): Accepts(
        "SetupIntentRetrieveParams", _names("client_secret expand"), stripe_js=STRIPE_JS_EXTRAS
    ),
    ("POST", "/v1/setup_intents/{id}"): Accepts(
        "SetupIntentUpdateParams",
        _names(
            "allowed_payment_method_types customer description expand metadata payment_method payment_method_data "
            "payment_method_options"
        ),
        _names(_SI_UNSUPPORTED),
        removed_payment_method_types=True,
    ),
    ("POST", "/v1/setup_intents/{id}/confirm"): Accepts(
        "SetupIntentConfirmParams",
        _names(
            "allowed_payment_method_types expand payment_method payment_method_data payment_method_options return_url"
        ),
        _names("confirmation_token mandate_data use_stripe_sdk"),
        stripe_js=STRIPE_JS_CONFIRM,
    ),
    ("POST", "/v1/setup_intents/{id}/cancel"): Accepts("SetupIntentCancelParams", _names("cancellation_reason expand")),
    ("GET", "/v1/setup_attempts"): Accepts("SetupAttemptListParams", _names(f"{_LIST} setup_intent")),
    # -- Events ------------------------------------------------------------------------------------------------
    ("GET", "/v1/events"): Accepts("EventListParams", _names(f"{_LIST} type types"), _names("delivery_success")),
    ("GET", "/v1/events/{id}"): Accepts("EventRetrieveParams", _names("expand")),
}
