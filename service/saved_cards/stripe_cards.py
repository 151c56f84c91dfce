"""Every Stripe call of saved cards: Customers, SetupIntents and a Customer's PaymentMethods.

Writes carry an idempotency key (`moqui-stripe/v1/<installationId>/<operationId>`, docs/gateway-api.md) where the
journal names one (the Customer create); the other writes are naturally idempotent at Stripe (a detach of a detached
card is refused and read as done, setting the default twice sets it once). A refused request becomes
`StripeRequestRejected` (stripe_gateway.operations.refusals_as_rejections).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import stripe

from service.stripe_gateway.client import StripeGateway
from service.stripe_gateway.operations import metadata_value, refusals_as_rejections

__all__ = [
    "OPERATION_METADATA",
    "confirm_with_saved_card",
    "create_customer",
    "create_setup_intent",
    "customer_cards",
    "detach_card",
    "find_customer_by_operation",
    "retrieve_customer",
    "retrieve_setup_intent",
    "set_card_saving",
    "set_default_card",
]

# The metadata key naming the journal row behind a Customer (as PaymentIntents carry it): the reconciling read
# finds a create whose answer was lost by it.
OPERATION_METADATA: Final = "moquiStripeOperation"


async def create_customer(
    gateway: StripeGateway,
    *,
    name: str | None,
    email: str | None,
    metadata: Mapping[str, str],
    idempotency_key: str,
) -> stripe.Customer:
    """POST /v1/customers (docs.stripe.com/api/customers/create) with the journal row's key."""
    params: stripe.params.CustomerCreateParams = {"metadata": dict(metadata)}
    if name:
        params["name"] = name
    if email:
        params["email"] = email
    with refusals_as_rejections():
        return await gateway.client.v1.customers.create_async(params, {"idempotency_key": idempotency_key})


async def find_customer_by_operation(
    gateway: StripeGateway, email: str | None, operation: str
) -> stripe.Customer | None:
    """The Customer whose metadata names `operation`, among those with that email (GET /v1/customers?email=,
    docs.stripe.com/api/customers/list): how a create whose key Stripe has forgotten is found without Search."""
    params: stripe.params.CustomerListParams = {"limit": 100}
    if email:
        params["email"] = email
    with refusals_as_rejections():
        page = await gateway.client.v1.customers.list_async(params)
        async for customer in page.auto_paging_iter():
            if metadata_value(customer, OPERATION_METADATA) == operation:
                return customer
    return None


async def retrieve_customer(gateway: StripeGateway, customer_id: str) -> stripe.Customer:
    """GET /v1/customers/{id} (a deleted Customer comes back with `deleted`)."""
    with refusals_as_rejections():
        return await gateway.client.v1.customers.retrieve_async(customer_id)


async def customer_cards(gateway: StripeGateway, customer_id: str) -> list[stripe.PaymentMethod]:
    """GET /v1/customers/{id}/payment_methods?type=card (docs.stripe.com/api/payment_methods/customer_list)."""
    with refusals_as_rejections():
        page = await gateway.client.v1.customers.payment_methods.list_async(customer_id, {"type": "card", "limit": 100})
        return [method async for method in page.auto_paging_iter()]


async def detach_card(gateway: StripeGateway, payment_method_id: str) -> stripe.PaymentMethod:
    """POST /v1/payment_methods/{id}/detach (docs.stripe.com/api/payment_methods/detach): it can never be used
    again."""
    with refusals_as_rejections():
        return await gateway.client.v1.payment_methods.detach_async(payment_method_id)


async def set_default_card(gateway: StripeGateway, customer_id: str, payment_method_id: str) -> stripe.Customer:
    """POST /v1/customers/{id} with `invoice_settings[default_payment_method]`: Stripe's own notion of the default
    card (Mantle has none)."""
    params: stripe.params.CustomerUpdateParams = {"invoice_settings": {"default_payment_method": payment_method_id}}
    with refusals_as_rejections():
        return await gateway.client.v1.customers.update_async(customer_id, params)


async def create_setup_intent(
    gateway: StripeGateway, customer_id: str, metadata: Mapping[str, str], *, idempotency_key: str | None = None
) -> stripe.SetupIntent:
    """POST /v1/setup_intents for a card to be charged later off-session (`usage=off_session`,
    docs.stripe.com/api/setup_intents/create); the page confirms it with the Payment Element, 3-D Secure included."""
    params: stripe.params.SetupIntentCreateParams = {
        "customer": customer_id,
        "usage": "off_session",
        "allowed_payment_method_types": ["card"],
        "metadata": dict(metadata),
    }
    options: stripe.RequestOptions = {"idempotency_key": idempotency_key} if idempotency_key else {}
    with refusals_as_rejections():
        return await gateway.client.v1.setup_intents.create_async(params, options)


async def retrieve_setup_intent(gateway: StripeGateway, setup_intent_id: str) -> stripe.SetupIntent:
    """GET /v1/setup_intents/{id} with its PaymentMethod expanded."""
    with refusals_as_rejections():
        return await gateway.client.v1.setup_intents.retrieve_async(setup_intent_id, {"expand": ["payment_method"]})


async def set_card_saving(
    gateway: StripeGateway, payment_intent_id: str, customer_id: str, *, save: bool
) -> stripe.PaymentIntent:
    """POST /v1/payment_intents/{id}: the checkout's PaymentIntent for the party's Customer, saving the card it is
    confirmed with (`setup_future_usage=off_session`) or not (an empty value unsets it,
    docs.stripe.com/api/payment_intents/update)."""
    params: stripe.params.PaymentIntentUpdateParams = {
        "customer": customer_id,
        "setup_future_usage": "off_session" if save else "",
    }
    with refusals_as_rejections():
        return await gateway.client.v1.payment_intents.update_async(payment_intent_id, params)


async def confirm_with_saved_card(
    gateway: StripeGateway, payment_intent_id: str, customer_id: str, payment_method_id: str, return_url: str
) -> stripe.PaymentIntent:
    """The checkout's PaymentIntent paid with a saved card while the customer is on the page: the Customer set
    (Stripe requires the card's own Customer on the PaymentIntent), then confirmed with the card and a return URL for
    3-D Secure (docs.stripe.com/api/payment_intents/confirm). A decline comes back as stripe.CardError; a confirm of
    a PaymentIntent already confirmed is refused by Stripe, so a double click never pays twice."""
    update: stripe.params.PaymentIntentUpdateParams = {"customer": customer_id}
    confirm: stripe.params.PaymentIntentConfirmParams = {"payment_method": payment_method_id, "return_url": return_url}
    with refusals_as_rejections():
        await gateway.client.v1.payment_intents.update_async(payment_intent_id, update)
        return await gateway.client.v1.payment_intents.confirm_async(payment_intent_id, confirm)
