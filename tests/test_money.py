"""Money: exact parsing, formatting, the one rounding function, and allocate() (property tested)."""

from __future__ import annotations

import ast
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from revcycle.kit.schemas import Amount
from revcycle.money import (
    CURRENCY_EXPONENTS,
    CurrencyMismatch,
    Money,
    MoneyError,
    allocate,
    round_to_minor,
    sum_money,
)

SRC = Path(__file__).resolve().parents[1] / "src" / "revcycle"


# parse ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "currency", "minor"),
    [
        ("125.00", "USD", 12500),
        ("125", "USD", 12500),
        ("0.01", "USD", 1),
        ("-3.50", "USD", -350),
        ("1.5", "USD", 150),
        ("1.250", "USD", 125),  # trailing zeros beyond the exponent are still exact
        ("-0.00", "USD", 0),
        ("1e-2", "USD", 1),
        ("1E+2", "USD", 10000),
        (" 7.25 ", "USD", 725),
        ("92233720368547758.07", "USD", 9223372036854775807),  # BigInteger max
        ("900", "JPY", 900),
        ("-900", "JPY", -900),
        ("900.0", "JPY", 900),
        ("1.234", "BHD", 1234),
        ("0.001", "BHD", 1),
        ("-12.5", "BHD", -12500),
        ("3", "BHD", 3000),
    ],
)
def test_parse_exact(value: str, currency: str, minor: int) -> None:
    m = Money.parse(value, currency)
    assert m == Money(minor, currency)
    assert type(m.amount_minor) is int


def test_parse_accepts_decimal() -> None:
    assert Money.parse(Decimal("19.99"), "USD") == Money(1999, "USD")


@pytest.mark.parametrize(
    ("value", "currency", "max_decimals"),
    [
        ("1.005", "USD", 2),
        ("0.001", "USD", 2),
        ("-3.501", "USD", 2),
        ("100.5", "JPY", 0),
        ("0.1", "JPY", 0),
        ("1.2345", "BHD", 3),
        ("0.0001", "BHD", 3),
    ],
)
def test_parse_refuses_too_many_decimals(value: str, currency: str, max_decimals: int) -> None:
    with pytest.raises(MoneyError) as exc:
        Money.parse(value, currency)
    assert exc.value.code == "money.too_many_decimals"
    assert exc.value.status == 400
    assert exc.value.data == {
        "value": value,
        "currency": currency,
        "max_decimals": max_decimals,
    }


@pytest.mark.parametrize("value", ["abc", "", "1,00", "NaN", "Infinity", "-inf", "sNaN", "1.2.3"])
def test_parse_refuses_non_amounts(value: str) -> None:
    with pytest.raises(MoneyError) as exc:
        Money.parse(value, "USD")
    assert exc.value.code == "money.invalid"


@pytest.mark.parametrize("currency", ["XXX", "usd", "", "US", "BTC"])
def test_unsupported_currency(currency: str) -> None:
    with pytest.raises(MoneyError) as exc:
        Money.parse("1.00", currency)
    assert exc.value.code == "money.unsupported_currency"
    assert exc.value.data == {"currency": currency}
    with pytest.raises(MoneyError) as exc2:
        Money(100, currency)
    assert exc2.value.code == "money.unsupported_currency"


@pytest.mark.parametrize(
    ("value", "currency", "minor"),
    [
        # 30 significant digits: more than the default Decimal context precision (28).
        ("1234567890123456789012345678.9", "USD", 123456789012345678901234567890),
        ("12345678901234567890123456789", "JPY", 12345678901234567890123456789),
    ],
)
def test_parse_is_exact_beyond_decimal_context_precision(
    value: str, currency: str, minor: int
) -> None:
    """Money.parse promises an exact conversion or a refusal, never a silent rounding."""
    try:
        m = Money.parse(value, currency)
    except MoneyError:
        return  # refusing an absurd amount is acceptable
    assert m.amount_minor == minor


def test_parse_refuses_too_many_decimals_beyond_context_precision() -> None:
    # 26 integer digits + 3 decimals (29 significant) in USD: refused, never rounded.
    with pytest.raises(MoneyError) as exc:
        Money.parse("99999999999999999999999999.999", "USD")
    assert exc.value.code in {"money.too_many_decimals", "money.invalid", "money.out_of_range"}


def test_parse_refuses_an_exponent_beyond_the_decimal_range() -> None:
    # Every refusal is a MoneyError (a 400), never a bare decimal exception (a 500).
    with pytest.raises(MoneyError):
        Money.parse("1E+999999", "USD")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("125.00", Decimal("125.00")),
        ("999999999999999.99", Decimal("999999999999999.99")),
        (125, Decimal(125)),
        (999_999_999_999_999, Decimal(999_999_999_999_999)),
    ],
)
def test_amount_schema_accepts(value: object, expected: Decimal) -> None:
    assert TypeAdapter(Amount).validate_python(value) == expected


