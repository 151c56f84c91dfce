"""Shared-database mode against a database shaped exactly as Moqui makes it, driven exactly as Moqui drives it.

The database is built from Mantle's and Moqui's OWN entity XML (``tests/contract/shared_schema.py``), seeded with
their seed data, Mantle's own gateway configs (AccountConfigData.xml), our component's data files, and the rows a
live Moqui would hold for one order: parties, store, order, PaymentMethod ``pm_card_visa``, a Promised Payment of
100.0000 USD, and sequence banks already in use. The service runs in ``server.mode="shared"`` with the Stripe
emulator as Stripe, and every call is the byte-for-byte body of Moqui's remote-json-rpc runner (moqui-contract.md
4.2) posted to the location our written component carries (api key in the query string, no auth header).

Around each call the test plays Moqui's part: a transaction that has updated the PAYMENT row (authorize#SinglePayment
sets paymentGatewayConfigId before calling, so Moqui holds that row lock while it waits for us), then Mantle's
status rule applied from the PaymentGatewayResponse it re-reads, then commit. Between the answer and that commit,
every Mantle table is compared with its state before the call: only new PAYMENT_GATEWAY_RESPONSE rows and the PGR
row of SEQUENCE_VALUE_ITEM may differ.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import itertools
import json
import os
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from lxml import etree
from pydantic import SecretStr

from moqui_bridge.component.writer import write_component
from moqui_bridge.database.pool import create_pool
from moqui_bridge.database.postgres_server import PostgresServer
from moqui_bridge.entity import EntityFacade, EntityRegistry
from moqui_bridge.entity.connection import Connection, Pool
from moqui_bridge.entity.data_loader import load_files
from stripe_emulator.control import EmulatorControl
from tests.contract.shared_schema import (
    Snapshot,
    build_moqui_database,
    changed_rows,
    mantle_registry,
    snapshot,
)
from tests.reference import MOQUI_REFERENCE

API_KEY = "moqui-calls-with-this-key"
SECRET_KEY = "sk_test_shared_database_contract"
TEMPLATE_DATABASE = "moqui_shared_template"
PGR_ENTITY = "mantle.account.method.PaymentGatewayResponse"
PAYMENT_SERVICES = "stripe.StripePaymentServices."
# A call must come back well within this; longer means it is waiting on a lock Moqui holds (a deadlock in real life).
CALL_TIMEOUT_SECONDS = 20

# The rows a live Moqui holds. Ids below each sequence bank's SEQ_NUM, as Moqui's own ids are.
CUSTOMER = "CustJqp"
VENDOR = "ORG_ZIZI_RETAIL"
STORE = "POPC_DEFAULT"
ORDER_ID = "100100"
VISA_METHOD = "100600"
DECLINING_METHOD = "100601"
PAYMENT_ID = "100700"
DECLINED_PAYMENT_ID = "100701"
EARLIER_PAYMENT_ID = "100650"
EARLIER_PGR_IDS = ("100200", "100250")
PGR_BANK = 100250  # SEQUENCE_VALUE_ITEM.SEQ_NUM of the PGR sequence: Moqui has handed out ids up to here
SEQUENCE_BANKS = {
    PGR_ENTITY: PGR_BANK,
    "mantle.account.payment.Payment": 100750,
    "mantle.account.method.PaymentMethod": 100650,
    "mantle.order.OrderHeader": 100150,
}
_database_numbers = itertools.count(1)
INDICATORS = ("resultSuccess", "resultDeclined", "resultError", "resultNsf", "resultBadExpire", "resultBadCardNumber")


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


# ----- the database as Moqui left it -----


async def _insert_moqui_rows(facade: EntityFacade, component: Path) -> None:
    """Mantle's gateway configs, our component's data, and one store's order with its payments, as Moqui has them."""
    await load_files(facade, [MOQUI_REFERENCE / "mantle-udm" / "data" / "AccountConfigData.xml"], types=None)
    await load_files(facade, [component / "data" / "StripeSetupData.xml", component / "data" / "StripeDemoData.xml"])
    now = _now()
    rows: list[tuple[str, dict[str, Any]]] = [
        (
            "moqui.basic.Uom",
            {
                "uomId": "USD",
                "uomTypeEnumId": "UT_CURRENCY_MEASURE",
                "abbreviation": "USD",
                "description": "United States Dollar",
            },
        ),
        ("mantle.party.Party", {"partyId": CUSTOMER, "partyTypeEnumId": "PtyPerson"}),
        ("mantle.party.Party", {"partyId": VENDOR, "partyTypeEnumId": "PtyOrganization"}),
        (
            "mantle.product.store.ProductStore",
            {
                "productStoreId": STORE,
                "storeName": "POP Commerce",
                "organizationPartyId": VENDOR,
                "defaultCurrencyUomId": "USD",
            },
        ),
        (
            "mantle.product.store.ProductStorePaymentGateway",
            {
                "productStoreId": STORE,
                "paymentInstrumentEnumId": "PiCreditCard",
                "paymentGatewayConfigId": "StripeGateway",
            },
        ),
        (
            "mantle.order.OrderHeader",
            {
                "orderId": ORDER_ID,
                "entryDate": now,
                "placedDate": now,
                "statusId": "OrderPlaced",
                "currencyUomId": "USD",
                "productStoreId": STORE,
                "grandTotal": Decimal("125.5000"),
            },
        ),
        (
            "mantle.order.OrderPart",
            {
                "orderId": ORDER_ID,
                "orderPartSeqId": "01",
                "statusId": "OrderPlaced",
                "vendorPartyId": VENDOR,
                "customerPartyId": CUSTOMER,
                "partTotal": Decimal("125.5000"),
            },
        ),
    ]
    for method_id, stripe_method in ((VISA_METHOD, "pm_card_visa"), (DECLINING_METHOD, "pm_card_visa_chargeDeclined")):
        rows += [
            (
                "mantle.account.method.PaymentMethod",
                {
                    "paymentMethodId": method_id,
                    "paymentMethodTypeEnumId": "PmtCreditCard",
                    "ownerPartyId": CUSTOMER,
                    "fromDate": now,
                    "description": "Card saved with stripe.js",
                    "gatewayCimId": stripe_method,
                },
            ),
            # Tokenized by stripe.js: Moqui holds no card number, only what is safe to show.
            (
                "mantle.account.method.CreditCard",
                {"paymentMethodId": method_id, "creditCardTypeEnumId": "CctVisa", "expireDate": "12/2034"},
            ),
        ]
    for payment_id, method_id, amount in (
        (PAYMENT_ID, VISA_METHOD, "100.0000"),
        (DECLINED_PAYMENT_ID, DECLINING_METHOD, "25.5000"),
    ):
        rows.append(
            (
                "mantle.account.payment.Payment",
                {
                    "paymentId": payment_id,
                    "paymentTypeEnumId": "PtInvoicePayment",
                    "fromPartyId": CUSTOMER,
                    "toPartyId": VENDOR,
                    "paymentInstrumentEnumId": "PiCreditCard",
                    "paymentMethodId": method_id,
                    "orderId": ORDER_ID,
                    "orderPartSeqId": "01",
                    "statusId": "PmntPromised",
                    "amount": Decimal(amount),
                    "amountUomId": "USD",
                },
            )
        )
    # An earlier payment through Mantle's test gateway, with the responses Moqui's sequence gave out before ours.
    rows.append(
        (
            "mantle.account.payment.Payment",
            {
                "paymentId": EARLIER_PAYMENT_ID,
                "paymentTypeEnumId": "PtInvoicePayment",
                "fromPartyId": CUSTOMER,
                "toPartyId": VENDOR,
                "paymentInstrumentEnumId": "PiCreditCard",
                "paymentGatewayConfigId": "TEST_APPROVE",
                "statusId": "PmntDelivered",
                "amount": Decimal("12.0000"),
                "amountUomId": "USD",
                "effectiveDate": now,
            },
        )
    )
    for pgr_id, operation in zip(EARLIER_PGR_IDS, ("PgoAuthorize", "PgoCapture"), strict=True):
        rows.append(
            (
                PGR_ENTITY,
                {
                    "paymentGatewayResponseId": pgr_id,
                    "paymentGatewayConfigId": "TEST_APPROVE",
                    "paymentOperationEnumId": operation,
                    "paymentId": EARLIER_PAYMENT_ID,
                    "amount": Decimal("12.0000"),
                    "amountUomId": "USD",
                    "referenceNum": "TEST",
                    "transactionDate": now,
                    "resultSuccess": "Y",
                    "resultDeclined": "N",
                    "resultNsf": "N",
                    "resultBadExpire": "N",
                    "resultBadCardNumber": "N",
                },
            )
        )
    rows += [
        ("moqui.entity.SequenceValueItem", {"seqName": name, "seqNum": Decimal(number)})
        for name, number in SEQUENCE_BANKS.items()
    ]
    async with facade.transaction() as connection:
        for entity_name, values in rows:
            await facade.create(entity_name, values, connection=connection)


