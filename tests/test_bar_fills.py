"""The bar execution rule (framework.brokers.bar_fills) on constructed bars.

Bars are 5-minute bars of one market, given as (end minute, OHLC, volume, closing quotes) in
cents and contracts; the engine replays them through an in-memory feed, and a scripted strategy
places orders when a given bar becomes visible (or from a timer in between).
"""

from __future__ import annotations

import pytest
from helpers import SEC, T0
from hypothesis import given, settings
from hypothesis import strategies as st

from framework import CONTRACT, Strategy, cents, contracts, dollars
from framework.brokers.bar_fills import BarRule
from framework.brokers.simulated import SimulatedBroker
from framework.core.engine import Engine
from framework.core.events import CANDLE
from framework.model.fees import FeeModel
from framework.model.portfolio import Portfolio
from framework.units import DOLLAR

M = "KXTEST-26JAN01-T50"
MIN = 60 * SEC
PERIOD = 5
CASH = dollars(10_000)


def bar(end_min, o=None, h=None, lo=None, c=None, vol=0, bid=None, ask=None, ticker=M, period=PERIOD):
    """A CANDLE row: prices in cents (None = none), volume in contracts."""
    px = [None if v is None else cents(v) for v in (o, h, lo, c, bid, ask)]
    return (T0 + end_min * MIN, ticker, period, *px[:4], contracts(vol), *px[4:])


def flat(end_min, price, vol=1000, bid=None, ask=None):
    """A bar that traded only at ``price`` (quotes one cent around it unless given)."""
    return bar(end_min, price, price, price, price, vol, price - 1 if bid is None else bid,
               price + 1 if ask is None else ask)


class Feed:
    kinds = ("candles",)

    def __init__(self, bars):
        self.bars = sorted(bars, key=lambda b: (b[0], b[1]))

    def chunks(self):
        if self.bars:
            yield CANDLE, tuple(list(col) for col in zip(*self.bars, strict=True))

    def subscribe(self, tickers):
        pass


