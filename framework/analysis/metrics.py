"""Every run metric, computed once from the engine's fills, orders, exact equity path,
settlements and predictions (see docs/results.md for each formula).

Money in ``metrics`` is ``Decimal`` dollars (exact to $0.0001); ratios and scores are floats;
times are ISO strings or seconds. Nothing time- or machine-dependent goes in, so the same
backtest gives the same metrics.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ..model.orders import Fill
from ..units import CONTRACT, DOLLAR
from .columns import fill_columns
from .drawdown import max_drawdown
from .pnl import event_table, market_table, pnl_split
from .returns import DAY_NS, grid_equity, period_returns, return_on_capital, sharpe, sortino
from .scoring import brier_skill, calibration, score
from .trading import edge_per_contract, fill_ratios, turnover, win_rate

__all__ = ["Analysis", "analyse", "compute_metrics"]


def _usd(units: int) -> Decimal:
    return Decimal(units) / DOLLAR


def _iso(ns: int | None) -> str | None:
    if ns is None:
        return None
    import pandas as pd

    return pd.Timestamp(ns, unit="ns", tz="UTC").isoformat()


def _rnd(x: float | None, digits: int = 8) -> float | None:
    return None if x is None else round(x, digits)


@dataclass
class Analysis:
    """The metrics dict plus the tables behind it (lists of plain dicts, framework units)."""

    metrics: dict[str, Any]
    markets: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    predictions: list[dict] = field(default_factory=list)
    mids: list[dict] = field(default_factory=list)
    fill_columns: dict[str, Any] = field(default_factory=dict)  # engine.fills column-wise (analysis.columns)


def analyse(engine, run_info: dict[str, Any] | None = None, probes=None,
            order_columns: dict[str, Any] | None = None) -> Analysis:
    """All metrics and tables of a finished run. ``probes``: an ``analysis.probes.MidProbes``
    attached before the run (market mids at horizons before close), or ``None``;
    ``order_columns``: ``engine.order_log`` column-wise (``analysis.columns.order_columns``) with
    at least ``qty`` and ``filled_qty``, when the caller built it (the fill ratios then need no loop)."""
    pf = engine.portfolio
    # book bids; the last print for markets without a book (Engine.marks)
    marks = engine.marks() if hasattr(engine, "marks") else {t: (b.yes_bid, b.no_bid) for t, b in engine.books.items()}
    split = pnl_split(pf, marks)
    final_equity = pf.cash + split["open_value"]
    results = {s.ticker: s.result for s in engine.settlements}
    fcols = fill_columns(engine.fills, Fill._fields)
    markets = market_table(pf, marks, engine.fills, results, engine.market_info, fcols)
    orders = engine.order_log
    n_filled_ratio, qty_ratio = fill_ratios(orders, order_columns)
    path = engine.equity_path
    end = max(engine.now, path.ts[-1]) if len(path) else engine.now
    dd = max_drawdown(path.ts, path.equity, end)
    start = path.ts[0] if len(path) else end
    grid = grid_equity(path.ts, path.equity, start, end, DAY_NS)
    rets = period_returns([v for _, v in grid])
    traded = sum(m["qty_traded"] for m in markets)  # every fill is in one market row
    gross_edge, net_edge = edge_per_contract(markets)
    won, n_traded, rate = win_rate(markets)
    notional = turnover(markets)
    metrics: dict[str, Any] = {
        # --- the PnL split (adds up: pnl = realized + settled + unrealized - fees)
        "pnl": _usd(split["pnl"]),
        "fees": _usd(split["fees"]),
        "realized_pnl": _usd(split["realized"]),
        "settled_pnl": _usd(split["settled"]),
        "unrealized_pnl": _usd(split["unrealized"]),
        "open_value": _usd(split["open_value"]),
        "open_cost": _usd(split["open_cost"]),
        "starting_cash": _usd(pf.starting_cash),
        "final_cash": _usd(pf.cash),
        "final_equity": _usd(final_equity),
        # --- returns on a daily UTC grid, drawdown on the exact path
        "return_on_capital": _rnd(return_on_capital(split["pnl"], pf.starting_cash)),
        "returns_grid": "1d UTC",
        "n_periods": len(rets),
        "sharpe": _rnd(sharpe(rets)),
        "sortino": _rnd(sortino(rets)),
        "max_drawdown": _usd(dd.amount),
        "max_drawdown_pct": _rnd(dd.pct),
        "max_drawdown_peak": _iso(dd.peak_ts),
        "max_drawdown_trough": _iso(dd.trough_ts),
        "max_drawdown_recovered": dd.recovery_ts is not None if dd.amount else None,
        "max_drawdown_duration_s": dd.duration / 1e9,
        "longest_drawdown_s": dd.longest / 1e9,
        "equity_points": len(path),
        # --- trading activity
        "n_orders": len(orders),
        "n_fills": len(engine.fills),
        "fill_ratio": round(n_filled_ratio, 6),
        "qty_fill_ratio": round(qty_ratio, 6),
        "contracts_traded": Decimal(traded) / CONTRACT,
        "turnover": _usd(notional),
        "turnover_ratio": _rnd(notional / pf.starting_cash if pf.starting_cash else 0.0),
        "edge_per_contract": gross_edge,
        "edge_per_contract_net": net_edge,
        "n_markets_traded": n_traded,
        "n_markets_won": won,
        "win_rate": _rnd(rate),
        "n_events": engine.n_events,
        "n_settlements": sum(1 for s in engine.settlements if s.position),
        "open_positions": sum(1 for p in pf.positions.values() if p.yes or p.no),
    }
    predictions, mids = _scores(engine, results, probes, metrics)
    if run_info:
        metrics["run"] = run_info
    return Analysis(metrics, markets, event_table(markets), predictions, mids, fcols)


def compute_metrics(engine, run_info: dict[str, Any] | None = None) -> dict[str, Any]:
    """Summary numbers of a finished run (money as exact Decimal dollars)."""
    return analyse(engine, run_info).metrics


def _outcome(result: str | None) -> float | None:
    return 1.0 if result == "yes" else 0.0 if result == "no" else None


def _scores(engine, results: dict[str, str], probes, metrics: dict) -> tuple[list[dict], list[dict]]:
    """Scores of ``self.predict`` and of the market's mid; adds keys to ``metrics``."""
    predictions = [{"ts": ts, "ticker": t, "p": p, "mid": mid, "outcome": _outcome(results.get(t))}
                   for ts, t, p, mid in engine.predictions]
    scored = [(r["p"], r["outcome"]) for r in predictions if r["outcome"] is not None]
    calib: dict[str, list] = {}
    if scored:
        s = score(scored)
        metrics.update(n_predictions=s["n"], brier=s["brier"], log_loss=s["log_loss"])
        paired = [r for r in predictions if r["outcome"] is not None and r["mid"] is not None]
        own = score([(r["p"], r["outcome"]) for r in paired])
        market = score([(r["mid"] / DOLLAR, r["outcome"]) for r in paired])
        metrics.update(n_predictions_paired=own["n"], brier_paired=own["brier"],
                       brier_market=market["brier"], log_loss_market=market["log_loss"],
                       brier_skill=_rnd(brier_skill(own["brier"], market["brier"])))
        calib["strategy"] = calibration(scored)
    mids = []
    if probes is not None:
        mids = [{"ticker": t, "horizon": h, "ts": ts, "mid": mid, "outcome": _outcome(results.get(t))}
                for t, h, ts, mid in probes.samples]
        by_h: dict[str, dict] = {}
        for label in probes.horizons:
            pairs = [(r["mid"] / DOLLAR, r["outcome"]) for r in mids
                     if r["horizon"] == label and r["mid"] is not None and r["outcome"] is not None]
            by_h[label] = score(pairs)
            if pairs:
                calib[f"market {label} before close"] = calibration(pairs)
        metrics["market_scores"] = by_h
    if calib:
        metrics["calibration"] = calib
    return predictions, mids
