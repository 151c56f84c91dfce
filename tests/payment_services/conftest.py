"""A Moqui-shaped world for the gateway services: a fresh database with Mantle's tables and seed data, sample rows,
the six services behind a real /rpc/json endpoint, and the Stripe emulator as the gateway config's Stripe.

Tests post exactly what Moqui's RemoteJsonRpcServiceRunner sends (compact JSON, `amount` as an unquoted number
keeping its scale, the api key in the location URL) and read results where Moqui reads them: the PGR rows.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import stripe
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from moqui_bridge.entity import EntityFacade
from moqui_bridge.service import ServiceRegistry
from moqui_bridge.web.auth import Authenticator, Principal
from moqui_bridge.web.json_rpc import add_json_rpc_route
from service.config import GatewaySettings, Settings
from service.context import IDEMPOTENCY_KEY_HEADER, ServiceContext
from service.payment_services.registration import PAYMENT_SERVICE_NAMES, register_payment_services
from service.stripe_gateway.client import StripeAccountSettings, StripeGateway, StripeGateways
from service.stripe_gateway.operations import list_refunds
from stripe_emulator.control import EmulatorControl

CONFIG_ID = "StripeGateway"
SECRET_KEY = "sk_test_paymentservices0000000000"
API_KEY = "moqui-calls-us-with-this-key"
TIMEOUT_SECONDS = 1.0
PGR = "mantle.account.method.PaymentGatewayResponse"
PAYMENT = "mantle.account.payment.Payment"
JOURNAL = "stripe.StripeGatewayOperation"
INDICATORS = ("resultSuccess", "resultDeclined", "resultError", "resultNsf", "resultBadExpire", "resultBadCardNumber")

_ids = itertools.count(1)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _json_value(value: Any) -> str:
    # Groovy's JsonBuilder: BigDecimal as a bare number with its scale (100.0000), nulls as null.
    if isinstance(value, Decimal):
        return format(value, "f")
    return json.dumps(value)


def moqui_rpc_body(method: str, params: Mapping[str, Any]) -> str:
    """The exact body RemoteJsonRpcServiceRunner sends: compact, keys jsonrpc, id, method, params."""
    inner = ",".join(f"{json.dumps(key)}:{_json_value(value)}" for key, value in params.items())
    return f'{{"jsonrpc":"2.0","id":1,"method":{json.dumps(method)},"params":{{{inner}}}}}'


@dataclass
class Harness:
    """The service over HTTP, its database and the emulator, with the few helpers the tests share."""

    client: TestClient[web.Request, web.Application]
    entity: EntityFacade
    emulator: EmulatorControl
    gateway: StripeGateway

    async def rpc(self, method: str, params: Mapping[str, Any], *, headers: Mapping[str, str] | None = None) -> Any:
        """POST /rpc/json as Moqui does; the parsed JSON-RPC response (numbers as Decimal)."""
        response = await self.client.post(
            f"/rpc/json?api_key={API_KEY}",
            data=moqui_rpc_body(method, params),
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        return json.loads(await response.text(), parse_float=Decimal)

    async def call(self, verb: str, payment_id: str, amount: Decimal | None = None, **extra: Any) -> Any:
        """Call stripe.StripePaymentServices.<verb> with Moqui's parameters for that interface."""
        method = f"stripe.StripePaymentServices.{verb}"
        if verb.startswith("authorize"):
            params: dict[str, Any] = {
                "cardSecurityCode": None,
                "paymentGatewayConfigId": CONFIG_ID,
                "paymentId": payment_id,
            }
        elif verb in ("capture#Payment", "refund#Payment"):
            params = {"amount": amount, "paymentGatewayConfigId": CONFIG_ID, "paymentId": payment_id}
        else:
            params = {"paymentGatewayConfigId": CONFIG_ID, "paymentId": payment_id}
        params.update(extra.pop("params", {}))
        return await self.rpc(method, params, **extra)

    async def ok(self, verb: str, payment_id: str, amount: Decimal | None = None, **extra: Any) -> dict[str, Any]:
        """Call and return the result, failing the test on a JSON-RPC error."""
        answer = await self.call(verb, payment_id, amount, **extra)
        assert "error" not in answer, answer
        result: dict[str, Any] = answer["result"]
        return result

    async def error(self, verb: str, payment_id: str, amount: Decimal | None = None, **extra: Any) -> str:
        """Call and return the JSON-RPC error message, failing the test on success."""
        answer = await self.call(verb, payment_id, amount, **extra)
        assert "error" in answer, answer
        assert answer["error"]["code"] == 500
        message: str = answer["error"]["message"]
        return message

    async def pgr(self, pgr_id: str) -> dict[str, Any]:
        """One PaymentGatewayResponse, checked to have all six indicators set."""
        row = await self.entity.find_one(PGR, {"paymentGatewayResponseId": pgr_id})
        assert row is not None, f"no PGR {pgr_id}"
        assert all(row[name] in ("Y", "N") for name in INDICATORS), row
        return row

    async def pgrs(self, payment_id: str) -> list[dict[str, Any]]:
        """Every PGR of a payment, oldest first."""
        return await self.entity.find(PGR, {"paymentId": payment_id}, order_by=["paymentGatewayResponseId"])

    async def payment(self, payment_id: str) -> dict[str, Any]:
        """The Payment row."""
        row = await self.entity.find_one(PAYMENT, {"paymentId": payment_id})
        assert row is not None
        return row

    async def set_status(self, payment_id: str, status_id: str) -> None:
        """Play Mantle's part: it moves the Payment's status after reading our PGR."""
        await self.entity.update(PAYMENT, {"paymentId": payment_id}, {"statusId": status_id})

    async def record_mantle_refund(self, payment_id: str, amount: Decimal) -> None:
        """Play Mantle's refund#SinglePayment after a successful refund: a PtRefund Payment, Delivered."""
        original = await self.payment(payment_id)
        await self.entity.create(
            PAYMENT,
            {
                "paymentTypeEnumId": "PtRefund",
                "statusId": "PmntDelivered",
                "amount": amount,
                "amountUomId": original["amountUomId"],
                "fromPartyId": original["toPartyId"],
                "toPartyId": original["fromPartyId"],
                "refundForPaymentId": payment_id,
                "effectiveDate": _now(),
            },
        )

    async def add_payment(
        self,
        amount: str = "100.00",
        currency: str = "USD",
        card: str = "pm_card_visa",
        status_id: str = "PmntPromised",
        customer_id: str | None = None,
    ) -> str:
        """A new order with one part, a card PaymentMethod and a Promised Payment for it; returns the paymentId."""
        n = next(_ids)
        order_id, method_id, payment_id, party_id = f"ORD{n}", f"PM{n}", f"PAY{n}", f"CUST{n}"
        await self.entity.create(
            "mantle.order.OrderHeader",
            {"orderId": order_id, "statusId": "OrderPlaced", "currencyUomId": currency, "grandTotal": Decimal(amount)},
        )
        await self.entity.create(
            "mantle.order.OrderPart",
            {"orderId": order_id, "orderPartSeqId": "01", "statusId": "OrderPlaced", "customerPartyId": party_id},
        )
        await self.entity.create(
            "mantle.account.method.PaymentMethod",
            {
                "paymentMethodId": method_id,
                "paymentMethodTypeEnumId": "PmtCreditCard",
                "ownerPartyId": party_id,
                "gatewayCimId": card,
                "paymentGatewayConfigId": CONFIG_ID,
            },
        )
        if customer_id is not None:
            await self.entity.create(
                "stripe.StripeCustomer",
                {"partyId": party_id, "paymentGatewayConfigId": CONFIG_ID, "customerId": customer_id},
            )
        await self.entity.create(
            PAYMENT,
            {
                "paymentId": payment_id,
                "paymentTypeEnumId": "PtInvoicePayment",
                "paymentInstrumentEnumId": "PiCreditCard",
                "paymentMethodId": method_id,
                "orderId": order_id,
                "orderPartSeqId": "01",
                "fromPartyId": party_id,
                "toPartyId": "ORG_STORE",
                "statusId": status_id,
                "amount": Decimal(amount),
                "amountUomId": currency,
            },
        )
        return payment_id

    async def intents(self, payment_id: str) -> list[stripe.PaymentIntent]:
        """Every PaymentIntent Stripe holds for the payment (by our metadata)."""
        page = await self.gateway.client.v1.payment_intents.list_async({"limit": 100})
        return [pi async for pi in page.auto_paging_iter() if pi.metadata.to_dict().get("paymentId") == payment_id]

    async def only_intent(self, payment_id: str) -> stripe.PaymentIntent:
        """The single PaymentIntent of a payment (asserting there is exactly one: nothing was charged twice)."""
        found = await self.intents(payment_id)
        assert len(found) == 1, [pi.id for pi in found]
        return found[0]

    async def charges(self, payment_intent_id: str) -> list[stripe.Charge]:
        """Every charge of a PaymentIntent."""
        page = await self.gateway.client.v1.charges.list_async({"payment_intent": payment_intent_id, "limit": 100})
        return [charge async for charge in page.auto_paging_iter()]

    async def refunds(self, payment_intent_id: str) -> list[stripe.Refund]:
        """Every refund of a PaymentIntent."""
        return await list_refunds(self.gateway, payment_intent_id)

    async def journal(self, payment_id: str) -> list[dict[str, Any]]:
        """The payment's journal rows, oldest first."""
        return await self.entity.find(JOURNAL, {"paymentId": payment_id}, order_by=["operationId"])


