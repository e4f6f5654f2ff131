"""SimulatedBroker through small engine-driven backtests (run_backtest on tiny catalogs)."""

from __future__ import annotations

from helpers import at, market, run

from framework import Strategy
from framework.model.fees import fee_for
from framework.model.orders import OrderStatus
from framework.units import DOLLAR, cents, contracts, dollars

TK = "M-1"


def q(t, yb, nb, ybs=None, nbs=None, ticker=TK):
    """A top-of-book quote row (cents / contracts)."""
    return {"ts": t, "ticker": ticker, "yes_bid": yb, "no_bid": nb, "yes_bid_size": ybs, "no_bid_size": nbs}


def lvl(t, side, price, size, snapshot=True, ticker=TK):
    return {"ts": t, "ticker": ticker, "side": side, "price": price, "size": size, "snapshot": snapshot}


def tr(t, yes_price, count, ticker=TK, taker="yes"):
    """A print; ``taker`` is the aggressor's side (a NO taker sells into YES bids)."""
    return {"ts": t, "ticker": ticker, "yes_price": yes_price, "count": count, "taker_side": taker}


class Script(Strategy):
    """Runs ``script[t]`` (a function of ``(strategy, book)``) at the first on_book at second ``t``."""

    def __init__(self, script=None):
        super().__init__()
        self.script = {at(k): v for k, v in (script or {}).items()}
        self.events: list[tuple] = []
        self.fills = []
        self.settlements = []
        self.orders: dict = {}
        self.seen_markets: list[dict] = []

    def keep(self, name, order):
        self.orders[name] = order
        return order

    def on_book(self, book):
        self.seen_markets.append(dict(self.markets[book.ticker]))
        fn = self.script.pop(book.ts, None)
        if fn is not None:
            fn(self, book)
            self.events.append(("book-done", book.ts))

    def on_fill(self, fill):
        self.fills.append(fill)
        self.events.append(("fill", fill.order_id))

    def on_order(self, order):
        self.events.append(("order", order.order_id))

    def on_settlement(self, s):
        self.settlements.append((self.now, s))


def fills_of(strategy, name):
    oid = strategy.orders[name].order_id
    return [(f.price, f.qty, f.is_maker) for f in strategy.fills if f.order_id == oid]


L2_BOOK = [lvl(1, "yes", 30, 10), lvl(1, "no", 60, 5), lvl(1, "no", 58, 5), lvl(1, "no", 55, 10)]


# ---- taking liquidity --------------------------------------------------------------------------
def test_marketable_order_walks_l2_levels(tmp_path):
    s = Script({1: lambda s, b: s.keep("a", s.buy(TK, contracts(12)))})
    res = run(tmp_path, s, book=L2_BOOK)
    assert fills_of(s, "a") == [(cents(40), contracts(5), False), (cents(42), contracts(5), False),
                                (cents(45), contracts(2), False)]
    o = s.orders["a"]
    assert o.status == OrderStatus.FILLED and o.filled_qty == contracts(12)
    # one order: fee on the running total, $0.20391 -> $0.21
    assert o.fee == sum(f.fee for f in s.fills) == dollars("0.21")
    cost = dollars(2) + dollars("2.1") + dollars("0.9")
    assert res.metrics["final_cash"] * DOLLAR == dollars(10_000) - cost - dollars("0.21")
    assert res.positions == {TK: contracts(12)}
    assert len(res.fills) == 3 and list(res.fills["price"]) == [4000, 4200, 4500]


def test_limit_walks_up_to_limit_then_rests(tmp_path):
    s = Script({1: lambda s, b: s.keep("a", s.buy(TK, contracts(12), price=cents(42)))})
    run(tmp_path, s, book=L2_BOOK)
    assert fills_of(s, "a") == [(cents(40), contracts(5), False), (cents(42), contracts(5), False)]
    o = s.orders["a"]
    assert o.status == OrderStatus.PARTIALLY_FILLED and o.remaining == contracts(2)
    assert o in s.open_orders(TK)


def test_sell_walks_own_side_bids(tmp_path):
    book = [lvl(1, "yes", 50, 2), lvl(1, "yes", 48, 3), lvl(1, "no", 45, 10)]
    s = Script({1: lambda s, b: s.keep("a", s.sell(TK, contracts(4), price=cents(48)))})
    run(tmp_path, s, book=book)
    # selling YES with nothing held opens NO; takes YES bids at their prices
    assert fills_of(s, "a") == [(cents(50), contracts(2), False), (cents(48), contracts(2), False)]
    assert s.position(TK) == -contracts(4)


def test_top_of_book_fill_at_touch_limited_by_size(tmp_path):
    s = Script({1: lambda s, b: s.keep("a", s.buy(TK, contracts(10)))})
    run(tmp_path, s, quotes=[q(1, 40, 55, 10, 3)])
    assert fills_of(s, "a") == [(cents(45), contracts(3), False)]
    o = s.orders["a"]
    assert o.status == OrderStatus.CANCELLED and o.filled_qty == contracts(3)
    assert o.reason == "IOC remainder cancelled"


