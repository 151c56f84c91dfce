"""Moqui's own XSDs (tests/reference/moqui-reference/moqui-framework) as lxml schemas.

service-definition-3.xsd includes xml-actions-3.xsd, which lxml refuses as it is: its AllOperations group is a
choice that ends in ``<xs:any processContents="skip">`` beside the named operations, a content model that is not
deterministic (xsd-extra/README.md). The copy used here drops that wildcard, which makes the group deterministic
and stricter: an element Moqui's actions do not define is refused instead of skipped.
"""

from __future__ import annotations

import functools
import re
import shutil
import tempfile
from pathlib import Path

from lxml import etree

from tests.reference import MOQUI_REFERENCE

_XSD = MOQUI_REFERENCE / "moqui-framework" / "xsd"
_XSD_EXTRA = MOQUI_REFERENCE / "moqui-framework" / "xsd-extra"
_WILDCARD = re.compile(
    r'\s*<!--[^>]*extension[^>]*-->\s*<xs:any minOccurs="0" maxOccurs="unbounded" processContents="skip"/>'
)
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True)


@functools.cache
def _schema_folder() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="moqui-xsd-"))
    for path in _XSD.glob("*.xsd"):
        shutil.copy(path, folder / path.name)
    actions = (_XSD_EXTRA / "xml-actions-3.xsd").read_text(encoding="utf-8")
    relaxed, count = _WILDCARD.subn("", actions)
    if count != 1:
        raise RuntimeError(f"expected one wildcard in xml-actions-3.xsd's AllOperations, found {count}")
    (folder / "xml-actions-3.xsd").write_text(relaxed, encoding="utf-8")
    return folder


@functools.cache
def schema(name: str) -> etree.XMLSchema:
    """The named Moqui schema (``service-definition-3.xsd``, ``rest-api-3.xsd``, ``entity-definition-3.xsd``...)."""
    return etree.XMLSchema(etree.parse(str(_schema_folder() / name), _PARSER))


def schema_for(document: etree._Element) -> str:
    """The XSD file a Moqui XML document names in ``xsi:noNamespaceSchemaLocation``."""
    location = document.get("{http://www.w3.org/2001/XMLSchema-instance}noNamespaceSchemaLocation") or ""
    return location.rsplit("/", 1)[-1]


def validation_errors(path: Path) -> list[str]:
    """Every XSD error of a Moqui XML file against the schema it names (an empty list when it is valid)."""
    document = etree.parse(str(path), _PARSER)
    name = schema_for(document.getroot())
    if not name:
        return [f"{path.name}: names no schema (xsi:noNamespaceSchemaLocation)"]
    checker = schema(name)
    if checker.validate(document):
        return []
    return [f"{path.name}: {line}" for line in str(checker.error_log).splitlines()]
