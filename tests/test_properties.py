"""Property tests (hypothesis): accounting conservation, settlement, netting, book, fees."""

from __future__ import annotations

import math
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from framework.model.book import OrderBook
from framework.model.fees import FeeModel, fee_for
from framework.model.orders import Order
from framework.model.portfolio import PAYOUT_PER_QTY, Portfolio
from framework.units import CENT, CONTRACT, DOLLAR, dollars

C0 = dollars(100_000)
TK = "M-1"

FAST = settings(max_examples=150, deadline=None)

fill_st = st.tuples(
    st.sampled_from(["yes", "no"]),
    st.sampled_from(["buy", "sell"]),
    st.integers(min_value=1, max_value=99).map(lambda c: c * CENT),  # whole-cent prices
    st.integers(min_value=1, max_value=2_000),  # 0.01 .. 20 contracts
    st.integers(min_value=0, max_value=300),  # fee in money units
)
fills_st = st.lists(fill_st, min_size=0, max_size=25)
result_st = st.sampled_from(["yes", "no"])


def signed(side: str, action: str, qty: int) -> int:
    """Change of the signed position (+YES/-NO) caused by one fill."""
    s = qty if side == "yes" else -qty
    return s if action == "buy" else -s


def cash_equivalent(side: str, action: str, price: int, qty: int) -> int:
    """Cash flow of a fill once the contract's payoff is written as ``$1 x YES`` (money units).

    A NO contract pays ``1 - Y``: buying NO at ``p`` is ``(1 - p)`` cash now plus ``-Y`` per
    contract; selling is the opposite. Exact for whole-cent prices."""
    own = price if side == "yes" else DOLLAR - price
    flow = own * qty // CONTRACT
    return -flow if (action == "buy") == (side == "yes") else flow


def apply_all(pf: Portfolio, fills) -> None:
    for side, action, price, qty, fee in fills:
        pf.apply_fill(TK, side, action, price, qty, fee)


@FAST
@given(fills=fills_st, result=result_st, netting=st.booleans())
def test_conservation_of_cash(fills, result, netting):
    pf = Portfolio(C0, netting=netting)
    apply_all(pf, fills)
    pf.settle(TK, result)
    fees = sum(f[4] for f in fills)
    net = sum(signed(s, a, q) for s, a, _, q, _ in fills)
    y = 1 if result == "yes" else 0
    expected = C0 - fees + sum(cash_equivalent(s, a, p, q) for s, a, p, q, _ in fills) + y * net * PAYOUT_PER_QTY
    assert pf.cash == expected
    assert pf.fees == fees
    # PnL attribution adds up to the cash change
    assert pf.realized_pnl + pf.settled_pnl - pf.fees == pf.cash - C0
    assert pf.net(TK) == 0


@FAST
@given(buys=st.lists(st.tuples(st.sampled_from(["yes", "no"]), st.integers(1, 99).map(lambda c: c * CENT),
                               st.integers(1, 2_000), st.integers(0, 300)), max_size=20),
       result=result_st, netting=st.booleans())