@pytest.fixture(scope="session")
def mantle_entities() -> EntityRegistry:
    """Mantle's and Moqui's own entity definitions (not our entity-defs)."""
    return mantle_registry()


@pytest.fixture(scope="session")
def component_for_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A written component, for its data files (the URL in it does not matter for data)."""
    out_dir = tmp_path_factory.mktemp("component-data") / "moqui-stripe"
    write_component(out_dir, server_url="https://payments.example.test", api_key=API_KEY, transport="json-rpc")
    return out_dir


@pytest.fixture(scope="session")
async def moqui_template_database(
    postgres_server: PostgresServer, mantle_entities: EntityRegistry, component_for_data: Path
) -> str:
    """A database as Moqui would have it, built once and copied for each test."""
    pool = await create_pool(await postgres_server.create_database(TEMPLATE_DATABASE), max_size=2)
    try:
        facade = await build_moqui_database(pool, mantle_entities)
        await _insert_moqui_rows(facade, component_for_data)
    finally:
        await pool.close()  # a template must have no connections when it is copied
    return TEMPLATE_DATABASE


@pytest.fixture
async def moqui_database_dsn(postgres_server: PostgresServer, moqui_template_database: str) -> AsyncIterator[str]:
    """A fresh copy of Moqui's database for one test."""
    name = f"moqui_shared_{os.getpid()}_{next(_database_numbers)}"
    dsn = await postgres_server.create_database(name, template=moqui_template_database)
    try:
        yield dsn
    finally:
        await postgres_server.drop_database(name)


# ----- the service and Moqui's side of each call -----


@dataclass
class SharedDeployment:
    """Moqui's database, our server on it, and the remote-json-rpc location our component tells Moqui to call."""

    pool: Pool
    registry: EntityRegistry
    location: str
    session: aiohttp.ClientSession
    emulator_url: str
    tables_before_start: set[str]

    async def call(self, verb_noun: str, params_json: str) -> dict[str, Any]:
        """POST Moqui's exact JSON-RPC body; return the `result` (the test fails on a JSON-RPC error)."""
        body = await self.raw_call(verb_noun, params_json)
        assert "error" not in body, body
        result: dict[str, Any] = body["result"]
        return result

    async def raw_call(self, verb_noun: str, params_json: str) -> dict[str, Any]:
        """POST Moqui's exact JSON-RPC body and return the parsed answer (Moqui reads only the body)."""
        # Groovy's JsonBuilder: compact, keys in this order, params as the caller's HashMap gives them.
        text = f'{{"jsonrpc":"2.0","id":1,"method":"{PAYMENT_SERVICES}{verb_noun}","params":{params_json}}}'
        async with asyncio.timeout(CALL_TIMEOUT_SECONDS):
            async with self.session.post(
                self.location, data=text.encode(), headers={"Content-Type": "application/json"}
            ) as response:
                answer: dict[str, Any] = json.loads(await response.text(), parse_float=Decimal)
        assert answer.get("jsonrpc") == "2.0" and answer.get("id") == 1, answer
        return answer

    async def mantle_snapshot(self) -> Snapshot:
        """Every Mantle table as committed."""
        return await snapshot(self.pool, self.registry)

    async def pgr(self, pgr_id: str, connection: Connection | None = None) -> dict[str, Any]:
        """A PaymentGatewayResponse as Moqui re-reads it (on its own connection when given)."""
        facade = EntityFacade(self.pool, self.registry)
        row = await facade.find_one(PGR_ENTITY, {"paymentGatewayResponseId": pgr_id}, connection=connection)
        assert row is not None, f"PaymentGatewayResponse {pgr_id} is not in Moqui's database"
        return row

    async def payment(self, payment_id: str) -> dict[str, Any]:
        """Mantle's Payment as committed."""
        row = await EntityFacade(self.pool, self.registry).find_one(
            "mantle.account.payment.Payment", {"paymentId": payment_id}
        )
        assert row is not None, f"Payment {payment_id} is not in Moqui's database"
        return row

    async def stripe_intent(self, intent_id: str) -> dict[str, Any]:
        """The PaymentIntent as the Stripe emulator holds it."""
        async with self.session.get(
            f"{self.emulator_url}/v1/payment_intents/{intent_id}", headers={"Authorization": f"Bearer {SECRET_KEY}"}
        ) as response:
            intent: dict[str, Any] = await response.json()
        return intent

    async def stripe_list(self, resource: str, **query: str) -> list[dict[str, Any]]:
        """Every object of a Stripe list endpoint (``payment_intents``, ``charges``, ``refunds``) the emulator holds."""
        async with self.session.get(
            f"{self.emulator_url}/v1/{resource}",
            params={"limit": "100", **query},
            headers={"Authorization": f"Bearer {SECRET_KEY}"},
        ) as response:
            objects: list[dict[str, Any]] = (await response.json())["data"]
        return objects

    async def stripe_intents_of(self, payment_id: str) -> list[dict[str, Any]]:
        """The PaymentIntents made for one Mantle Payment (we tag each with its paymentId)."""
        intents = await self.stripe_list("payment_intents")
        return [intent for intent in intents if intent["metadata"].get("paymentId") == payment_id]


