"""Run metrics (framework/analysis/*), each checked against numbers computed by hand.

The end-to-end scenario: one market A-1 open T0..T0+1h, settling YES at T0+4000 s; $100 cash,
no fees. The strategy buys 10 YES at the 42c ask at t=10 s and predicts 0.7 then. Bids (YES/NO):

    t=10  40/58   value 10 x 0.40 = 4.00   equity 100 - 4.20 + 4.00 =  99.80
    t=20  30/68   value 3.00                                          98.80
    t=30  50/48   value 5.00                                         100.80
    t=40  35/63   value 3.50                                          99.30
    t=4000 settles YES: cash 95.80 + 10.00                           105.80

so the worst fall is 100.80 -> 99.30 = $1.50 (peak t=30, trough t=40, recovered at settlement),
an earlier fall 100.00 -> 98.80 = $1.20 lasted 30 s, and PnL is $5.80, all of it settled.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from pathlib import Path

import pytest
from helpers import SEC, T0, at, market, run
from hypothesis import given, settings
from hypothesis import strategies as st

from framework import CONTRACT, Strategy
from framework.analysis.drawdown import drawdown_series, max_drawdown
from framework.analysis.pnl import event_table, settlement_edge
from framework.analysis.returns import DAY_NS, grid_equity, period_returns, return_on_capital, sharpe, sortino
from framework.analysis.scoring import brier, brier_skill, calibration, log_loss
from framework.analysis.trading import edge_per_contract, fill_ratios, win_rate
from framework.model.orders import Fill
from framework.units import cents, dollars

ROOT = Path(__file__).resolve().parent.parent

# ---- pure functions ------------------------------------------------------------------------


def test_max_drawdown_by_hand():
    ts = [0, 10, 20, 30, 40, 50]
    eq = [100, 90, 105, 95, 80, 106]
    dd = max_drawdown(ts, eq, end=60)
    # falls: 100->90 (10, from t=0, back at t=20), 105->80 (25, from t=20, back at t=50)
    assert (dd.amount, dd.peak_ts, dd.trough_ts, dd.recovery_ts) == (25, 20, 40, 50)
    assert dd.duration == 30 and dd.longest == 30
    assert dd.pct == pytest.approx(25 / 105)
    assert drawdown_series(eq) == [0, 10, 0, 10, 25, 0]


def test_max_drawdown_unrecovered_runs_to_end_and_longest_is_any_episode():
    dd = max_drawdown([0, 5, 100, 110], [50, 40, 60, 59], end=200)
    # worst: 50 -> 40 (10), 0..100 under water; then 60 -> 59 from t=100 to the end (200)
    assert (dd.amount, dd.recovery_ts, dd.duration) == (10, 100, 100)
    assert dd.longest == 100
    dd = max_drawdown([0, 5], [50, 40], end=500)
    assert (dd.recovery_ts, dd.duration, dd.longest) == (None, 500, 500)
    assert max_drawdown([], []).amount == 0
    assert max_drawdown([0, 1, 2], [1, 2, 3]).amount == 0


def _max_drawdown_loop(ts, equity, end=None):
    """The reference: the plain loop max_drawdown was before it was vectorised (kept here so the
    numpy version is checked against it on arbitrary paths)."""
    n = len(equity)
    if n == 0:
        return (0, None, None, None, 0, 0)
    end = ts[-1] if end is None else max(end, ts[-1])
    peak, peak_ts = equity[0], ts[0]
    worst, best, recovery = 0, None, None
    underwater = worst_here = False
    longest = 0
    for i in range(1, n):
        v, t = equity[i], ts[i]
        if v >= peak:
            if underwater:
                longest = max(longest, t - peak_ts)
                if worst_here:
                    recovery = t
                underwater = worst_here = False
            peak, peak_ts = v, t
            continue
        underwater = True
        if peak - v > worst:
            worst, best, recovery, worst_here = peak - v, (peak, peak_ts, t), None, True
    if underwater:
        longest = max(longest, end - peak_ts)
    if best is None:
        return (0, None, None, None, 0, 0)
    return (worst, best[1], best[2], recovery, (recovery if recovery is not None else end) - best[1], longest)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(-50, 50)), max_size=40), st.integers(0, 30))
def test_max_drawdown_matches_the_reference_loop(steps, tail):
    ts, eq, t = [], [], 0
    for dt, v in steps:  # non-decreasing times (equal times happen: a fill and a mark at one ts)
        t += dt
        ts.append(t)
        eq.append(v * 10**4)
    end = (ts[-1] if ts else 0) + tail
    dd = max_drawdown(ts, eq, end)
    got = (dd.amount, dd.peak_ts, dd.trough_ts, dd.recovery_ts, dd.duration, dd.longest)
    assert got == _max_drawdown_loop(ts, eq, end)
    assert all(type(x) is int or x is None for x in got)  # plain ints: metrics.json stays exact


def test_grid_equity_daily_and_period_returns():
    ts = [10 * 3600 * SEC, 30 * 3600 * SEC]
    eq = [100, 110]
    grid = grid_equity(ts, eq, start=10 * 3600 * SEC, end=50 * 3600 * SEC, step=DAY_NS)
    assert grid == [(10 * 3600 * SEC, 100), (DAY_NS, 100), (2 * DAY_NS, 110), (50 * 3600 * SEC, 110)]
    assert period_returns([v for _, v in grid]) == [0.0, pytest.approx(0.1), 0.0]
    assert period_returns([0, 5, 10]) == [1.0]  # a period starting at 0 equity has no return


def test_sharpe_sortino_return_on_capital_by_hand():
    r = [0.01, -0.02, 0.03]
    # mean 0.0066667; sample stdev sqrt((0.0033^2 + 0.0267^2 + 0.0233^2) / 2) = 0.0251661
    assert sharpe(r) == pytest.approx(0.0066667 / 0.0251661 * math.sqrt(365), rel=1e-4)
    assert sharpe(r) == pytest.approx(5.061031, rel=1e-6)
    # downside deviation sqrt((0 + 0.02^2 + 0) / 3) = 0.0115470
    assert sortino(r) == pytest.approx(0.0066667 / 0.0115470 * math.sqrt(365), rel=1e-4)
    assert sharpe([0.01]) is None and sharpe([0.01, 0.01]) is None
    assert sortino([0.01, 0.02]) is None  # no losing period
    assert return_on_capital(dollars(50), dollars(1000)) == 0.05
    assert return_on_capital(5, 0) == 0.0


def test_scores_by_hand():
    pairs = [(0.7, 1.0), (0.2, 0.0), (0.9, 0.0)]
    assert brier(pairs) == pytest.approx((0.09 + 0.04 + 0.81) / 3)
    assert log_loss(pairs) == pytest.approx(-(math.log(0.7) + math.log(0.8) + math.log(0.1)) / 3)
    assert log_loss([(0.0, 1.0)]) == pytest.approx(-math.log(1e-12))  # a certain miss stays finite
    assert brier([]) is None and log_loss([]) is None
    assert brier_skill(0.09, 0.36) == pytest.approx(0.75)
    assert brier_skill(0.1, None) is None
    table = calibration([(0.05, 0.0), (0.08, 1.0), (0.55, 1.0), (1.0, 1.0)], bins=10)
    assert table == [
        {"bin_lo": 0.0, "bin_hi": 0.1, "n": 2, "mean_p": pytest.approx(0.065), "freq": 0.5},
        {"bin_lo": 0.5, "bin_hi": 0.6, "n": 1, "mean_p": 0.55, "freq": 1.0},
        {"bin_lo": 0.9, "bin_hi": 1.0, "n": 1, "mean_p": 1.0, "freq": 1.0},
    ]


def test_edge_fill_ratio_win_rate_event_table_by_hand():
    buy_yes = Fill("A", "yes", "buy", cents(42), 10 * CONTRACT, 0, 0, "O1", False)
    sell_yes = Fill("A", "yes", "sell", cents(60), 4 * CONTRACT, 0, 0, "O2", False)
    buy_no = Fill("B", "no", "buy", cents(70), 2 * CONTRACT, 0, 0, "O3", False)
    # A settles YES: bought at 42c -> +58c each (x10); sold at 60c -> -40c each (x4)
    assert settlement_edge(buy_yes, "yes") == cents(58) * 10 * CONTRACT
    assert settlement_edge(sell_yes, "yes") == -cents(40) * 4 * CONTRACT
    # B settles YES: a NO bought at 70c is worth 0 -> -70c each
    assert settlement_edge(buy_no, "yes") == -cents(70) * 2 * CONTRACT
    rows = [
        {"ticker": "A", "event_ticker": "E1", "series_ticker": "S", "n_fills": 2, "qty_traded": 1400,
         "notional": 0, "fees": cents(10), "realized": 0, "settled": 0, "open_value": 0, "open_cost": 0,
         "unrealized": 0, "pnl": cents(50), "settled_qty": 1400, "edge": (5800 * 1000 - 4000 * 400)},
        {"ticker": "B", "event_ticker": "E1", "series_ticker": "S", "n_fills": 1, "qty_traded": 200,
         "notional": 0, "fees": cents(4), "realized": 0, "settled": 0, "open_value": 0, "open_cost": 0,
         "unrealized": 0, "pnl": -cents(144), "settled_qty": 200, "edge": -7000 * 200},
        {"ticker": "C", "event_ticker": "E2", "series_ticker": "S", "n_fills": 1, "qty_traded": 100,
         "notional": 0, "fees": 0, "realized": 0, "settled": 0, "open_value": 0, "open_cost": 0,
         "unrealized": 0, "pnl": 0, "settled_qty": 0, "edge": 0},
    ]
    # (5.80 - 1.60 - 1.40) / 16 contracts = $0.175; fees 0.14 / 16 = $0.00875 -> net $0.16625
    assert edge_per_contract(rows) == (Decimal("0.175000"), Decimal("0.166250"))
    assert edge_per_contract(rows[2:]) == (None, None)
    assert win_rate(rows) == (1, 3, pytest.approx(1 / 3))
    assert win_rate([]) == (0, 0, None)
    e1, e2 = event_table(rows)
    assert (e1["event_ticker"], e1["n_markets"], e1["n_won"], e1["pnl"], e1["fees"]) == ("E1", 2, 1, -cents(94),
                                                                                           cents(14))
    assert (e2["event_ticker"], e2["n_markets"], e2["pnl"]) == ("E2", 1, 0)

    class Ord:
        def __init__(self, qty, filled):
            self.qty, self.filled_qty = qty, filled

    assert fill_ratios([Ord(100, 100), Ord(100, 50), Ord(200, 0), Ord(100, 0)]) == (0.5, 0.3)
    assert fill_ratios([]) == (0.0, 0.0)


# ---- end to end -----------------------------------------------------------------------------

QUOTES = [
    {"ts": 10, "ticker": "A-1", "yes_bid": 40, "no_bid": 58, "yes_bid_size": 100, "no_bid_size": 100},
    {"ts": 20, "ticker": "A-1", "yes_bid": 30, "no_bid": 68, "yes_bid_size": 100, "no_bid_size": 100},
    {"ts": 30, "ticker": "A-1", "yes_bid": 50, "no_bid": 48, "yes_bid_size": 100, "no_bid_size": 100},
    {"ts": 40, "ticker": "A-1", "yes_bid": 35, "no_bid": 63, "yes_bid_size": 100, "no_bid_size": 100},
]
MARKETS = [market("A-1", open_ts=0, close_ts=3600, settle_ts=4000, result="yes")]


class BuyOnce(Strategy):
    def on_book(self, book):
        if not self.position(book.ticker) and not self.open_orders(book.ticker):
            self.buy(book.ticker, 10 * CONTRACT, price=book.yes_ask, tif="ioc")
            self.predict(book.ticker, 0.7)


def _run(tmp_path, **kw):
    kw.setdefault("score_horizons", ["30min", "1h"])
    return run(tmp_path / "cat", BuyOnce(), markets=MARKETS, quotes=QUOTES, starting_cash=dollars(100),
               fee_taker="0", **kw)


def test_end_to_end_metrics_by_hand(tmp_path):
    r = _run(tmp_path)
    m = r.metrics
    assert r.fills["price"].tolist() == [cents(42)]
    assert (m["pnl"], m["settled_pnl"], m["realized_pnl"], m["unrealized_pnl"]) == (
        Decimal("5.8"), Decimal("5.8"), 0, 0)
    # exact path: start, 4 marks, settlement
    assert r.equity_path["equity"].tolist() == [dollars(x) for x in
                                                ("100", "99.80", "98.80", "100.80", "99.30", "105.80")]
    assert m["max_drawdown"] == Decimal("1.5")
    assert m["max_drawdown_pct"] == round(1.5 / 100.8, 8)
    assert m["max_drawdown_peak"] == "2026-01-01T00:00:30+00:00"
    assert m["max_drawdown_trough"] == "2026-01-01T00:00:40+00:00"
    assert m["max_drawdown_recovered"] is True
    assert m["max_drawdown_duration_s"] == 3970.0  # t=30 -> settlement at t=4000
    assert m["longest_drawdown_s"] == 3970.0
    assert m["return_on_capital"] == 0.058
    assert m["turnover"] == Decimal("4.2") and m["turnover_ratio"] == 0.042
    assert m["edge_per_contract"] == Decimal("0.58") and m["edge_per_contract_net"] == Decimal("0.58")
    assert (m["n_markets_won"], m["n_markets_traded"], m["win_rate"]) == (1, 1, 1.0)
    assert (m["fill_ratio"], m["qty_fill_ratio"]) == (1.0, 1.0)
    # prediction 0.7 (outcome YES) vs the mid then, (40 + 100 - 58) / 2 = 41c
    assert m["brier"] == pytest.approx(0.09) and m["brier_market"] == pytest.approx(0.59 ** 2)
    assert m["log_loss"] == pytest.approx(-math.log(0.7)) and m["log_loss_market"] == pytest.approx(-math.log(0.41))
    assert m["brier_skill"] == pytest.approx(1 - 0.09 / 0.3481, abs=1e-8)
    # horizons: 30 min before close the mid is (35 + 37) / 2 = 36c; 1 h before close (t=0) the book is empty
    assert m["market_scores"]["30min"] == {"n": 1, "brier": pytest.approx(0.64 ** 2), "log_loss": pytest.approx(
        -math.log(0.36))}
    assert m["market_scores"]["1h"]["n"] == 0
    assert m["calibration"]["strategy"] == [{"bin_lo": 0.7, "bin_hi": 0.8, "n": 1, "mean_p": 0.7, "freq": 1.0}]
    # tables
    assert r.settlements[["ticker", "result", "payout", "position"]].values.tolist() == [
        ["A-1", "yes", dollars(10), 10 * CONTRACT]]
    assert r.settlements["ts"].iloc[0].value == at(4000)
    row = r.markets.iloc[0]
    assert (row["ticker"], row["event_ticker"], row["settled"], row["pnl"], row["edge"]) == (
        "A-1", "A-1", dollars("5.8"), dollars("5.8"), cents(58) * 10 * CONTRACT)
    assert r.events["pnl"].tolist() == [dollars("5.8")]
    assert r.predictions[["ticker", "p", "outcome"]].values.tolist() == [["A-1", 0.7, 1.0]]


def test_pnl_split_adds_up_with_open_positions(tmp_path):
    """Stopped before settlement: unrealized = 10 x 35c (the bid) - $4.20 cost = -$0.70."""
    r = _run(tmp_path, end=at(50))
    m = r.metrics
    assert m["open_value"] == Decimal("3.5") and m["open_cost"] == Decimal("4.2")
    assert m["unrealized_pnl"] == Decimal("-0.7") and m["pnl"] == Decimal("-0.7")
    assert m["pnl"] == m["realized_pnl"] + m["settled_pnl"] + m["unrealized_pnl"] - m["fees"]
    assert m["final_equity"] - m["starting_cash"] == m["pnl"]


def _dollars(text: str) -> Decimal:
    return Decimal(re.sub(r"[$,]", "", text))


def test_summary_pnl_lines_add_up():
    """The printed split adds up to the printed PnL (it did not: 'open positions at bid' was a
    market value shown as a PnL term). A momentum run cut off with positions open."""
    from framework import run_backtest
    from framework.core.config import load_config
    cfg = load_config(ROOT / "backtests" / "momentum.toml")
    r = run_backtest(cfg.strategy, cfg.catalog, params=cfg.params, starting_cash=cfg.starting_cash,
                     end="2026-11-21", **cfg.model_options())
    assert r.metrics["open_positions"] > 0
    lines = {ln.strip().rsplit("  ", 1)[0].strip(): ln.split()[-1] for ln in r.summary().splitlines()}
    total = _dollars(lines["PnL"])
    terms = [_dollars(v) for k, v in lines.items() if k in ("realized (trading)", "settled",
                                                              "unrealized (bid - cost)", "fees")]
    assert len(terms) == 4
    assert sum(terms) == total


@pytest.mark.parametrize("interval", ["1min", None])
def test_max_drawdown_does_not_depend_on_equity_sampling(interval):
    """Max drawdown came from the sampled equity (momentum to 2026-11-21: 101.96 at 1 h, 102.01
    at 1 min); now it is computed on the exact path and is the same for any interval."""
    from framework import run_backtest
    from framework.core.config import load_config

    cfg = load_config(ROOT / "backtests" / "momentum.toml")
    out = {}
    for iv in ("1h", interval):
        opts = cfg.model_options()
        opts["equity_interval"] = iv
        r = run_backtest(cfg.strategy, cfg.catalog, params=cfg.params, starting_cash=cfg.starting_cash,
                         end="2026-11-21", **opts)
        out[iv] = r
    a, b = out["1h"].metrics, out[interval].metrics
    assert a["max_drawdown"] == b["max_drawdown"]
    assert a["max_drawdown_duration_s"] == b["max_drawdown_duration_s"]
    # the exact path contains every sampled state, so no sample can show a deeper fall
    sampled = out["1h"].equity["equity"].tolist()
    assert max(drawdown_series(sampled)) <= int(a["max_drawdown"] * 10_000)
    # and it ends at the final equity
    assert out["1h"].equity_path["equity"].iloc[-1] == int(a["final_equity"] * 10_000)


def test_T0_is_midnight():  # the grid test above relies on it
    assert T0 % DAY_NS == 0


def test_score_horizons_from_config(tmp_path):
    from framework.core.config import ConfigError, load_config

    cfg_file = tmp_path / "c.toml"
    cfg_file.write_text('[run]\nstrategy = "strategies.longshot:LongshotFade"\nscore_horizons = ["30min"]\n')
    assert load_config(cfg_file).model_options()["score_horizons"] == ["30min"]
    cfg_file.write_text('[run]\nscore_horizons = "30min"\n')
    with pytest.raises(ConfigError, match="score_horizons must be a list"):
        load_config(cfg_file)


def test_equity_path_marks_trades_only_markets_at_the_last_print():
    """A market with no book is valued at its last print (as Engine.marks does), print by print."""
    from framework.core.equity import EquityPath
    from framework.model.portfolio import Portfolio

    pf = Portfolio(dollars(100))
    last: dict[str, int] = {}
    path = EquityPath(pf, {}, last)
    path.start(0)
    last["A"] = cents(40)
    pf.apply_fill("A", "no", "buy", cents(60), 10 * CONTRACT, 0)  # 10 NO at 60c: marked at 1 - 40c
    path.changed("A", 1)
    last["A"] = cents(30)
    path.mark_print("A", 2)  # NO now worth 70c
    # the fill left equity at $100 (cash 94 + 10 x 60c), so only the print adds a point
    assert list(path.equity) == [dollars(100), dollars(101)]
    assert list(path.ts) == [0, 2]
