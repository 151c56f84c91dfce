"""Fixtures for the Moqui-side tests: the vendored reference files (tests/reference) and what is parsed from them."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from tests.reference import MOQUI_REFERENCE

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
