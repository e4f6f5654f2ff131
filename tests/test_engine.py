"""Engine: event ordering, timers, subscriptions, start/end, settlement and determinism."""

from __future__ import annotations

import pandas as pd
import pytest
from helpers import at, make_catalog, market, run

from framework import Strategy
from framework.backtest import run_backtest
from framework.core.engine import parse_duration
from framework.units import cents, contracts


def q(t, tk, yb=40, nb=55, ybs=10, nbs=10):
    return {"ts": t, "ticker": tk, "yes_bid": yb, "no_bid": nb, "yes_bid_size": ybs, "no_bid_size": nbs}


def lvl(t, tk, side="yes", price=40, size=5, snapshot=False):
    return {"ts": t, "ticker": tk, "side": side, "price": price, "size": size, "snapshot": snapshot}


def tr(t, tk, yes_price=45, count=1, trade_id=None):
    row = {"ts": t, "ticker": tk, "yes_price": yes_price, "count": count}
    if trade_id:
        row["trade_id"] = trade_id
    return row


class Recorder(Strategy):
    """Records every callback as (now, what, detail)."""

    def __init__(self, timers=None):
        super().__init__()
        self.log: list[tuple] = []
        self.timers = timers or []

    def on_start(self):
        for name, kw in self.timers:
            self.set_timer(name, **kw)

    def on_book(self, book):
        self.log.append((self.now, "quote" if not book.depth_known else "book", book.ticker))

    def on_trade(self, trade):
        self.log.append((self.now, "trade", trade.ticker, trade.trade_id))

    def on_timer(self, name):
        self.log.append((self.now, "timer", name))

    def on_settlement(self, s):
        self.log.append((self.now, "settle", s.ticker))


def test_events_ordered_by_ts_then_kind_then_file(tmp_path):
    quotes = [[q(1, "B-1"), q(2, "A-1"), q(3, "B-1"), q(5, "Z-1")],  # part-0
              [q(5, "A-1")]]  # part-1: same ts as Z-1 in part-0, comes after it
    book = [lvl(2, "A-1"), lvl(3, "B-1")]
    trades = [tr(1, "B-1", trade_id="t1"), tr(2, "A-1", trade_id="t2")]
    s = Recorder()
    run(tmp_path, s, quotes=quotes, book=book, trades=trades, kinds=["quotes", "book", "trades"])
    assert s.log == [
        (at(1), "quote", "B-1"), (at(1), "trade", "B-1", "t1"),
        (at(2), "book", "A-1"), (at(2), "quote", "A-1"), (at(2), "trade", "A-1", "t2"),
        (at(3), "book", "B-1"), (at(3), "quote", "B-1"),
        (at(5), "quote", "Z-1"), (at(5), "quote", "A-1"),
    ]


def test_auto_kinds_prefer_book_over_quotes(tmp_path):
    s = Recorder()
    run(tmp_path, s, quotes=[q(1, "A-1")], book=[lvl(2, "A-1")], trades=[tr(3, "A-1", trade_id="x")])
    assert s.log == [(at(2), "book", "A-1"), (at(3), "trade", "A-1", "x")]


def test_timers_at_and_every_fire_before_data_at_same_ts(tmp_path):
    class T(Recorder):
        def on_book(self, book):
            super().on_book(book)
            if book.ts == at(0):
                self.set_timer("tick", every="1min")
                self.set_timer("once", at=at(30))
                self.set_timer("iso", at="2026-01-01T00:01:30Z")

    s = T()
    run(tmp_path, s, quotes=[q(0, "A-1"), q(30, "A-1"), q(60, "A-1"), q(150, "A-1")])
    assert s.log == [
        (at(0), "quote", "A-1"),
        (at(30), "timer", "once"), (at(30), "quote", "A-1"),
        (at(60), "timer", "tick"), (at(60), "quote", "A-1"),
        (at(90), "timer", "iso"),
        (at(120), "timer", "tick"),
        (at(150), "quote", "A-1"),
    ]


