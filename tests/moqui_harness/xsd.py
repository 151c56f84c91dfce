"""Moqui's own XSDs (tests/reference/moqui-reference/moqui-framework) as lxml schemas.

service-definition-3.xsd includes xml-actions-3.xsd, which lxml refuses as it is: its AllOperations group is a
choice that ends in ``<xs:any processContents="skip">`` beside the named operations, a content model that is not
deterministic (xsd-extra/README.md). The copy used here drops that wildcard, which makes the group deterministic
and stricter: an element Moqui's actions do not define is refused instead of skipped. xml-screen-3.xsd and
xml-form-3.xsd (for screens) get the same treatment: the screen's widget wildcard is dropped, and the one
non-deterministic content model of the form schema (a list form's field) is loosened to any order of its elements.
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
# xml-screen-3.xsd's widget-elements group ends in the same kind of wildcard (for widgets added as FTL macros only):
# dropped likewise, so a widget Moqui does not define is refused.
_WIDGET_WILDCARD = re.compile(
    r'\s*<!--[^>]*additional elements[^>]*-->\s*<xs:any minOccurs="0" maxOccurs="unbounded" processContents="skip"/>'
)
# xml-form-3.xsd's form-list-default-field (a list form's field) allows StandaloneFields both before and after its
# widgets, which lxml refuses as not deterministic; the copy used here takes the same elements in any order (looser
# there only: the component's screens use no list forms).
_FORM_LIST_FIELD = re.compile(
    r'(<xs:complexType name="form-list-default-field">\s*)<xs:sequence>.*?</xs:sequence>', re.DOTALL
)
_FORM_LIST_FIELD_RELAXED = (
    r'\1<xs:choice minOccurs="0" maxOccurs="unbounded">'
    r'<xs:element ref="StandaloneFields"/><xs:element ref="SubFields"/><xs:element ref="AllWidgets"/>'
    r'<xs:element ref="set"/><xs:element ref="visible-when"/></xs:choice>'
)


@functools.cache
def _schema_folder() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="moqui-xsd-"))
    for path in _XSD.glob("*.xsd"):
        shutil.copy(path, folder / path.name)
    # The screen and form schemas (screens in the component) include xml-actions-3.xsd beside them.
    screen = (_XSD_EXTRA / "xml-screen-3.xsd").read_text(encoding="utf-8")
    relaxed_screen, count = _WIDGET_WILDCARD.subn("", screen)
    if count != 1:
        raise RuntimeError(f"expected one wildcard in xml-screen-3.xsd's widget-elements, found {count}")
    (folder / "xml-screen-3.xsd").write_text(relaxed_screen, encoding="utf-8")
    form = (_XSD_EXTRA / "xml-form-3.xsd").read_text(encoding="utf-8")
    relaxed_form, count = _FORM_LIST_FIELD.subn(_FORM_LIST_FIELD_RELAXED, form)
    if count != 1:
        raise RuntimeError(f"expected one form-list-default-field content model in xml-form-3.xsd, found {count}")
    (folder / "xml-form-3.xsd").write_text(relaxed_form, encoding="utf-8")
    actions = (_XSD_EXTRA / "xml-actions-3.xsd").read_text(encoding="utf-8")
    relaxed, count = _WILDCARD.subn("", actions)
    if count != 1:
        raise RuntimeError(f"expected one wildcard in xml-actions-3.xsd's AllOperations, found {count}")
    (folder / "xml-actions-3.xsd").write_text(relaxed, encoding="utf-8")
    return folder


@functools.cache
def schema(name: str) -> etree.XMLSchema:
    """The named Moqui schema (``service-definition-3.xsd``, ``rest-api-3.xsd``, ``xml-screen-3.xsd``...)."""
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
