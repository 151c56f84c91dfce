"""Moqui's naming rule and what the definition parser makes of entity XML."""

from pathlib import Path

import pytest

from moqui_bridge.entity import EntityDefinitionError, EntityRegistry, UnknownEntityError, UnknownFieldError
from moqui_bridge.entity.definition import KeyMap, parse_entity_file
from moqui_bridge.naming import camel_case_to_underscored


@pytest.mark.parametrize(
    ("camel", "underscored"),
    [
        ("PaymentGatewayResponse", "PAYMENT_GATEWAY_RESPONSE"),
        ("paymentGatewayResponseId", "PAYMENT_GATEWAY_RESPONSE_ID"),
        ("PaymentGatewayPayTrace", "PAYMENT_GATEWAY_PAY_TRACE"),
        ("paymentId", "PAYMENT_ID"),
        ("seqName", "SEQ_NAME"),
        ("address2", "ADDRESS2"),
        ("cvResult", "CV_RESULT"),
        ("a", "A"),
        ("", ""),
    ],
)
def test_camel_case_to_underscored(camel: str, underscored: str) -> None:
    assert camel_case_to_underscored(camel) == underscored


def test_project_tables_and_columns_follow_moqui(entity_registry: EntityRegistry) -> None:
    response = entity_registry.get("mantle.account.method.PaymentGatewayResponse")
    assert response.table_name == "PAYMENT_GATEWAY_RESPONSE"
    assert response.field("paymentGatewayResponseId").column_name == "PAYMENT_GATEWAY_RESPONSE_ID"
    assert response.field("amount").sql_type == "NUMERIC(24,4)"
    assert response.field("reasonMessage").sql_type == "TEXT"
    assert response.field("referenceNum").sql_type == "VARCHAR(63)"
    assert response.field("resultSuccess").sql_type == "CHAR(1)"
    assert entity_registry.get("SequenceValueItem").table_name == "SEQUENCE_VALUE_ITEM"


def test_last_updated_stamp_is_automatic(entity_registry: EntityRegistry) -> None:
    payment = entity_registry.get("Payment")
    stamp = payment.field("lastUpdatedStamp")
    assert (stamp.type, stamp.column_name, stamp.sql_type) == ("date-time", "LAST_UPDATED_STAMP", "TIMESTAMP")
    assert payment.field_names[-1] == "lastUpdatedStamp"
    assert payment.optimistic_lock


def test_overrides_and_no_update_stamp(sample_registry: EntityRegistry) -> None:
    line = sample_registry.get("test.sample.SampleLine")
    assert line.table_name == "SAMPLE_LINE_TBL"
    assert line.field("note").column_name == "LINE_NOTE"
    assert not line.has_update_stamp
    assert line.pk_field_names == ("sampleId", "lineSeqId")


def test_defaults_indexes_and_relationships(entity_registry: EntityRegistry) -> None:
    payment = entity_registry.get("Payment")
    assert payment.field("reconcileStatusId").default_value == "PmtrNot"
    assert entity_registry.get("OrderPart").field("priority").default_value == 5
    assert [(i.name, i.fields) for i in payment.indexes] == [("PAYMENT_REFNUM", ("paymentRefNum",))]
    response = entity_registry.get("PaymentGatewayResponse")
    assert ("PMT_GTWR_REFNUM", ("referenceNum",)) in [(i.name, i.fields) for i in response.indexes]
    operation = next(r for r in response.relationships if r.title == "PaymentOperation")
    assert operation.name == "PaymentOperation#moqui.basic.Enumeration"
    assert entity_registry.key_maps(response, operation) == (KeyMap("paymentOperationEnumId", "enumId"),)
    to_payment = next(r for r in response.relationships if r.related == "mantle.account.payment.Payment")
    assert entity_registry.key_maps(response, to_payment) == (KeyMap("paymentId", "paymentId"),)
    status = next(r for r in payment.relationships if r.short_alias == "reconcileStatus")
    assert entity_registry.key_maps(payment, status) == (KeyMap("reconcileStatusId", "statusId"),)


def test_short_names_and_unknown_names(entity_registry: EntityRegistry) -> None:
    assert entity_registry.get("Payment") is entity_registry.get("mantle.account.payment.Payment")
    assert "PaymentGatewayConfig" in entity_registry
    with pytest.raises(UnknownEntityError, match="NoSuchEntity"):
        entity_registry.get("NoSuchEntity")
    with pytest.raises(UnknownFieldError, match="noSuchField"):
        entity_registry.get("Payment").field("noSuchField")


def test_ambiguous_short_name(tmp_path: Path) -> None:
    for package in ("one", "two"):
        (tmp_path / f"{package}.xml").write_text(
            f'<entities><entity entity-name="Thing" package="{package}">'
            '<field name="thingId" type="id" is-pk="true"/></entity></entities>'
        )
    registry = EntityRegistry.load([tmp_path])
    assert registry.get("one.Thing").package == "one"
    with pytest.raises(UnknownEntityError, match="ambiguous"):
        registry.get("Thing")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('<field name="x" type="id"/>', "no primary key"),
        ('<field name="x" type="id" is-pk="true"/><field name="y" type="nope"/>', "Unknown Moqui field type"),
        ('<field name="x" type="id" is-pk="true"/><field name="x" type="id"/>', "defined twice"),
        ('<field name="x; DROP TABLE" type="id" is-pk="true"/>', "not a plain name"),
        ('<field name="x" type="id" is-pk="true"/><index name="I"><index-field name="zz"/></index>', "zz"),
    ],
)
def test_bad_definitions_are_rejected(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "Bad.xml"
    path.write_text(f'<entities><entity entity-name="Bad" package="bad">{body}</entity></entities>')
    with pytest.raises((EntityDefinitionError, UnknownFieldError), match=message):
        parse_entity_file(path)


def test_duplicate_entities_and_missing_paths(tmp_path: Path, sample_entity_file: Path) -> None:
    with pytest.raises(EntityDefinitionError, match="defined twice"):
        EntityRegistry.from_files([sample_entity_file, sample_entity_file])
    with pytest.raises(EntityDefinitionError, match="does not exist"):
        EntityRegistry.load([tmp_path / "missing"])
