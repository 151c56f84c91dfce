"""The Stripe Customer of a party: one per (client, gateway config, party), made on first need, exactly once.

Where the Customer id is kept (docs/saved-cards.md, "Customers"):

- **For a Moqui client**: Mantle's `Party.gatewayCimId` in that Moqui, read and written through the component's
  REST resources (`/rest/s1/moqui-stripe/parties/{partyId}/stripeCustomer`). That is where Mantle's CIM gateways
  keep a customer profile and where the component's gateway services already read `stripeCustomerId` from, so a
  card saved here is charged by Mantle with its Customer and nothing else. One Stripe account per Moqui is assumed
  for Customers (docs/moqui.md, section 3): `Party.gatewayCimId` holds one id.
- **Standalone**: `stripe.StripeCustomer` (partyId, paymentGatewayConfigId), the table the standalone gateway client
  already reads; one standalone may serve several Stripe accounts, so the id is kept per gateway config.

Exactly once: before Stripe is called, a row of `stripe.StripeCustomerOperation` (client, config, party) is
committed with an operation id taken from the gateway journal's own sequence, so the create's idempotency key is
`moqui-stripe/v1/<installationId>/<operationId>` like every other write and can never equal a payment operation's.
Two requests at once, a crash between Stripe's answer and our write, or a lost answer all send the same create with
the same key, and Stripe answers with the Customer it made the first time. Past the journal's safe age (Stripe
forgets keys after 24 hours) an unfinished create is looked for among the Customers with the party's email by its
`moquiStripeOperation` metadata before a new one is sent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

import asyncpg
import stripe

from moqui_bridge.entity import EntityFacade
from moqui_bridge.mantle.party_cards import PartyCardsSide, PartyContact
from moqui_bridge.service import ServiceError
from service.context import STANDALONE_CLIENT, ServiceContext
from service.payment_services.journal import GATEWAY_OPERATION
from service.saved_cards.stripe_cards import OPERATION_METADATA, create_customer, find_customer_by_operation
from service.stripe_gateway.idempotency import idempotency_key
from service.stripe_gateway.rate_limit import stripe_waits_until

__all__ = [
    "CUSTOMER_OPERATION",
    "STRIPE_CUSTOMER",
    "CustomerOwner",
    "customers_made",
    "find_or_create_customer",
    "known_customer",
    "party_of_customer",
]

log = logging.getLogger(__name__)

CUSTOMER_OPERATION: Final = "stripe.StripeCustomerOperation"
STRIPE_CUSTOMER: Final = "stripe.StripeCustomer"
SCO_STARTED: Final = "ScoStarted"
SCO_CREATED: Final = "ScoCreated"


@dataclass(frozen=True)
class CustomerOwner:
    """Whose Customer at which Stripe account: the client (the Moqui's api key name, or `standalone`), the gateway
    config and the Mantle party."""

    client_name: str
    payment_gateway_config_id: str
    party_id: str

    def key(self) -> dict[str, str]:
        """The journal row's primary key."""
        return {
            "clientName": self.client_name,
            "paymentGatewayConfigId": self.payment_gateway_config_id,
            "partyId": self.party_id,
        }


async def known_customer(context: ServiceContext, cards: PartyCardsSide, owner: CustomerOwner) -> str | None:
    """The party's Customer if it has one already (never calls Stripe or creates anything)."""
    contact = await cards.party_contact(owner.party_id)
    if contact is None:
        return None
    return await _kept_customer(context, owner, contact)


async def find_or_create_customer(context: ServiceContext, cards: PartyCardsSide, owner: CustomerOwner) -> str:
    """The party's Stripe Customer id at the owner's gateway config, made (with the party's name and email) when it
    has none.

    Raises ServiceError for an unknown gateway config or party; stripe.StripeError subclasses when Stripe cannot be
    reached (the journal row stays, so the next call sends the same create), StripeRequestRejected when Stripe
    refuses it.
    """
    if owner.payment_gateway_config_id not in context.gateways:
        raise ServiceError(
            f"Payment gateway configuration {owner.payment_gateway_config_id} has no Stripe account configured"
        )
    contact = await cards.party_contact(owner.party_id)
    if contact is None:
        raise ServiceError(f"Party {owner.party_id} not found")
    kept = await _kept_customer(context, owner, contact)
    if kept is not None:
        return kept
    row = await _journal_row(context, owner)
    customer_id = row.get("customerId") if row.get("operationStatusId") == SCO_CREATED else None
    if customer_id is None:
        customer_id = await _create(context, owner, contact, row)
    return await _keep(context, cards, owner, str(customer_id))


async def customers_made(entity: EntityFacade, client_name: str, party_id: str) -> bool:
    """Whether this service made the party a Customer (at any gateway config) for that client."""
    rows = await entity.find(
        CUSTOMER_OPERATION,
        {"clientName": client_name, "partyId": party_id, "operationStatusId": SCO_CREATED},
        limit=1,
    )
    return bool(rows)


async def party_of_customer(
    entity: EntityFacade, client_name: str, payment_gateway_config_id: str, customer_id: str
) -> str | None:
    """The party whose Customer this service made (None for a Customer made elsewhere)."""
    rows = await entity.find(
        CUSTOMER_OPERATION,
        {"clientName": client_name, "paymentGatewayConfigId": payment_gateway_config_id, "customerId": customer_id},
        limit=1,
    )
    return str(rows[0]["partyId"]) if rows else None


async def _kept_customer(context: ServiceContext, owner: CustomerOwner, contact: PartyContact) -> str | None:
    if owner.client_name != STANDALONE_CLIENT:
        return contact.gateway_cim_id
    row = await context.entity.find_one(
        STRIPE_CUSTOMER, {"partyId": owner.party_id, "paymentGatewayConfigId": owner.payment_gateway_config_id}
    )
    return str(row["customerId"]) if row and row.get("customerId") else None


async def _journal_row(context: ServiceContext, owner: CustomerOwner) -> dict[str, Any]:
    existing = await context.entity.find_one(CUSTOMER_OPERATION, owner.key())
    if existing is not None:
        return existing
    values = {
        **owner.key(),
        "operationId": await context.entity.sequenced_id(GATEWAY_OPERATION),
        "operationStatusId": SCO_STARTED,
        "startedDate": context.clock.now(),
    }
    try:
        return await context.entity.create(CUSTOMER_OPERATION, values)
    except asyncpg.UniqueViolationError:
        # Another request journaled it first: send its create (same key) rather than a second one.
        found = await context.entity.find_one(CUSTOMER_OPERATION, owner.key())
        if found is None:
            raise
        return found


async def _create(context: ServiceContext, owner: CustomerOwner, contact: PartyContact, row: dict[str, Any]) -> str:
    gateway = context.gateways.get(owner.payment_gateway_config_id)
    safe_age = timedelta(hours=context.settings.reconciler.safe_age_hours)
    operation_id = str(row["operationId"])
    with stripe_waits_until(context.deadline.for_stripe()):
        if context.clock.now() - row["startedDate"] > safe_age:
            # Stripe may have forgotten the key: find what it made under it, else start over with a new key.
            found = await find_customer_by_operation(gateway, contact.email, _operation(context, operation_id))
            if found is not None:
                return await _created(context, owner, found)
            operation_id = await context.entity.sequenced_id(GATEWAY_OPERATION)
            await context.entity.update(
                CUSTOMER_OPERATION, owner.key(), {"operationId": operation_id, "startedDate": context.clock.now()}
            )
        customer = await create_customer(
            gateway,
            name=contact.name,
            email=contact.email,
            metadata={
                "partyId": owner.party_id,
                "paymentGatewayConfigId": owner.payment_gateway_config_id,
                "moquiStripeClient": owner.client_name,
                OPERATION_METADATA: _operation(context, operation_id),
            },
            idempotency_key=idempotency_key(context.installation_id, operation_id),
        )
    return await _created(context, owner, customer)


def _operation(context: ServiceContext, operation_id: str) -> str:
    return f"{context.installation_id}/{operation_id}"


async def _created(context: ServiceContext, owner: CustomerOwner, customer: stripe.Customer) -> str:
    await context.entity.update(
        CUSTOMER_OPERATION,
        owner.key(),
        {
            "operationStatusId": SCO_CREATED,
            "customerId": customer.id,
            "stripeRequestId": customer.last_response.request_id if customer.last_response else None,
            "completedDate": context.clock.now(),
        },
    )
    return str(customer.id)


async def _keep(context: ServiceContext, cards: PartyCardsSide, owner: CustomerOwner, customer_id: str) -> str:
    if owner.client_name == STANDALONE_CLIENT:
        key = {"partyId": owner.party_id, "paymentGatewayConfigId": owner.payment_gateway_config_id}
        try:
            await context.entity.create(STRIPE_CUSTOMER, {**key, "customerId": customer_id})
            kept = customer_id
        except asyncpg.UniqueViolationError:
            row = await context.entity.find_one(STRIPE_CUSTOMER, key)
            kept = str(row["customerId"]) if row and row.get("customerId") else customer_id
    else:
        kept = await cards.keep_party_customer(owner.party_id, owner.payment_gateway_config_id, customer_id)
    if kept != customer_id:
        # The party got a Customer from elsewhere meanwhile (an operator, another service): Mantle's wins, and the
        # one made here stays unused at Stripe under its metadata.
        log.warning(
            "party %s already had Stripe Customer %s; %s made by this service is not used",
            owner.party_id,
            kept,
            customer_id,
        )
    return kept
