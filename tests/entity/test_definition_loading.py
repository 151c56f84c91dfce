"""Loading entity XML as Moqui components write it: Groovy defaults, view-entity and extend-entity.

The first tests read Mantle's and Moqui's own entity files (vendored in tests/reference/moqui-reference); the rest
use small inline files, one case each.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from moqui_bridge.entity import EntityDefinitionError, EntityFacade, EntityRegistry
from moqui_bridge.entity.connection import Pool
from moqui_bridge.entity.ddl import create_tables
from moqui_bridge.entity.definition import LAST_UPDATED_STAMP, parse_entity_document, parse_entity_file
from tests.reference import MOQUI_REFERENCE

# Framework first, as Moqui loads components; OrderViewEntities.xml holds nothing but view-entity elements.
REFERENCE_FILES = (
    "moqui-framework/entity/BasicEntities.xml",
    "moqui-framework/entity/EntityEntities.xml",
    "moqui-framework/entity/ServiceEntities.xml",
    "mantle-udm/entity/PartyEntities.xml",
    "mantle-udm/entity/AccountingAccountEntities.xml",
    "mantle-udm/entity/OrderEntities.xml",
    "mantle-udm/entity/ProductStoreEntities.xml",
    "mantle-usl/entity/OrderViewEntities.xml",
)
SYSTEM_MESSAGE = "moqui.service.message.SystemMessage"


def _reference_files() -> list[Path]:
    return [MOQUI_REFERENCE / name for name in REFERENCE_FILES]


def _write(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.write_text(f'<?xml version="1.0" encoding="UTF-8"?>\n<entities>{body}</entities>', encoding="utf-8")
    return path


# ----- Mantle's and Moqui's own files -----


def test_mantle_files_load_with_groovy_defaults_views_and_extensions() -> None:
    registry = EntityRegistry.from_files(_reference_files())

    # Groovy defaults are kept as written and left to Moqui; literal ones still apply.
    pseudo_id = registry.get("mantle.party.Party").field("pseudoId")
    assert (pseudo_id.default, pseudo_id.default_is_expression, pseudo_id.default_value) == ("partyId", True, None)
    sequence_num = registry.get("moqui.entity.document.DataDocumentField").field("sequenceNum")
    assert (sequence_num.default, sequence_num.default_value) == ("fieldSeqId as int", None)
    expressions = [f for d in registry for f in d.fields if f.default == "ec.user.nowTimestamp"]
    assert expressions and all(f.default_is_expression and f.default_value is None for f in expressions)
    priority = registry.get("mantle.order.OrderPart").field("priority")
    assert (priority.default_is_expression, priority.default_value) == (False, 5)

    # No view becomes an entity (the framework files have views too).
    views = {
        f"{view.get('package')}.{view.get('entity-name')}"
        for path in _reference_files()
        for view in etree.parse(str(path)).getroot().iterchildren("view-entity")
    }
    assert "mantle.order.OrderHeaderAndPart" in views
    assert not views & set(registry.full_names)

    # Mantle's extend-entity parts (three files) land on Moqui's SystemMessage, before lastUpdatedStamp.
    message = registry.get(SYSTEM_MESSAGE)
    for name in ("orderId", "orderPartSeqId", "orderRevision", "returnId", "invoiceId", "paymentMethodFileId"):
        assert message.has_field(name), name
    assert message.field_names[-1] == LAST_UPDATED_STAMP
    related = {r.related for r in message.relationships}
    assert {"mantle.order.OrderHeader", "mantle.order.return.ReturnHeader", "mantle.account.invoice.Invoice"} <= related
    assert message.source == MOQUI_REFERENCE / "moqui-framework/entity/ServiceEntities.xml"
    assert registry.get("moqui.service.message.SystemMessageRemote").has_field("productStoreId")
    # Extensions of entities of components not loaded here (moqui.security.UserAccount) are ignored.
    assert "moqui.security.UserAccount" not in registry


def test_mantle_files_load_the_same_in_any_order() -> None:
    forward = EntityRegistry.from_files(_reference_files())
    backward = EntityRegistry.from_files(reversed(_reference_files()))
    assert forward.full_names == backward.full_names
    for definition in forward:
        other = backward.get(definition.full_name)
        assert set(other.fields) == set(definition.fields), definition.full_name
        assert set(other.relationships) == set(definition.relationships), definition.full_name
        assert other.fields[-1] == definition.fields[-1], definition.full_name


def test_the_views_file_holds_no_entities() -> None:
    parsed = parse_entity_document(MOQUI_REFERENCE / "mantle-usl/entity/OrderViewEntities.xml")
    assert parsed.entities == () and parsed.extensions == ()


# ----- defaults -----


@pytest.mark.parametrize(
    ("default", "field_type", "value"),
    [("'PmtrNot'", "id", "PmtrNot"), ('"plain"', "text-short", "plain"), ("5", "number-integer", 5)],
)
def test_literal_defaults_are_converted(tmp_path: Path, default: str, field_type: str, value: object) -> None:
    path = _write(
        tmp_path,
        "Lit.xml",
        f'<entity entity-name="Lit" package="t"><field name="litId" type="id" is-pk="true"/>'
        f'<field name="value" type="{field_type}" default="{default.replace(chr(34), "&quot;")}"/></entity>',
    )
    field = parse_entity_file(path)[0].field("value")
    assert (field.default, field.default_is_expression, field.default_value) == (default, False, value)


@pytest.mark.parametrize(
    ("default", "field_type"),
    [
        ("ec.user.nowTimestamp", "date-time"),
        ("ec.user.userId", "id"),
        ("fieldSeqId as int", "number-integer"),
        ("partyId", "text-short"),  # another field's value, not the text "partyId"
        ("N", "text-indicator"),  # unquoted: a Groovy name
        ("&quot;${prefix}-1&quot;", "text-short"),  # an interpolating string
    ],
)
def test_groovy_defaults_are_recorded_unevaluated(tmp_path: Path, default: str, field_type: str) -> None:
    path = _write(
        tmp_path,
        "Expr.xml",
        f'<entity entity-name="Expr" package="t"><field name="exprId" type="id" is-pk="true"/>'
        f'<field name="value" type="{field_type}" default="{default}"/></entity>',
    )
    field = parse_entity_file(path)[0].field("value")
    assert field.default == default.replace("&quot;", '"')
    assert field.default_is_expression
    assert field.default_value is None


def test_a_literal_that_does_not_fit_its_field_is_still_refused(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "Bad.xml",
        '<entity entity-name="Bad" package="t"><field name="badId" type="id" is-pk="true"/>'
        '<field name="count" type="number-integer" default="\'many\'"/></entity>',
    )
    with pytest.raises(EntityDefinitionError, match=r"Unsupported default .*count"):
        parse_entity_file(path)


async def test_create_applies_literal_defaults_only(tmp_path: Path, sample_pool: Pool) -> None:
    path = _write(
        tmp_path,
        "Defaults.xml",
        '<entity entity-name="DefaultsSample" package="t"><field name="sampleId" type="id" is-pk="true"/>'
        '<field name="pseudoId" type="text-short" default="sampleId"/>'
        '<field name="createdDate" type="date-time" default="ec.user.nowTimestamp"/>'
        '<field name="kind" type="id" default="\'PLAIN\'"/></entity>',
    )
    registry = EntityRegistry.from_files([path])
    await create_tables(sample_pool, registry)
    facade = EntityFacade(sample_pool, registry)
    await facade.create("t.DefaultsSample", {"sampleId": "S1"})
    stored = await facade.find_one("t.DefaultsSample", {"sampleId": "S1"})
    assert stored is not None
    assert (stored["pseudoId"], stored["createdDate"], stored["kind"]) == (None, None, "PLAIN")


# ----- view-entity -----


def test_view_entities_are_skipped(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "Views.xml",
        '<entity entity-name="Base" package="t"><field name="baseId" type="id" is-pk="true"/></entity>'
        '<view-entity entity-name="BaseView" package="t"><member-entity entity-alias="B" entity-name="t.Base"/>'
        '<alias-all entity-alias="B"/></view-entity>',
    )
    registry = EntityRegistry.from_files([path])
    assert registry.full_names == ["t.Base"]
    assert "BaseView" not in registry


def test_other_unknown_elements_are_still_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "Odd.xml", '<entity-group name="x"/>')
    with pytest.raises(EntityDefinitionError, match="unsupported elements \\['entity-group'\\]"):
        parse_entity_file(path)


# ----- extend-entity -----

BASE = (
    '<entity entity-name="Base" package="t">'
    '<field name="baseId" type="id" is-pk="true"/><field name="note" type="text-short"/>'
    '<index name="BASE_NOTE"><index-field name="note"/></index></entity>'
)
OTHER = '<entity entity-name="Other" package="t"><field name="otherId" type="id" is-pk="true"/></entity>'
EXTENSION = (
    '<extend-entity entity-name="Base" package="t">'
    '<field name="otherId" type="id"/>'
    '<field name="note" type="text-medium" not-null="true"/>'
    '<relationship type="one" related="t.Other"/>'
    '<index name="BASE_OTHER"><index-field name="otherId"/></index></extend-entity>'
)


@pytest.mark.parametrize("extension_first", [False, True])
def test_extend_entity_in_the_same_file_is_merged(tmp_path: Path, extension_first: bool) -> None:
    body = EXTENSION + BASE + OTHER if extension_first else BASE + OTHER + EXTENSION
    base = EntityRegistry.from_files([_write(tmp_path, "Same.xml", body)]).get("t.Base")
    assert base.field_names == ("baseId", "note", "otherId", LAST_UPDATED_STAMP)
    # A field already on the entity takes only the attributes the extension sets.
    note = base.field("note")
    assert (note.type, note.not_null, note.column_name, note.is_pk) == ("text-medium", True, "NOTE", False)
    assert [r.related for r in base.relationships] == ["t.Other"]
    assert [i.name for i in base.indexes] == ["BASE_NOTE", "BASE_OTHER"]


@pytest.mark.parametrize("extension_file_first", [False, True])
def test_extend_entity_from_another_file_in_either_order(tmp_path: Path, extension_file_first: bool) -> None:
    entities = _write(tmp_path, "Entities.xml", BASE + OTHER)
    extension = _write(tmp_path, "Extension.xml", EXTENSION)
    files = [extension, entities] if extension_file_first else [entities, extension]
    registry = EntityRegistry.from_files(files)
    base = registry.get("Base")  # the short name finds the extended definition too
    assert base is registry.get("t.Base")
    assert base.has_field("otherId") and base.source == entities
    # parse_entity_file gives the entity as written: extensions are the registry's to apply.
    assert not parse_entity_file(entities)[0].has_field("otherId")


def test_extend_entity_of_an_entity_not_loaded_is_ignored(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "Elsewhere.xml",
        OTHER + '<extend-entity entity-name="UserAccount" package="moqui.security">'
        '<field name="partyId" type="id"/><relationship type="one" related="t.Other"/></extend-entity>',
    )
    registry = EntityRegistry.from_files([path])
    assert registry.full_names == ["t.Other"]


def test_extend_entity_table_name_and_lock(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "Attributes.xml",
        BASE + '<extend-entity entity-name="Base" package="t" table-name="BASE_TBL" optimistic-lock="true"/>',
    )
    base = EntityRegistry.from_files([path]).get("t.Base")
    assert (base.table_name, base.optimistic_lock) == ("BASE_TBL", True)


@pytest.mark.parametrize(
    ("extension", "message"),
    [
        ('<extend-entity entity-name="Base" package="t"><field name="added"/></extend-entity>', "without type"),
        ('<extend-entity entity-name="Base" package="t"><field name="x y" type="id"/></extend-entity>', "plain name"),
        ('<extend-entity package="t"/>', "without entity-name"),
    ],
)
def test_bad_extensions_are_rejected(tmp_path: Path, extension: str, message: str) -> None:
    path = _write(tmp_path, "BadExtension.xml", BASE + extension)
    with pytest.raises(EntityDefinitionError, match=message):
        EntityRegistry.from_files([path])


def test_an_index_name_that_is_not_a_plain_name_is_refused(tmp_path: Path) -> None:
    # Index names reach DDL text: a crafted one must never become SQL.
    path = _write(
        tmp_path,
        "Crafted.xml",
        '<entity entity-name="Crafted" package="t"><field name="craftedId" type="id" is-pk="true"/>'
        '<index name="IDX; DROP TABLE PAYMENT; --"><index-field name="craftedId"/></index></entity>',
    )
    with pytest.raises(EntityDefinitionError, match=r"Index name .* is not a plain name"):
        parse_entity_file(path)
