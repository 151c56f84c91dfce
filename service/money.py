"""Money: Moqui's Decimal amounts <-> Stripe's integer minor units, per currency, exactly.

Moqui keeps amounts as `NUMERIC(24,4)` (so `100.0000`), Stripe wants integers in the currency's minor unit. The
rules here are Stripe's, not ISO 4217's, where the two differ:

- zero-decimal currencies (JPY, KRW, ...): minor unit = major unit;
- three-decimal currencies (KWD, BHD, ...): three decimals, but card amounts must end in 0 (a multiple of 10);
- HUF, TWD and ISK: Stripe expresses them with two decimals but charges whole units, so amounts are multiples of 100;
- every other currency: two decimals.

Nothing is ever rounded: an amount that cannot be represented exactly is refused with `AmountNotRepresentable`.
Floats are refused outright, because a float amount has already lost the exact value.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

__all__ = [
    "STRIPE_MAX_MINOR_UNITS",
    "AmountNotRepresentable",
    "InvalidCurrency",
    "MoneyError",
    "StripeCurrency",
    "format_amount",
    "format_minor_units",
    "from_minor_units",
    "stripe_currency",
    "to_minor_units",
]

# Stripe accepts at most eight digits of minor units (999,999.99 USD) for almost every currency.
STRIPE_MAX_MINOR_UNITS = 99_999_999


def _codes(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Active ISO 4217 codes for money people pay with (funds codes, precious metals and test codes left out).
_ISO_4217 = _codes(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD CAD CDF CHF
    CLP CNY COP CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL
    HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL
    MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON
    RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS
    UAH UGX USD UYU UZS VES VED VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG ZWL
    """
)

_ZERO_DECIMAL = _codes("BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF")
_THREE_DECIMAL = _codes("BHD JOD KWD OMR TND")
# Stripe's special cases: two-decimal minor units in the API, but only whole units can be charged.
_WHOLE_UNITS_IN_TWO_DECIMALS = _codes("HUF ISK TWD")
# Stripe allows twelve digits for IDR, whose everyday amounts exceed eight digits of minor units.
_MAX_MINOR_UNITS_OVERRIDES = {"IDR": 999_999_999_999}

# Symbols used only where they are unambiguous; other currencies are shown with their ISO code.
_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹", "KRW": "₩"}


class MoneyError(ValueError):
    """An amount or currency that cannot be sent to Stripe."""


class InvalidCurrency(MoneyError):
    """Not an ISO 4217 currency code (three letters of a currency in use)."""

    def __init__(self, currency: object) -> None:
        self.currency = currency
        super().__init__(f"{currency!r} is not an ISO 4217 currency code")


class AmountNotRepresentable(MoneyError):
    """An amount Stripe cannot charge exactly in that currency (too precise, negative, zero, too large, NaN)."""

    def __init__(self, amount: object, currency: str, reason: str) -> None:
        self.amount = amount
        self.currency = currency
        self.reason = reason
        super().__init__(f"amount {amount} {currency} cannot be sent to Stripe: {reason}")


@dataclass(frozen=True)
class StripeCurrency:
    """How Stripe represents one currency.

    `exponent` is the number of decimals in Stripe's minor unit; `step` is the multiple of minor units every charge
    must be (10 for three-decimal currencies, 100 for currencies charged in whole units, else 1).
    """

    code: str
    exponent: int
    step: int
    max_minor_units: int

    @property
    def stripe_code(self) -> str:
        """The code as Stripe's API wants it (lower case)."""
        return self.code.lower()


def stripe_currency(currency: str) -> StripeCurrency:
    """Stripe's rules for a currency code (either case); raises InvalidCurrency for anything else."""
    if not isinstance(currency, str) or len(currency) != 3 or not currency.isascii():
        raise InvalidCurrency(currency)
    code = currency.upper()
    if code not in _ISO_4217:
        raise InvalidCurrency(currency)
    if code in _ZERO_DECIMAL:
        exponent, step = 0, 1
    elif code in _THREE_DECIMAL:
        exponent, step = 3, 10
    elif code in _WHOLE_UNITS_IN_TWO_DECIMALS:
        exponent, step = 2, 100
    else:
        exponent, step = 2, 1
    return StripeCurrency(code, exponent, step, _MAX_MINOR_UNITS_OVERRIDES.get(code, STRIPE_MAX_MINOR_UNITS))