def test_top_of_book_unknown_size_fills_whole_order(tmp_path):
    s = Script({1: lambda s, b: s.keep("a", s.buy(TK, contracts(10), side="no"))})
    run(tmp_path, s, quotes=[q(1, 40, 55)])
    assert fills_of(s, "a") == [(cents(60), contracts(10), False)]
    assert s.position(TK) == -contracts(10)


def test_taken_liquidity_stays_taken_until_that_level_changes(tmp_path):
    # issue 12 item 1: what we took at the touch is not forgotten at the market's next book change
    # (t=2 repeats the quote, t=3 changes only the YES bid); only a new size at that price (t=4)
    # refills it, and then with what the data shows there
    def first(s, b):
        s.keep("a", s.buy(TK, contracts(3)))
        s.keep("b", s.buy(TK, contracts(3)))

    s = Script({1: first, 2: lambda s, b: s.keep("c", s.buy(TK, contracts(3))),
                3: lambda s, b: s.keep("d", s.buy(TK, contracts(3))),
                4: lambda s, b: s.keep("e", s.buy(TK, contracts(9)))})
    run(tmp_path, s, quotes=[q(1, 40, 55, 10, 3), q(2, 40, 55, 10, 3), q(3, 41, 55, 7, 3), q(4, 41, 55, 7, 5)])
    assert fills_of(s, "a") == [(cents(45), contracts(3), False)]
    assert fills_of(s, "b") == fills_of(s, "c") == fills_of(s, "d") == []
    assert s.orders["b"].status == OrderStatus.CANCELLED
    assert fills_of(s, "e") == [(cents(45), contracts(5), False)]  # a new size at 45: 5 shown


def test_retaking_the_best_offer_takes_no_more_than_displayed(tmp_path):
    # the defect of issue 12: a strategy re-taking the best offer on every book change bought the
    # same displayed 500 contracts again and again (the other side of the book kept changing)
    class Retake(Strategy):
        def on_book(self, book):
            if book.yes_ask is not None:
                self.buy(TK, contracts(500), price=book.yes_ask, tif="ioc")

    quotes = [q(t, 30 + t % 5, 29, 10 + t, 500) for t in range(1, 40)]  # ask 71 x 500 throughout
    res = run(tmp_path, Retake(), quotes=quotes, starting_cash=dollars(10**7))
    assert res.metrics["contracts_traded"] == 500


def test_taken_levels_below_the_best_are_not_rescanned_per_order(tmp_path, monkeypatch):
    # the per-order cost grew over a run: every order re-examined every top-of-book level ever
    # taken from, though levels below the best bid are hidden and cannot change. A rising YES bid
    # taken at each new price leaves one more hidden level per order; the work per order must
    # stay flat (examined levels counted, not timed)
    import framework.brokers.simulated as sim

    calls = []
    real = sim.level_state
    monkeypatch.setattr(sim, "level_state", lambda *a: calls.append(a) or real(*a))

    class SellEach(Strategy):
        def on_book(self, book):
            self.sell(TK, contracts(1))  # takes the YES bid: a new price each event

    n = 40
    res = run(tmp_path, SellEach(), quotes=[q(t, 20 + t, 10, 50, 50) for t in range(1, n + 1)])
    assert res.metrics["n_fills"] == n
    # one look when a level is first taken, at most one more for the level at the best per sync
    assert len(calls) <= 2 * n, f"{len(calls)} level lookups for {n} orders"


def test_taken_l2_level_leaves_next_levels(tmp_path):
    def go(s, b):
        s.keep("a", s.buy(TK, contracts(5)))
        s.keep("b", s.buy(TK, contracts(7)))

    s = Script({1: go})
    run(tmp_path, s, book=L2_BOOK)
    assert fills_of(s, "a") == [(cents(40), contracts(5), False)]
    assert fills_of(s, "b") == [(cents(42), contracts(5), False), (cents(45), contracts(2), False)]


def test_no_liquidity_market_order_cancelled(tmp_path):
    s = Script({1: lambda s, b: s.keep("a", s.buy(TK, contracts(1)))})
    run(tmp_path, s, quotes=[q(1, 40, 0)])  # no NO bids -> no YES ask
    o = s.orders["a"]
    assert o.status == OrderStatus.CANCELLED and o.filled_qty == 0 and s.fills == []


# ---- resting orders ----------------------------------------------------------------------------
def test_resting_order_fills_as_maker_when_book_crosses(tmp_path):
    s = Script({1: lambda s, b: s.keep("a", s.buy(TK, contracts(10), price=cents(40)))})
    quotes = [q(1, 30, 55, 10, 10), q(2, 30, 62, 10, 4), q(3, 30, 61, 10, 50), q(4, 30, 65, 10, 50)]
    run(tmp_path, s, quotes=quotes, fee_maker="0.0175")
    # fills at its own price (40), not at the better crossing ask (38/39), up to the crossing size
    assert fills_of(s, "a") == [(cents(40), contracts(4), True), (cents(40), contracts(6), True)]
    o = s.orders["a"]
    assert o.status == OrderStatus.FILLED
    # maker fee per order: 0.0175*4*.24 = 0.0168 -> 0.02; total 0.042 -> 0.05
    assert [f.fee for f in s.fills] == [dollars("0.02"), dollars("0.03")]
    assert [f.ts for f in s.fills] == [at(2), at(3)]


