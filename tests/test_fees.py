"""Kalshi fees: the formula, the 2026 per-fill rounding (rounding fee + per-order refund), the
2025 per-order rounding, maker fees, multipliers, schedules over time, waivers, fee-free mode."""

from __future__ import annotations

import pytest

from framework.model.fees import FeeModel, FeeSchedule, fee_for, fee_model_from_options, trade_fee
from framework.model.orders import Order
from framework.units import CENT, DOLLAR, UnitError, cents, contracts, dollars

R25 = {"rounding": "2025"}


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
    # one fill at a cent price: the 2026 rule gives the same (kalshi-api.md §8)
    assert FeeModel().charge(_order(), price, qty, is_maker=False) == expected
    assert FeeModel(**R25).charge(_order(), price, qty, is_maker=False) == expected


def _order(ticker="MKT-1", oid="O1", action="buy"):
    return Order(oid, ticker, "yes", action, contracts(100), cents(50))


def test_2026_maker_example_rounds_trade_fee_to_centicent_then_balance_to_cent():
    # §8: maker 10 @ $0.50 = 0.04375: trade fee $0.0438, balance -5.0438 floored to -5.05 -> $0.05
    assert trade_fee(cents(50), contracts(10), "0.0175") == dollars("0.0438")
    fm = FeeModel(maker="0.0175")
    o = _order()
    assert fm.charge(o, cents(50), contracts(10), is_maker=True) == dollars("0.05")
    assert o._fee_num == dollars("0.0062") * 100  # the rounding fee, exact (1e-6 dollars)


def test_2026_pieces_refund_whole_cents_from_the_accumulator():
    # 10 one-lot fills at $0.50: each trade fee $0.0175 + rounding $0.0025 = $0.02; the
    # accumulator passes $0.01 at the 5th fill (0.0125) and again at the 9th: $0.01 back each time
    fm = FeeModel()
    o = _order()
    fees = [fm.charge(o, cents(50), contracts(1), False) for _ in range(10)]
    assert fees == [200, 200, 200, 200, 100, 200, 200, 200, 100, 200]
    assert sum(fees) == o.fee == dollars("0.18")  # converges to the single fill's $0.18
    assert o._fee_num == dollars("0.005") * 100


def test_2026_accumulator_exactly_one_cent_is_not_refunded_yet():
    # "exceeds $0.01" read strictly: four 1-lot fills at $0.50 leave exactly $0.01 accumulated
    fm = FeeModel()
    o = _order()
    assert [fm.charge(o, cents(50), contracts(1), False) for _ in range(4)] == [200] * 4
    assert o._fee_num == CENT * 100


def test_2025_accumulator_exact_sequence():
    fm = FeeModel(**R25)
    o = _order()
    fees = [fm.charge(o, cents(50), contracts(1), False) for _ in range(4)]
    # running totals 0.0175, 0.035, 0.0525, 0.07 -> rounded 0.02, 0.04, 0.06, 0.07
    assert fees == [dollars("0.02"), dollars("0.02"), dollars("0.02"), dollars("0.01")]
    assert FeeModel(rounding=CENT).charge(_order(), cents(50), contracts(1), False) == dollars("0.02")


def test_2026_subpenny_price_rounding_fee_and_sells():
    # buy 3 @ $0.055 in three 1-lot fills: trade fee $0.0037 each, balance -0.0587 -> -0.06
    fm = FeeModel()
    o = _order()
    assert [fm.charge(o, 550, contracts(1), False) for _ in range(3)] == [50, 50, 50]
    assert o._fee_num == 3 * 13 * 100  # 3 x $0.0013
    # one 3-lot fill: trade fee $0.0110 (0.01091475 up), balance -0.176 -> -0.18: same $0.015
    assert fm.charge(_order(oid="B"), 550, contracts(3), False) == 150
    # a seller's sub-cent revenue is floored too: +0.055 - 0.0037 = 0.0513 -> 0.05
    assert fm.charge(_order(oid="S", action="sell"), 550, contracts(1), False) == 50
    # direct members ($0.0001 balances) pay only the trade fee
    fm4 = FeeModel(balance_precision=1)
    assert fm4.charge(_order(oid="D"), 550, contracts(1), False) == 37
    assert fm4.charge(_order(oid="E"), cents(50), contracts(10), False) == dollars("0.175")


def test_2026_cash_stays_on_the_balance_precision():
    from framework.model.portfolio import Portfolio

    fm = FeeModel()
    pf = Portfolio(dollars(100))
    o = Order("O1", "M-1", "yes", "buy", contracts(50), 550)
    for qty in (contracts("0.37"), contracts(1), contracts("2.5"), contracts(3)):
        fee = fm.charge(o, 550, qty, False)
        pf.apply_fill("M-1", "yes", "buy", 550, qty, fee)
        assert pf.cash % CENT == 0


def test_2026_refund_is_never_more_than_the_rounding_paid():
    fm = FeeModel(taker="0")  # no trade fee: only rounding fees and refunds
    o = _order()
    total = 0
    for _ in range(40):
        f = fm.charge(o, 550, contracts(1), False)  # revenue -0.055 -> -0.06: rounding $0.005
        total += f
        assert total >= 0
    # 40 x $0.005 = $0.20 paid in rounding; refunds gave back all but what the accumulator holds
    assert total * 100 == o._fee_num <= CENT * 100


