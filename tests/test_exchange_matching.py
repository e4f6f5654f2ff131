"""Matching engine of the local exchange: priority, netting, fees, settlement, order flags."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from framework.exchange.matching import Engine, ExchangeError, MarketInfo, SeriesInfo, fee_for
from framework.units import CONTRACT, DOLLAR, cents, contracts, dollars

T = "KXTEST-26JAN01-B1"
START = dollars(1000)


def make_engine(**kw) -> Engine:
    e = Engine(id_seed=7, starting_balance=START, **kw)
    e.add_series(SeriesInfo("KXTEST"))
    e.add_market(MarketInfo(T, "KXTEST-26JAN01", "KXTEST"))
    return e


@pytest.fixture
def eng() -> Engine:
    return make_engine()


def buy(e, acct, price_c, n, side="yes", **kw):
    return e.place_order(acct, T, side, "buy", cents(price_c), contracts(n), **kw)


def sell(e, acct, price_c, n, side="yes", **kw):
    return e.place_order(acct, T, side, "sell", cents(price_c), contracts(n), **kw)


def fills_of(e, acct):
    return [(f.order_id, f.yes_price, f.qty, f.is_taker) for f in e.account(acct).fills]


def test_fee_formula_examples():
    assert fee_for(Fraction(7, 100), contracts(10), cents(50)) == cents(18)
    assert fee_for(Fraction(175, 10_000), contracts(10), cents(50)) == cents(5)
    assert fee_for(Fraction(7, 100), contracts(1), cents(50)) == cents(2)
    assert fee_for(Fraction(7, 100), contracts(100), cents(10)) == cents(63)
    assert fee_for(Fraction(0), contracts(100), cents(10)) == 0


def test_price_time_priority_and_trade_at_resting_price(eng):
    a = buy(eng, "A", 40, 5)
    b = buy(eng, "B", 40, 5)
    c = buy(eng, "C", 41, 1)
    s = sell(eng, "D", 40, 8)
    assert s.status == "executed"
    # best price first (C at 41), then FIFO at 40: A before B
    assert [(f.order_id, f.yes_price, f.qty) for f in eng.account("D").fills] == [
        (s.order_id, cents(41), contracts(1)),
        (s.order_id, cents(40), contracts(5)),
        (s.order_id, cents(40), contracts(2)),
    ]
    assert a.status == "executed" and c.status == "executed"
    assert b.status == "resting" and b.remaining == contracts(3)
    yes, no, _ = eng.orderbook(T)
    assert yes == [(cents(40), contracts(3))] and no == []


def test_trade_price_is_resting_price(eng):
    buy(eng, "A", 45, 2)
    s = sell(eng, "B", 40, 2)
    assert s.filled == contracts(2)
    assert eng.trades[-1].yes_price == cents(45)
    assert eng.trades[-1].taker_leg == "no"


def test_sell_yes_rests_as_no_bid_and_buy_no_matches_yes_bid(eng):
    sell(eng, "A", 60, 3)  # YES ask at 0.60 == NO bid at 0.40
    yes, no, _ = eng.orderbook(T)
    assert no == [(cents(40), contracts(3))] and yes == []
    buy(eng, "B", 30, 2)  # does not cross (YES bid 30 < ask 60)
    o = buy(eng, "C", 62, 1)  # crosses: pays the resting NO bid's complement, 0.60
    assert o.status == "executed" and eng.trades[-1].yes_price == cents(60)
    # buy NO at 0.71 matches the YES bid at 0.30 (0.30 >= 1 - 0.71)
    n = buy(eng, "D", 71, 2, side="no")
    assert n.status == "executed" and eng.trades[-1].yes_price == cents(30)


def test_netting_and_exact_cash(eng):
    buy(eng, "A", 40, 10)
    sell(eng, "B", 40, 10)  # B taker: buys NO at 0.60
    a, b = eng.account("A"), eng.account("B")
    assert a.positions[T].qty == contracts(10) and b.positions[T].qty == -contracts(10)
    assert a.cash == START - dollars(4)  # maker, no fee
    assert b.cash == START - dollars(6) - fee_for(Fraction(7, 100), contracts(10), cents(40))
    # A sells its 10 YES at 0.50 to C: buys NO at 0.50 and nets 10 pairs worth $1 each
    buy(eng, "C", 50, 10)
    sell(eng, "A", 50, 10)
    assert a.positions[T].qty == 0
    fee = fee_for(Fraction(7, 100), contracts(10), cents(50))
    assert a.cash == START - dollars(4) - dollars(5) + dollars(10) - fee
    assert a.positions[T].realized_pnl == dollars(1)
    assert eng.total_value() == 3 * START + 0  # conservation with no outside money


def test_settlement_pays_one_dollar_per_winning_contract(eng):
    buy(eng, "A", 30, 7)
    sell(eng, "B", 30, 7)
    resting = buy(eng, "A", 20, 5)
    total = eng.total_value()
    cash_a, cash_b = eng.account("A").cash, eng.account("B").cash
    rows = eng.settle(T, "yes")
    assert eng.account("A").cash == cash_a + dollars(7)
    assert eng.account("B").cash == cash_b
    assert resting.status == "canceled" and eng.orderbook(T)[0] == []
    assert eng.markets[T].status == "settled" and eng.markets[T].result == "yes"
    assert {r.revenue for r in rows} == {dollars(7), 0}
    assert eng.total_value() == total
    with pytest.raises(ExchangeError):
        buy(eng, "A", 30, 1)


def test_settlement_no_side(eng):
    buy(eng, "A", 30, 3)
    sell(eng, "B", 30, 3)
    cash_b = eng.account("B").cash
    eng.settle(T, "no")
    assert eng.account("B").cash == cash_b + dollars(3)


def test_post_only_rejects_crossing(eng):
    buy(eng, "A", 40, 1)
    with pytest.raises(ExchangeError) as ei:
        sell(eng, "B", 40, 1, post_only=True)
    assert ei.value.status == 400
    o = sell(eng, "B", 41, 1, post_only=True)
    assert o.status == "resting"


def test_reduce_only(eng):
    with pytest.raises(ExchangeError):
        sell(eng, "A", 50, 1, reduce_only=True)
    buy(eng, "A", 50, 3)
    sell(eng, "B", 50, 3)
    o = sell(eng, "A", 60, 10, reduce_only=True)  # capped to the 3 held
    assert o.initial == contracts(3) and o.status == "resting"
    with pytest.raises(ExchangeError):
        buy(eng, "A", 40, 1, reduce_only=True)  # would increase a long YES position


def test_ioc_and_fok(eng):
    sell(eng, "A", 50, 2)
    ioc = buy(eng, "B", 50, 5, tif="immediate_or_cancel")
    assert ioc.status == "canceled" and ioc.filled == contracts(2) and ioc.remaining == 0
    sell(eng, "A", 50, 2)
    fok = buy(eng, "B", 50, 5, tif="fill_or_kill")
    assert fok.status == "canceled" and fok.filled == 0
    assert eng.orderbook(T)[1] == [(cents(50), contracts(2))]
    fok2 = buy(eng, "B", 50, 2, tif="fill_or_kill")
    assert fok2.status == "executed"


def test_self_trade_prevention(eng):
    rest = buy(eng, "A", 40, 5)
    t = sell(eng, "A", 40, 2)
    assert t.status == "canceled" and t.filled == 0 and rest.status == "resting"
    buy(eng, "B", 40, 1)  # behind A's order
    t2 = sell(eng, "A", 40, 1, stp="maker")
    assert rest.status == "canceled" and t2.status == "executed"
    assert eng.account("A").fills[-1].qty == contracts(1)


def test_insufficient_balance(eng):
    with pytest.raises(ExchangeError) as ei:
        buy(eng, "A", 50, 3000)  # $1500 > $1000
    assert ei.value.code == "insufficient_balance"
    buy(eng, "A", 50, 1500)  # $750 reserved (+fee headroom)
    with pytest.raises(ExchangeError):
        buy(eng, "A", 50, 600)


def test_cancel_decrease_amend_priority(eng):
    a = buy(eng, "A", 40, 5)
    b = buy(eng, "B", 40, 5)
    eng.decrease_order("A", a.order_id, reduce_to=contracts(3))
    assert a.remaining == contracts(3)
    sell(eng, "C", 40, 3)
    assert a.status == "executed" and b.remaining == contracts(5)  # A kept priority
    c = buy(eng, "C", 40, 2)
    old, new = eng.amend_order("B", b.order_id, side="yes", action="buy", price=cents(41), count=contracts(5))
    assert old.price == cents(40) and new.price == cents(41)
    _, new = eng.amend_order("B", b.order_id, side="yes", action="buy", price=cents(40), count=contracts(5))
    sell(eng, "D", 40, 2)
    assert c.status == "executed" and b.remaining == contracts(5)  # B lost priority by moving
    o, reduced = eng.cancel_order("B", b.order_id)
    assert reduced == contracts(5) and o.status == "canceled"
    assert eng.cancel_order("B", b.order_id)[1] == 0


def test_fractional_contracts_conserve(eng):
    buy(eng, "A", 33, 1)
    eng.account("B")
    total = eng.total_value()
    eng.place_order("B", T, "yes", "sell", cents(33), 37)  # 0.37 contract
    assert eng.total_value() == total


def test_maker_fees_only_on_quadratic_with_maker_fees():
    e = Engine(id_seed=1, starting_balance=START)
    e.add_series(SeriesInfo("KXM", fee_type="quadratic_with_maker_fees"))
    e.add_market(MarketInfo("KXM-1", "KXM-E", "KXM"))
    e.place_order("A", "KXM-1", "yes", "buy", cents(50), contracts(10))
    e.place_order("B", "KXM-1", "yes", "sell", cents(50), contracts(10))
    assert e.account("A").cash == START - dollars(5) - cents(5)
    assert e.account("B").cash == START - dollars(5) - cents(18)
    assert e.fees_collected == cents(23)


order_st = st.tuples(
    st.sampled_from(["A", "B"]),
    st.sampled_from(["yes", "no"]),
    st.sampled_from(["buy", "sell"]),
    st.integers(1, 99),
    st.integers(1, 1000),  # 0.01 .. 10 contracts
    st.sampled_from(["good_till_canceled", "immediate_or_cancel", "fill_or_kill"]),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(order_st, min_size=1, max_size=40), st.sampled_from(["yes", "no"]))
def test_value_is_conserved(orders, result):
    e = make_engine()
    e.account("A")
    e.account("B")
    total = e.total_value()
    assert total == 2 * START
    for acct, side, action, price, qty, tif in orders:
        try:
            e.place_order(acct, T, side, action, cents(price), qty, tif=tif)
        except ExchangeError:
            pass
        assert e.total_value() == total
        a, b = e.account("A").positions.get(T), e.account("B").positions.get(T)
        assert (a.qty if a else 0) + (b.qty if b else 0) == 0  # one account's YES is the other's NO
    e.settle(T, result)
    assert e.total_value() == total
    cash = e.account("A").cash + e.account("B").cash
    assert cash + e.fees_collected == 2 * START
    assert all(p.qty == 0 for a in e.accounts.values() for p in a.positions.values())
    assert DOLLAR // CONTRACT == 100


# ---- fees: the same 2026 rounding as the simulated broker (framework.model.fees) --------------
def _pieces_fees(e):
    for _ in range(10):  # ten resting 1-lot YES sells at 0.50, taken by one 10-lot buy
        sell(e, "M", 50, 1)
    o = buy(e, "T", 50, 10)
    return o, [f.fee for f in e.account("T").fills]


def test_fees_2026_rule_refunds_from_the_order_accumulator():
    e = make_engine()
    o, fees = _pieces_fees(e)
    # per fill $0.0175 + $0.0025 rounding; the 5th and 9th fills get $0.01 back (as FeeModel)
    assert fees == [200, 200, 200, 200, 100, 200, 200, 200, 100, 200]
    assert o.taker_fees == dollars("0.18") and e.account("T").cash == START - dollars(5) - dollars("0.18")
    from framework.model.fees import FeeModel
    from framework.model.orders import Order as SimOrder

    fm, so = FeeModel(), SimOrder("S", T, "yes", "buy", contracts(10), cents(50))
    assert [fm.charge(so, cents(50), contracts(1), False) for _ in range(10)] == fees


def test_fees_2025_rule_rounds_the_orders_running_total():
    e = make_engine(fee_rounding="2025")
    o, fees = _pieces_fees(e)
    assert fees == [200, 200, 200, 100, 200, 200, 200, 100, 200, 200] and sum(fees) == dollars("0.18")


def test_fees_maker_series_and_subpenny_balance_rounding():
    e = Engine(id_seed=7, starting_balance=START)
    e.add_series(SeriesInfo("KXMK", fee_type="quadratic_with_maker_fees"))
    e.add_market(MarketInfo("KXMK-1", "KXMK-E", "KXMK"))
    e.place_order("M", "KXMK-1", "yes", "sell", cents(50), contracts(10))
    e.place_order("T", "KXMK-1", "yes", "buy", cents(50), contracts(10))
    # maker 0.04375 -> trade fee $0.0438 -> $0.05 (kalshi-api.md §8)
    assert e.account("M").fills[-1].fee == dollars("0.05") and e.account("T").fills[-1].fee == dollars("0.18")
    with pytest.raises(ValueError, match="fee_rounding"):
        Engine(fee_rounding="2024")