def test_resting_order_does_not_fill_at_touch_without_cross(tmp_path):
    s = Script({1: lambda s, b: s.keep("a", s.buy(TK, contracts(10), price=cents(40)))})
    run(tmp_path, s, quotes=[q(1, 30, 55, 10, 10), q(2, 39, 59, 10, 10)])  # ask 41 > 40
    assert s.fills == [] and s.orders["a"].status == OrderStatus.ACCEPTED


def test_resting_order_fills_on_trade_strictly_through(tmp_path):
    s = Script({1: lambda s, b: s.keep("a", s.buy(TK, contracts(10), price=cents(40)))})
    trades = [tr(2, 40, 5, taker="no"), tr(3, 39, 3, taker="no"), tr(4, 35, 100, taker="no")]
    run(tmp_path, s, quotes=[q(1, 30, 55, 10, 10)], trades=trades)
    # the print at 40 (equal price) does not fill; 39 fills 3; 35 fills the remaining 7
    assert fills_of(s, "a") == [(cents(40), contracts(3), True), (cents(40), contracts(7), True)]
    assert [f.ts for f in s.fills] == [at(3), at(4)]


def test_trade_through_fills_only_when_its_taker_trades_into_the_order(tmp_path):
    # issue 12 item 8: a YES taker at 39 lifted an ask (a NO bid); it sold nothing to YES bidders,
    # so it says nothing about a YES bid at 40 (the book, when present, shows that ask crossing)
    s = Script({1: lambda s, b: s.keep("a", s.buy(TK, contracts(10), price=cents(40)))})
    run(tmp_path, s, quotes=[q(1, 30, 55, 10, 10)], trades=[tr(2, 39, 3, taker="yes"), tr(3, 38, 4, taker="no")])
    assert fills_of(s, "a") == [(cents(40), contracts(4), True)]


def test_resting_no_order_fills_on_trade_through(tmp_path):
    # buy NO at 60: a YES print at 41 is NO at 59, strictly through; YES 40 = NO 60 is not
    s = Script({1: lambda s, b: s.keep("a", s.buy(TK, contracts(5), price=cents(60), side="no"))})
    run(tmp_path, s, quotes=[q(1, 30, 55, 10, 10)], trades=[tr(2, 40, 5), tr(3, 41, 2)])
    assert fills_of(s, "a") == [(cents(60), contracts(2), True)]


def test_resting_sell_fills_on_trade_through(tmp_path):
    def go(s, b):
        s.buy(TK, contracts(5))  # long 5 at the ask 45
        s.keep("a", s.sell(TK, contracts(5), price=cents(50)))

    s = Script({1: go})
    run(tmp_path, s, quotes=[q(1, 30, 55, 10, 10)], trades=[tr(2, 50, 5), tr(3, 51, 5)])
    assert fills_of(s, "a") == [(cents(50), contracts(5), True)]
    assert s.position(TK) == 0


def test_cancel_resting_order(tmp_path):
    def cancel(s, b):
        s.cancel(s.orders["a"])

    s = Script({1: lambda s, b: s.keep("a", s.buy(TK, contracts(10), price=cents(40))), 2: cancel})
    run(tmp_path, s, quotes=[q(1, 30, 55), q(2, 30, 55), q(3, 30, 70)])
    assert s.orders["a"].status == OrderStatus.CANCELLED and s.fills == []
    assert s.open_orders() == []


# ---- order types and checks ----------------------------------------------------------------------
def test_ioc_limit_remainder_cancelled(tmp_path):
    def go(s, b):
        s.keep("a", s.buy(TK, contracts(10), price=cents(45), tif="ioc"))
        s.keep("b", s.buy(TK, contracts(10), price=cents(44), tif="ioc"))

    s = Script({1: go})
    run(tmp_path, s, quotes=[q(1, 30, 55, 10, 3), q(2, 30, 70, 10, 30)])
    a, b = s.orders["a"], s.orders["b"]
    assert fills_of(s, "a") == [(cents(45), contracts(3), False)]
    assert a.status == OrderStatus.CANCELLED and a.filled_qty == contracts(3)
    assert b.status == OrderStatus.CANCELLED and b.filled_qty == 0  # never rested
    assert fills_of(s, "b") == []


def test_post_only_crossing_rejected(tmp_path):
    def go(s, b):
        s.keep("cross", s.buy(TK, contracts(1), price=cents(45), post_only=True))
        s.keep("sell_cross", s.sell(TK, contracts(1), price=cents(40), post_only=True))
        s.keep("ok", s.buy(TK, contracts(1), price=cents(44), post_only=True))

    s = Script({1: go})
    run(tmp_path, s, quotes=[q(1, 40, 55, 10, 10)])
    assert s.orders["cross"].status == OrderStatus.REJECTED
    assert s.orders["sell_cross"].status == OrderStatus.REJECTED
    assert s.orders["ok"].status == OrderStatus.ACCEPTED
    assert s.fills == []


