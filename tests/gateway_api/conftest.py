"""The gateway API as a Moqui component meets it: the real app on loopback, called over
`POST /rest/s1/moqui-stripe/v1/gateway/<op>` (and `/rpc/json`) by two clients (two Moqui instances, each with its
own api key), with the Stripe emulator as Stripe.

Payments live in the callers' databases, never in ours: a test makes a Stripe PaymentMethod id and a payment id of
its own and sends them, as the component does, and reads outcomes from the answers, from our journal and from Stripe.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
import stripe
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from moqui_bridge.entity import EntityFacade
from moqui_bridge.web import moqui_json
from service.app import APP_STATE, create_app
from service.clock import SYSTEM_CLOCK, Clock
from service.config import load_settings
from service.stripe_gateway.client import StripeAccountSettings, StripeGateway
from stripe_emulator.control import EmulatorControl

CONFIG_ID = "StripeGateway"
OTHER_CONFIG_ID = "StripeGatewayEu"
SECRET_KEY = "sk_test_gatewayapitests000000000"
CLIENT_A, KEY_A = "moqui-a", "key-of-moqui-a"
CLIENT_B, KEY_B = "moqui-b", "key-of-moqui-b"
GATEWAY = "/rest/s1/moqui-stripe/v1/gateway"
JOURNAL = "stripe.StripeGatewayOperation"
DEADLINE_SECONDS = 3.0

Client = TestClient[web.Request, web.Application]
_payment_ids = itertools.count(100000)


def next_payment_id() -> str:
    """A payment id as a Moqui sequence hands them out (both clients start at 100000 in Moqui; tests pass one)."""
    return str(next(_payment_ids))


@dataclass
class Answer:
    """One HTTP answer: status and parsed JSON (decimals as Decimal)."""

    status: int
    body: Any

    @property
    def pgr(self) -> dict[str, Any]:
        """The PaymentGatewayResponse fields of a 200 answer."""
        assert self.status == 200, self.body
        response: dict[str, Any] = self.body["paymentGatewayResponse"]
        return response

    @property
    def flags(self) -> set[str]:
        """The names of the PGR's indicators that are 'Y'."""
        return {name for name, value in self.pgr.items() if name.startswith("result") and value == "Y"}

    @property
    def error(self) -> str:
        """The error message of a refused call."""
        assert self.status != 200, self.body
        message: str = self.body["errors"]
        return message