def test_buy_only_final_cash(buys, result, netting):
    pf = Portfolio(C0, netting=netting)
    for side, price, qty, fee in buys:
        pf.apply_fill(TK, side, "buy", price, qty, fee)
    pf.settle(TK, result)
    fees = sum(b[3] for b in buys)
    cost = sum(p * q // CONTRACT for _, p, q, _ in buys)
    winners = sum(q for s, _, q, _ in buys if s == result)
    assert pf.cash == C0 - fees - cost + winners * DOLLAR // CONTRACT


@FAST
@given(fills=fills_st, result=result_st, netting=st.booleans())
def test_settlement_pays_one_dollar_per_winning_unit(fills, result, netting):
    pf = Portfolio(C0, netting=netting)
    apply_all(pf, fills)
    pos = pf.position(TK)
    winning = pos.yes if result == "yes" else pos.no
    before = pf.cash
    payout, net = pf.settle(TK, result)
    assert payout == winning * (DOLLAR // CONTRACT) == winning * PAYOUT_PER_QTY
    assert pf.cash - before == payout
    assert net == sum(signed(s, a, q) for s, a, _, q, _ in fills)


@FAST
@given(fills=fills_st)
def test_netting_never_holds_both_legs(fills):
    pf = Portfolio(C0, netting=True)
    net = 0
    for side, action, price, qty, fee in fills:
        pf.apply_fill(TK, side, action, price, qty, fee)
        net += signed(side, action, qty)
        pos = pf.position(TK)
        assert not (pos.yes > 0 and pos.no > 0)
        assert pos.yes >= 0 and pos.no >= 0
        assert pf.net(TK) == net


@FAST
@given(fills=fills_st, result=result_st)
def test_netting_changes_timing_not_value(fills, result):
    on, off = Portfolio(C0, netting=True), Portfolio(C0, netting=False)
    apply_all(on, fills)
    apply_all(off, fills)
    assert on.net(TK) == off.net(TK)
    on.settle(TK, result)
    off.settle(TK, result)
    assert on.cash == off.cash


book_op = st.tuples(st.booleans(), st.integers(min_value=1, max_value=DOLLAR - 1),
                    st.integers(min_value=0, max_value=500).map(lambda s: 0 if s < 150 else s))


@FAST
@given(ops=st.lists(book_op, max_size=60), clear_at=st.integers(min_value=-1, max_value=60))
def test_book_best_matches_reference(ops, clear_at):
    b = OrderBook(TK)
    ref = {True: {}, False: {}}
    for i, (is_yes, price, size) in enumerate(ops):
        if i == clear_at:
            b.clear()
            ref = {True: {}, False: {}}
        b.set_level(is_yes, price, size)
        if size:
            ref[is_yes][price] = size
        else:
            ref[is_yes].pop(price, None)
        for side, name in ((True, "yes"), (False, "no")):
            lad = ref[side]
            best = max(lad) if lad else None
            assert getattr(b, f"{name}_bid") == best
            assert getattr(b, f"{name}_bid_size") == (lad[best] if lad else None)
            levels = b.levels(name)
            assert levels == sorted(lad.items(), reverse=True)
            assert [p for p, _ in levels] == sorted((p for p, _ in levels), reverse=True)
        assert b.yes_ask == (None if b.no_bid is None else DOLLAR - b.no_bid)
        assert b.no_ask == (None if b.yes_bid is None else DOLLAR - b.yes_bid)


price_st = st.integers(min_value=1, max_value=DOLLAR - 1)
qty_st = st.integers(min_value=1, max_value=100_000)


@FAST
@given(price=price_st, q1=qty_st, q2=qty_st)
def test_fee_monotone_in_qty(price, q1, q2):
    lo, hi = sorted((q1, q2))
    assert fee_for(price, lo) <= fee_for(price, hi)


@FAST
@given(price=price_st, qty=qty_st)
def test_fee_bounds_and_symmetry(price, qty):
    f = fee_for(price, qty)
    assert f == fee_for(DOLLAR - price, qty)
    assert f % CENT == 0 and f >= CENT  # at least one cent on any non-empty order
    whole = -(-qty // CONTRACT)
    assert f <= 2 * CENT * whole  # never more than 2 cents per (started) contract
    # never more than 0.07 x 1/4 per contract plus one rounding cent
    assert f * 4 * CONTRACT <= 7 * qty * DOLLAR // 100 + 4 * CONTRACT * CENT


@FAST
@given(price=price_st, parts=st.lists(st.integers(min_value=1, max_value=5_000), min_size=1, max_size=12))
def test_per_order_accumulation_same_price(price, parts):
    fm = FeeModel(rounding="2025")
    o = Order("O1", TK, "yes", "buy", sum(parts), price)
    fees = [fm.charge(o, price, qp, is_maker=False) for qp in parts]
    assert all(f >= 0 for f in fees)
    assert sum(fees) == o.fee == fee_for(price, sum(parts))
    assert sum(fees) <= sum(fee_for(price, qp) for qp in parts)


@FAST
@given(pieces=st.lists(st.tuples(price_st, st.integers(min_value=1, max_value=5_000)), min_size=1, max_size=12))
def test_per_order_accumulation_mixed_prices_not_more_than_separate(pieces):
    fm = FeeModel(rounding="2025")
    o = Order("O1", TK, "yes", "buy", sum(q for _, q in pieces), None)
    total = sum(fm.charge(o, p, q, is_maker=False) for p, q in pieces)
    assert total <= sum(fee_for(p, q) for p, q in pieces)
    assert total >= max(fee_for(p, q) for p, q in pieces)


def _kalshi_2026_reference(fills, coef, precision):
    """Kalshi's fee-rounding page step by step in exact fractions (dollars), independent of
    FeeModel's integer arithmetic: per fill trade fee up to $0.0001, balance change floored to
    the precision, rounding fee into the accumulator, a cent back whenever it exceeds $0.01."""
    from fractions import Fraction as F

    acc, out = F(0), []
    for action, price, qty in fills:
        p, c = F(price, DOLLAR), F(qty, CONTRACT)
        raw = F(coef) * c * p * (1 - p)
        tf = F(math.ceil(raw * 10_000), 10_000)
        revenue = p * c if action == "sell" else -p * c
        change = revenue - tf
        floored = F(math.floor(change / precision)) * precision
        acc += change - floored
        rebate = F(0)
        while acc > F(1, 100):
            acc -= F(1, 100)
            rebate += F(1, 100)
        booked = F(math.floor(revenue * 10_000), 10_000)  # the portfolio's revenue ($0.0001, floored)
        out.append((booked - floored - rebate) * 10_000)
    return out


@FAST
@given(action=st.sampled_from(["buy", "sell"]),
       fills=st.lists(st.tuples(st.integers(min_value=1, max_value=DOLLAR - 1),
                                st.integers(min_value=1, max_value=5_000)), min_size=1, max_size=15),
       coef=st.sampled_from(["0.07", "0.0175", "0", "0.035"]), direct=st.booleans())
def test_2026_fee_equals_the_formula_per_fill(action, fills, coef, direct):
    precision = Fraction(1, 10_000) if direct else Fraction(1, 100)
    fm = FeeModel(taker=coef, balance_precision=1 if direct else CENT)
    o = Order("O1", TK, "yes", action, sum(q for _, q in fills), None)
    got = [fm.charge(o, p, q, is_maker=False) for p, q in fills]
    assert got == _kalshi_2026_reference([(action, p, q) for p, q in fills], Fraction(coef), precision)
    assert o.fee == sum(got)
    # what the account pays beyond the revenue is never negative: the fees booked plus the sub-$0.0001
    # part of the revenue the portfolio already rounded away (fractional contracts at sub-cent prices)
    sub_unit = sum((p * q if action == "sell" else -p * q) % CONTRACT for p, q in fills)
    assert sum(got) * CONTRACT + sub_unit >= 0
    # the account's balance moves in whole units of its precision after every fill
    step = 1 if direct else CENT
    for (p, q), f in zip(fills, got, strict=True):
        booked = -(-p * q // CONTRACT) if action == "buy" else p * q // CONTRACT
        assert (booked + f) % step == 0 if action == "buy" else (booked - f) % step == 0


# ---- queue_model="trades": never fills more than what traded beyond the queue ahead -------------
class _Sink:
    now = 0

    def __init__(self) -> None:
        self.fills = []

    def fill(self, order, fill) -> None:
        self.fills.append(fill)

    def order_update(self, order) -> None:
        pass


@FAST
@given(shown=st.integers(min_value=0, max_value=50), qty=st.integers(min_value=1, max_value=40),
       side=st.sampled_from(["yes", "no"]), action=st.sampled_from(["buy", "sell"]),
       prints=st.lists(st.tuples(st.sampled_from(["yes", "no"]), st.integers(min_value=1, max_value=30)),
                       max_size=20))
def test_queue_trades_fills_exactly_the_excess_over_the_queue_ahead(shown, qty, side, action, prints):
    from framework.brokers.simulated import SimulatedBroker
    from framework.model.orders import Trade

    price = 40 * CENT  # the order's own price
    bids_yes = (side == "yes") == (action == "buy")
    level = price if action == "buy" else DOLLAR - price  # where the order waits, on its bid ladder
    book = OrderBook(TK)
    yes_bid, no_bid = (level, 10 * CENT) if bids_yes else (10 * CENT, level)
    book.set_top(1, yes_bid, no_bid, shown * CONTRACT if bids_yes else CONTRACT,
                 CONTRACT if bids_yes else shown * CONTRACT)
    broker = SimulatedBroker(queue_model="trades")
    sink, pf = _Sink(), Portfolio(C0)
    pf.apply_fill(TK, side, "buy", price, 100 * CONTRACT, 0)  # holdings, so sells close
    broker.bind(sink, {TK: book}, pf)
    order = Order("O1", TK, side, action, qty * CONTRACT, price)
    broker.submit(order)
    hitting = "no" if bids_yes else "yes"  # the taker side that trades into the order's ladder
    yes_price = price if side == "yes" else DOLLAR - price
    for taker, count in prints:
        broker.on_trade(Trade(2, TK, "t", yes_price, count * CONTRACT, taker))
    into_queue = sum(c for t, c in prints if t == hitting) * CONTRACT
    expected = min(qty * CONTRACT, max(0, into_queue - shown * CONTRACT))
    assert sum(f.qty for f in sink.fills) == order.filled_qty == expected
    assert all(f.price == price and f.is_maker for f in sink.fills)
