"""A Moqui database for the harness: Mantle's own schema and seed, the component's data loaded as Moqui's loader
loads it, and the rows a live Moqui holds for one store's order.

The schema comes from Mantle's and Moqui's real entity XML (tests/reference/moqui-reference, read by
tests/contract/mantle_reference.py): every ``<entity>`` becomes a table by Moqui's naming and PostgreSQL type rules,
with a foreign key on every ``one`` relationship, so a row the component creates must satisfy Moqui's keys.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from lxml import etree

from moqui_bridge.entity import EntityFacade, EntityRegistry
from moqui_bridge.entity.connection import Pool
from moqui_bridge.entity.data_loader import load_records
from moqui_bridge.entity.ddl import create_tables
from tests.contract.mantle_reference import data_file_records, seed_records

CUSTOMER = "CustJqp"
VENDOR = "ORG_ZIZI_RETAIL"
STORE = "POPC_DEFAULT"
ORDER_ID = "100100"
CURRENCY = "USD"
# Moqui has handed out ids below these (SEQUENCE_VALUE_ITEM.SEQ_NUM), so ours start above them.
SEQUENCE_BANKS = {
    "mantle.account.method.PaymentGatewayResponse": 100250,
    "mantle.account.payment.Payment": 100750,
    "mantle.account.method.PaymentMethod": 100650,
}
_DATA_SUFFIXES = (".xml", ".csv", ".json")
MAX_CONSTRAINT_NAME = 60


def foreign_key_sql(registry: EntityRegistry) -> list[str]:
    """``ALTER TABLE ... ADD CONSTRAINT ... FOREIGN KEY`` for each ``one`` relationship between loaded entities.

    A relationship whose related fields are not exactly the related entity's primary key has no usable constraint
    (PostgreSQL needs a unique key on the referenced side); Moqui skips those too. NOT VALID: checked for new and
    updated rows only, see `build_moqui_database`.
    """
    statements: list[str] = []
    for definition in registry:
        for number, relationship in enumerate(definition.relationships, start=1):
            if relationship.type != "one" or relationship.related not in registry:
                continue
            related = registry.get(relationship.related)
            key_maps = registry.key_maps(definition, relationship)
            if {k.related for k in key_maps} != set(related.pk_field_names) or not all(
                definition.has_field(k.field_name) for k in key_maps
            ):
                continue
            columns = ", ".join(definition.field(k.field_name).column_name for k in key_maps)
            related_columns = ", ".join(related.field(str(k.related)).column_name for k in key_maps)
            name = f"FK_{definition.table_name}_{number}"[:MAX_CONSTRAINT_NAME]
            statements.append(
                f"ALTER TABLE {definition.table_name} ADD CONSTRAINT {name} FOREIGN KEY ({columns})"
                f" REFERENCES {related.table_name} ({related_columns}) NOT VALID"
            )
    return statements


async def build_moqui_database(pool: Pool, registry: EntityRegistry) -> EntityFacade:
    """Create the tables, indexes and foreign keys in an empty database and load the entities' seed data."""
    await create_tables(pool, registry)
    facade = EntityFacade(pool, registry)
    records = await asyncio.to_thread(seed_records, registry)
    await load_records(facade, records)
    # Keys last, as Moqui adds them once every table exists. NOT VALID: the entity seed refers to rows of Moqui
    # data files not copied here (units of time, ...); every row written from now on is checked all the same.
    async with pool.acquire() as connection, connection.transaction():
        for statement in foreign_key_sql(registry):
            await connection.execute(statement)
    return facade


@dataclass(frozen=True)
class LoadedFile:
    """One data file as Moqui's loader handled it: skipped for its type, loaded, or rolled back with an error."""

    name: str
    type: str | None
    skipped: bool
    records: int = 0
    error: str | None = None


def component_data_files(component: Path) -> list[Path]:
    """The files of ``component/data`` in the order Moqui loads them.

    EntityDataLoaderImpl.groovy:250-264 (moqui-framework at the commit in tests/reference/moqui-reference/SOURCES.md):
    the data directory's direct entries that are files ending in .xml, .csv or .json, in a TreeMap by file name
    (String order), not recursive.
    """
    data = component / "data"
    files = [p for p in data.iterdir() if p.is_file() and p.name.endswith(_DATA_SUFFIXES)]
    return sorted(files, key=lambda p: p.name)