@pytest.mark.parametrize(
    ("value", "error_type"),
    [
        (1.5, "money.not_a_string"),
        (True, "money.not_a_string"),
        ("1e3", "money.invalid"),
        ("1234567890123456", "money.invalid"),  # 16 integer digits
        ("1.1234567", "money.invalid"),
        ("NaN", "money.invalid"),
        # a JSON integer must obey the same 15-digit bound as a string: beyond the BigInteger
        # range it used to reach the database and come back as a 500
        (10**20, "money.invalid"),
        (-(10**40), "money.invalid"),
    ],
)
def test_amount_schema_refuses(value: object, error_type: str) -> None:
    with pytest.raises(ValidationError) as exc:
        TypeAdapter(Amount).validate_python(value)
    assert [e["type"] for e in exc.value.errors()] == [error_type]


def test_money_requires_int_minor_units() -> None:
    with pytest.raises(TypeError):
        Money(1.5, "USD")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Money(Decimal(1), "USD")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Money(True, "USD")


# arithmetic ----------------------------------------------------------------------------------


def test_arithmetic_same_currency() -> None:
    a, b = Money(1050, "USD"), Money(275, "USD")
    assert a + b == Money(1325, "USD")
    assert a - b == Money(775, "USD")
    assert b - a == Money(-775, "USD")
    assert -a == Money(-1050, "USD")
    assert a * 3 == Money(3150, "USD")
    assert 3 * a == Money(3150, "USD")
    assert b < a
    assert b <= a
    assert a > b
    assert a >= Money(1050, "USD")
    assert Money(0, "USD").is_zero()
    assert a.is_positive()
    assert (-a).is_negative()


@pytest.mark.parametrize(
    "op",
    [
        lambda a, b: a + b,
        lambda a, b: a - b,
        lambda a, b: a < b,
        lambda a, b: a <= b,
        lambda a, b: a > b,
        lambda a, b: a >= b,
    ],
)
def test_arithmetic_currency_mismatch(op: object) -> None:
    with pytest.raises(CurrencyMismatch) as exc:
        op(Money(100, "USD"), Money(100, "EUR"))  # type: ignore[operator]
    assert exc.value.code == "money.currency_mismatch"
    assert exc.value.status == 400
    assert exc.value.data == {"left": "USD", "right": "EUR"}


def test_multiplying_by_non_int_is_refused() -> None:
    m = Money(100, "USD")
    for factor in (1.5, Decimal("1.5"), True):
        with pytest.raises(TypeError):
            m * factor  # type: ignore[operator]  # noqa: B018
    with pytest.raises(TypeError):
        m + 1  # type: ignore[operator]  # noqa: B018


def test_different_currencies_are_never_equal() -> None:
    assert Money(100, "USD") != Money(100, "CAD")


def test_sum_money() -> None:
    items = [Money(1, "USD"), Money(250, "USD"), Money(-51, "USD")]
    assert sum_money(items, "USD") == Money(200, "USD")
    assert sum_money([], "JPY") == Money(0, "JPY")
    with pytest.raises(CurrencyMismatch):
        sum_money([Money(1, "USD"), Money(1, "EUR")], "USD")


# format --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [
        (12500, "USD", "125.00"),
        (0, "USD", "0.00"),
        (5, "USD", "0.05"),
        (-5, "USD", "-0.05"),
        (-350, "USD", "-3.50"),
        (-100000, "USD", "-1000.00"),
        (900, "JPY", "900"),
        (0, "JPY", "0"),
        (-900, "JPY", "-900"),
        (1234, "BHD", "1.234"),
        (-1, "BHD", "-0.001"),
        (1000, "BHD", "1.000"),
    ],
)
def test_format(minor: int, currency: str, text: str) -> None:
    m = Money(minor, currency)
    assert m.format() == text
    assert str(m) == f"{text} {currency}"
    assert Money.parse(text, currency) == m


@given(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.sampled_from(sorted(CURRENCY_EXPONENTS)),
)
def test_format_parse_round_trip(minor: int, currency: str) -> None:
    m = Money(minor, currency)
    assert Money.parse(m.format(), currency) == m
    assert Money.parse(m.to_decimal(), currency) == m


# round_to_minor ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "currency", "minor"),
    [
        ("0.005", "USD", 1),
        ("-0.005", "USD", -1),
        ("0.0049", "USD", 0),
        ("-0.0049", "USD", 0),
        ("2.675", "USD", 268),
        ("-2.675", "USD", -268),
        ("1.115", "USD", 112),
        ("0.015", "USD", 2),
        ("0.025", "USD", 3),  # half up, not half even
        ("1.00", "USD", 100),
        ("0.5", "JPY", 1),
        ("1.5", "JPY", 2),
        ("2.5", "JPY", 3),
        ("-0.5", "JPY", -1),
        ("0.49", "JPY", 0),
        ("0.0005", "BHD", 1),
        ("-0.0005", "BHD", -1),
        ("1.2344", "BHD", 1234),
    ],
)
def test_round_to_minor_half_up(value: str, currency: str, minor: int) -> None:
    got = round_to_minor(Decimal(value), currency)
    assert got == minor
    assert type(got) is int