@dataclass
class GatewayWorld:
    """The app, two clients' keys, the journal and Stripe (an observer's SDK client), and the emulator's controls."""

    client: Client
    entity: EntityFacade
    emulator: EmulatorControl
    observer: stripe.StripeClient
    app: web.Application

    async def call(
        self,
        operation: str,
        params: Mapping[str, Any],
        *,
        api_key: str = KEY_A,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        """POST one operation as a client (by its api key), amounts as JSON strings as the component sends them."""
        body = moqui_json.dumps(
            {key: (format(value, "f") if isinstance(value, Decimal) else value) for key, value in params.items()}
        )
        response = await self.client.post(
            f"{GATEWAY}/{operation}",
            data=body,
            headers={"Content-Type": "application/json", "api_key": api_key, **(headers or {})},
        )
        return Answer(response.status, json.loads(await response.text(), parse_float=Decimal))

    async def authorize(
        self,
        payment_id: str,
        amount: str = "50.00",
        *,
        attempt: int = 0,
        card: str = "pm_card_visa",
        api_key: str = KEY_A,
        operation: str = "authorize",
        **extra: Any,
    ) -> Answer:
        """authorize (or authorizeAndCapture) a new PaymentIntent."""
        params = {
            "paymentGatewayConfigId": CONFIG_ID,
            "paymentId": payment_id,
            "attemptNum": attempt,
            "amount": Decimal(amount),
            "currencyUomId": "USD",
            "stripePaymentMethodId": card,
            "orderId": f"ORD{payment_id}",
            **extra,
        }
        return await self.call(operation, params, api_key=api_key)

    async def on_intent(
        self,
        operation: str,
        payment_id: str,
        intent_id: str,
        *,
        attempt: int = 0,
        amount: str | None = None,
        api_key: str = KEY_A,
        **extra: Any,
    ) -> Answer:
        """capture, release, refund or details of a PaymentIntent."""
        params: dict[str, Any] = {
            "paymentGatewayConfigId": CONFIG_ID,
            "paymentId": payment_id,
            "paymentIntentId": intent_id,
            "currencyUomId": "USD",
            **extra,
        }
        if operation != "details":
            params["attemptNum"] = attempt
        if amount is not None:
            params["amount"] = Decimal(amount)
        return await self.call(operation, params, api_key=api_key)

    async def journal(self, payment_id: str, client_name: str = CLIENT_A) -> list[dict[str, Any]]:
        """The journal rows of a client's payment, oldest first."""
        return await self.entity.find(
            JOURNAL, {"clientName": client_name, "paymentId": payment_id}, order_by=["operationId"]
        )

    async def intents(self, payment_id: str, client_name: str = CLIENT_A) -> list[stripe.PaymentIntent]:
        """The PaymentIntents Stripe holds for a client's payment (by our metadata)."""
        page = await self.observer.v1.payment_intents.list_async({"limit": 100})
        return [
            intent
            async for intent in page.auto_paging_iter()
            if intent.metadata.to_dict().get("paymentId") == payment_id
            and intent.metadata.to_dict().get("moquiStripeClient") == client_name
        ]

    async def refunds(self, intent_id: str) -> list[stripe.Refund]:
        """Every refund of a PaymentIntent."""
        page = await self.observer.v1.refunds.list_async({"payment_intent": intent_id, "limit": 100})
        return [refund async for refund in page.auto_paging_iter()]

    async def idempotent_requests(self) -> int:
        """How many keyed requests Stripe has seen (a replay answered from our journal adds none)."""
        stats = await self.emulator.stats()
        return int(stats["idempotency_entries"])


def gateway_settings(stripe_emulator_url: str, **server: Any) -> dict[str, Any]:
    """Two clients, two gateway configs on one Stripe account (the emulator), no SDK retries (one fault is one
    failed call), a short deadline."""
    gateway = {
        "secret_key": SECRET_KEY,
        "api_base": stripe_emulator_url,
        "max_network_retries": 0,
        "timeout_seconds": 2,
    }
    return {
        "server": {
            "api_keys": {CLIENT_A: KEY_A, CLIENT_B: KEY_B},
            "request_deadline_seconds": DEADLINE_SECONDS,
            **server,
        },
        "database": {"pool_max_size": 10},
        "gateways": {CONFIG_ID: gateway, OTHER_CONFIG_ID: gateway},
    }


@asynccontextmanager
async def running_world(
    database_dsn: str,
    stripe_emulator_url: str,
    emulator_control: EmulatorControl,
    overrides: dict[str, Any],
    *,
    clock: Clock = SYSTEM_CLOCK,
) -> AsyncIterator[GatewayWorld]:
    """The app on 127.0.0.1 with these settings (and this clock), for as long as the block runs."""
    app = create_app(load_settings(environment={}, overrides=overrides), database_dsn, clock=clock)
    client: Client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    observer = StripeGateway("observer", StripeAccountSettings(SECRET_KEY, api_base=stripe_emulator_url))
    try:
        yield GatewayWorld(client, app[APP_STATE].require_runtime().entity, emulator_control, observer.client, app)
    finally:
        await observer.close()
        await client.close()


@pytest.fixture
async def world(
    entity_database_dsn: str, stripe_emulator_url: str, emulator_control: EmulatorControl
) -> AsyncIterator[GatewayWorld]:
    """The app on 127.0.0.1 over a fresh database, the emulator reset."""
    overrides = gateway_settings(stripe_emulator_url)
    async with running_world(entity_database_dsn, stripe_emulator_url, emulator_control, overrides) as running:
        yield running