def test_partial_fills_at_different_prices_not_more_than_separate_orders():
    for kw in ({}, R25):
        fm = FeeModel(**kw)
        o = _order()
        fills = [(cents(40), contracts(5)), (cents(42), contracts(5)), (cents(45), contracts(2))]
        total = sum(fm.charge(o, p, q, is_maker=False) for p, q in fills)
        separate = sum(fee_for(p, q) for p, q in fills)
        assert total <= separate
    # 2025: ceil(0.07 * (5*.4*.6 + 5*.42*.58 + 2*.45*.55)) = ceil(0.20391) = 0.21
    fm = FeeModel(**R25)
    o = _order()
    assert sum(fm.charge(o, p, q, False) for p, q in fills) == dollars("0.21")


def test_accumulator_is_per_order():
    fm = FeeModel(**R25)
    a, b = _order(oid="A"), _order(oid="B")
    assert fm.charge(a, cents(50), contracts(1), False) == dollars("0.02")
    assert fm.charge(b, cents(50), contracts(1), False) == dollars("0.02")
    assert fm.charge(a, cents(50), contracts(1), False) == dollars("0.02")  # 0.035 -> 0.04 total
    # B's fills do not count towards A's running total
    assert a.fee == dollars("0.04") and b.fee == dollars("0.02")


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


def test_schedule_fee_type_multiplier_and_changes_over_time():
    sched = FeeSchedule([
        ("KXNBA", None, "quadratic_with_maker_fees", 1.0),
        ("KXHALF", None, "quadratic", 0.5),
        ("KXCHG", None, "quadratic", 1),
        ("KXCHG", 2_000, "quadratic_with_maker_fees", 2),
        ("KXCHG", 1_000, "quadratic", "0.5"),  # rows in any order
    ])
    fm = FeeModel(schedule=sched)
    buy = cents(50), contracts(100)
    assert fm.charge(_order("KXNBA-X"), *buy, True) == dollars("0.44")  # maker 0.0175 charged
    assert fm.charge(_order("KXNBA-X", oid="T"), *buy, False) == dollars("1.75")
    assert fm.charge(_order("KXHALF-X"), *buy, False) == dollars("0.88")  # 0.875 up
    assert fm.charge(_order("KXHALF-X"), *buy, True) == 0
    assert fm.charge(_order("OTHER-X"), *buy, False) == dollars("1.75")  # no schedule: defaults
    # KXCHG: multiplier 1 until ts 1000, 0.5 from 1000, maker fees at x2 from 2000
    assert [fm.charge(_order("KXCHG-X"), *buy, False, ts) for ts in (999, 1_000, 1_999, 2_000)] == \
        [dollars("1.75"), dollars("0.88"), dollars("0.88"), dollars("3.50")]
    assert fm.charge(_order("KXCHG-X"), *buy, True, 2_000) == dollars("0.88")
    assert fm.charge(_order("KXCHG-X"), *buy, True, 1_999) == 0
    # explicit overrides win over the schedule
    fm2 = FeeModel(schedule=sched, series={"KXHALF": {"taker": "0.035"}})
    assert fm2.charge(_order("KXHALF-X"), *buy, False) == dollars("0.88")
    assert FeeModel(schedule=sched, series={"KXNBA": {"maker": "0"}}).charge(_order("KXNBA-X"), *buy, True) == 0


def test_schedule_uses_the_markets_series_not_only_the_prefix():
    fm = FeeModel(schedule=FeeSchedule([("SER", None, "quadratic", 2)]), series_of={"ODD-1": "SER"})
    assert fm.charge(_order("ODD-1"), cents(50), contracts(10), False) == dollars("0.35")


def test_schedule_rejects_unknown_fee_type():
    with pytest.raises(UnitError, match="fee_type"):
        FeeSchedule([("S", None, "weird", 1)])


def test_fee_waiver_until_expiration():
    fm = FeeModel(waivers={"MKT-1": 5_000})
    assert fm.charge(_order(), cents(50), contracts(10), False, 4_999) == 0
    assert fm.charge(_order(), cents(50), contracts(10), False, 5_000) == dollars("0.18")
    assert fm.charge(_order("MKT-2"), cents(50), contracts(10), False, 1) == dollars("0.18")


def test_fee_free_mode():
    fm = fee_model_from_options({"fees": "none"})
    assert fm.charge(_order(), cents(50), contracts(10), False) == 0
    assert fm.charge(_order(), 550, contracts(1), False) == 0  # no rounding fee either
    with pytest.raises(UnitError, match="fees must be"):
        fee_model_from_options({"fees": "off"})


def test_options_build_the_named_schedules():
    assert fee_model_from_options({}).schedule_name == "2026"
    assert fee_model_from_options({"fee_rounding": "2025"}).schedule_name == "2025"
    old = fee_model_from_options({"fee_rounding": 100})  # the pre-2026 meaning: 2025 rule, cent step
    assert old.schedule_name == "2025" and old.rounding == CENT
    sched = FeeSchedule([("S", None, "quadratic", 2)])
    assert fee_model_from_options({"fee_schedule": False}, schedule=sched).schedule is None
    assert fee_model_from_options({}, schedule=sched).schedule is sched
    for bad in ({"fee_rounding": "2024"}, {"fee_rounding": 0}, {"fee_balance_precision": 7},
                {"fee_schedule": "yes"}):
        with pytest.raises(UnitError):
            fee_model_from_options(bad)


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