async def _seed_gateway_config(entity: EntityFacade) -> None:
    names = {
        "authorizeServiceName": "stripe.StripePaymentServices.authorize#Payment",
        "captureServiceName": "stripe.StripePaymentServices.capture#Payment",
        "releaseServiceName": "stripe.StripePaymentServices.release#Payment",
        "refundServiceName": "stripe.StripePaymentServices.refund#Payment",
        "detailsServiceName": "stripe.StripePaymentServices.get#PaymentGatewayDetails",
    }
    assert set(names.values()) <= set(PAYMENT_SERVICE_NAMES)
    await entity.store(
        "mantle.account.method.PaymentGatewayConfig",
        {
            "paymentGatewayConfigId": CONFIG_ID,
            "paymentGatewayTypeEnumId": "PgtStripe",
            "description": "Stripe",
            **names,
        },
    )
    # A config Moqui knows but moqui-stripe has no Stripe account for.
    await entity.store(
        "mantle.account.method.PaymentGatewayConfig",
        {"paymentGatewayConfigId": "UnconfiguredStripe", "paymentGatewayTypeEnumId": "PgtStripe", **names},
    )


@pytest.fixture
async def harness(
    entity_facade: EntityFacade, stripe_emulator_url: str, emulator_control: EmulatorControl
) -> AsyncIterator[Harness]:
    """The gateway services over /rpc/json on a fresh database, with the reset emulator as Stripe."""
    await _seed_gateway_config(entity_facade)
    account = StripeAccountSettings(
        secret_key=SECRET_KEY, api_base=stripe_emulator_url, max_network_retries=1, timeout_seconds=TIMEOUT_SECONDS
    )
    settings = Settings(
        gateways={
            CONFIG_ID: GatewaySettings(
                secret_key=SecretStr(SECRET_KEY),
                api_base=stripe_emulator_url,
                max_network_retries=1,
                timeout_seconds=TIMEOUT_SECONDS,
            )
        }
    )
    registry: ServiceRegistry[ServiceContext] = ServiceRegistry()
    register_payment_services(registry)
    async with StripeGateways({CONFIG_ID: account}) as gateways:
        base = ServiceContext(entity=entity_facade, gateways=gateways, settings=settings, services=registry)

        def context_factory(request: web.Request, principal: Principal | None) -> ServiceContext:
            return base.for_request(principal, request.headers.get(IDEMPOTENCY_KEY_HEADER))

        app = web.Application()
        add_json_rpc_route(app, registry, context_factory, Authenticator(api_keys={"moqui": API_KEY}))
        client: TestClient[web.Request, web.Application] = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        try:
            yield Harness(client, entity_facade, emulator_control, gateways.get(CONFIG_ID))
        finally:
            await client.close()
