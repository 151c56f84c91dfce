"""Moqui JSON: written as Moqui's Jackson mapper writes it, read with Decimal for every fraction."""

from datetime import date, datetime
from decimal import Decimal

import pytest

from moqui_bridge.moqui_rest_client import dump_json
from moqui_bridge.service.parameter_types import ConversionError, convert_map, convert_string
from moqui_bridge.web.moqui_json import JsonParseError, dump_bytes, dumps, loads, plain_decimal


def test_pretty_format_matches_jackson_default_pretty_printer() -> None:
    value = {
        "paymentId": "100000",
        "amount": Decimal("100.0000"),
        "big": Decimal("1E+3"),
        "tiny": Decimal("1.5E-7"),
        "negativeZero": Decimal("-0.00"),
        "count": 3,
        "flag": True,
        "missing": None,
        "when": datetime(2024, 1, 2, 10, 11, 12, 345000),
        "day": date(1970, 1, 2),
        "ids": ["a", "b"],
        "rows": [{"x": 1}, {"y": [1, {"z": None}]}],
        "emptyMap": {},
        "emptyList": [],
        "nested": {"inner": {"deep": "v"}},
    }
    assert dumps(value) == (
        "{\n"
        '  "paymentId" : "100000",\n'
        '  "amount" : 100.0000,\n'
        '  "big" : 1000,\n'
        '  "tiny" : 0.00000015,\n'
        '  "negativeZero" : 0.00,\n'
        '  "count" : 3,\n'
        '  "flag" : true,\n'
        '  "missing" : null,\n'
        '  "when" : 1704190272345,\n'
        '  "day" : 86400000,\n'
        '  "ids" : [ "a", "b" ],\n'
        '  "rows" : [ {\n'
        '    "x" : 1\n'
        "  }, {\n"
        '    "y" : [ 1, {\n'
        '      "z" : null\n'
        "    } ]\n"
        "  } ],\n"
        '  "emptyMap" : { },\n'
        '  "emptyList" : [ ],\n'
        '  "nested" : {\n'
        '    "inner" : {\n'
        '      "deep" : "v"\n'
        "    }\n"
        "  }\n"
        "}"
    )


def test_strings_escaped_as_jackson_does() -> None:
    assert dumps('a"b\\c\n\t\x01é/€') == '"a\\"b\\\\c\\n\\t\\u0001é/€"'
    assert dump_bytes("é") == '"é"'.encode()


def test_top_level_scalars_and_arrays() -> None:
    assert dumps([]) == "[ ]"
    assert dumps([{"a": 1}]) == '[ {\n  "a" : 1\n} ]'
    assert dumps(None) == "null"


@pytest.mark.parametrize("bad", [1.5, Decimal("NaN"), Decimal("Infinity"), {1: "x"}, object()])
def test_refuses_what_jackson_settings_would_not_write_as_moqui_json(bad: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        dumps(bad)


def test_reader_keeps_decimal_scale_and_ints() -> None:
    parsed = loads(b'\xef\xbb\xbf{"amount":100.0000,"count":5,"exp":1e2,"nested":[12.50]}')
    assert parsed == {"amount": Decimal("100.0000"), "count": 5, "exp": Decimal("1E+2"), "nested": [Decimal("12.50")]}
    assert str(parsed["amount"]) == "100.0000"
    assert type(parsed["count"]) is int


@pytest.mark.parametrize("text", ["NaN", "[Infinity]", '{"a": -Infinity}', "{", "", b"\xff\xfe"])
def test_reader_refuses_constants_and_bad_json(text: str | bytes) -> None:
    with pytest.raises(JsonParseError):
        loads(text)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("100.0000"), "100.0000"),
        (Decimal("2.5E+3"), "2500"),
        (Decimal("1.5E-7"), "0.00000015"),
        (Decimal("-0"), "0"),
        (Decimal("-0.00"), "0.00"),
        (Decimal("-12.50"), "-12.50"),
    ],
)
def test_every_writer_for_moqui_writes_a_decimal_the_same_plain_way(value: Decimal, expected: str) -> None:
    # The response writer, String parameters and the REST client's request body all share plain_decimal.
    assert plain_decimal(value) == expected
    assert dumps(value) == expected
    assert convert_string(value) == expected
    assert dump_json(value) == expected


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("-Infinity")])
def test_plain_decimal_refuses_what_no_json_number_can_hold(value: Decimal) -> None:
    with pytest.raises(ValueError, match="JSON number"):
        plain_decimal(value)


def test_a_map_parameter_is_read_by_the_same_reader() -> None:
    assert convert_map('{"amount": 1.50}') == {"amount": Decimal("1.50")}
    with pytest.raises(ConversionError, match="could not be converted to a Map"):
        convert_map('{"amount": NaN}')