def to_minor_units(amount: Decimal, currency: str, *, allow_zero: bool = False) -> int:
    """The exact Stripe integer for `amount` in `currency`, e.g. Decimal("100.0000") USD -> 10000.

    Raises AmountNotRepresentable for NaN/infinite, negative, zero (unless allow_zero), amounts with more precision
    than the currency has (10.005 USD), amounts off the currency's step (1.255 KWD, 10.50 HUF), and amounts above
    Stripe's maximum. Raises TypeError for anything but a Decimal (floats above all).
    """
    # bool is an int subclass and float would already be inexact: only Decimal carries an exact amount.
    if not isinstance(amount, Decimal):
        raise TypeError(f"amount must be a Decimal, not {type(amount).__name__}")
    rules = stripe_currency(currency)
    if not amount.is_finite():
        raise AmountNotRepresentable(amount, rules.code, "not a finite number")
    sign, digits, exponent = amount.as_tuple()
    assert isinstance(exponent, int)  # finite Decimals always have an int exponent
    coefficient = int("".join(map(str, digits)))
    if coefficient == 0:
        if allow_zero:
            return 0
        raise AmountNotRepresentable(amount, rules.code, "zero is not allowed here")
    if sign:
        raise AmountNotRepresentable(amount, rules.code, "negative amounts are not allowed")
    # Integer arithmetic only, so no Decimal context can round. The shift is bounded before 10**shift is built.
    shift = exponent + rules.exponent
    if len(digits) + shift > len(str(rules.max_minor_units)):
        raise AmountNotRepresentable(
            amount, rules.code, f"above Stripe's maximum of {rules.max_minor_units} minor units"
        )
    minor: int  # 10**n is typed as int | float because n could be negative; here it never is
    if shift >= 0:
        minor = coefficient * 10**shift
    elif -shift > len(digits):
        # The coefficient is smaller than 10**-shift, so it cannot divide evenly (and 1E-999999 stays cheap).
        raise AmountNotRepresentable(amount, rules.code, f"more than {rules.exponent} decimal places")
    else:
        minor, remainder = divmod(coefficient, 10**-shift)
        if remainder:
            raise AmountNotRepresentable(amount, rules.code, f"more than {rules.exponent} decimal places")
    if minor > rules.max_minor_units:
        raise AmountNotRepresentable(
            amount, rules.code, f"above Stripe's maximum of {rules.max_minor_units} minor units"
        )
    if minor % rules.step:
        raise AmountNotRepresentable(amount, rules.code, _step_reason(rules))
    return minor


def _step_reason(rules: StripeCurrency) -> str:
    if rules.exponent == 3:
        return "Stripe requires three-decimal card amounts to end in 0 (a multiple of 0.010)"
    return "Stripe charges this currency in whole units only"


def from_minor_units(minor: int, currency: str) -> Decimal:
    """The Decimal amount for a Stripe integer, with the currency's decimals: 1250 USD -> Decimal("12.50").

    Negative values are allowed (balance transactions report them); the result is always exact.
    """
    if isinstance(minor, bool) or not isinstance(minor, int):
        raise TypeError(f"minor units must be an int, not {type(minor).__name__}")
    rules = stripe_currency(currency)
    # Built from the integer's digits, so the value is exact whatever the Decimal context precision is.
    return Decimal((1 if minor < 0 else 0, tuple(int(d) for d in str(abs(minor))), -rules.exponent))


def format_amount(amount: Decimal, currency: str) -> str:
    """A display string for shoppers: "$12.50", "¥1,000", "KWD 1.250", "-€3.00".

    Shown with the currency's decimals; an amount with more precision keeps its extra digits rather than being
    silently rounded.
    """
    if not isinstance(amount, Decimal):
        raise TypeError(f"amount must be a Decimal, not {type(amount).__name__}")
    rules = stripe_currency(currency)
    if not amount.is_finite():
        raise AmountNotRepresentable(amount, rules.code, "not a finite number")
    _, digits, exponent = amount.as_tuple()
    assert isinstance(exponent, int)
    # Decimals that carry value (Moqui's 100.0000 has none beyond the currency's own).
    trailing_zeros = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    places = max(rules.exponent, -exponent - trailing_zeros)
    # Decimal's own formatting is exact for the precision we give it (it never passes through a float).
    number = f"{abs(amount):,.{places}f}"
    sign = "-" if amount < 0 else ""
    symbol = _SYMBOLS.get(rules.code)
    return f"{sign}{symbol}{number}" if symbol else f"{sign}{rules.code} {number}"


def format_minor_units(minor: int, currency: str) -> str:
    """format_amount for a Stripe integer amount."""
    return format_amount(from_minor_units(minor, currency), currency)
