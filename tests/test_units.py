"""framework.units: exact conversion of human numbers into int units, and formatting."""

from __future__ import annotations

from decimal import Decimal

import pytest

from framework.units import (
    CENT,
    CONTRACT,
    DOLLAR,
    UnitError,
    cents,
    contracts,
    dollars,
    fmt_contracts,
    fmt_money,
    money_to_decimal,
    notional,
    qty_to_decimal,
)


def test_constants():
    assert (DOLLAR, CENT, CONTRACT) == (10_000, 100, 100)


@pytest.mark.parametrize("value, expected", [
    (56, 5600), ("56", 5600), ("56.5", 5650), (Decimal("56.25"), 5625), (0.5, 50), (56.25, 5625),
    ("0.01", 1), (0, 0), ("-3", -300), (" 7 ", 700), ("1_000", 100_000),
])
def test_cents(value, expected):
    got = cents(value)
    assert got == expected and type(got) is int


@pytest.mark.parametrize("value, expected", [
    ("0.56", 5600), (1, DOLLAR), ("$0.56", 5600), (Decimal("0.0001"), 1), (0.25, 2500),
    ("1e2", 1_000_000), (10_000, 100_000_000), ("$1,0".replace(",", ""), 10 * DOLLAR),
])
def test_dollars(value, expected):
    got = dollars(value)
    assert got == expected and type(got) is int


@pytest.mark.parametrize("value, expected", [
    (10, 1000), ("2.5", 250), (Decimal("0.01"), 1), (0.75, 75), ("100", 10_000), (1.5, 150),
])
def test_contracts(value, expected):
    got = contracts(value)
    assert got == expected and type(got) is int


@pytest.mark.parametrize("fn, value", [
    (dollars, 0.1), (dollars, 0.56), (cents, 0.1), (contracts, 0.1), (contracts, 0.3),
])
def test_inexact_float_rejected_with_hint(fn, value):
    with pytest.raises(UnitError) as ei:
        fn(value)
    msg = str(ei.value)
    assert "float" in msg and "string" in msg  # tells the user what to pass instead


@pytest.mark.parametrize("fn, value", [
    (dollars, "0.00001"), (cents, "0.001"), (contracts, "0.001"), (contracts, Decimal("1.005")),
    (dollars, Decimal("0.12345")),
])
def test_too_fine_precision_rejected(fn, value):
    with pytest.raises(UnitError, match="precision"):
        fn(value)


def test_long_string_precision_not_silently_lost():
    # 26 integer digits plus a fractional $0.00001: the product with the scale has 31
    # significant digits, more than Decimal's default 28-digit context. The value is finer
    # than $0.0001 and must be rejected, never rounded.
    with pytest.raises(UnitError):
        dollars("12345678901234567890123456.00001")


@pytest.mark.parametrize("fn", [dollars, cents, contracts])
@pytest.mark.parametrize("value", ["abc", "", "1/2", "0x10", "12abc", "NaN", "Infinity", "-inf"])
def test_garbage_strings_rejected(fn, value):
    with pytest.raises(UnitError):
        fn(value)


@pytest.mark.parametrize("fn", [dollars, cents, contracts])
@pytest.mark.parametrize("value", [True, False])
def test_bools_rejected_with_clear_message(fn, value):
    with pytest.raises(UnitError, match="bool"):
        fn(value)


@pytest.mark.parametrize("fn", [dollars, cents, contracts])
@pytest.mark.parametrize("value", [None, [1], object(), float("nan"), float("inf")])
def test_other_types_rejected(fn, value):
    with pytest.raises(UnitError):
        fn(value)


def test_unit_error_is_value_error():
    assert issubclass(UnitError, ValueError)


@pytest.mark.parametrize("units, text", [
    (-12345, "-$1.2345"), (5600, "$0.56"), (0, "$0.00"), (1, "$0.0001"), (5650, "$0.5650"),
    (dollars(1_234_567), "$1,234,567.00"), (-DOLLAR, "-$1.00"), (None, "-"),
])
def test_fmt_money(units, text):
    assert fmt_money(units) == text


@pytest.mark.parametrize("units, text", [
    (1000, "10.00"), (1, "0.01"), (-5, "-0.05"), (123_456, "1,234.56"), (0, "0.00"), (None, "-"),
])
def test_fmt_contracts(units, text):
    assert fmt_contracts(units) == text


@pytest.mark.parametrize("price, qty, expected", [
    (cents(50), contracts(10), dollars(5)),  # exact
    (5650, 150, 8475),  # $0.565 x 1.5 contracts = $0.8475 exact
    (5651, 1, 57),  # $0.5651 x 0.01 = $0.005651 -> rounded up to $0.0057
    (1, 1, 1),  # a tiny remainder still rounds up (against the payer)
    (5601, 100, 5601),  # whole contract: exact at any price
    (cents(99), 0, 0),
])
def test_notional(price, qty, expected):
    assert notional(price, qty) == expected


def test_notional_never_below_exact_value():
    for price in (1, 99, 4999, 5001, 9999):
        for qty in (1, 3, 77, 100, 12345):
            n = notional(price, qty)
            assert n * CONTRACT >= price * qty > (n - 1) * CONTRACT


def test_decimal_round_trips():
    assert money_to_decimal(5650) == Decimal("0.565")
    assert qty_to_decimal(250) == Decimal("2.5")
    assert dollars(money_to_decimal(-12345)) == -12345
    assert contracts(qty_to_decimal(12345)) == 12345
