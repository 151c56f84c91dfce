"""Fixtures for the Moqui-side tests: the vendored reference files (tests/reference) and what is parsed from them."""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from lxml import etree
from pydantic import SecretStr

from moqui_bridge.component.writer import TEMPLATE_ROOT
from moqui_bridge.database.pool import create_pool
from moqui_bridge.database.postgres_server import PostgresServer
from moqui_bridge.entity import EntityFacade, EntityRegistry
from moqui_bridge.entity.connection import Pool
from service.app import create_app
from service.config import CheckoutSettings, GatewaySettings, ServerSettings, Settings
from tests.contract.mantle_reference import entity_files
from tests.moqui_harness.groovy_runner import GroovyRunner
from tests.moqui_harness.moqui_call import MoquiHarness
from tests.moqui_harness.moqui_database import build_moqui_database, insert_store_rows, load_component_data
from tests.moqui_harness.xml_actions import ServiceCatalogue, XmlActions
from tests.reference import MOQUI_REFERENCE

MANTLE_PAYMENT_SERVICES = MOQUI_REFERENCE / "mantle-usl" / "service" / "PaymentServices.xml"

XSD_FOLDER = MOQUI_REFERENCE / "moqui-framework" / "xsd"

XSD = "{http://www.w3.org/2001/XMLSchema}"


@pytest.fixture(scope="session")
def moqui_reference() -> Path:
    """The folder of the vendored Moqui/Mantle reference files."""
    return MOQUI_REFERENCE


@pytest.fixture(scope="session")
def service_schema(moqui_reference: Path) -> etree.XMLSchema:
    """Moqui's service-definition-3.xsd, ready to validate service XML."""
    schema_path = XSD_FOLDER / "service-definition-3.xsd"
    if not schema_path.is_file():
        raise FileNotFoundError(schema_path)
    schema = etree.parse(str(schema_path), etree.XMLParser(no_network=True))
    if not (XSD_FOLDER / "xml-actions-3.xsd").is_file():
        # The schema includes xml-actions-3.xsd for the <actions> element only. Without that file, declare <actions>
        # as any content in its place so the rest is checked in full (our remote services have no actions anyway).
        root = schema.getroot()
        for include in root.findall(f"{XSD}include"):
            if include.get("schemaLocation") == "xml-actions-3.xsd":
                root.remove(include)
        actions = etree.SubElement(root, f"{XSD}element", name="actions")
        sequence = etree.SubElement(etree.SubElement(actions, f"{XSD}complexType"), f"{XSD}sequence")
        etree.SubElement(
            sequence, f"{XSD}any", minOccurs="0", maxOccurs="unbounded", processContents="skip", namespace="##any"
        )
    return etree.XMLSchema(schema)


# ----- the Moqui harness: the component's services executed on Mantle's schema, calling our service over HTTP -----

MOQUI_API_KEY = "moqui-a-calls-with-this-key"
MOQUI_CLIENT = "moqui-a"
RECOVERY_LINK_SECRET = "component-recovery-link-secret"
STRIPE_SECRET_KEY = "sk_test_moquiharness000000000000"
MOQUI_TEMPLATE_DATABASE = "moqui_harness_template"
_moqui_databases = itertools.count(1)


@pytest.fixture(scope="session")
async def groovy_runner() -> AsyncIterator[GroovyRunner]:
    """One JVM running the component's scripts under real Groovy for the whole session."""
    runner = await GroovyRunner.start()
    try:
        yield runner
    finally:
        await runner.close()


@pytest.fixture(scope="session")
def mantle_entities() -> EntityRegistry:
    """Mantle's and Moqui's own entity definitions, and the component's (Moqui loads every component's entity/)."""
    return EntityRegistry.from_files([*entity_files(), *sorted((TEMPLATE_ROOT / "entity").glob("*.xml"))])


@pytest.fixture(scope="session")
def component_services() -> ServiceCatalogue:
    """The component's services, with Mantle's PaymentServices interfaces."""
    return ServiceCatalogue.load(TEMPLATE_ROOT / "service", {"mantle.account.PaymentServices": MANTLE_PAYMENT_SERVICES})


@pytest.fixture(scope="session")
async def moqui_template_database(postgres_server: PostgresServer, mantle_entities: EntityRegistry) -> str:
    """Mantle's schema and seed, the component's data as Moqui loads it, and one store's placed order."""
    pool = await create_pool(await postgres_server.create_database(MOQUI_TEMPLATE_DATABASE), max_size=2)
    try:
        facade = await build_moqui_database(pool, mantle_entities)
        loaded = await load_component_data(facade, TEMPLATE_ROOT, None)
        assert all(file.error is None for file in loaded), loaded
        await insert_store_rows(facade)
    finally:
        await pool.close()  # a template must have no connections when it is copied
    return MOQUI_TEMPLATE_DATABASE


@pytest.fixture
async def moqui_pool(postgres_server: PostgresServer, moqui_template_database: str) -> AsyncIterator[Pool]:
    """A fresh copy of the Moqui database for one test."""
    name = f"moqui_harness_{os.getpid()}_{next(_moqui_databases)}"
    dsn = await postgres_server.create_database(name, template=moqui_template_database)
    pool = await create_pool(dsn, max_size=6)
    try:
        yield pool
    finally:
        await pool.close()
        await postgres_server.drop_database(name)


@pytest.fixture
def moqui_facade(moqui_pool: Pool, mantle_entities: EntityRegistry) -> EntityFacade:
    """The entity facade on the test's Moqui database (to set up rows and read results)."""
    return EntityFacade(moqui_pool, mantle_entities)


@pytest.fixture
async def stripe_service_url(database_dsn: str, stripe_emulator_url: str) -> AsyncIterator[str]:
    """The moqui-stripe service on a loopback port, its own database, the emulator as Stripe."""
    settings = Settings(
        server=ServerSettings(api_keys={MOQUI_CLIENT: SecretStr(MOQUI_API_KEY)}),
        # Signs the recovery links of declined off-session charges (test_off_session_component.py).
        checkout=CheckoutSettings(link_secret=SecretStr(RECOVERY_LINK_SECRET)),
        gateways={
            config_id: GatewaySettings(
                secret_key=SecretStr(STRIPE_SECRET_KEY),
                api_base=stripe_emulator_url,
                max_network_retries=0,
                timeout_seconds=5,
            )
            for config_id in ("StripeGateway", "StripeGatewayAuthCapture")
        },
    )
    server = TestServer(create_app(settings, database_dsn), host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


@pytest.fixture
def moqui(
    moqui_pool: Pool,
    moqui_facade: EntityFacade,
    component_services: ServiceCatalogue,
    groovy_runner: GroovyRunner,
    stripe_service_url: str,
) -> MoquiHarness:
    """The component's services as Moqui runs them, configured for the test's service (MoquiConf properties)."""
    properties = {"moqui_stripe_url": stripe_service_url, "moqui_stripe_api_key": MOQUI_API_KEY}
    return MoquiHarness(moqui_pool, XmlActions(component_services, moqui_facade, groovy_runner), properties)
