"""Kalshi fees: 0.07 x C x P x (1-P) rounded up to the cent, accumulated per order."""

from __future__ import annotations

import pytest

from framework.model.fees import FeeModel, fee_for
from framework.model.orders import Order
from framework.units import CENT, DOLLAR, UnitError, cents, contracts, dollars


@pytest.mark.parametrize("price, qty, expected", [
    (cents(50), contracts(10), dollars("0.18")),  # 0.175 -> 0.18
    (cents(50), contracts(1), dollars("0.02")),  # 0.0175 -> 0.02
    (cents(10), contracts(100), dollars("0.63")),  # 0.63 exactly
    (cents(90), contracts(100), dollars("0.63")),  # symmetric
    (cents(1), contracts(1), dollars("0.01")),  # 0.000693 -> 0.01
    (cents(50), contracts(100), dollars("1.75")),
])
def test_published_examples(price, qty, expected):
    assert fee_for(price, qty) == expected


def _order(ticker="MKT-1", oid="O1"):
    return Order(oid, ticker, "yes", "buy", contracts(100), cents(50))


def test_fee_model_single_fill_matches_fee_for():
    fm = FeeModel()
    o = _order()
    assert fm.charge(o, cents(50), contracts(10), is_maker=False) == dollars("0.18")
    assert o.fee == dollars("0.18")


@pytest.mark.parametrize("pieces", [[1, 1, 1, 1, 1, 1, 1, 1, 1, 1], [3, 7], [5, 5], [1, 9], [2, 2, 6]])
def test_partial_fills_same_price_sum_to_one_fill(pieces):
    fm = FeeModel()
    o = _order()
    fees = [fm.charge(o, cents(50), contracts(n), is_maker=False) for n in pieces]
    assert sum(fees) == fee_for(cents(50), contracts(sum(pieces))) == dollars("0.18")
    assert o.fee == sum(fees)
    assert all(f >= 0 for f in fees)
    # charged separately, ten 1-contract orders would cost 10 x $0.02
    separate = sum(fee_for(cents(50), contracts(n)) for n in pieces)
    assert sum(fees) <= separate


def test_partial_fills_at_different_prices_not_more_than_separate_orders():
    fm = FeeModel()
    o = _order()
    fills = [(cents(40), contracts(5)), (cents(42), contracts(5)), (cents(45), contracts(2))]
    total = sum(fm.charge(o, p, q, is_maker=False) for p, q in fills)
    separate = sum(fee_for(p, q) for p, q in fills)
    assert total <= separate
    # exact: ceil(0.07 * (5*.4*.6 + 5*.42*.58 + 2*.45*.55)) = ceil(0.20391) = 0.21
    assert total == dollars("0.21")


def test_accumulator_is_per_order():
    fm = FeeModel()
    a, b = _order(oid="A"), _order(oid="B")
    assert fm.charge(a, cents(50), contracts(1), False) == dollars("0.02")
    assert fm.charge(b, cents(50), contracts(1), False) == dollars("0.02")
    assert fm.charge(a, cents(50), contracts(1), False) == dollars("0.02")  # 0.035 -> 0.04 total
    # B's fills do not count towards A's running total
    assert a.fee == dollars("0.04") and b.fee == dollars("0.02")


def test_accumulator_exact_sequence():
    fm = FeeModel()
    o = _order()
    fees = [fm.charge(o, cents(50), contracts(1), False) for _ in range(4)]
    # running totals 0.0175, 0.035, 0.0525, 0.07 -> rounded 0.02, 0.04, 0.06, 0.07
    assert fees == [dollars("0.02"), dollars("0.02"), dollars("0.02"), dollars("0.01")]


def test_maker_coefficient():
    o1, o2 = _order(oid="A"), _order(oid="B")
    assert FeeModel().charge(o1, cents(50), contracts(10), is_maker=True) == 0  # default maker 0
    fm = FeeModel(maker="0.0175")
    assert fm.charge(o2, cents(50), contracts(100), is_maker=True) == dollars("0.44")  # 0.4375 up
    assert fm.charge(_order(oid="C"), cents(50), contracts(100), is_maker=False) == dollars("1.75")


def test_series_override():
    fm = FeeModel(taker="0.07", maker="0", series={"KXFED": {"maker": "0.0175"}, "FREE": {"taker": "0"}})
    assert fm.charge(_order("KXFED-26JAN-T4.00"), cents(50), contracts(100), True) == dollars("0.44")
    assert fm.charge(_order("KXFED-26JAN-T4.00"), cents(50), contracts(100), False) == dollars("1.75")
    assert fm.charge(_order("FREE-1"), cents(50), contracts(100), False) == 0
    assert fm.charge(_order("OTHER-1"), cents(50), contracts(100), True) == 0
    assert fm.charge(_order("OTHER-1"), cents(50), contracts(100), False) == dollars("1.75")
    assert fm.coefficients("KXFED-X") == (70_000, 17_500)
    # the series is the prefix before the first '-', not a substring match
    assert fm.coefficients("KXFEDX-1") == (70_000, 0)


def test_taker_coefficient_and_rounding_configurable():
    assert fee_for(cents(50), contracts(10), coefficient="0.035") == dollars("0.09")  # 0.0875
    assert fee_for(cents(50), contracts(10), rounding=1) == dollars("0.175")
    fm = FeeModel(taker="0.035", rounding=1)
    assert fm.charge(_order(), cents(50), contracts(10), False) == dollars("0.0875")


@pytest.mark.parametrize("bad", ["-0.01", "0.0000001", "abc", "NaN", "", None])
def test_bad_coefficient_raises_unit_error(bad):
    with pytest.raises(UnitError):
        FeeModel(taker=bad)
    with pytest.raises(UnitError):
        FeeModel(maker=bad)


def test_bad_rounding():
    with pytest.raises(UnitError):
        FeeModel(rounding=0)


def test_fee_symmetric_and_zero_at_extremes():
    for p in range(CENT, DOLLAR, 700):
        assert fee_for(p, contracts(37)) == fee_for(DOLLAR - p, contracts(37))
    assert fee_for(cents(50), 0) == 0
