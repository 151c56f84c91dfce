"""Fixtures for the Moqui-side tests: the vendored reference files (tests/reference) and what is parsed from them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from lxml import etree
from pydantic import SecretStr

from moqui_bridge.entity import EntityFacade
from moqui_bridge.entity.connection import Pool
from service.app import create_app
from service.config import GatewaySettings, ServerSettings, Settings
from tests.fixtures.moqui import MOQUI_API_KEY, MOQUI_CLIENT, STRIPE_SECRET_KEY
from tests.moqui_harness.groovy_runner import GroovyRunner
from tests.moqui_harness.moqui_call import MoquiHarness
from tests.moqui_harness.xml_actions import ServiceCatalogue, XmlActions
from tests.reference import MOQUI_REFERENCE

__all__ = ["MOQUI_API_KEY", "MOQUI_CLIENT", "STRIPE_SECRET_KEY"]

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


def emulator_gateways(
    stripe_emulator_url: str, *config_ids: str, webhook_secret: str | None = None
) -> dict[str, GatewaySettings]:
    """The gateway configs, all on the emulator's one account, without SDK retries (a fault is one failed call)."""
    return {
        config_id: GatewaySettings(
            secret_key=SecretStr(STRIPE_SECRET_KEY),
            api_base=stripe_emulator_url,
            webhook_secret=SecretStr(webhook_secret) if webhook_secret else None,
            max_network_retries=0,
            timeout_seconds=5,
        )
        for config_id in config_ids
    }


@pytest.fixture
async def stripe_service_url(database_dsn: str, stripe_emulator_url: str) -> AsyncIterator[str]:
    """The moqui-stripe service on a loopback port, its own database, the emulator as Stripe."""
    settings = Settings(
        server=ServerSettings(api_keys={MOQUI_CLIENT: SecretStr(MOQUI_API_KEY)}),
        gateways=emulator_gateways(stripe_emulator_url, "StripeGateway", "StripeGatewayAuthCapture"),
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