def _settings(emulator_url: str) -> Any:
    from service.config import GatewaySettings, ServerSettings, Settings

    gateway = GatewaySettings(secret_key=SecretStr(SECRET_KEY), api_base=emulator_url, max_network_retries=0)
    return Settings(
        server=ServerSettings(mode="shared", api_keys={"moqui": SecretStr(API_KEY)}),
        gateways={"StripeGateway": gateway, "StripeGatewayAuthCapture": gateway},
    )


async def _table_names(pool: Pool) -> set[str]:
    rows = await pool.fetch("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")
    return {str(row["table_name"]).upper() for row in rows}


@pytest.fixture
async def deployment(
    moqui_database_dsn: str, mantle_entities: EntityRegistry, stripe_emulator_url: str, tmp_path: Path
) -> AsyncIterator[SharedDeployment]:
    """Our server in shared mode on Moqui's database, reached through the location the component writes."""
    from service.app import create_app  # imported here: a missing gateway service fails these tests, not collection

    pool = await create_pool(moqui_database_dsn, max_size=4)
    tables_before_start = await _table_names(pool)
    runner = web.AppRunner(create_app(_settings(stripe_emulator_url), moqui_database_dsn), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    component = tmp_path / "moqui-stripe"
    write_component(component, server_url=f"http://127.0.0.1:{port}", api_key=API_KEY, transport="json-rpc")
    services = etree.parse(str(component / "service" / "stripe" / "StripePaymentServices.xml")).getroot()
    locations = {service.get("location") for service in services.iter("service")}
    assert len(locations) == 1  # every payment service goes to the same /rpc/json URL
    try:
        async with aiohttp.ClientSession() as session:
            yield SharedDeployment(
                pool, mantle_entities, str(locations.pop()), session, stripe_emulator_url, tables_before_start
            )
    finally:
        await runner.cleanup()
        await pool.close()


async def moqui_call(
    deployment: SharedDeployment,
    payment_id: str,
    call: Callable[[], Awaitable[dict[str, Any]]],
    mantle_rule: Callable[[Connection, dict[str, Any]], Awaitable[None]],
    config_id: str = "StripeGateway",
) -> tuple[dict[str, Any], dict[str, dict[str, list[dict[str, Any]]]]]:
    """One gateway call inside a Moqui transaction that holds the Payment's row lock; returns the result and what
    changed in Mantle's committed tables while Moqui waited (its own changes are not committed yet then).

    `config_id` is the store's gateway config that authorize#SinglePayment writes on a Payment that has none yet."""
    before = await deployment.mantle_snapshot()
    async with deployment.pool.acquire() as connection, connection.transaction():
        # authorize#SinglePayment's entity-update of Payment.paymentGatewayConfigId before it calls the gateway.
        await connection.execute(
            "UPDATE PAYMENT SET PAYMENT_GATEWAY_CONFIG_ID = COALESCE(PAYMENT_GATEWAY_CONFIG_ID, $3),"
            " LAST_UPDATED_STAMP = $2 WHERE PAYMENT_ID = $1",
            payment_id,
            _now(),
            config_id,
        )
        result = await call()
        changes = changed_rows(before, await deployment.mantle_snapshot(), deployment.registry)
        await mantle_rule(connection, result)
    return result, changes


def assert_only_new_responses(changes: dict[str, dict[str, list[dict[str, Any]]]]) -> list[dict[str, Any]]:
    """Moqui's rows untouched: PGRs only added, and the PGR sequence bank moved at most. Returns the new PGRs."""
    assert set(changes) <= {"PAYMENT_GATEWAY_RESPONSE", "SEQUENCE_VALUE_ITEM"}, changes
    responses = changes.get("PAYMENT_GATEWAY_RESPONSE", {"added": [], "removed": [], "updated": []})
    assert responses["removed"] == [] and responses["updated"] == [], responses
    sequences = changes.get("SEQUENCE_VALUE_ITEM", {"added": [], "removed": [], "updated": []})
    assert sequences["removed"] == [], sequences
    touched = {row["seq_name"] for row in sequences["added"] + sequences["updated"]}
    # By design, our own entities (stripe.*) take ids from Moqui's sequence table too: their seqNames belong to no
    # Moqui entity, so Moqui never uses those rows (docs/moqui.md, section 8). None of Moqui's other sequences may move.
    assert {name for name in touched if not name.startswith("stripe.")} <= {PGR_ENTITY}, touched
    return responses["added"]


async def update_payment(connection: Connection, payment_id: str, **fields: Any) -> None:
    """Mantle's update#mantle.account.payment.Payment, as the generic services call it after reading the PGR."""
    assignments = ", ".join(f"{column} = ${n}" for n, column in enumerate(fields, start=2))
    await connection.execute(
        f"UPDATE PAYMENT SET {assignments}, LAST_UPDATED_STAMP = now() WHERE PAYMENT_ID = $1",
        payment_id,
        *fields.values(),
    )


def check_response(
    pgr: dict[str, Any],
    *,
    operation: str,
    payment_id: str,
    method_id: str,
    amount: str,
    flags: str,
    config_id: str = "StripeGateway",
    currency: str = "USD",
) -> None:
    """The PGR fields Mantle reads, with all six indicators set as `flags` ("YNNNNN" in INDICATORS order)."""
    assert pgr["paymentGatewayConfigId"] == config_id
    assert pgr["paymentOperationEnumId"] == operation
    assert pgr["paymentId"] == payment_id
    assert pgr["paymentMethodId"] == method_id
    assert pgr["amount"] == Decimal(amount) and pgr["amountUomId"] == currency
    assert "".join(pgr[name] for name in INDICATORS) == flags, {name: pgr[name] for name in INDICATORS}
    assert str(pgr["referenceNum"]).startswith("pi_")
    # Moqui compares transactionDate with its own clock (the 60 s fallback lookup): UTC, naive, recent.
    assert abs(_now() - pgr["transactionDate"]) < timedelta(seconds=60)
    assert pgr["lastUpdatedStamp"] is not None


async def record_refund_payment(
    connection: Connection, refund_payment_id: str, payment_id: str, amount: Decimal, currency: str = "USD"
) -> None:
    """Mantle's create#RefundPayment after a successful refund: a new PtRefund Payment, Delivered, parties swapped."""
    await connection.execute(
        "INSERT INTO PAYMENT (PAYMENT_ID, PAYMENT_TYPE_ENUM_ID, FROM_PARTY_ID, TO_PARTY_ID, STATUS_ID, AMOUNT,"
        " AMOUNT_UOM_ID, REFUND_FOR_PAYMENT_ID, EFFECTIVE_DATE, LAST_UPDATED_STAMP)"
        " VALUES ($1, 'PtRefund', $2, $3, 'PmntDelivered', $4, $5, $6, now(), now())",
        refund_payment_id,
        VENDOR,
        CUSTOMER,
        amount,
        currency,
        payment_id,
    )


def check_new_id(pgr_id: str, taken: set[str]) -> None:
    """A fresh id from Moqui's bank: a decimal string past what Moqui had handed out, never one in use."""
    assert pgr_id.isdigit() and int(pgr_id) > PGR_BANK, pgr_id
    assert pgr_id not in taken


# ----- the tests -----


async def test_schema_is_moqui_s(deployment: SharedDeployment) -> None:
    # Spot checks of the built schema against moqui-contract.md 2.1, independent of our naming code.
    columns = {
        (
            row["column_name"],
            row["data_type"],
            row["character_maximum_length"],
            row["numeric_precision"],
            row["numeric_scale"],
        )
        for row in await deployment.pool.fetch(
            "SELECT column_name, data_type, character_maximum_length, numeric_precision, numeric_scale"
            " FROM information_schema.columns WHERE table_name = 'payment_gateway_response'"
        )
    }
    assert ("payment_gateway_response_id", "character varying", 40, None, None) in columns
    assert ("amount", "numeric", None, 24, 4) in columns
    assert ("result_declined", "character", 1, None, None) in columns
    assert ("reference_num", "character varying", 63, None, None) in columns
    assert ("reason_message", "text", None, None, None) in columns
    assert ("transaction_date", "timestamp without time zone", None, None, None) in columns
    # Shared mode made only our own tables, and none of Moqui's.
    ours = {d.table_name for d in _our_entities()}
    added = await _table_names(deployment.pool) - deployment.tables_before_start
    assert added and added <= ours, added


def _our_entities() -> list[Any]:
    from service.database_setup import load_entity_registry, our_entity_names

    registry = load_entity_registry()
    return [registry.get(name) for name in our_entity_names(registry)]


async def test_authorize_capture_refund_as_moqui_calls_them(deployment: SharedDeployment) -> None:
    taken = set(EARLIER_PGR_IDS)

    # authorize#SinglePayment -> authorizeServiceName; cardSecurityCode is always sent, usually null.
    async def authorized(connection: Connection, result: dict[str, Any]) -> None:
        pgr = await deployment.pgr(result["paymentGatewayResponseId"], connection)
        assert pgr["resultSuccess"] == "Y"
        await update_payment(
            connection,
            PAYMENT_ID,
            STATUS_ID="PmntAuthorized",
            PAYMENT_AUTH_CODE=pgr["approvalCode"],
            PAYMENT_REF_NUM=pgr["referenceNum"],
        )

    result, changes = await moqui_call(
        deployment,
        PAYMENT_ID,
        lambda: deployment.call(
            "authorize#Payment",
            f'{{"cardSecurityCode":null,"paymentGatewayConfigId":"StripeGateway","paymentId":"{PAYMENT_ID}"}}',
        ),
        authorized,
    )
    [added] = assert_only_new_responses(changes)
    auth_id = result["paymentGatewayResponseId"]
    assert added["payment_gateway_response_id"] == auth_id  # committed before we answered
    check_new_id(auth_id, taken)
    taken.add(auth_id)
    auth = await deployment.pgr(auth_id)
    check_response(
        auth, operation="PgoAuthorize", payment_id=PAYMENT_ID, method_id=VISA_METHOD, amount="100.0000", flags="YNNNNN"
    )
    intent = await deployment.stripe_intent(auth["referenceNum"])
    assert (intent["status"], intent["amount"], intent["currency"]) == ("requires_capture", 10000, "usd")
    assert intent["metadata"]["paymentId"] == PAYMENT_ID
    # Moqui's next bank of PGR ids starts past ours: the sequence row covers every id we used.
    seq_num = await deployment.pool.fetchval("SELECT SEQ_NUM FROM SEQUENCE_VALUE_ITEM WHERE SEQ_NAME = $1", PGR_ENTITY)
    assert int(seq_num) >= int(auth_id)

    # capture#SinglePayment first asks the details service (detailsServiceName is set), with the Payment dropped
    # by Moqui's parameter cleaning; the status is unchanged, so Mantle carries on to capture.
    async def details_read(connection: Connection, result: dict[str, Any]) -> None:
        assert result["gatewayStatusId"] == "PmntAuthorized", result

    result, changes = await moqui_call(
        deployment,
        PAYMENT_ID,
        lambda: deployment.call(
            "get#PaymentGatewayDetails", f'{{"paymentGatewayConfigId":"StripeGateway","paymentId":"{PAYMENT_ID}"}}'
        ),
        details_read,
    )
    for row in assert_only_new_responses(changes):
        taken.add(row["payment_gateway_response_id"])  # a details PGR is allowed, never a change to Moqui's rows

    async def captured(connection: Connection, result: dict[str, Any]) -> None:
        pgr = await deployment.pgr(result["paymentGatewayResponseId"], connection)
        assert pgr["resultSuccess"] == "Y"
        await update_payment(connection, PAYMENT_ID, STATUS_ID="PmntDelivered", EFFECTIVE_DATE=_now())

    # Amounts arrive as JSON numbers with the column's scale (JsonBuilder writes BigDecimal.toString()).
    result, changes = await moqui_call(
        deployment,
        PAYMENT_ID,
        lambda: deployment.call(
            "capture#Payment",
            f'{{"amount":100.0000,"paymentGatewayConfigId":"StripeGateway","paymentId":"{PAYMENT_ID}"}}',
        ),
        captured,
    )
    [added] = assert_only_new_responses(changes)
    capture_id = result["paymentGatewayResponseId"]
    assert added["payment_gateway_response_id"] == capture_id
    check_new_id(capture_id, taken)
    taken.add(capture_id)
    capture = await deployment.pgr(capture_id)
    check_response(
        capture, operation="PgoCapture", payment_id=PAYMENT_ID, method_id=VISA_METHOD, amount="100.0000", flags="YNNNNN"
    )
    assert capture["referenceNum"] == auth["referenceNum"]
    assert (await deployment.stripe_intent(auth["referenceNum"]))["status"] == "succeeded"

    # refund#SinglePayment: Mantle records the refund as a new PtRefund Payment in the same transaction.
    async def refunded(connection: Connection, result: dict[str, Any]) -> None:
        pgr = await deployment.pgr(result["paymentGatewayResponseId"], connection)
        assert pgr["resultSuccess"] == "Y"
        await record_refund_payment(connection, "100702", PAYMENT_ID, Decimal("40.0000"))

    result, changes = await moqui_call(
        deployment,
        PAYMENT_ID,
        lambda: deployment.call(
            "refund#Payment",
            f'{{"amount":40.0000,"paymentGatewayConfigId":"StripeGateway","paymentId":"{PAYMENT_ID}"}}',
        ),
        refunded,
    )
    [added] = assert_only_new_responses(changes)
    refund_id = result["paymentGatewayResponseId"]
    assert added["payment_gateway_response_id"] == refund_id
    check_new_id(refund_id, taken)
    refund = await deployment.pgr(refund_id)
    check_response(
        refund, operation="PgoRefund", payment_id=PAYMENT_ID, method_id=VISA_METHOD, amount="40.0000", flags="YNNNNN"
    )
    assert str(refund["subReference"]).startswith("re_")

    # Moqui's rows ended as Mantle's rules left them, and the earlier responses are as they were.
    payment = await EntityFacade(deployment.pool, deployment.registry).find_one(
        "mantle.account.payment.Payment", {"paymentId": PAYMENT_ID}
    )
    assert payment is not None
    assert (payment["statusId"], payment["paymentRefNum"]) == ("PmntDelivered", auth["referenceNum"])
    for earlier in EARLIER_PGR_IDS:
        assert (await deployment.pgr(earlier))["paymentGatewayConfigId"] == "TEST_APPROVE"


async def test_a_decline_is_an_answer_with_a_declined_response(deployment: SharedDeployment) -> None:
    async def declined(connection: Connection, result: dict[str, Any]) -> None:
        pgr = await deployment.pgr(result["paymentGatewayResponseId"], connection)
        if pgr["resultDeclined"] == "Y":
            await update_payment(connection, DECLINED_PAYMENT_ID, STATUS_ID="PmntDeclined")

    result, changes = await moqui_call(
        deployment,
        DECLINED_PAYMENT_ID,
        lambda: deployment.call(
            "authorize#Payment",
            f'{{"cardSecurityCode":null,"paymentGatewayConfigId":"StripeGateway","paymentId":"{DECLINED_PAYMENT_ID}"}}',
        ),
        declined,
    )
    [added] = assert_only_new_responses(changes)
    pgr_id = result["paymentGatewayResponseId"]
    assert added["payment_gateway_response_id"] == pgr_id
    check_new_id(pgr_id, set(EARLIER_PGR_IDS))
    pgr = await deployment.pgr(pgr_id)
    check_response(
        pgr,
        operation="PgoAuthorize",
        payment_id=DECLINED_PAYMENT_ID,
        method_id=DECLINING_METHOD,
        amount="25.5000",
        flags="NYNNNN",
    )
    assert pgr["reasonMessage"]  # what Mantle shows the user: the card was declined, in words
    status = await deployment.pool.fetchval("SELECT STATUS_ID FROM PAYMENT WHERE PAYMENT_ID = $1", DECLINED_PAYMENT_ID)
    assert status == "PmntDeclined"


class MoquiRolledBack(Exception):
    """A failure in Moqui after our answer (a SECA, a later service) that rolls its transaction back."""


async def test_a_retry_after_moqui_rolled_back_answers_with_the_same_response(deployment: SharedDeployment) -> None:
    params = f'{{"cardSecurityCode":null,"paymentGatewayConfigId":"StripeGateway","paymentId":"{PAYMENT_ID}"}}'
    answers: list[dict[str, Any]] = []

    async def roll_back(connection: Connection, result: dict[str, Any]) -> None:
        answers.append(result)
        raise MoquiRolledBack

    with pytest.raises(MoquiRolledBack):
        await moqui_call(deployment, PAYMENT_ID, lambda: deployment.call("authorize#Payment", params), roll_back)

    async def authorized(connection: Connection, result: dict[str, Any]) -> None:
        await update_payment(connection, PAYMENT_ID, STATUS_ID="PmntAuthorized")

    # Our PGR survived Moqui's rollback (committed before we answered); the retry finds the work done.
    result, changes = await moqui_call(
        deployment, PAYMENT_ID, lambda: deployment.call("authorize#Payment", params), authorized
    )
    assert_only_new_responses(changes)
    assert result["paymentGatewayResponseId"] == answers[0]["paymentGatewayResponseId"]
    count = await deployment.pool.fetchval(
        "SELECT COUNT(*) FROM PAYMENT_GATEWAY_RESPONSE WHERE PAYMENT_ID = $1", PAYMENT_ID
    )
    assert count == 1
    async with deployment.session.get(
        f"{deployment.emulator_url}/v1/payment_intents",
        headers={"Authorization": f"Bearer {SECRET_KEY}"},
    ) as response:
        intents = (await response.json())["data"]
    assert [intent["metadata"]["paymentId"] for intent in intents] == [PAYMENT_ID]  # charged once


async def test_a_bad_request_is_an_error_and_writes_nothing(deployment: SharedDeployment) -> None:
    # An unknown payment is Moqui's error (it rolls back its transaction); nothing may be left behind in its tables.
    before = await deployment.mantle_snapshot()
    answer = await deployment.raw_call(
        "authorize#Payment", '{"cardSecurityCode":null,"paymentGatewayConfigId":"StripeGateway","paymentId":"999999"}'
    )
    assert answer["error"]["code"] == 500 and "999999" in answer["error"]["message"], answer
    assert changed_rows(before, await deployment.mantle_snapshot(), deployment.registry) == {}


async def test_the_api_key_travels_in_the_url_only(deployment: SharedDeployment) -> None:
    # Moqui's runner sends no auth header: the written location must carry the key, and without it we refuse.
    location = urllib.parse.urlsplit(deployment.location)
    assert urllib.parse.parse_qs(location.query) == {"api_key": [API_KEY]}
    before = await deployment.mantle_snapshot()
    for query in ("", "api_key=not-our-key"):
        refused = dataclasses.replace(deployment, location=urllib.parse.urlunsplit(location._replace(query=query)))
        answer = await refused.raw_call(
            "release#Payment", f'{{"paymentGatewayConfigId":"StripeGateway","paymentId":"{PAYMENT_ID}"}}'
        )
        assert answer["error"]["code"] == 403, answer
    assert changed_rows(before, await deployment.mantle_snapshot(), deployment.registry) == {}


# ----- the gateway scenarios, each as Moqui drives it in shared mode -----

Rule = Callable[[Connection, dict[str, Any]], Awaitable[None]]
AUTH_CAPTURE_CONFIG = "StripeGatewayAuthCapture"
JPY_PAYMENT_ID = "100703"
# Ids Mantle's create#RefundPayment would take from the Payment bank (below its SEQ_NUM, unused by the sample rows).
REFUND_PAYMENT_IDS = ("100710", "100711", "100712")


def params_json(payment_id: str, config_id: str = "StripeGateway", *, amount: str | None = None) -> str:
    """The params map of Mantle's generic services, as JsonBuilder writes it: authorize sends the (null) security
    code, capture and refund their amount with the column's scale, release and details neither."""
    tail = f'"paymentGatewayConfigId":"{config_id}","paymentId":"{payment_id}"'
    if amount is not None:
        return f'{{"amount":{amount},{tail}}}'
    return f"{{{tail}}}"


async def gateway_call(
    deployment: SharedDeployment,
    payment_id: str,
    verb_noun: str,
    params: str,
    mantle_rule: Rule,
    taken: set[str],
    config_id: str = "StripeGateway",
) -> dict[str, Any]:
    """One gateway call as Moqui makes it; asserts it added exactly its own PGR (a fresh id) and changed nothing else
    of Moqui's, and returns that PGR as Moqui re-reads it."""
    result, changes = await moqui_call(
        deployment, payment_id, lambda: deployment.call(verb_noun, params), mantle_rule, config_id
    )
    [added] = assert_only_new_responses(changes)
    pgr_id = result["paymentGatewayResponseId"]
    assert added["payment_gateway_response_id"] == pgr_id  # committed before we answered
    check_new_id(pgr_id, taken)
    taken.add(pgr_id)
    return await deployment.pgr(pgr_id)


async def authorize_service(deployment: SharedDeployment, config_id: str) -> str:
    """The verb#noun Moqui calls for authorize#SinglePayment: the config's authorizeServiceName, as loaded from our
    component's demo data (so a wrong service name there fails here)."""
    name = await deployment.pool.fetchval(
        "SELECT AUTHORIZE_SERVICE_NAME FROM PAYMENT_GATEWAY_CONFIG WHERE PAYMENT_GATEWAY_CONFIG_ID = $1", config_id
    )
    assert isinstance(name, str) and name.startswith(PAYMENT_SERVICES), name
    return name.removeprefix(PAYMENT_SERVICES)


async def authorize_as_moqui(
    deployment: SharedDeployment, payment_id: str, taken: set[str], config_id: str = "StripeGateway"
) -> dict[str, Any]:
    """authorize#SinglePayment through the config's authorize service, then Mantle's status rule; returns the PGR."""

    async def mantle_rule(connection: Connection, result: dict[str, Any]) -> None:
        pgr = await deployment.pgr(result["paymentGatewayResponseId"], connection)
        if pgr["resultSuccess"] != "Y":
            return  # an error leaves the Payment Promised, so Moqui can authorize again
        # A charge made at once (PgoAuthAndCapture) is delivered; an authorization waits for its capture.
        captured = pgr["paymentOperationEnumId"] == "PgoAuthAndCapture"
        await update_payment(
            connection,
            payment_id,
            STATUS_ID="PmntDelivered" if captured else "PmntAuthorized",
            PAYMENT_AUTH_CODE=pgr["approvalCode"],
            PAYMENT_REF_NUM=pgr["referenceNum"],
            EFFECTIVE_DATE=_now() if captured else None,
        )

    service = await authorize_service(deployment, config_id)
    params = f'{{"cardSecurityCode":null,{params_json(payment_id, config_id)[1:]}'
    return await gateway_call(deployment, payment_id, service, params, mantle_rule, taken, config_id)


def delivered_on_success(deployment: SharedDeployment, payment_id: str) -> Rule:
    """capture#SinglePayment's rule: a successful capture delivers the Payment."""

    async def mantle_rule(connection: Connection, result: dict[str, Any]) -> None:
        if (await deployment.pgr(result["paymentGatewayResponseId"], connection))["resultSuccess"] == "Y":
            await update_payment(connection, payment_id, STATUS_ID="PmntDelivered", EFFECTIVE_DATE=_now())

    return mantle_rule


def refund_recorded(deployment: SharedDeployment, payment_id: str, refund_payment_id: str, amount: str) -> Rule:
    """refund#SinglePayment's rule: the original Payment keeps its status, a PtRefund Payment records the refund."""

    async def mantle_rule(connection: Connection, result: dict[str, Any]) -> None:
        assert (await deployment.pgr(result["paymentGatewayResponseId"], connection))["resultSuccess"] == "Y"
        await record_refund_payment(connection, refund_payment_id, payment_id, Decimal(amount))

    return mantle_rule


async def test_authorize_then_release_as_moqui_calls_them(deployment: SharedDeployment) -> None:
    taken = set(EARLIER_PGR_IDS)
    auth = await authorize_as_moqui(deployment, PAYMENT_ID, taken)
    intent_id = auth["referenceNum"]
    assert (await deployment.payment(PAYMENT_ID))["paymentRefNum"] == intent_id

    async def released(connection: Connection, result: dict[str, Any]) -> None:
        # release#SinglePayment puts a released Payment back to Promised (not Void), forgetting the authorization.
        if (await deployment.pgr(result["paymentGatewayResponseId"], connection))["resultSuccess"] == "Y":
            await update_payment(
                connection, PAYMENT_ID, STATUS_ID="PmntPromised", PAYMENT_AUTH_CODE=None, PAYMENT_REF_NUM=None
            )

    release = await gateway_call(deployment, PAYMENT_ID, "release#Payment", params_json(PAYMENT_ID), released, taken)
    check_response(
        release, operation="PgoRelease", payment_id=PAYMENT_ID, method_id=VISA_METHOD, amount="100.0000", flags="YNNNNN"
    )
    assert release["referenceNum"] == intent_id and release["transactionStatus"] == "canceled"
    assert (await deployment.stripe_intent(intent_id))["status"] == "canceled"
    payment = await deployment.payment(PAYMENT_ID)
    assert (payment["statusId"], payment["paymentRefNum"], payment["paymentAuthCode"]) == ("PmntPromised", None, None)


async def test_authorize_and_capture_config_then_refund(deployment: SharedDeployment) -> None:
    # The charge-at-once config of our demo data: Moqui calls authorizeAndCapture#Payment as its authorize service.
    assert await authorize_service(deployment, AUTH_CAPTURE_CONFIG) == "authorizeAndCapture#Payment"
    taken = set(EARLIER_PGR_IDS)
    charge = await authorize_as_moqui(deployment, PAYMENT_ID, taken, AUTH_CAPTURE_CONFIG)
    check_response(
        charge,
        operation="PgoAuthAndCapture",
        payment_id=PAYMENT_ID,
        method_id=VISA_METHOD,
        amount="100.0000",
        flags="YNNNNN",
        config_id=AUTH_CAPTURE_CONFIG,
    )
    intent = await deployment.stripe_intent(charge["referenceNum"])
    assert (intent["status"], intent["capture_method"], intent["amount_received"]) == ("succeeded", "automatic", 10000)
    payment = await deployment.payment(PAYMENT_ID)
    assert (payment["statusId"], payment["paymentGatewayConfigId"]) == ("PmntDelivered", AUTH_CAPTURE_CONFIG)

    refund = await gateway_call(
        deployment,
        PAYMENT_ID,
        "refund#Payment",
        params_json(PAYMENT_ID, AUTH_CAPTURE_CONFIG, amount="100.0000"),
        refund_recorded(deployment, PAYMENT_ID, REFUND_PAYMENT_IDS[0], "100.0000"),
        taken,
        AUTH_CAPTURE_CONFIG,
    )
    check_response(
        refund,
        operation="PgoRefund",
        payment_id=PAYMENT_ID,
        method_id=VISA_METHOD,
        amount="100.0000",
        flags="YNNNNN",
        config_id=AUTH_CAPTURE_CONFIG,
    )
    refunds = await deployment.stripe_list("refunds", payment_intent=intent["id"])
    assert [(r["id"], r["amount"]) for r in refunds] == [(refund["subReference"], 10000)]
    assert (await deployment.payment(PAYMENT_ID))["statusId"] == "PmntDelivered"  # Mantle never marks it refunded


async def test_partial_capture_two_equal_refunds_then_an_over_refund_refused(deployment: SharedDeployment) -> None:
    taken = set(EARLIER_PGR_IDS)
    intent_id = (await authorize_as_moqui(deployment, PAYMENT_ID, taken))["referenceNum"]
    capture = await gateway_call(
        deployment,
        PAYMENT_ID,
        "capture#Payment",
        params_json(PAYMENT_ID, amount="60.0000"),
        delivered_on_success(deployment, PAYMENT_ID),
        taken,
    )
    check_response(
        capture, operation="PgoCapture", payment_id=PAYMENT_ID, method_id=VISA_METHOD, amount="60.0000", flags="YNNNNN"
    )
    intent = await deployment.stripe_intent(intent_id)
    assert (intent["status"], intent["amount_received"]) == ("succeeded", 6000)

    # Two equal refunds are two refunds: Mantle's committed PtRefund Payment tells the second from a repeat.
    refund_pgrs = []
    for refund_payment_id in REFUND_PAYMENT_IDS[:2]:
        rule = refund_recorded(deployment, PAYMENT_ID, refund_payment_id, "20.0000")
        pgr = await gateway_call(
            deployment, PAYMENT_ID, "refund#Payment", params_json(PAYMENT_ID, amount="20.0000"), rule, taken
        )
        check_response(
            pgr, operation="PgoRefund", payment_id=PAYMENT_ID, method_id=VISA_METHOD, amount="20.0000", flags="YNNNNN"
        )
        refund_pgrs.append(pgr)
    refunds = await deployment.stripe_list("refunds", payment_intent=intent_id)
    assert sorted(r["amount"] for r in refunds) == [2000, 2000]
    assert {pgr["subReference"] for pgr in refund_pgrs} == {r["id"] for r in refunds}
    assert len({pgr["subReference"] for pgr in refund_pgrs}) == 2

    # 20.01 more than Stripe holds (20.00 left of 60.00), though within Mantle's own limit (100 - 40): our error,
    # Moqui rolls back, and neither we nor Stripe wrote anything.
    before = await deployment.mantle_snapshot()
    answers: list[dict[str, Any]] = []

    async def refused(connection: Connection, answer: dict[str, Any]) -> None:
        answers.append(answer)
        raise MoquiRolledBack

    with pytest.raises(MoquiRolledBack):
        await moqui_call(
            deployment,
            PAYMENT_ID,
            lambda: deployment.raw_call("refund#Payment", params_json(PAYMENT_ID, amount="20.0100")),
            refused,
        )
    [answer] = answers
    assert "result" not in answer and "20.00" in answer["error"]["message"], answer
    assert PAYMENT_ID in answer["error"]["message"]
    assert changed_rows(before, await deployment.mantle_snapshot(), deployment.registry) == {}
    assert len(await deployment.stripe_list("refunds", payment_intent=intent_id)) == 2


class AnswerLost(Exception):
    """Moqui's HTTP call failed after we had answered (a timeout, a dropped connection): it never saw the result."""


async def test_calls_repeated_after_a_lost_answer_act_once(deployment: SharedDeployment) -> None:
    taken = set(EARLIER_PGR_IDS)
    intent_id = (await authorize_as_moqui(deployment, PAYMENT_ID, taken))["referenceNum"]

    async def lost(verb_noun: str, params: str) -> dict[str, Any]:
        await deployment.call(verb_noun, params)
        raise AnswerLost

    async def never_reached(connection: Connection, result: dict[str, Any]) -> None:
        raise AssertionError("Moqui had no answer to apply its rule to")

    capture_params = params_json(PAYMENT_ID, amount="100.0000")
    refund_params = params_json(PAYMENT_ID, amount="30.0000")
    for verb_noun, params, rule in (
        ("capture#Payment", capture_params, delivered_on_success(deployment, PAYMENT_ID)),
        ("refund#Payment", refund_params, refund_recorded(deployment, PAYMENT_ID, REFUND_PAYMENT_IDS[0], "30.0000")),
    ):
        # The first Moqui transaction rolls back: our PGR stays (committed before the answer), Moqui's update goes.
        before = await deployment.mantle_snapshot()
        with pytest.raises(AnswerLost):
            await moqui_call(deployment, PAYMENT_ID, functools.partial(lost, verb_noun, params), never_reached)
        [first] = assert_only_new_responses(
            changed_rows(before, await deployment.mantle_snapshot(), deployment.registry)
        )
        # The same body again: the same PGR, no second Stripe call and no second PGR.
        result, changes = await moqui_call(
            deployment, PAYMENT_ID, functools.partial(deployment.call, verb_noun, params), rule
        )
        assert assert_only_new_responses(changes) == []
        assert result["paymentGatewayResponseId"] == first["payment_gateway_response_id"]

    intent = await deployment.stripe_intent(intent_id)
    assert (intent["status"], intent["amount_received"]) == ("succeeded", 10000)
    assert len(await deployment.stripe_list("charges", payment_intent=intent_id)) == 1
    assert [r["amount"] for r in await deployment.stripe_list("refunds", payment_intent=intent_id)] == [3000]
    operations = await deployment.pool.fetch(
        "SELECT PAYMENT_OPERATION_ENUM_ID FROM PAYMENT_GATEWAY_RESPONSE WHERE PAYMENT_ID = $1 ORDER BY 1", PAYMENT_ID
    )
    assert [row[0] for row in operations] == ["PgoAuthorize", "PgoCapture", "PgoRefund"]
    assert (await deployment.payment(PAYMENT_ID))["statusId"] == "PmntDelivered"


async def test_a_stripe_outage_gives_an_error_response_and_the_retry_charges_once(
    deployment: SharedDeployment, emulator_control: EmulatorControl
) -> None:
    taken = set(EARLIER_PGR_IDS)
    # The server's Stripe client makes no retries here (max_network_retries=0): one 500 fails the call.
    await emulator_control.add_fault("/v1/payment_intents", "error", method="POST", status=500)
    failed = await authorize_as_moqui(deployment, PAYMENT_ID, taken)
    assert failed["paymentOperationEnumId"] == "PgoAuthorize" and failed["paymentId"] == PAYMENT_ID
    assert "".join(failed[name] for name in INDICATORS) == "NNYNNN"
    assert failed["responseCode"] == "api_error" and failed["reasonMessage"]
    payment = await deployment.payment(PAYMENT_ID)
    assert (payment["statusId"], payment["paymentRefNum"], payment["paymentAuthCode"]) == ("PmntPromised", None, None)

    # Mantle left the Payment Promised, so it authorizes again: this time Stripe answers, and charges once.
    retried = await authorize_as_moqui(deployment, PAYMENT_ID, taken)
    check_response(
        retried,
        operation="PgoAuthorize",
        payment_id=PAYMENT_ID,
        method_id=VISA_METHOD,
        amount="100.0000",
        flags="YNNNNN",
    )
    [intent] = await deployment.stripe_intents_of(PAYMENT_ID)
    assert (intent["id"], intent["status"], intent["amount"]) == (retried["referenceNum"], "requires_capture", 10000)
    assert len(await deployment.stripe_list("charges", payment_intent=intent["id"])) == 1
    assert (await deployment.payment(PAYMENT_ID))["statusId"] == "PmntAuthorized"


async def test_a_zero_decimal_currency_payment(deployment: SharedDeployment) -> None:
    # Placed earlier by Moqui (committed): a yen payment on the same order, with its currency's Uom.
    facade = EntityFacade(deployment.pool, deployment.registry)
    async with facade.transaction() as connection:
        await facade.create(
            "moqui.basic.Uom",
            {"uomId": "JPY", "uomTypeEnumId": "UT_CURRENCY_MEASURE", "abbreviation": "JPY", "description": "Yen"},
            connection=connection,
        )
        original = await facade.find_one("mantle.account.payment.Payment", {"paymentId": PAYMENT_ID})
        assert original is not None
        await facade.create(
            "mantle.account.payment.Payment",
            {
                **{k: v for k, v in original.items() if k not in ("lastUpdatedStamp", "paymentGatewayConfigId")},
                "paymentId": JPY_PAYMENT_ID,
                "amount": Decimal("1500"),
                "amountUomId": "JPY",
            },
            connection=connection,
        )
    taken = set(EARLIER_PGR_IDS)
    auth = await authorize_as_moqui(deployment, JPY_PAYMENT_ID, taken)
    check_response(
        auth,
        operation="PgoAuthorize",
        payment_id=JPY_PAYMENT_ID,
        method_id=VISA_METHOD,
        amount="1500",
        flags="YNNNNN",
        currency="JPY",
    )
    # Yen has no minor unit: 1500 yen is 1500 at Stripe, not 150000.
    intent = await deployment.stripe_intent(auth["referenceNum"])
    assert (intent["status"], intent["amount"], intent["currency"]) == ("requires_capture", 1500, "jpy")

    capture = await gateway_call(
        deployment,
        JPY_PAYMENT_ID,
        "capture#Payment",
        params_json(JPY_PAYMENT_ID, amount="1500.0000"),
        delivered_on_success(deployment, JPY_PAYMENT_ID),
        taken,
    )
    check_response(
        capture,
        operation="PgoCapture",
        payment_id=JPY_PAYMENT_ID,
        method_id=VISA_METHOD,
        amount="1500",
        flags="YNNNNN",
        currency="JPY",
    )
    assert (await deployment.stripe_intent(auth["referenceNum"]))["amount_received"] == 1500
    assert (await deployment.payment(JPY_PAYMENT_ID))["statusId"] == "PmntDelivered"