async def load_component_data(facade: EntityFacade, component: Path, types: frozenset[str] | None) -> list[LoadedFile]:
    """Load the component's data as Moqui does for ``types`` (None: every type, as ``gradlew load`` without types).

    A file whose ``entity-facade-xml`` type is set and not requested is skipped (EntityDataLoaderImpl.groovy:664-669;
    a file with no type always loads); each file loads in its own transaction and a failing file is rolled back while
    the next one still loads (EntityDataLoaderImpl.groovy:333-335, 406, 426).
    """
    loaded: list[LoadedFile] = []
    for path in component_data_files(component):
        root = (await asyncio.to_thread(etree.parse, str(path))).getroot()
        data_type = root.get("type")
        if data_type and types is not None and data_type not in types:
            loaded.append(LoadedFile(path.name, data_type, skipped=True))
            continue
        records = data_file_records(facade.registry, path)
        try:
            await load_records(facade, records)
        except Exception as error:  # Moqui logs the error and goes on with the next file
            loaded.append(LoadedFile(path.name, data_type, skipped=False, error=str(error)))
            continue
        loaded.append(LoadedFile(path.name, data_type, skipped=False, records=len(records)))
    return loaded


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


async def insert_store_rows(facade: EntityFacade) -> None:
    """The rows a live Moqui holds before a payment: parties, store, a placed order, sequence banks in use."""
    now = _now()
    rows: list[tuple[str, dict[str, Any]]] = [
        ("moqui.basic.Uom", {"uomId": CURRENCY, "uomTypeEnumId": "UT_CURRENCY_MEASURE", "abbreviation": CURRENCY}),
        ("mantle.party.Party", {"partyId": CUSTOMER, "partyTypeEnumId": "PtyPerson", "gatewayCimId": None}),
        ("mantle.party.Party", {"partyId": VENDOR, "partyTypeEnumId": "PtyOrganization"}),
        (
            "mantle.product.store.ProductStore",
            {"productStoreId": STORE, "organizationPartyId": VENDOR, "defaultCurrencyUomId": CURRENCY},
        ),
        (
            "mantle.order.OrderHeader",
            {
                "orderId": ORDER_ID,
                "entryDate": now,
                "statusId": "OrderPlaced",
                "currencyUomId": CURRENCY,
                "productStoreId": STORE,
                "grandTotal": Decimal("500.0000"),
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
                "partTotal": Decimal("500.0000"),
            },
        ),
    ]
    rows += [
        ("moqui.entity.SequenceValueItem", {"seqName": name, "seqNum": Decimal(number)})
        for name, number in SEQUENCE_BANKS.items()
    ]
    async with facade.transaction() as connection:
        for entity_name, values in rows:
            await facade.create(entity_name, values, connection=connection)


async def add_card_payment(
    facade: EntityFacade,
    *,
    stripe_payment_method: str | None,
    amount: Decimal,
    payment_gateway_config_id: str = "StripeGateway",
    payment_ref_num: str | None = None,
) -> str:
    """A PaymentMethod holding a Stripe PaymentMethod id (gatewayCimId) and a Promised Payment using it."""
    method_id = None
    async with facade.transaction() as connection:
        if stripe_payment_method is not None:
            method = await facade.create(
                "mantle.account.method.PaymentMethod",
                {
                    "paymentMethodTypeEnumId": "PmtCreditCard",
                    "ownerPartyId": CUSTOMER,
                    "fromDate": _now(),
                    "gatewayCimId": stripe_payment_method,
                    "paymentGatewayConfigId": payment_gateway_config_id,
                },
                connection=connection,
            )
            method_id = method["paymentMethodId"]
        payment = await facade.create(
            "mantle.account.payment.Payment",
            {
                "paymentTypeEnumId": "PtInvoicePayment",
                "fromPartyId": CUSTOMER,
                "toPartyId": VENDOR,
                "paymentInstrumentEnumId": "PiCreditCard",
                "paymentMethodId": method_id,
                "orderId": ORDER_ID,
                "orderPartSeqId": "01",
                "statusId": "PmntPromised",
                "amount": amount,
                "amountUomId": CURRENCY,
                "paymentGatewayConfigId": payment_gateway_config_id,
                "paymentRefNum": payment_ref_num,
            },
            connection=connection,
        )
    return str(payment["paymentId"])
