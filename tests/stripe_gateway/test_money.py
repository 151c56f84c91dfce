"""Decimal <-> Stripe minor units: exact per currency, refusing what cannot be charged exactly."""

from __future__ import annotations

from decimal import Decimal

import pytest

from service.money import (
    STRIPE_MAX_MINOR_UNITS,
    AmountNotRepresentable,
    InvalidCurrency,
    format_amount,
    format_minor_units,
    from_minor_units,
    stripe_currency,
    to_minor_units,
)


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("12.50", "USD", 1250),
        ("12.5", "usd", 1250),
        ("100.0000", "USD", 10000),  # Moqui's NUMERIC(24,4): trailing zeros are exact
        ("0.01", "EUR", 1),
        ("999999.99", "USD", STRIPE_MAX_MINOR_UNITS),
        ("1000", "JPY", 1000),
        ("1000.0000", "JPY", 1000),
        ("5000", "UGX", 5000),  # zero-decimal at Stripe
        ("1.250", "KWD", 1250),
        ("1.25", "KWD", 1250),
        ("1.2500", "BHD", 1250),
        ("1000", "HUF", 100000),  # whole units, expressed with two decimals
        ("1000.00", "HUF", 100000),
        ("30", "TWD", 3000),
        ("2500000", "IDR", 250000000),  # IDR may use twelve digits
        ("1E+2", "USD", 10000),
    ],
)
def test_to_minor_units_is_exact(amount: str, currency: str, minor: int) -> None:
    result = to_minor_units(Decimal(amount), currency)
    assert result == minor
    assert type(result) is int


@pytest.mark.parametrize(
    ("amount", "currency", "reason"),
    [
        ("10.005", "USD", "decimal places"),
        ("0.001", "USD", "decimal places"),
        ("1E-999999", "USD", "decimal places"),  # refused without building a huge integer
        ("1.5", "JPY", "decimal places"),
        ("1.255", "KWD", "end in 0"),
        ("1.2555", "KWD", "decimal places"),
        ("10.50", "HUF", "whole units"),
        ("0.01", "TWD", "whole units"),
        ("-1.00", "USD", "negative"),
        ("0", "USD", "zero"),
        ("0.0000", "USD", "zero"),
        ("-0", "USD", "zero"),
        ("NaN", "USD", "finite"),
        ("Infinity", "USD", "finite"),
        ("1000000.00", "USD", "maximum"),
        ("100000000", "JPY", "maximum"),
        ("1E+999999", "USD", "maximum"),
    ],
)
def test_to_minor_units_refuses_what_cannot_be_charged_exactly(amount: str, currency: str, reason: str) -> None:
    with pytest.raises(AmountNotRepresentable, match=reason) as refused:
        to_minor_units(Decimal(amount), currency)
    assert refused.value.currency == currency.upper()
    assert isinstance(refused.value, ValueError)


def test_zero_is_allowed_only_when_asked() -> None:
    assert to_minor_units(Decimal("0.0000"), "USD", allow_zero=True) == 0


@pytest.mark.parametrize("amount", [12.5, 12, True, "12.50"])
def test_to_minor_units_accepts_only_decimal(amount: object) -> None:
    with pytest.raises(TypeError, match="Decimal"):
        to_minor_units(amount, "USD")  # type: ignore[arg-type]


@pytest.mark.parametrize("currency", ["US", "USDD", "XXX", "ABC", "", "U$D", "ÜSD", "XAU"])
def test_currency_codes_are_iso_4217(currency: str) -> None:
    with pytest.raises(InvalidCurrency):
        to_minor_units(Decimal("1"), currency)
    with pytest.raises(InvalidCurrency):
        from_minor_units(100, currency)


def test_stripe_currency_rules() -> None:
    assert stripe_currency("jpy").exponent == 0
    assert stripe_currency("KWD").step == 10
    assert stripe_currency("HUF").exponent == 2
    assert stripe_currency("HUF").step == 100
    assert stripe_currency("USD").stripe_code == "usd"


@pytest.mark.parametrize(
    ("minor", "currency", "amount"),
    [
        (1250, "usd", "12.50"),
        (0, "USD", "0.00"),
        (1000, "JPY", "1000"),
        (1250, "KWD", "1.250"),
        (100000, "HUF", "1000.00"),
        (-5, "USD", "-0.05"),
        (STRIPE_MAX_MINOR_UNITS, "USD", "999999.99"),
    ],
)
def test_from_minor_units(minor: int, currency: str, amount: str) -> None:
    result = from_minor_units(minor, currency)
    assert isinstance(result, Decimal)
    # Same value and the currency's own number of decimals.
    assert str(result) == amount


@pytest.mark.parametrize("currency", ["USD", "JPY", "KWD", "HUF", "TWD", "CLP", "BHD"])
def test_round_trip(currency: str) -> None:
    for minor in (1000, 1200, 5000, 123400):
        assert to_minor_units(from_minor_units(minor, currency), currency) == minor


@pytest.mark.parametrize("minor", [12.5, True, Decimal("12")])
def test_from_minor_units_accepts_only_int(minor: object) -> None:
    with pytest.raises(TypeError):
        from_minor_units(minor, "USD")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        ("12.5", "USD", "$12.50"),
        ("1000", "JPY", "¥1,000"),
        ("1.25", "KWD", "KWD 1.250"),
        ("1234567.8", "EUR", "€1,234,567.80"),
        ("-3", "GBP", "-£3.00"),
        ("100.0000", "CHF", "CHF 100.00"),
        ("10.005", "USD", "$10.005"),  # never rounded silently
    ],
)
def test_format_amount(amount: str, currency: str, text: str) -> None:
    assert format_amount(Decimal(amount), currency) == text


def test_format_minor_units() -> None:
    assert format_minor_units(1250, "usd") == "$12.50"
    assert format_minor_units(100000, "HUF") == "HUF 1,000.00"
