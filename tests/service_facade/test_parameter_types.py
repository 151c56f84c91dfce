"""Each Moqui parameter type converts the values Moqui converts, and refuses the rest with Moqui's wording."""

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from moqui_bridge.service.parameter_types import (
    ConversionError,
    convert_big_decimal,
    convert_boolean,
    convert_indicator,
    convert_integer,
    convert_list,
    convert_long,
    convert_map,
    convert_string,
    convert_timestamp,
    timestamp_to_epoch_millis,
)


@pytest.mark.parametrize(
    ("raw", "expected_text"),
    [
        ("12.50", "12.50"),
        (Decimal("12.5"), "12.5"),
        (Decimal("100.0000"), "100.0000"),
        ("100.0000", "100.0000"),
        (" 7.10 ", "7.10"),
        (5, "5"),
        ("-0.01", "-0.01"),
        ("1E+3", "1E+3"),
    ],
)
def test_big_decimal_keeps_value_and_scale(raw: Any, expected_text: str) -> None:
    converted = convert_big_decimal(raw)
    assert isinstance(converted, Decimal)
    assert str(converted) == expected_text


@pytest.mark.parametrize(
    "raw", [12.5, True, "NaN", Decimal("NaN"), Decimal("Infinity"), "Infinity", "1_000", "abc", ""]
)
def test_big_decimal_refuses_floats_nan_booleans_and_text(raw: Any) -> None:
    with pytest.raises(ConversionError) as caught:
        convert_big_decimal(raw)
    assert caught.value.message == f"Value entered ({raw}) could not be converted to a BigDecimal"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (1704190272345, datetime(2024, 1, 2, 10, 11, 12, 345000)),
        ("1704190272345", datetime(2024, 1, 2, 10, 11, 12, 345000)),
        (Decimal("1704190272345"), datetime(2024, 1, 2, 10, 11, 12, 345000)),
        ("2024-01-02 10:11", datetime(2024, 1, 2, 10, 11)),
        ("2024-01-02 10:11:12.345", datetime(2024, 1, 2, 10, 11, 12, 345000)),
        ("2024-01-02T10:11:12Z", datetime(2024, 1, 2, 10, 11, 12)),
        ("2024-01-02T10:11:12.345+0000", datetime(2024, 1, 2, 10, 11, 12, 345000)),
        ("2024-01-02T11:11:12.345+0100", datetime(2024, 1, 2, 10, 11, 12, 345000)),
        ("2024-01-02T05:11:12-05:00", datetime(2024, 1, 2, 10, 11, 12)),
        ("2024-01-02", datetime(2024, 1, 2)),
        (datetime(2024, 1, 2, 11, 0, tzinfo=UTC), datetime(2024, 1, 2, 11, 0)),
        (date(2024, 1, 2), datetime(2024, 1, 2)),
    ],
)
def test_timestamp_formats_become_naive_utc(raw: Any, expected: datetime) -> None:
    converted = convert_timestamp(raw)
    assert converted == expected
    assert converted.tzinfo is None


@pytest.mark.parametrize("raw", ["yesterday", "2024-13-01 10:00", 1.5, True, Decimal("1.5"), ""])
def test_timestamp_refuses_other_values(raw: Any) -> None:
    with pytest.raises(ConversionError) as caught:
        convert_timestamp(raw)
    assert caught.value.message == f"Value entered ({raw}) could not be converted to a Timestamp"


def test_timestamp_serializes_as_epoch_millis() -> None:
    assert timestamp_to_epoch_millis(datetime(2024, 1, 2, 10, 11, 12, 345000)) == 1704190272345
    assert timestamp_to_epoch_millis(datetime(1969, 12, 31, 23, 59, 59, 999000)) == -1


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(True, True), (False, False), ("true", True), ("FALSE", False), ("Y", True), ("N", False), ("y", True)],
)
def test_boolean_accepts_moqui_spellings(raw: Any, expected: bool) -> None:
    assert convert_boolean(raw) is expected


@pytest.mark.parametrize("raw", [1, 0, "yes", "maybe", Decimal("1")])
def test_boolean_refuses_other_values(raw: Any) -> None:
    with pytest.raises(ConversionError, match="could not be converted to a Boolean"):
        convert_boolean(raw)


@pytest.mark.parametrize(("raw", "expected"), [(5, 5), ("42", 42), (" -3 ", -3), (Decimal("7"), 7), ("8.0", 8)])
def test_integer_and_long_accept_whole_numbers(raw: Any, expected: int) -> None:
    assert convert_integer(raw) == expected
    assert convert_long(raw) == expected


@pytest.mark.parametrize("raw", ["12.7", Decimal("0.5"), True, 1.0, "ten"])
def test_integer_refuses_fractions_booleans_and_text(raw: Any) -> None:
    with pytest.raises(ConversionError, match=r"could not be converted to a Integer"):
        convert_integer(raw)


def test_integer_and_long_ranges() -> None:
    assert convert_long(2**40) == 2**40
    with pytest.raises(ConversionError):
        convert_integer(2**40)
    with pytest.raises(ConversionError):
        convert_long(2**63)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("abc", "abc"), (100000, "100000"), (Decimal("100.0000"), "100.0000"), (Decimal("1E+2"), "100"), (True, "true")],
)
def test_string_takes_plain_text_of_numbers(raw: Any, expected: str) -> None:
    assert convert_string(raw) == expected


def test_string_refuses_objects() -> None:
    with pytest.raises(ConversionError, match="could not be converted to a String"):
        convert_string({"a": 1})


def test_indicator() -> None:
    assert convert_indicator("Y") == "Y"
    assert convert_indicator("N") == "N"
    assert convert_indicator(True) == "Y"
    assert convert_indicator(False) == "N"
    with pytest.raises(ConversionError, match=r"Value entered \(yes\) could not be converted to a Y/N indicator"):
        convert_indicator("yes")


def test_map_and_list() -> None:
    assert convert_map({"a": 1}) == {"a": 1}
    assert convert_map('{"amount": 1.50}') == {"amount": Decimal("1.50")}
    with pytest.raises(ConversionError, match="could not be converted to a Map"):
        convert_map("[1]")
    assert convert_list([1, 2]) == [1, 2]
    assert convert_list("[a,b]") == ["a", "b"]
    assert convert_list("single") == ["single"]
    with pytest.raises(ConversionError, match="could not be converted to a List"):
        convert_list({"a": 1})
