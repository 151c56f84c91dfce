"""The SaaS example with its own clock: the demo stack (service, emulator, example) whose service clock and emulator
clock a test moves together, and the steps a customer of the example takes (a saved card, the first month paid)."""

from __future__ import annotations

import calendar
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import stripe

from moqui_bridge.entity import EntityFacade
from moqui_bridge.mantle import names
from moqui_bridge.mantle.party_cards import LocalPartyCards
from service.app import APP_STATE
from service.clock import Clock
from service.context import STANDALONE_CLIENT, ServiceContext
from service.demo import DEMO_SECRET_KEY, DemoStack, demo_stack
from service.saas_example.app import RENEWALS
from service.saas_example.renewals import PLAN_ORDER_SUFFIX, RENEWAL_CONFIG_ID, RENEWAL_STORE_ID, Renewal
from service.saved_cards.card_records import record_saved_card
from service.saved_cards.customers import CustomerOwner, find_or_create_customer
from service.stripe_gateway.client import StripeAccountSettings, StripeGateway
from stripe_emulator.control import EmulatorControl

ADA = "SaasCustAda"


@dataclass
class SaasWorld:
    """The running example, its clock, Stripe as an observer sees it, and the emulator's controls."""

    stack: DemoStack
    clock: Clock
    observer: stripe.StripeClient
    emulator: EmulatorControl

    @property
    def context(self) -> ServiceContext:
        """The service's base context (the example's Mantle rules run in it)."""
        return self.stack.app[APP_STATE].require_runtime().base_context

    @property
    def entity(self) -> EntityFacade:
        """The service's entity facade."""
        return self.context.entity

    async def advance_to(self, moment: datetime) -> None:
        """Move the service's clock and the emulator's by the same whole seconds, to `moment` or just past it."""
        seconds = max(int((moment - self.clock.now()).total_seconds()) + 1, 0)
        self.clock.advance(seconds)
        await self.emulator.advance_clock(seconds)

    async def save_card(self, number: str, *, expires: tuple[int, int] = (12, 2034)) -> str:
        """A card the customer saved (their Stripe Customer, the card attached, recorded in Mantle); its pm_ id."""
        cards = LocalPartyCards(lambda: self.context)
        owner = CustomerOwner(STANDALONE_CLIENT, RENEWAL_CONFIG_ID, ADA)
        customer = await find_or_create_customer(self.context, cards, owner)
        month, year = expires
        method = await self.observer.v1.payment_methods.create_async(
            {"type": "card", "card": {"number": number, "exp_month": month, "exp_year": year, "cvc": "123"}}
        )
        attached = await self.observer.v1.payment_methods.attach_async(method.id, {"customer": customer})
        await record_saved_card(cards, attached, ADA, RENEWAL_CONFIG_ID)
        return str(method.id)

    async def first_month(self, card_method_id: str) -> str:
        """The plan's first order, paid with the saved card as the example's renewals are (create#Order,
        add#OrderPartPayment, place#Order); its order id."""
        runtime = self.stack.app[APP_STATE].require_runtime()
        created = await self.context.call_service(
            names.CREATE_ORDER,
            {
                "orderName": f"Team{PLAN_ORDER_SUFFIX}",
                "customerPartyId": ADA,
                "vendorPartyId": "SaasVendor",
                "currencyUomId": "USD",
                "productStoreId": RENEWAL_STORE_ID,
                "grandTotal": Decimal("29.00"),
            },
        )
        method = await self.entity.find(names.PAYMENT_METHOD, {"gatewayCimId": card_method_id})
        order_id = str(created["orderId"])
        await runtime.require_mantle().add_order_part_payment(
            order_id, str(created["orderPartSeqId"]), None, str(method[0]["paymentMethodId"]), RENEWAL_CONFIG_ID
        )
        await runtime.require_mantle().place_order(order_id)
        return order_id

    async def scheduled_run(self) -> list[Renewal]:
        """What the example's scheduled run does, now."""
        return await self.stack.app[RENEWALS]()


def expiring_month(after: datetime) -> tuple[int, int]:
    """(month, year) of a card that is still valid at `after` and expired a month later."""
    moment = after + timedelta(days=1)
    return moment.month, moment.year


def end_of_month(month: int, year: int) -> datetime:
    """The first moment a card with that expiry is expired."""
    return datetime(year, month, calendar.monthrange(year, month)[1]) + timedelta(days=1)


@asynccontextmanager
async def saas_world(database_dsn: str) -> AsyncIterator[SaasWorld]:
    """The demo stack on `database_dsn` with a clock of its own (the scheduled run is left to the test)."""
    clock = Clock()
    async with demo_stack(database_dsn=database_dsn, clock=clock, renew_every_seconds=None) as stack:
        observer = StripeGateway("observer", StripeAccountSettings(DEMO_SECRET_KEY, api_base=stack.emulator_url))
        emulator = EmulatorControl(stack.emulator_url)
        try:
            yield SaasWorld(stack, clock, observer.client, emulator)
        finally:
            await emulator.close()
            await observer.close()