def test_reduce_only_capped_and_rejected(tmp_path):
    def go2(s, b):
        s.keep("cap", s.sell(TK, contracts(10), price=cents(40), reduce_only=True))

    def go3(s, b):
        s.keep("flat", s.sell(TK, contracts(1), price=cents(40), reduce_only=True))

    def go1(s, b):
        s.buy(TK, contracts(5))
        s.keep("adds", s.buy(TK, contracts(1), reduce_only=True))

    s = Script({1: go1, 2: go2, 3: go3})
    run(tmp_path, s, quotes=[q(1, 40, 55), q(2, 40, 55), q(3, 40, 55)])
    assert s.orders["adds"].status == OrderStatus.REJECTED
    cap = s.orders["cap"]
    assert cap.qty == contracts(5) and cap.filled_qty == contracts(5)
    assert fills_of(s, "cap") == [(cents(40), contracts(5), False)]
    assert s.orders["flat"].status == OrderStatus.REJECTED
    assert s.position(TK) == 0


def test_reduce_only_buy_no_reduces_long_yes(tmp_path):
    def go(s, b):
        s.buy(TK, contracts(5))
        s.keep("r", s.buy(TK, contracts(8), side="no", reduce_only=True))

    s = Script({1: go})
    run(tmp_path, s, quotes=[q(1, 40, 55)])
    assert s.orders["r"].filled_qty == contracts(5)
    assert s.position(TK) == 0


def test_orders_outside_market_hours_rejected_and_resting_expire(tmp_path):
    markets = [market(TK, open_ts=2, close_ts=10)]

    def early(s, b):
        s.keep("early", s.buy(TK, contracts(1), price=cents(40)))

    def rest(s, b):
        s.keep("rest", s.buy(TK, contracts(1), price=cents(40)))

    def late(s, b):
        s.keep("late", s.buy(TK, contracts(1), price=cents(40)))
        s.keep("late_mkt", s.buy(TK, contracts(1)))

    s = Script({1: early, 3: rest, 11: late})
    run(tmp_path, s, markets=markets, quotes=[q(1, 30, 55), q(3, 30, 55), q(11, 30, 70)])
    assert s.orders["early"].status == OrderStatus.REJECTED
    rest_o = s.orders["rest"]
    assert rest_o.status == OrderStatus.EXPIRED and rest_o.updated_ts == at(10)
    assert s.orders["late"].status == OrderStatus.REJECTED
    assert s.orders["late_mkt"].status == OrderStatus.REJECTED
    assert s.fills == []  # the crossing quote at 11 must not fill the expired order


def test_order_exactly_at_close_rejected(tmp_path):
    s = Script({10: lambda s, b: s.keep("a", s.buy(TK, contracts(1)))})
    run(tmp_path, s, markets=[market(TK, close_ts=10)], quotes=[q(10, 30, 55)])
    assert s.orders["a"].status == OrderStatus.REJECTED


def test_insufficient_cash_rejected(tmp_path):
    def go(s, b):
        s.keep("big", s.buy(TK, contracts(10), price=cents(40)))  # $4 > $3
        s.keep("sell_open", s.sell(TK, contracts(5), price=cents(30)))  # opens NO at 0.70: $3.50
        s.keep("fits", s.buy(TK, contracts(5), price=cents(40), post_only=True))  # $2 rests

    s = Script({1: go})
    run(tmp_path, s, quotes=[q(1, 20, 55)], starting_cash=dollars(3))
    assert s.orders["big"].status == OrderStatus.REJECTED
    assert s.orders["big"].reason == "insufficient cash"
    assert s.orders["sell_open"].status == OrderStatus.REJECTED
    assert s.orders["fits"].status == OrderStatus.ACCEPTED


def test_marketable_order_capped_by_cash(tmp_path):
    s = Script({1: lambda s, b: s.keep("a", s.buy(TK, contracts(10)))})
    run(tmp_path, s, quotes=[q(1, 20, 60)], starting_cash=dollars(1))
    o = s.orders["a"]
    assert 0 < o.filled_qty < contracts(10)
    # 2026 rounding: 2.39 at the $0.40 ask costs $0.956 + trade fee $0.0402 = $0.9962, floored to
    # the cent: exactly $1.00 (2.40 would cost $1.01)
    assert o.filled_qty == contracts("2.39")
    assert o.status == OrderStatus.CANCELLED
    assert notional_of(s.fills) <= dollars(1)


def test_marketable_order_capped_by_cash_2025_rounding(tmp_path):
    s = Script({1: lambda s, b: s.keep("a", s.buy(TK, contracts(10)))})
    run(tmp_path, s, quotes=[q(1, 20, 60)], starting_cash=dollars(1), fee_rounding="2025")
    # $1 buys 2.38 contracts at the $0.40 ask: $0.952 + the $0.04 fee; 2.39 would cost $1.006
    assert s.orders["a"].filled_qty == contracts("2.38")


def test_cash_never_negative_after_capped_fill(tmp_path):
    # a market buy capped to the cash available must leave enough for its fee:
    # the account cannot go below zero in a simulation of a fully collateralised exchange
    s = Script({1: lambda s, b: s.keep("a", s.buy(TK, contracts(10)))})
    res = run(tmp_path, s, quotes=[q(1, 20, 60)], starting_cash=dollars(1))
    assert s.fills, "expected a partial fill"
    assert res.metrics["final_cash"] >= 0