class Script(Strategy):
    """``plan``: {bar end minute: [order kwargs]} placed when that bar is visible;
    ``timers``: {minute: [order kwargs]} placed from a timer at that minute."""

    params = {"plan": {}, "timers": {}}

    def on_start(self):
        self.orders = []
        self.seen = []
        for minute in self.params["timers"]:
            self.set_timer(f"t{minute}", at=T0 + minute * MIN)

    def _place(self, kws):
        for kw in kws:
            kw = dict(kw)
            action = kw.pop("action", "buy")
            qty = contracts(kw.pop("qty", 10))
            if kw.get("price") is not None:
                kw["price"] = cents(kw["price"])
            self.orders.append(getattr(self, action)(M if "ticker" not in kw else kw.pop("ticker"), qty, **kw))

    def on_book(self, book):
        self.seen.append((self.now, book.ts, book.yes_bid, book.yes_ask, book.yes_bid_size, book.yes_ask_size))
        self._place(self.params["plan"].get((book.ts - T0) // MIN, []))

    def on_timer(self, name):
        self._place(self.params["timers"][int(name[1:])])


def run(bars, plan=None, timers=None, share="0.1", spread=1, cash=CASH, close_min=10_000,
        fee_taker="0", latency=0):
    strat = Script({"plan": plan or {}, "timers": timers or {}})
    broker = SimulatedBroker(FeeModel(taker=fee_taker, maker="0"), latency=latency, bar_rule=BarRule(share, spread))
    markets = [{"ticker": M, "open_ts": T0, "close_ts": T0 + close_min * MIN, "settle_ts": None, "result": None}]
    eng = Engine(strat, Feed(bars), broker, Portfolio(cash), markets, equity_interval=None)
    eng.run()
    return eng, strat


def fills(eng):
    """(minute, side, action, price cents, contracts, maker) per fill."""
    return [((f.ts - T0) // MIN, f.side, f.action, f.price / 100, f.qty / CONTRACT, f.is_maker) for f in eng.fills]


# ---- resting limits: strictly traded through ----------------------------------------------------
def test_buy_limit_fills_only_when_the_bar_traded_strictly_below():
    bars = [flat(5, 45), bar(10, 42, 44, 40, 41, 500), bar(15, 41, 42, 39, 40, 500), bar(20, 40, 40, 35, 36, 500)]
    eng, strat = run(bars, plan={5: [{"price": 40}]})
    # bar 10 touched 40 (not below): nothing; bar 15 went to 39: filled at the limit, as maker
    assert fills(eng) == [(15, "yes", "buy", 40, 10, True)]
    assert strat.orders[0].status == "filled"


def test_sell_limit_mirror():
    bars = [flat(5, 55), bar(10, 58, 60, 57, 60, 500), bar(15, 60, 61, 59, 60, 500)]
    eng, _ = run(bars, plan={5: [{"action": "sell", "price": 60}]})
    assert fills(eng) == [(15, "yes", "sell", 60, 10, True)]


def test_no_side_uses_mirrored_prices():
    # buy NO at 40 = sell YES at 60: needs the YES high strictly above 60 (NO low below 40)
    bars = [flat(5, 55), bar(10, 58, 60, 57, 60, 500), bar(15, 60, 61, 59, 60, 500)]
    eng, _ = run(bars, plan={5: [{"side": "no", "price": 40}]})
    assert fills(eng) == [(15, "no", "buy", 40, 10, True)]
    # sell NO at 45 = buy YES at 55: the YES low must go below 55 (NO high above 45)
    bars = [flat(5, 60), bar(10, 58, 60, 55, 56, 500), bar(15, 56, 57, 54, 55, 500)]
    eng, _ = run(bars, plan={5: [{"side": "no", "action": "sell", "price": 45}]}, cash=dollars(1000))
    assert fills(eng) == [(15, "no", "sell", 45, 10, True)]


def test_fidelity_counts_what_the_rule_refused():
    bars = [flat(5, 45), bar(10, 42, 44, 40, 41, 500), flat(15, 39, vol=10), flat(20, 39, vol=10), flat(25, 50)]
    eng, _ = run(bars, plan={5: [{"price": 40, "qty": 1}, {"price": 40, "qty": 5}], 20: [{"qty": 1}]})
    # bar 10 touched 40 (twice: both orders); bar 15's cap (1 contract) went to the first order,
    # so the second found it used up; bar 20 likewise; the market order met bar 25's open 50 + 1
    counts = eng.broker.fidelity.counts
    assert counts["bar_traded_at_limit_not_filled"] == 2
    assert counts["bar_volume_share_used_up"] == 1
    assert [(m, q) for m, _, _, _, q, _ in fills(eng)] == [(15, 1), (20, 1), (25, 1)]
    eng, _ = run([flat(5, 50), bar(10, vol=0)], plan={5: [{}]})
    assert eng.broker.fidelity.counts["bar_ioc_not_filled"] == 1


def test_bar_without_trades_fills_nothing():
    bars = [flat(5, 45), bar(10, vol=0, bid=30, ask=35), flat(15, 39, vol=200)]
    eng, _ = run(bars, plan={5: [{"price": 40}]})
    assert fills(eng) == [(15, "yes", "buy", 40, 10, True)]


# ---- volume cap ---------------------------------------------------------------------------------
def test_fills_capped_by_the_share_of_bar_volume_shared_by_all_orders():
    bars = [flat(5, 45), flat(10, 38, vol=30), flat(15, 38, vol=30), flat(20, 38, vol=1000)]
    eng, _ = run(bars, plan={5: [{"price": 40, "qty": 4}, {"price": 41, "qty": 4}]})
    # 10% of 30 contracts = 3 per bar, in arrival order: first order 3, then 1 + 2, then the rest
    assert [(m, p, q) for m, _, _, p, q, _ in fills(eng)] == [(10, 40, 3), (15, 40, 1), (15, 41, 2), (20, 41, 2)]


def test_volume_share_is_exact_and_configurable():
    bars = [flat(5, 45), flat(10, 38, vol="33.33")]
    eng, _ = run(bars, plan={5: [{"price": 40, "qty": 20}]}, share="1/3")
    assert [f.qty for f in eng.fills] == [3333 // 3]  # floor(3333 units / 3) = 11.11 contracts
    with pytest.raises(ValueError, match="bar_volume_share must be a fraction in \\(0, 1\\]"):
        BarRule("1.5")
    with pytest.raises(ValueError, match="bar_volume_share"):
        BarRule("lots")
    with pytest.raises(ValueError, match="bar_spread_cents must be cents >= 0"):
        BarRule("0.1", -1)
    assert BarRule(0.25).volume_share == BarRule("1/4").volume_share


# ---- marketable orders: next bar's open plus the spread ------------------------------------------
def test_marketable_buy_fills_at_next_open_plus_spread_never_at_current_prices():
    bars = [bar(5, 50, 52, 49, 51, 500, 50, 52), bar(10, 55, 57, 54, 56, 40, 55, 57), flat(15, 30)]
    eng, strat = run(bars, plan={5: [{"qty": 10}]}, spread=2)
    # next bar opened at 55: paid 55 + 2; cap 10% of 40 = 4 contracts; the IOC rest is cancelled
    assert fills(eng) == [(10, "yes", "buy", 57, 4, False)]
    order = strat.orders[0]
    assert order.status == "cancelled" and order.reason == "IOC remainder cancelled"


def test_marketable_sell_and_no_side():
    bars = [flat(5, 50), bar(10, 55, 57, 54, 56, 1000), flat(15, 30)]
    eng, _ = run(bars, plan={5: [{"action": "sell", "qty": 10}]}, cash=dollars(1000))
    assert fills(eng) == [(10, "yes", "sell", 54, 10, False)]  # open 55 - 1 cent
    eng, _ = run(bars, plan={5: [{"side": "no", "qty": 10}]})
    assert fills(eng) == [(10, "no", "buy", 46, 10, False)]  # NO open = 100 - 55 = 45, + 1 cent


def test_taker_price_is_clamped_inside_the_dollar():
    bars = [flat(5, 98), bar(10, 99, 99, 99, 99, 1000), flat(15, 50)]
    eng, _ = run(bars, plan={5: [{"qty": 1}]}, spread=5)
    assert [f.price for f in eng.fills] == [DOLLAR - 1]


def test_marketable_gtc_limit_past_the_open_rests_from_the_next_bar():
    # limit 53 crosses the closing ask 52, but the next bar opens at 55 (+1 > 53): no taker fill;
    # it then rests at 53 and the bar after trades down to 52: maker fill at 53
    bars = [bar(5, 50, 52, 49, 51, 500, 50, 52), bar(10, 55, 56, 50, 51, 500), bar(15, 51, 54, 52, 53, 500)]
    eng, _ = run(bars, plan={5: [{"price": 53}]})
    assert fills(eng) == [(15, "yes", "buy", 53, 10, True)]  # bar 10 (low 50) is not used twice


def test_ioc_limit_that_does_not_cross_is_cancelled_at_once():
    bars = [flat(5, 50), flat(10, 30)]
    eng, strat = run(bars, plan={5: [{"price": 45, "tif": "ioc"}]})
    assert eng.fills == [] and strat.orders[0].status == "cancelled" and strat.orders[0].reason == "IOC not filled"


def test_market_order_before_a_bar_without_trades_is_cancelled():
    bars = [flat(5, 50), bar(10, vol=0, bid=49, ask=51), flat(15, 50)]
    eng, strat = run(bars, plan={5: [{}]})
    assert eng.fills == [] and strat.orders[0].reason == "IOC not filled"


def test_post_only_that_would_cross_is_rejected():
    eng, strat = run([flat(5, 50), flat(10, 40)], plan={5: [{"price": 52, "post_only": True}]})
    assert strat.orders[0].status == "rejected" and eng.fills == []


# ---- timing --------------------------------------------------------------------------------------
def test_order_sent_during_a_bar_waits_for_the_next_bar():
    # a timer at minute 7 is inside bar (5, 10]: bar 10's low (30) may have printed before it
    bars = [flat(5, 50), bar(10, 50, 50, 30, 45, 1000), bar(15, 45, 46, 38, 40, 1000)]
    eng, _ = run(bars, timers={7: [{"price": 40}]})
    assert fills(eng) == [(15, "yes", "buy", 40, 10, True)]
    eng, _ = run(bars, timers={5: [{"price": 40}]})  # at the boundary: bar 10 is eligible
    assert fills(eng) == [(10, "yes", "buy", 40, 10, True)]


def test_latency_counts_from_the_arrival():
    # sent at minute 5, arriving 1 s later: inside bar (5, 10], so bar 15 is the first that can fill
    bars = [flat(5, 50), flat(10, 30), flat(15, 30)]
    eng, _ = run(bars, plan={5: [{"price": 40}]}, latency="1s")
    assert fills(eng) == [(15, "yes", "buy", 40, 10, True)]


def test_strategy_sees_each_bar_at_its_end_with_closing_quotes_and_unknown_sizes():
    bars = [bar(5, 50, 52, 49, 51, 500, 50, 52), bar(10, vol=0, bid=0, ask=DOLLAR // 100),
            bar(15, 40, 41, 39, 40, 10)]
    _, strat = run(bars)
    assert strat.seen == [
        (T0 + 5 * MIN, T0 + 5 * MIN, cents(50), cents(52), None, None),
        (T0 + 10 * MIN, T0 + 10 * MIN, None, None, None, None),  # no bid (0), no ask ($1)
        (T0 + 15 * MIN, T0 + 15 * MIN, None, None, None, None),  # quotes not stored
    ]


def test_bar_ending_after_the_close_fills_nothing():
    bars = [flat(5, 50), flat(10, 30)]
    eng, strat = run(bars, plan={5: [{"price": 40}]}, close_min=8)
    assert eng.fills == [] and strat.orders[0].status == "expired"


def test_cash_still_caps_bar_fills():
    bars = [flat(5, 50), flat(10, 30)]
    eng, _ = run(bars, plan={5: [{"price": 40, "qty": 20}, {"price": 40, "qty": 20}]}, cash=dollars(10))
    # each passes the cash check when sent ($8 <= $10); at the fill, $10 buys 20 + 5 at 40 cents
    assert [f.qty for f in eng.fills] == [contracts(20), contracts(5)]


def test_on_bar_callback_gets_the_bar():
    class Bars(Strategy):
        def on_start(self):
            self.bars = []

        def on_bar(self, b):
            self.bars.append((b.ts, b.start, b.low, b.volume, b.traded))

    strat = Bars()
    eng = Engine(strat, Feed([flat(5, 50), bar(10, vol=0)]), SimulatedBroker(bar_rule=BarRule()),
                 Portfolio(0), [], equity_interval=None)
    eng.run()
    assert strat.bars == [(T0 + 5 * MIN, T0, cents(50), contracts(1000), True),
                          (T0 + 10 * MIN, T0 + 5 * MIN, None, 0, False)]


def test_broker_without_bar_rule_refuses_bars():
    broker = SimulatedBroker()
    with pytest.raises(RuntimeError, match="candle replay needs"):
        broker.on_bar(None)


# ---- properties ----------------------------------------------------------------------------------
@st.composite
def scenario(draw):
    n = draw(st.integers(2, 12))
    bars = []
    for i in range(n):
        if draw(st.booleans()):
            lo = draw(st.integers(1, 98))
            hi = draw(st.integers(lo, 99))
            o, c = draw(st.integers(lo, hi)), draw(st.integers(lo, hi))
            vol = draw(st.integers(1, 200))
        else:
            lo = hi = o = c = None
            vol = 0
        bid = draw(st.integers(1, 98))
        bars.append(bar(5 * (i + 1), o, hi, lo, c, vol, bid, draw(st.integers(bid + 1, 99))))
    order = st.fixed_dictionaries({
        "action": st.sampled_from(["buy", "sell"]), "side": st.sampled_from(["yes", "no"]),
        "qty": st.integers(1, 30), "price": st.one_of(st.none(), st.integers(1, 99)),
        "tif": st.sampled_from(["gtc", "ioc"])})
    plan = draw(st.dictionaries(st.sampled_from([5 * (i + 1) for i in range(n)]), st.lists(order, max_size=3)))
    timers = draw(st.dictionaries(st.integers(1, 5 * n), st.lists(order, max_size=2), max_size=3))
    return bars, plan, timers, draw(st.sampled_from(["0.1", "0.5", "1"])), draw(st.integers(0, 3))


def _check_rule(eng, strat, bars, share):
    by_end = {b[0]: b for b in bars}
    used: dict[int, int] = {}
    orders = {o.order_id: o for o in strat.orders}
    for f in eng.fills:
        b = by_end[f.ts]  # every fill happens at the end of a bar of its market
        lo, hi, vol = b[5], b[4], b[7]
        assert lo is not None and vol > 0  # only bars that traded fill
        o = orders[f.order_id]
        assert o.ts <= f.ts - PERIOD * MIN  # it was sent no later than the bar's start
        own_lo, own_hi = (lo, hi) if f.side == "yes" else (DOLLAR - hi, DOLLAR - lo)
        if f.is_maker:  # resting: strictly traded through, at the limit
            assert f.price == o.price
            assert own_lo < f.price if f.action == "buy" else own_hi > f.price
        used[f.ts] = used.get(f.ts, 0) + f.qty
    from fractions import Fraction

    for ts, q in used.items():
        assert q <= by_end[ts][7] * Fraction(share)


@settings(max_examples=150, deadline=None)
@given(scenario())
def test_property_rule_holds_and_no_fill_depends_on_later_bars(case):
    bars, plan, timers, share, spread = case
    eng, strat = run(bars, plan, timers, share=share, spread=spread, cash=dollars(100))
    _check_rule(eng, strat, bars, share)
    full = [(f.ts, f.order_id, f.price, f.qty, f.is_maker) for f in eng.fills]
    for j in range(1, len(bars)):
        cut = bars[:j]
        eng_j, _ = run(cut, plan, {m: v for m, v in timers.items() if T0 + m * MIN <= cut[-1][0]},
                       share=share, spread=spread, cash=dollars(100))
        head = [(f.ts, f.order_id, f.price, f.qty, f.is_maker) for f in eng_j.fills]
        assert head == [f for f in full if f[0] <= cut[-1][0]]


@settings(max_examples=50, deadline=None)
@given(scenario())
def test_property_same_input_same_fills(case):
    bars, plan, timers, share, spread = case
    a, _ = run(bars, plan, timers, share=share, spread=spread)
    b, _ = run(bars, plan, timers, share=share, spread=spread)
    assert a.fills == b.fills