def test_round_to_minor_unsupported_currency() -> None:
    with pytest.raises(MoneyError) as exc:
        round_to_minor(Decimal("1"), "XXX")
    assert exc.value.code == "money.unsupported_currency"


@pytest.mark.parametrize(
    ("minor", "currency", "rate", "expected"),
    [
        (10000, "USD", "0.15", 1500),
        (333, "USD", "0.5", 167),  # 1.665 -> 1.67
        (-333, "USD", "0.5", -167),
        (12345, "USD", "0.2", 2469),
        (12345, "USD", "0", 0),
        (12345, "USD", "1", 12345),
        (999, "JPY", "0.333", 333),  # 332.667 -> 333
        (1001, "BHD", "0.5", 501),  # 0.5005 -> 0.501
        (1, "USD", "0.5", 1),
    ],
)
def test_times_rate(minor: int, currency: str, rate: str, expected: int) -> None:
    assert Money(minor, currency).times_rate(Decimal(rate)) == Money(expected, currency)


# allocate ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "weights", "shares"),
    [
        (100, [1, 1, 1], [34, 33, 33]),
        (-100, [1, 1, 1], [-34, -33, -33]),
        (100, [1, 2], [33, 67]),
        (5, [0, 1, 0, 1], [0, 3, 0, 2]),
        (0, [3, 7], [0, 0]),
        (1, [1, 1, 1], [1, 0, 0]),
        (10, [7], [10]),
        (12500, [70, 30], [8750, 3750]),
    ],
)
def test_allocate_table(total: int, weights: list[int], shares: list[int]) -> None:
    assert allocate(Money(total, "USD"), weights) == [Money(s, "USD") for s in shares]


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ([], "at least one weight"),
        ([1, -1], "non-negative"),
        ([0, 0], "all be zero"),
        ([1, True], "non-negative integers"),
        ([1, 1.5], "non-negative integers"),
    ],
)
def test_allocate_refuses(weights: list[object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        allocate(Money(100, "USD"), weights)  # type: ignore[arg-type]


weights_st = st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=30).filter(
    lambda ws: sum(ws) > 0
)


@given(
    total=st.integers(min_value=-(10**15), max_value=10**15),
    weights=weights_st,
    currency=st.sampled_from(["USD", "JPY", "BHD"]),
)
def test_allocate_properties(total: int, weights: list[int], currency: str) -> None:
    money = Money(total, currency)
    shares = allocate(money, weights)
    # never loses or invents a minor unit
    assert len(shares) == len(weights)
    assert sum(s.amount_minor for s in shares) == total
    assert all(s.currency == currency for s in shares)
    weight_sum = sum(weights)
    for share, w in zip(shares, weights, strict=True):
        exact = Fraction(total * w, weight_sum)
        assert abs(share.amount_minor - exact) < 1  # within one minor unit
        if w == 0:
            assert share.amount_minor == 0
        # every share has the sign of the total
        assert share.amount_minor * total >= 0
    # deterministic, and symmetric in the sign of the total
    assert allocate(money, list(weights)) == shares
    assert allocate(-money, weights) == [-s for s in shares]


@given(total=st.integers(min_value=0, max_value=10**12), weights=weights_st)
def test_allocate_scaled_weights_give_the_same_split(total: int, weights: list[int]) -> None:
    money = Money(total, "USD")
    assert allocate(money, [w * 7 for w in weights]) == allocate(money, weights)


# no floats -----------------------------------------------------------------------------------


def _money_sources() -> list[Path]:
    return [SRC / "money.py", *sorted(SRC.glob("**/calc.py"))]


def test_money_and_calc_modules_never_use_float_or_round() -> None:
    offences: list[str] = []
    for path in _money_sources():
        text = path.read_text()
        for token in ("float(", " round("):
            if token in text:
                offences.append(f"{path.relative_to(SRC)}: contains {token.strip()!r}")
        for node in ast.walk(ast.parse(text)):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in {"float", "round"}
            ):
                offences.append(f"{path.relative_to(SRC)}:{node.lineno}: {node.func.id}()")
            if isinstance(node, ast.Constant) and isinstance(node.value, float):
                offences.append(f"{path.relative_to(SRC)}:{node.lineno}: float literal")
    assert len(_money_sources()) >= 2  # money.py and at least invoices/calc.py
    assert offences == []
