"""EntityFacade against a real PostgreSQL: type round trips, finds, updates, deletes and errors."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal

import pytest

from moqui_bridge.entity import (
    EntityError,
    EntityFacade,
    EntityValueError,
    UnknownEntityError,
    UnknownFieldError,
)
from moqui_bridge.entity.sql import FieldRef, Join

SAMPLE = "test.sample.AllTypesSample"


async def test_every_field_type_round_trips(sample_facade: EntityFacade) -> None:
    values = {
        "sampleId": "S1",
        "longId": "L" * 255,
        "flag": "Y",
        "shortText": "s" * 63,
        "mediumText": "médium ✓",
        "intermediateText": "i" * 1023,
        "longText": "l" * 4095,
        "veryLongText": "v" * 20000,
        "whenDate": date(2024, 2, 29),
        "whenTime": time(23, 59, 58),
        "whenStamp": datetime(2024, 3, 1, 12, 30, 15, 123456),
        "count": 12345678901234567,
        "ratio": Decimal("12345.123456"),
        "measure": 1.5,
        "money": Decimal("99999999999999999999.9999"),
        "preciseMoney": Decimal("-0.00001"),
        "blob": b"\x00\x01binary\xff",
        "required": "given",
    }
    created = await sample_facade.create(SAMPLE, values)
    found = await sample_facade.find_one(SAMPLE, {"sampleId": "S1"})
    assert found is not None
    for name, value in values.items():
        assert found[name] == value, name
        assert type(found[name]) is type(value), name
    assert isinstance(found["lastUpdatedStamp"], datetime)
    assert found["lastUpdatedStamp"].tzinfo is None
    assert created["lastUpdatedStamp"] == found["lastUpdatedStamp"]


async def test_values_are_converted_from_moqui_text_and_aware_datetimes(sample_facade: EntityFacade) -> None:
    plus_two = timezone(timedelta(hours=2))
    await sample_facade.create(
        SAMPLE,
        {
            "sampleId": "S2",
            "count": "42",
            "money": "10.5",
            "whenStamp": datetime(2024, 1, 1, 14, 0, tzinfo=plus_two),
            "whenDate": "2024-05-06",
            "flag": True,
        },
    )
    await sample_facade.create(SAMPLE, {"sampleId": "S3", "whenStamp": 1704110400000})  # epoch millis
    second = await sample_facade.find_one(SAMPLE, {"sampleId": "S2"})
    third = await sample_facade.find_one(SAMPLE, {"sampleId": "S3"})
    assert second is not None and third is not None
    assert second["count"] == 42
    assert second["money"] == Decimal("10.5000")
    assert second["whenStamp"] == datetime(2024, 1, 1, 12, 0)  # stored as naive UTC
    assert second["whenDate"] == date(2024, 5, 6)
    assert second["flag"] == "Y"
    assert second["required"] == "filled"  # the field's default
    assert third["whenStamp"] == datetime(2024, 1, 1, 12, 0)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("money", 1.1, "Decimal"),
        ("money", "ten", "decimal"),
        ("count", "4.5", "integer"),
        ("count", True, "integer"),
        ("shortText", "x" * 64, "at most 63"),
        ("flag", "YES", "at most 1"),
        ("sampleId", 7, "string"),
        ("whenDate", datetime(2024, 1, 1), "not a datetime"),
        ("whenStamp", "yesterday", "timestamp"),
    ],
)
async def test_bad_values_are_refused_before_sql(
    sample_facade: EntityFacade, field: str, value: object, message: str
) -> None:
    with pytest.raises(EntityValueError, match=message):
        await sample_facade.create(SAMPLE, {"sampleId": "BAD", field: value})
    assert await sample_facade.find_one(SAMPLE, {"sampleId": "BAD"}) is None


async def test_unknown_entity_and_field_are_clear_errors(sample_facade: EntityFacade) -> None:
    with pytest.raises(UnknownEntityError, match="NoSuch"):
        await sample_facade.find("NoSuch", {})
    with pytest.raises(UnknownFieldError, match="bogus"):
        await sample_facade.find(SAMPLE, {"bogus": 1})
    with pytest.raises(UnknownFieldError, match="bogus"):
        await sample_facade.find(SAMPLE, order_by=["-bogus"])
    with pytest.raises(UnknownFieldError, match="x; DROP TABLE PAYMENT"):
        await sample_facade.create(SAMPLE, {"sampleId": "X", "x; DROP TABLE PAYMENT": "1"})
    with pytest.raises(UnknownFieldError):
        await sample_facade.update(SAMPLE, {"sampleId": "X"}, {"nope": 1})


async def _seed_lines(facade: EntityFacade) -> None:
    rows = [
        ("A", "s-b", 3, Decimal("1.00")),
        ("B", "s-a", 1, Decimal("2.00")),
        ("C", None, 2, Decimal("3.00")),
        ("D", "s-d", 2, None),
    ]
    for sample_id, short, count, money in rows:
        await facade.create(SAMPLE, {"sampleId": sample_id, "shortText": short, "count": count, "money": money})


async def test_find_conditions_order_and_limit(sample_facade: EntityFacade) -> None:
    await _seed_lines(sample_facade)

    async def ids(**kwargs: object) -> list[str]:
        return [r["sampleId"] for r in await sample_facade.find(SAMPLE, **kwargs)]  # type: ignore[arg-type]

    assert await ids(order_by=["sampleId"]) == ["A", "B", "C", "D"]
    assert await ids(conditions={"count": 2}, order_by=["sampleId"]) == ["C", "D"]
    assert await ids(conditions={"shortText": None}) == ["C"]
    assert await ids(conditions={"money": None}) == ["D"]
    assert await ids(conditions={"sampleId": ["A", "C", "Z"]}, order_by=["-sampleId"]) == ["C", "A"]
    assert await ids(conditions={"sampleId": ("B",), "count": 1}) == ["B"]
    assert await ids(conditions={"sampleId": []}) == []
    assert await ids(order_by=["-count", "sampleId"]) == ["A", "C", "D", "B"]
    assert await ids(order_by=["+count", "-sampleId"], limit=2) == ["B", "D"]
    assert await ids(order_by=["sampleId"], limit=2, offset=1) == ["B", "C"]
    assert await ids(conditions={"money": Decimal("2")}) == ["B"]
    assert await ids(order_by="-sampleId", limit=1) == ["D"]
    with pytest.raises(EntityValueError):
        await ids(limit=-1)
    with pytest.raises(EntityError, match="several"):
        await sample_facade.find_one(SAMPLE, {"count": 2})


async def test_update_and_delete(sample_facade: EntityFacade) -> None:
    created = await sample_facade.create(SAMPLE, {"sampleId": "U1", "shortText": "before", "count": 1})
    assert await sample_facade.update(SAMPLE, {"sampleId": "U1"}, {"shortText": "after", "count": None})
    updated = await sample_facade.find_one(SAMPLE, {"sampleId": "U1"})
    assert updated is not None
    assert (updated["shortText"], updated["count"]) == ("after", None)
    assert updated["lastUpdatedStamp"] >= created["lastUpdatedStamp"]
    assert not await sample_facade.update(SAMPLE, {"sampleId": "missing"}, {"shortText": "x"})
    with pytest.raises(EntityValueError, match="cannot change"):
        await sample_facade.update(SAMPLE, {"sampleId": "U1"}, {"sampleId": "U2"})
    with pytest.raises(EntityValueError, match="Primary key"):
        await sample_facade.update(SAMPLE, {"shortText": "after"}, {"count": 2})
    with pytest.raises(EntityValueError, match="Primary key"):
        await sample_facade.delete(SAMPLE, {})
    assert await sample_facade.delete(SAMPLE, {"sampleId": "U1"})
    assert not await sample_facade.delete(SAMPLE, {"sampleId": "U1"})
    assert await sample_facade.find_one(SAMPLE, {"sampleId": "U1"}) is None


async def test_composite_keys_and_store(sample_facade: EntityFacade) -> None:
    line = "test.sample.SampleLine"
    await sample_facade.create(line, {"sampleId": "S", "lineSeqId": "01", "note": "first"})
    with pytest.raises(EntityValueError, match="missing"):
        await sample_facade.create(line, {"sampleId": "S"})
    await sample_facade.store(line, {"sampleId": "S", "lineSeqId": "01", "note": "changed"})
    await sample_facade.store(line, {"sampleId": "S", "lineSeqId": "02"})
    rows = await sample_facade.find(line, {"sampleId": "S"}, order_by=["lineSeqId"])
    assert [(r["lineSeqId"], r["note"]) for r in rows] == [("01", "changed"), ("02", None)]
    assert "lastUpdatedStamp" not in rows[0]


async def test_create_or_update_inserts_whole_then_updates_only_named_fields_when_changed(
    sample_facade: EntityFacade,
) -> None:
    values = {"sampleId": "C1", "shortText": "status-a", "mediumText": "kept", "count": 1}
    assert await sample_facade.create_or_update(SAMPLE, values, update=("shortText",))
    first = await sample_facade.find_one(SAMPLE, {"sampleId": "C1"})
    assert first is not None
    assert (first["shortText"], first["mediumText"], first["count"], first["required"]) == (
        "status-a",
        "kept",
        1,
        "filled",
    )
    # Same status again: nothing written, the stamp stays.
    assert not await sample_facade.create_or_update(SAMPLE, {**values, "count": 9}, update=("shortText",))
    unchanged = await sample_facade.find_one(SAMPLE, {"sampleId": "C1"})
    assert unchanged == first
    # A new status: only the named field (and the stamp) change; the others keep their first values.
    changed = {**values, "shortText": "status-b", "mediumText": "ignored", "count": 2}
    assert await sample_facade.create_or_update(SAMPLE, changed, update=("shortText",))
    after = await sample_facade.find_one(SAMPLE, {"sampleId": "C1"})
    assert after is not None
    assert (after["shortText"], after["mediumText"], after["count"]) == ("status-b", "kept", 1)
    assert after["lastUpdatedStamp"] >= first["lastUpdatedStamp"]
    with pytest.raises(EntityValueError, match="to be updated, not given"):
        await sample_facade.create_or_update(SAMPLE, {"sampleId": "C1"}, update=("shortText",))
    with pytest.raises(EntityValueError, match="Primary key"):
        await sample_facade.create_or_update(SAMPLE, {"shortText": "x"}, update=("shortText",))


async def test_transactions_commit_roll_back_and_nest(sample_facade: EntityFacade) -> None:
    async with sample_facade.transaction() as connection:
        await sample_facade.create(SAMPLE, {"sampleId": "T1"}, connection=connection)
        assert await sample_facade.find_one(SAMPLE, {"sampleId": "T1"}, connection=connection) is not None
    with pytest.raises(RuntimeError, match="boom"):
        async with sample_facade.transaction() as connection:
            await sample_facade.create(SAMPLE, {"sampleId": "T2"}, connection=connection)
            raise RuntimeError("boom")
    async with sample_facade.transaction() as connection:
        with pytest.raises(RuntimeError):
            async with sample_facade.transaction(connection) as inner:
                await sample_facade.create(SAMPLE, {"sampleId": "T3"}, connection=inner)
                raise RuntimeError("savepoint")
        await sample_facade.create(SAMPLE, {"sampleId": "T4"}, connection=connection)
    ids = [r["sampleId"] for r in await sample_facade.find(SAMPLE, order_by=["sampleId"])]
    assert ids == ["T1", "T4"]


async def test_create_fills_sequenced_id_default_and_stamp(entity_facade: EntityFacade) -> None:
    before = datetime.now(UTC).replace(tzinfo=None)
    payment = await entity_facade.create("mantle.account.payment.Payment", {"amount": Decimal("5.00")})
    assert payment["paymentId"] == "100000"
    assert payment["reconcileStatusId"] == "PmtrNot"
    assert before <= payment["lastUpdatedStamp"] <= datetime.now(UTC).replace(tzinfo=None)
    second = await entity_facade.create("Payment", {"paymentId": None, "reconcileStatusId": "PmtrRec"})
    assert second["paymentId"] == "100001"
    assert second["reconcileStatusId"] == "PmtrRec"


async def test_encrypted_fields_are_never_written(entity_facade: EntityFacade) -> None:
    with pytest.raises(EntityValueError, match="encrypted"):
        await entity_facade.create("CreditCard", {"paymentMethodId": "PM1", "cardNumber": "4242424242424242"})
    assert await entity_facade.find_one("CreditCard", {"paymentMethodId": "PM1"}) is None


async def test_sql_uses_moqui_table_names(entity_facade: EntityFacade) -> None:
    await entity_facade.create("PaymentGatewayResponse", {"referenceNum": "pi_1", "resultSuccess": "Y"})
    async with entity_facade.pool.acquire() as connection:
        # Unquoted upper-case names fold to lower case, which is how Moqui's own tables are named.
        count = await connection.fetchval("SELECT count(*) FROM payment_gateway_response WHERE reference_num = 'pi_1'")
    assert count == 1


async def test_find_one_with_reads_related_records_in_one_query(entity_facade: EntityFacade) -> None:
    method = await entity_facade.create("PaymentMethod", {"ownerPartyId": "P1", "gatewayCimId": "pm_1"})
    payment = await entity_facade.create(
        "Payment", {"paymentMethodId": method["paymentMethodId"], "amount": Decimal("7.25"), "fromPartyId": "P2"}
    )
    bare = await entity_facade.create("Payment", {"amount": Decimal("1.00")})
    joins = [
        Join("method", "PaymentMethod", {"paymentMethodId": FieldRef("payment", "paymentMethodId")}),
        Join(
            "customer",
            "stripe.StripeCustomer",
            {"partyId": FieldRef("method", "ownerPartyId"), "paymentGatewayConfigId": "G"},
        ),
        Join("config", "PaymentGatewayConfig", {"paymentGatewayConfigId": "NoSuchConfig"}),
    ]
    found = await entity_facade.find_one_with("Payment", {"paymentId": payment["paymentId"]}, joins, alias="payment")
    assert found is not None
    assert found["payment"] == await entity_facade.find_one("Payment", {"paymentId": payment["paymentId"]})
    assert found["method"] == await entity_facade.find_one(
        "PaymentMethod", {"paymentMethodId": method["paymentMethodId"]}
    )
    assert found["customer"] is None  # no StripeCustomer of P1: an outer join that matched nothing
    assert found["config"] is None
    alone = await entity_facade.find_one_with("Payment", {"paymentId": bare["paymentId"]}, joins, alias="payment")
    assert alone is not None and alone["method"] is None
    assert alone["payment"] is not None and alone["payment"]["amount"] == Decimal("1.00")
    assert await entity_facade.find_one_with("Payment", {"paymentId": "none"}, joins, alias="payment") is None
