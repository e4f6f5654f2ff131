"""Parity: a paper run (live-style feed, wall clock, risk gate, the live runner) and a backtest
of the same recorded stream give identical fills."""

from __future__ import annotations

import json
import random

from helpers import make_catalog, market

from framework import CENT, CONTRACT, DOLLAR, Strategy, cents
from framework.backtest import _select_markets, run_backtest
from framework.core.config import RunConfig
from framework.data.replay import ParquetReplayFeed
from framework.live.config import LiveConfig
from framework.live.runner import LiveRunner, resolve_settings
from framework.live.testing import ReplayAsLiveFeed

TICKERS = ["KXPAR-26JAN01-T1", "KXPAR-26JAN01-T2"]


class Swing(Strategy):
    """Event-driven (no timers): buys dips with marketable and resting orders, sells into rises,
    cancels stale quotes, and uses reduce-only exits."""

    params = {"qty": 3}

    def on_start(self) -> None:
        self.qty = self.params["qty"] * CONTRACT
        self.n = 0

    def on_book(self, book) -> None:
        t = book.ticker
        if book.yes_bid is None or book.no_bid is None:
            return
        self.n += 1
        ask = DOLLAR - book.no_bid
        pos = self.position(t)
        mine = self.open_orders(t)
        if pos == 0 and not mine and ask <= cents(45):
            self.buy(t, self.qty)  # marketable
        elif pos == 0 and not mine and self.n % 3 == 0:
            self.buy(t, self.qty, price=book.yes_bid)  # resting bid
        elif pos > 0 and not [o for o in mine if o.action == "sell"]:
            self.sell(t, pos, price=min(book.yes_bid + cents(3), DOLLAR - CENT), reduce_only=True)
        for o in mine:
            if o.action == "buy" and o.price is not None and o.price < book.yes_bid - cents(3):
                self.cancel(o)

    def on_trade(self, trade) -> None:
        if self.position(trade.ticker) > 0 and trade.yes_price <= cents(30):
            self.cancel_all(trade.ticker)
            self.sell(trade.ticker, self.position(trade.ticker), reduce_only=True)  # marketable exit


def _catalog(root):
    rng = random.Random(7)
    quotes, trades = [], []
    mid = {t: 50 for t in TICKERS}
    for s in range(1, 400):
        t = TICKERS[s % 2]
        mid[t] = max(20, min(80, mid[t] + rng.choice((-2, -1, 0, 1, 2))))
        quotes.append({"ts": s, "ticker": t, "yes_bid": mid[t] - 1, "no_bid": 100 - mid[t] - 2,
                       "yes_bid_size": rng.randint(1, 20), "no_bid_size": rng.randint(1, 20)})
        if s % 5 == 0:
            trades.append({"ts": s, "ticker": t, "yes_price": mid[t] + rng.choice((-3, 0, 3)),
                           "count": rng.randint(1, 10), "taker_side": rng.choice(("yes", "no"))})
    return make_catalog(root, markets=[market(t, 0, 3600) for t in TICKERS], quotes=quotes, trades=trades)


def test_paper_run_and_backtest_of_the_same_stream_fill_identically(tmp_path):
    cat = _catalog(tmp_path / "cat")
    bt = run_backtest(Swing, cat, params={"qty": 3})
    expected = [tuple(r) for r in bt.fills.itertuples(index=False)]
    assert len(expected) >= 10  # the scenario trades: marketable, resting, reduce-only, cancels

    run = RunConfig(path=None, mode="paper", strategy="tests:Swing", markets=TICKERS)
    settings = resolve_settings(LiveConfig(run, {"env": "local"}, {}), state_dir=str(tmp_path / "state"),
                                out=str(tmp_path / "out"))
    rows = _select_markets(cat, TICKERS, None)  # the same metadata the backtest kernel uses
    feed = ReplayAsLiveFeed(ParquetReplayFeed(cat, markets=TICKERS))
    strat = Swing({"qty": 3})
    runner = LiveRunner(settings, strategy=strat, feed=feed, market_rows=rows, install_signals=False, echo=None)
    summary = runner.run()
    assert summary["reason"] == "the feed ended" and summary["risk"]["denials"] == 0

    import pandas as pd

    paper = pd.read_parquet(tmp_path / "out" / "fills.parquet")
    got = [tuple(r) for r in paper.itertuples(index=False)]
    assert got == expected
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["final_cash"] == float(bt.metrics["final_cash"]) and metrics["fees"] == float(bt.metrics["fees"])
    assert {t: p.yes - p.no for t, p in runner.engine.portfolio.positions.items()} == \
        {t: n for t, n in bt.positions.items()}