def notional_of(fills):
    return sum(f.price * f.qty // 100 for f in fills)


# ---- fees and callbacks --------------------------------------------------------------------------
def test_taker_fee_charged_to_cash(tmp_path):
    s = Script({1: lambda s, b: s.keep("a", s.buy(TK, contracts(10), price=cents(50)))})
    res = run(tmp_path, s, quotes=[q(1, 30, 50)])
    assert [f.fee for f in s.fills] == [dollars("0.18")]
    assert res.metrics["fees"] * DOLLAR == dollars("0.18")
    assert res.metrics["final_cash"] * DOLLAR == dollars(10_000) - dollars(5) - dollars("0.18")


def test_zero_taker_fee_option(tmp_path):
    s = Script({1: lambda s, b: s.buy(TK, contracts(10), price=cents(50))})
    res = run(tmp_path, s, quotes=[q(1, 30, 50)], fee_taker="0")
    assert [f.fee for f in s.fills] == [0] and res.metrics["fees"] == 0


def test_callbacks_order_and_timing(tmp_path):
    def go(s, b):
        s.keep("mkt", s.buy(TK, contracts(10)))  # two levels: fill, order, fill
        s.keep("lim", s.buy(TK, contracts(3), price=cents(45)))  # accepted+filled: order, fill
        s.events.append(("submitted",))

    s = Script({1: go})
    book = [lvl(1, "yes", 30, 10), lvl(1, "no", 60, 5), lvl(1, "no", 58, 5), lvl(1, "no", 55, 10)]
    run(tmp_path, s, book=book)
    m, li = s.orders["mkt"].order_id, s.orders["lim"].order_id
    # notifications are delivered after the callback that caused them returns, in order
    assert s.events == [
        ("submitted",), ("book-done", at(1)),
        # one on_order per order per batch of changes, showing its latest state
        ("fill", m), ("order", m), ("fill", m),
        ("order", li), ("fill", li),
    ]
    assert fills_of(s, "lim") == [(cents(45), contracts(3), False)]


def test_fill_fee_matches_fee_for_single_fill(tmp_path):
    s = Script({1: lambda s, b: s.buy(TK, contracts(100), price=cents(10))})
    run(tmp_path, s, quotes=[q(1, 5, 90, 100, 100)])
    assert [(f.price, f.fee) for f in s.fills] == [(cents(10), fee_for(cents(10), contracts(100)))]
    assert s.fills[0].fee == dollars("0.63")


# ---- settlement look-ahead --------------------------------------------------------------------------
def test_no_settlement_information_before_settle_ts(tmp_path):
    markets = [market(TK, close_ts=50, settle_ts=100, result="yes")]
    s = Script({1: lambda s, b: s.buy(TK, contracts(10))})
    res = run(tmp_path, s, markets=markets, quotes=[q(1, 40, 55), q(2, 41, 55), q(30, 42, 55)])
    assert s.seen_markets and all("result" not in m and "settle_ts" not in m for m in s.seen_markets)
    assert len(s.settlements) == 1
    now, st = s.settlements[0]
    assert now == at(100) == st.ts
    assert (st.ticker, st.result, st.payout, st.position) == (TK, "yes", dollars(10), contracts(10))
    fee = fee_for(cents(45), contracts(10))
    assert res.metrics["final_cash"] * DOLLAR == dollars(10_000) - dollars("4.5") - fee + dollars(10)
    assert res.positions == {TK: 0}


def test_settlement_no_result_pays_no_holders(tmp_path):
    markets = [market(TK, close_ts=50, settle_ts=60, result="no")]
    s = Script({1: lambda s, b: s.buy(TK, contracts(4), side="no")})
    res = run(tmp_path, s, markets=markets, quotes=[q(1, 40, 55), q(70, 40, 55)])
    now, st = s.settlements[0]
    assert now == at(60) and st.payout == dollars(4) and st.position == -contracts(4)
    assert res.metrics["settled_pnl"] * DOLLAR == dollars(4) - dollars("2.4")


# ---- queue_model="trades": prints at the order's price ------------------------------------------
def trt(t, yes_price, count, taker_side):
    return {**tr(t, yes_price, count), "taker_side": taker_side, "trade_id": f"t{t}-{yes_price}-{count}"}


def test_queue_trades_l1_prints_at_price_use_up_the_size_ahead_first(tmp_path):
    # YES bid 40 x 10 displayed: a buy at 40 joins behind those 10 contracts
    s = Script({1: lambda s, b: s.keep("a", s.buy(TK, contracts(6), price=cents(40)))})
    trades = [trt(2, 40, 7, "no"),   # NO taker sells into YES bids at 40: 7 of the 10 ahead
              trt(3, 40, 5, "yes"),  # a YES taker lifts the asks: not our side, nothing
              trt(4, 40, 5, "no"),   # 3 left ahead, 2 for us
              trt(5, 40, 9, "no")]   # the remaining 4 for us (print has more)
    run(tmp_path, s, quotes=[q(1, 40, 55, 10, 10)], trades=trades, queue_model="trades")
    assert fills_of(s, "a") == [(cents(40), contracts(2), True), (cents(40), contracts(4), True)]
    assert [f.ts for f in s.fills] == [at(4), at(5)]


def test_queue_none_is_the_default_and_never_fills_at_price(tmp_path):
    s = Script({1: lambda s, b: s.keep("a", s.buy(TK, contracts(6), price=cents(40)))})
    run(tmp_path, s, quotes=[q(1, 40, 55, 10, 10)], trades=[trt(2, 40, 50, "no")])
    assert s.fills == [] and s.orders["a"].status == OrderStatus.ACCEPTED


def test_queue_trades_improving_the_bid_is_first_in_queue(tmp_path):
    # a buy at 41 above the 40 best bid: nobody ahead, the first print at 41 from a NO taker fills
    s = Script({1: lambda s, b: s.keep("a", s.buy(TK, contracts(3), price=cents(41)))})
    run(tmp_path, s, quotes=[q(1, 40, 55, 10, 10)], trades=[trt(2, 41, 2, "no"), trt(3, 41, 2, "no")],
        queue_model="trades")
    assert fills_of(s, "a") == [(cents(41), contracts(2), True), (cents(41), contracts(1), True)]


def test_queue_trades_sell_yes_queues_on_the_no_ladder(tmp_path):
    # selling YES at 47 is a NO bid at 53, behind the 8 NO contracts shown there; only YES takers
    # (who lift YES asks = hit NO bids) move that queue
    def go(s, b):
        s.buy(TK, contracts(4))  # long 4 YES at the ask 46 (the NO bid at 54)
        s.keep("a", s.sell(TK, contracts(4), price=cents(47)))

    s = Script({1: go})
    trades = [trt(2, 47, 3, "yes"),  # 5 left ahead
              trt(3, 47, 3, "no"),   # NO taker: hits YES bids, not our queue
              trt(4, 47, 7, "yes")]  # 5 ahead, 2 for us
    run(tmp_path, s, book=[lvl(1, "yes", 40, 10), lvl(1, "no", 54, 5), lvl(1, "no", 53, 8)],
        trades=trades, queue_model="trades")
    assert fills_of(s, "a") == [(cents(47), contracts(2), True)]


def test_queue_trades_l2_unknown_level_waits_until_visible(tmp_path):
    # L1 data, buy at 38 below the 40 best bid: the size at 38 is unknown, so prints at 38 do
    # not fill; when 38 becomes the best bid with 4 shown, the order queues behind those 4
    s = Script({1: lambda s, b: s.keep("a", s.buy(TK, contracts(5), price=cents(38)))})
    quotes = [q(1, 40, 55, 10, 10), q(3, 38, 55, 4, 10)]
    trades = [trt(2, 38, 20, "no"), trt(4, 38, 6, "no")]
    run(tmp_path, s, quotes=quotes, trades=trades, queue_model="trades")
    assert fills_of(s, "a") == [(cents(38), contracts(2), True)]


def test_queue_model_is_validated(tmp_path):
    import pytest

    from framework.brokers.simulated import SimulatedBroker

    with pytest.raises(ValueError, match="queue_model must be one of 'none', 'trades'"):
        SimulatedBroker(queue_model="fifo")


# ---- latency: orders and cancels reach the simulated exchange later ----------------------------
def test_latency_matches_the_order_against_the_book_on_arrival(tmp_path):
    seen = {}

    def go(s, b):
        s.keep("a", s.buy(TK, contracts(2)))
        seen["status"] = s.orders["a"].status

    s = Script({1: go})
    quotes = [q(1, 30, 55, 10, 10), q(2, 30, 53, 10, 10), q(4, 30, 50, 10, 10)]  # asks 45, 47, 50
    run(tmp_path, s, quotes=quotes, latency="2s")
    assert seen["status"] == OrderStatus.PENDING  # in flight
    assert fills_of(s, "a") == [(cents(47), contracts(2), False)]  # the book of t=2, seen at t=3
    assert [f.ts for f in s.fills] == [at(3)]


def test_latency_zero_is_the_default(tmp_path):
    s = Script({1: lambda s, b: s.keep("a", s.buy(TK, contracts(2)))})
    run(tmp_path, s, quotes=[q(1, 30, 55, 10, 10), q(2, 30, 53, 10, 10)])
    assert fills_of(s, "a") == [(cents(45), contracts(2), False)] and s.fills[0].ts == at(1)


def test_latency_a_cancel_can_arrive_after_the_fill(tmp_path):
    s = Script({1: lambda s, b: s.keep("a", s.buy(TK, contracts(5), price=cents(40))),
                2: lambda s, b: s.cancel(s.orders["a"])})
    # the order arrives at t=4 and rests; a print through 40 at t=4 fills it; the cancel sent at
    # t=2 arrives at t=5, too late
    run(tmp_path, s, quotes=[q(1, 30, 55, 10, 10), q(2, 30, 55, 10, 10), q(6, 30, 55, 10, 10)],
        trades=[tr(4, 39, 5, taker="no")], latency="3s")
    assert fills_of(s, "a") == [(cents(40), contracts(5), True)]
    assert s.orders["a"].status == OrderStatus.FILLED


def test_latency_a_cancel_in_time_wins(tmp_path):
    s = Script({1: lambda s, b: s.keep("a", s.buy(TK, contracts(5), price=cents(40))),
                2: lambda s, b: s.cancel(s.orders["a"])})
    run(tmp_path, s, quotes=[q(1, 30, 55, 10, 10), q(2, 30, 55, 10, 10), q(8, 30, 55, 10, 10)],
        trades=[tr(7, 39, 5, taker="no")], latency="3s")
    assert s.fills == [] and s.orders["a"].status == OrderStatus.CANCELLED


def test_latency_an_order_arriving_after_the_close_is_rejected(tmp_path):
    s = Script({1: lambda s, b: s.keep("a", s.buy(TK, contracts(1)))})
    run(tmp_path, s, markets=[market(TK, 0, 3)], quotes=[q(1, 30, 55, 10, 10), q(5, 30, 55, 10, 10)],
        latency="3s")
    o = s.orders["a"]
    assert o.status == OrderStatus.REJECTED and o.reason == "market closed" and o.updated_ts == at(4)


def test_latency_is_validated():
    import pytest

    from framework.brokers.simulated import SimulatedBroker

    assert SimulatedBroker(latency="50ms").latency == 50_000_000 and SimulatedBroker(latency="0").latency == 0
    for bad in (-1, "-5ms", "soon"):
        with pytest.raises(ValueError, match="latency must be"):
            SimulatedBroker(latency=bad)


# ---- issue 12: never unlimited size, crossed data books, the fidelity record ---------------------
def test_unknown_size_fills_at_most_the_assumed_size(tmp_path):
    # a 100,000-contract marketable buy at the touch of a quote without sizes filled in full before
    s = Script({1: lambda s, b: s.keep("a", s.buy(TK, contracts(100_000))),
                2: lambda s, b: s.keep("b", s.buy(TK, contracts(100_000))),
                3: lambda s, b: s.keep("c", s.buy(TK, contracts(100_000)))})
    res = run(tmp_path, s, quotes=[q(1, 40, 54), q(2, 40, 54), q(3, 40, 53)], starting_cash=dollars(10**6))
    assert fills_of(s, "a") == [(cents(46), contracts(10), False)]  # default: 10 contracts
    assert fills_of(s, "b") == []  # same touch, nothing new: the assumed 10 are taken
    assert fills_of(s, "c") == [(cents(47), contracts(10), False)]  # the touch moved: a new level
    assert res.fidelity["fills_by_basis"] == {"assumed": {"fills": 2, "contracts": "20"}}
    assert res.fidelity["models"]["unknown_size_contracts"] == "10"
    assert any("assumed size" in w for w in res.fidelity["warnings"])


def test_unknown_size_contracts_is_configurable_and_validated(tmp_path):
    import pytest

    from framework.brokers.simulated import SimulatedBroker

    s = Script({1: lambda s, b: s.keep("a", s.buy(TK, contracts(100)))})
    run(tmp_path, s, quotes=[q(1, 40, 54)], unknown_size_contracts="2.5")
    assert fills_of(s, "a") == [(cents(46), contracts("2.5"), False)]
    for bad in (0, -1, "lots", True):
        with pytest.raises(ValueError, match="unknown_size_contracts must be a positive number"):
            SimulatedBroker(unknown_size_contracts=bad)


def test_crossed_data_book_is_not_matched_by_default(tmp_path):
    # YES bid 60 and NO bid 45: the YES ask (55) is below the YES bid. Two quotes like this gave
    # riskless profit before: buy at the ask, sell at the bid
    def go(s, b):
        s.keep("buy", s.buy(TK, contracts(10)))
        s.keep("sell", s.sell(TK, contracts(10)))
        s.keep("rest", s.buy(TK, contracts(5), price=cents(56)))

    # r0 rests at 56 below the 60 ask; the crossed quote's 55 ask would fill it
    s = Script({1: lambda s, b: s.keep("r0", s.buy(TK, contracts(5), price=cents(56))), 2: go})
    res = run(tmp_path, s, quotes=[q(1, 40, 40, 10, 10), q(2, 60, 45, 10, 10)])
    assert s.fills == []
    assert s.orders["buy"].status == OrderStatus.CANCELLED and "crossed" in s.orders["buy"].reason
    assert s.orders["rest"].status == OrderStatus.ACCEPTED  # a GTC limit waits for a sane book
    counts = res.fidelity["counts"]
    assert counts["crossed_book_orders_not_matched"] == 3 and counts["crossed_book_events_skipped"] == 1


def test_crossed_books_match_policy_and_locked_books(tmp_path):
    import pytest

    from framework.brokers.simulated import SimulatedBroker

    s = Script({1: lambda s, b: s.keep("buy", s.buy(TK, contracts(10)))})
    res = run(tmp_path, s, quotes=[q(1, 55, 45, 10, 10)], crossed_books="match")  # locked: 55 + 45
    assert fills_of(s, "buy") == [(cents(55), contracts(10), False)]
    assert any("crossed or locked" in w for w in res.fidelity["warnings"])
    s = Script({1: lambda s, b: s.keep("buy", s.buy(TK, contracts(10)))})
    run(tmp_path / "2", s, quotes=[q(1, 55, 45, 10, 10)])
    assert s.fills == []  # locked counts as crossed
    with pytest.raises(ValueError, match="crossed_books must be one of 'skip', 'match'"):
        SimulatedBroker(crossed_books="maybe")


def test_fidelity_json_in_the_run_folder_and_summary(tmp_path):
    import json

    def go(s, b):
        s.keep("a", s.buy(TK, contracts(3)))
        s.keep("low", s.buy(TK, contracts(3), price=cents(40), tif="ioc"))  # below the ask: not "no liquidity"

    s = Script({1: go, 2: lambda s, b: s.keep("b", s.buy(TK, contracts(1)))})
    res = run(tmp_path, s, quotes=[q(1, 40, 55, 10, 3), q(2, 40, 0, 10, 0)])
    out = res.write(tmp_path / "run")
    rec = json.loads((out / "fidelity.json").read_text())
    assert rec["fills_by_basis"] == {"displayed": {"fills": 1, "contracts": "3"}}
    assert rec["models"]["queue_model"] == "none" and rec["models"]["data"] == "quotes"
    assert rec["counts"]["orders_cancelled_no_liquidity"] == 1
    assert "Fills by basis: displayed 1 (3 contracts)" in res.summary()


def test_every_order_cancelled_for_lack_of_liquidity_is_a_warning(tmp_path):
    class Buyer(Strategy):
        def on_trade(self, trade):
            self.buy(TK, contracts(1))

    res = run(tmp_path, Buyer(), trades=[tr(1, 40, 5), tr(2, 41, 5)])
    assert res.metrics["n_orders"] == 2 and res.metrics["n_fills"] == 0
    assert any("every order (2 of 2) was cancelled for lack of liquidity" in w for w in res.fidelity["warnings"])


# ---- probabilistic queue models ("power", "log") --------------------------------------------------
QUEUE_QUOTES = [q(1, 40, 55, 10, 10),   # our buy at 40 joins behind 10
                q(2, 40, 55, 40, 10),   # 30 join behind us: front 10, back 30
                q(3, 40, 55, 30, 10)]   # 10 cancelled, no print explains them


def _queue_run(tmp_path, model, **kw):
    s = Script({1: lambda s, b: s.keep("a", s.buy(TK, contracts(10), price=cents(40)))})
    run(tmp_path, s, quotes=QUEUE_QUOTES, trades=[trt(4, 40, 7, "no")], queue_model=model, **kw)
    return fills_of(s, "a")


def test_queue_power_golden(tmp_path):
    # power n=2: share in front p = 10^2 / (10^2 + 30^2) = 0.1 -> 1 of the 10 cancelled was ahead:
    # 9 ahead, so the 7-lot print at 40 reaches nobody; with n=0.5 p = 3.16/(3.16+5.48) = 0.366:
    # 10 - 3.66 = 6.34 ahead, the print gives us 7 - 6.34 = 0.66 (stochastic rounding: .65 or .66)
    assert _queue_run(tmp_path / "a", "power") == []
    got = _queue_run(tmp_path / "b", "power", queue_power=0.5)
    assert len(got) == 1 and got[0][1] in (contracts("0.65"), contracts("0.66"))
    assert _queue_run(tmp_path / "c", "trades") == []  # risk-averse: cancellations never help


def test_queue_log_golden_and_seeded(tmp_path):
    # log: p = ln(11) / (ln(11) + ln(31)) = 0.4112 -> 4.112 of the 10 cancelled were ahead:
    # 5.888 ahead, the 7-lot print fills 1.112 (1.11 or 1.12 by the seeded rounding)
    a = _queue_run(tmp_path / "a", "log", seed=1)
    assert len(a) == 1 and a[0][1] in (contracts("1.11"), contracts("1.12"))
    assert _queue_run(tmp_path / "b", "log", seed=1) == a  # same seed, same fills


# ---- trades-only data ------------------------------------------------------------------------------
def test_trades_only_marks_at_last_trade_and_fills_only_by_prints_into_the_order(tmp_path):
    class Rest(Strategy):
        def on_trade(self, trade):
            if trade.ts == at(1):
                self.buy(TK, contracts(10), price=cents(40))

    trades = [tr(1, 45, 5, taker="no"), tr(2, 39, 3, taker="yes"),  # a YES taker: not into our bid
              tr(3, 38, 4, taker="no"), tr(4, 52, 1, taker="yes")]  # 4 of 10 filled; last print 52
    res = run(tmp_path, Rest(), trades=trades)
    assert list(res.fills["qty"]) == [contracts(4)] and list(res.fills["price"]) == [cents(40)]
    assert res.metrics["open_value"] * DOLLAR == dollars("0.52") * 4  # marked at the last print
    fid = res.fidelity
    assert fid["fills_by_basis"] == {"print": {"fills": 1, "contracts": "4"}}
    assert fid["models"]["data"] == "trades" and "last trade" in fid["models"]["marks"]
    assert any("marked at the last trade price" in w for w in fid["warnings"])


def test_queue_model_without_trades_is_a_warning(tmp_path):
    s = Script({1: lambda s, b: s.keep("a", s.buy(TK, contracts(5), price=cents(40)))})
    res = run(tmp_path, s, quotes=[q(1, 40, 55, 10, 10), q(2, 40, 55, 8, 10)], queue_model="trades")
    assert any("queue_model = 'trades' had no trade prints" in w for w in res.fidelity["warnings"])
