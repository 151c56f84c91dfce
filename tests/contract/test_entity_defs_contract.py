"""Our entity-defs against Moqui's and Mantle's own entity XML and the entity-definition-3.xsd schema.

The reference files are vendored in ``tests/reference/moqui-reference`` (sources in its SOURCES.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from lxml import etree

from moqui_bridge.entity import EntityRegistry
from moqui_bridge.naming import camel_case_to_underscored
from tests.reference import MOQUI_REFERENCE

REPO_ROOT = Path(__file__).resolve().parents[2]
REFERENCE = MOQUI_REFERENCE
ENTITY_DEFS = REPO_ROOT / "entity-defs"
XSD = REFERENCE / "moqui-framework" / "xsd" / "entity-definition-3.xsd"
OUR_PACKAGES = ("stripe",)


@dataclass(frozen=True)
class ReferenceField:
    type: str
    is_pk: bool


@dataclass(frozen=True)
class ReferenceEntity:
    table_name: str | None
    fields: dict[str, ReferenceField]
    indexes: dict[str, tuple[str, ...]]


def _reference_entities() -> dict[str, ReferenceEntity]:
    entities: dict[str, ReferenceEntity] = {}
    for path in sorted(REFERENCE.glob("*/entity/*.xml")):
        for element in etree.parse(str(path)).getroot().iterchildren("entity"):
            fields = {
                str(f.get("name")): ReferenceField(str(f.get("type")), f.get("is-pk") == "true")
                for f in element.iterchildren("field")
            }
            indexes = {
                str(i.get("name")): tuple(str(f.get("name")) for f in i.iterchildren("index-field"))
                for i in element.iterchildren("index")
            }
            name = f"{element.get('package')}.{element.get('entity-name')}"
            entities[name] = ReferenceEntity(element.get("table-name"), fields, indexes)
    return entities


@pytest.fixture(scope="module")
def reference_entities() -> dict[str, ReferenceEntity]:
    return _reference_entities()


@pytest.fixture(scope="module")
def ours() -> EntityRegistry:
    return EntityRegistry.load([ENTITY_DEFS])


def _mirrored(registry: EntityRegistry) -> list[str]:
    return [name for name in registry.full_names if not name.startswith(tuple(p + "." for p in OUR_PACKAGES))]


EXPECTED_MIRRORED = {
    "mantle.account.payment.Payment",
    "mantle.account.method.PaymentMethod",
    "mantle.account.method.CreditCard",
    "mantle.account.method.PaymentGatewayConfig",
    "mantle.account.method.PaymentGatewayResponse",
    "mantle.order.OrderHeader",
    "mantle.order.OrderPart",
    "mantle.product.store.ProductStorePaymentGateway",
    "moqui.basic.Enumeration",
    "moqui.basic.EnumerationType",
    "moqui.basic.StatusItem",
    "moqui.basic.StatusType",
    "moqui.basic.StatusFlowTransition",
    "moqui.entity.SequenceValueItem",
}


def test_the_mantle_subset_is_defined(ours: EntityRegistry) -> None:
    assert set(_mirrored(ours)) >= EXPECTED_MIRRORED


def test_fields_match_moqui_and_mantle(ours: EntityRegistry, reference_entities: dict[str, ReferenceEntity]) -> None:
    problems: list[str] = []
    for name in _mirrored(ours):
        reference = reference_entities.get(name)
        if reference is None:
            problems.append(f"{name}: not in the reference entity files")
            continue
        definition = ours.get(name)
        for field in definition.fields:
            if field.name == "lastUpdatedStamp":
                continue  # automatic in Moqui, not declared in its XML
            expected = reference.fields.get(field.name)
            if expected is None:
                problems.append(f"{name}.{field.name}: no such field in Moqui's definition")
            elif (field.type, field.is_pk) != (expected.type, expected.is_pk):
                ours_text = f"{field.type}/pk={field.is_pk}"
                problems.append(f"{name}.{field.name}: ours {ours_text}, Moqui's {expected.type}/pk={expected.is_pk}")
            if field.column_name != camel_case_to_underscored(field.name):
                problems.append(f"{name}.{field.name}: column {field.column_name} does not follow Moqui's rule")
        # every primary key field of Moqui's entity is ours too, or our rows could not be Moqui's rows
        missing_pk = {n for n, f in reference.fields.items() if f.is_pk} - set(definition.pk_field_names)
        if missing_pk:
            problems.append(f"{name}: primary key fields missing: {sorted(missing_pk)}")
        expected_table = reference.table_name or camel_case_to_underscored(definition.entity_name)
        if definition.table_name != expected_table:
            problems.append(f"{name}: table {definition.table_name}, Moqui's {expected_table}")
        for index in definition.indexes:
            if reference.indexes.get(index.name) != index.fields:
                problems.append(f"{name}: index {index.name} {index.fields} differs from Moqui's")
    assert problems == []


def test_our_subset_declares_every_mantle_field(
    ours: EntityRegistry, reference_entities: dict[str, ReferenceEntity]
) -> None:
    # Standalone tables must be able to hold every column a Moqui instance has.
    missing = [
        f"{name}.{field}"
        for name in _mirrored(ours)
        for field in reference_entities[name].fields
        if not ours.get(name).has_field(field)
    ]
    assert missing == []


@pytest.mark.parametrize("path", sorted(ENTITY_DEFS.rglob("*.xml")), ids=lambda p: str(p.relative_to(ENTITY_DEFS)))
def test_entity_defs_are_valid_against_the_xsd(path: Path) -> None:
    schema = etree.XMLSchema(etree.parse(str(XSD)))
    document = etree.parse(str(path))
    assert schema.validate(document), str(schema.error_log)