def test_timer_replace_and_cancel(tmp_path):
    class T(Recorder):
        def on_start(self):
            self.set_timer("a", at=at(10))
            self.set_timer("a", at=at(20))  # replaces the first
            self.set_timer("b", at=at(15))
            self.n = 0

        def on_book(self, book):
            super().on_book(book)
            if book.ts == at(5):
                self.cancel_timer("b")
                self.set_timer("c", every=parse_duration("10s"))

        def on_timer(self, name):
            super().on_timer(name)
            if name == "c":
                self.n += 1
                if self.n == 2:
                    self.cancel_timer("c")  # an interval timer can stop itself

    s = T()
    run(tmp_path, s, quotes=[q(5, "A-1"), q(60, "A-1")])
    assert s.log == [
        (at(5), "quote", "A-1"),
        (at(15), "timer", "c"),
        (at(20), "timer", "a"),
        (at(25), "timer", "c"),
        (at(60), "quote", "A-1"),
    ]


def test_interval_timer_set_in_on_start_does_not_fire_before_run_start(tmp_path):
    # the usual way to start a periodic task: set_timer(every=...) in on_start. The timer
    # must start at the run's start, not at the epoch (1970), firing thousands of times in
    # the past before the first market event.
    s = Recorder(timers=[("daily", {"every": "24h"})])
    run(tmp_path, s, quotes=[q(0, "A-1"), q(90_000, "A-1")], markets=[market("A-1", close_ts=100_000)],
        start=at(0))
    fired = [t for t, what, *_ in s.log if what == "timer"]
    assert fired, "the daily timer should fire once within the data"
    assert min(fired) >= at(0)
    assert len(fired) == 1


@pytest.mark.parametrize("bad", [0, -5, "soon", "-1min"])
def test_bad_timer_interval(bad):
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_parse_duration():
    assert parse_duration("1min") == 60 * 10**9
    assert parse_duration("1h") == 3600 * 10**9
    assert parse_duration(5) == 5


def test_subscribe_narrows_markets(tmp_path):
    class S(Recorder):
        def on_start(self):
            self.subscribe("A-1")

    s = S()
    markets = [market("A-1", close_ts=50, settle_ts=60, result="yes"),
               market("B-1", close_ts=50, settle_ts=60, result="no")]
    run(tmp_path, s, markets=markets, quotes=[q(1, "A-1"), q(1, "B-1"), q(2, "B-1"), q(3, "A-1")],
        trades=[tr(2, "B-1", trade_id="b"), tr(2, "A-1", trade_id="a")])
    assert s.log == [(at(1), "quote", "A-1"), (at(2), "trade", "A-1", "a"), (at(3), "quote", "A-1"),
                     (at(60), "settle", "A-1")]


def test_start_end_filtering_end_exclusive(tmp_path):
    markets = [market("A-1", close_ts=5, settle_ts=5, result="yes"),
               market("B-1", close_ts=7, settle_ts=7, result="no")]
    s = Recorder()
    run(tmp_path, s, markets=markets, quotes=[q(t, "A-1") for t in range(10)], start=at(3), end=at(7))
    assert s.log == [(at(3), "quote", "A-1"), (at(4), "quote", "A-1"), (at(5), "settle", "A-1"),
                     (at(5), "quote", "A-1"), (at(6), "quote", "A-1")]


def test_start_end_as_strings(tmp_path):
    s = Recorder()
    run(tmp_path, s, quotes=[q(t, "A-1") for t in range(0, 300, 60)],
        start="2026-01-01T00:01:00Z", end="2026-01-01 00:04:00")
    assert [t for t, *_ in s.log] == [at(60), at(120), at(180)]


def test_settlement_after_last_data_still_fires(tmp_path):
    class S(Recorder):
        def on_book(self, book):
            super().on_book(book)
            if self.position("A-1") == 0:
                self.buy("A-1", contracts(2))

        def on_settlement(self, st):
            super().on_settlement(st)
            self.payout = st.payout
            self.cash_at_settle = self.cash

    s = S()
    res = run(tmp_path, s, markets=[market("A-1", close_ts=50, settle_ts=1000, result="yes")],
              quotes=[q(1, "A-1"), q(2, "A-1")])
    assert s.log[-1] == (at(1000), "settle", "A-1")
    assert s.payout == 2 * 10_000
    assert res.metrics["n_settlements"] == 1 and res.positions == {"A-1": 0}


class Busy(Strategy):
    """A deterministic strategy that trades, records and predicts."""

    params = {"cap": 3}

    def on_book(self, book):
        t = book.ticker
        pos = self.position(t)
        self.record("pos", pos)
        if book.yes_ask is not None and pos < contracts(self.params["cap"]):
            self.buy(t, contracts(1), price=book.yes_ask)
        elif book.yes_bid is not None:
            self.sell(t, contracts(2), price=book.yes_bid + cents(1))
        if book.mid is not None:
            self.predict(t, book.mid / 10_000)

    def on_trade(self, trade):
        self.record("last", trade.yes_price)


def _busy_catalog(root):
    markets = [market("A-1", close_ts=500, settle_ts=600, result="yes"),
               market("B-1", close_ts=500, settle_ts=650, result="no")]
    book = []
    for t in range(0, 400, 20):
        for tk, off in (("A-1", 0), ("B-1", 7)):
            book.append(lvl(t, tk, "yes", 30 + (t // 20 + off) % 10, 3 + t % 4))
            book.append(lvl(t, tk, "no", 50 + (t // 20 + off) % 7, 2 + t % 3))
    trades = [tr(t + 5, tk, 35 + t % 20, 1 + t % 3) for t in range(0, 400, 40) for tk in ("A-1", "B-1")]
    make_catalog(root, markets=markets, book=book, trades=trades)
    return root


def test_determinism_same_results_and_byte_identical_files(tmp_path):
    root = _busy_catalog(tmp_path / "cat")
    r1 = run_backtest(Busy, root, equity_interval="1min")
    r2 = run_backtest(Busy, root, equity_interval="1min")
    assert len(r1.fills) > 5
    pd.testing.assert_frame_equal(r1.fills, r2.fills)
    pd.testing.assert_frame_equal(r1.orders, r2.orders)
    pd.testing.assert_frame_equal(r1.equity, r2.equity)
    pd.testing.assert_frame_equal(r1.records, r2.records)
    assert r1.metrics == r2.metrics
    d1, d2 = r1.write(tmp_path / "run1"), r2.write(tmp_path / "run2")
    names = sorted(p.name for p in d1.iterdir())
    assert names == sorted(p.name for p in d2.iterdir())
    assert {"metrics.json", "fills.parquet", "orders.parquet", "equity.parquet", "records.parquet"} <= set(names)
    for n in names:
        assert (d1 / n).read_bytes() == (d2 / n).read_bytes(), n


def test_determinism_independent_of_batch_size(tmp_path):
    root = _busy_catalog(tmp_path / "cat")
    big = run_backtest(Busy, root, equity_interval=None)
    small = run_backtest(Busy, root, equity_interval=None, batch_size=7)
    pd.testing.assert_frame_equal(big.fills, small.fills)
    assert big.metrics == small.metrics


def test_metrics_consistent_with_fills(tmp_path):
    root = _busy_catalog(tmp_path / "cat")
    r = run_backtest(Busy, root, equity_interval=None)
    assert r.metrics["n_fills"] == len(r.fills)
    assert r.metrics["fees"] * 10_000 == int(r.fills["fee"].sum())
    m = r.metrics
    assert m["final_cash"] - m["starting_cash"] == m["realized_pnl"] + m["settled_pnl"] - m["fees"]
