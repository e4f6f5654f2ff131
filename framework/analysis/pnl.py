"""The PnL split and the per-market / per-event tables, in exact money units.

    pnl = realized + settled + unrealized - fees,    unrealized = open value at bid - open cost

``realized``: closed by trading (sells and YES+NO netting at $1); ``settled``: closed by
settlement ($1 per winning contract minus what those contracts cost); ``open value``: the
contracts still held marked at the bid of each held leg (never at the ask); ``open cost``: what
they cost. The terms add up to the change in equity exactly (the portfolio conserves cost basis).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..units import CONTRACT, DOLLAR, notional
from .columns import sums_fit

__all__ = ["MARKET_COLUMNS", "event_table", "market_table", "pnl_split"]


def _leg_value(pos, yes_bid: int | None, no_bid: int | None) -> int:
    return (pos.yes * (yes_bid or 0) + pos.no * (no_bid or 0)) // CONTRACT


def pnl_split(portfolio, marks: Mapping[str, tuple[int | None, int | None]]) -> dict[str, int]:
    """``realized, settled, unrealized, open_value, open_cost, fees, pnl`` (money units);
    ``marks[ticker] = (yes_bid, no_bid)``."""
    open_value = portfolio.open_value(marks)
    open_cost = sum(p.yes_cost + p.no_cost for p in portfolio.positions.values() if p.yes or p.no)
    realized, settled, fees = portfolio.realized_pnl, portfolio.settled_pnl, portfolio.fees
    unrealized = open_value - open_cost
    return {"realized": realized, "settled": settled, "unrealized": unrealized, "open_value": open_value,
            "open_cost": open_cost, "fees": fees, "pnl": realized + settled + unrealized - fees}


MARKET_COLUMNS = ["ticker", "event_ticker", "series_ticker", "result", "n_fills", "qty_traded", "notional",
                  "fees", "realized", "settled", "open_value", "open_cost", "unrealized", "pnl", "position",
                  "settled_qty", "edge"]


def settlement_edge(fill, result: str) -> int:
    """Edge of one fill against its market's settlement, money units x qty units: a contract
    bought at ``p`` that settles worth ``v`` ($1 or 0) earned ``v - p`` per contract; a sale
    earned ``p - v``."""
    value = DOLLAR if fill.side == result else 0
    per = value - fill.price if fill.action == "buy" else fill.price - value
    return per * fill.qty


def market_table(portfolio, marks: Mapping[str, tuple[int | None, int | None]], fills: Iterable,
                 results: Mapping[str, str], info: Mapping[str, Mapping[str, Any]],
                 columns: Mapping[str, Any] | None = None) -> list[dict]:
    """One row per market the run traded (columns ``MARKET_COLUMNS``; money and qty in framework
    units; ``edge`` = sum of ``settlement_edge`` over the market's fills, ``settled_qty`` the qty
    those fills cover). ``columns``: the same fills column-wise (``analysis.columns.fill_columns``),
    summed with numpy when their money columns are int64 (same ints, no loop per fill)."""
    rows = _sums_by_column(columns, results) if columns is not None else None
    if rows is None:
        rows = _sums_by_fill(fills, results)
    out = []
    for t in sorted(rows):
        r = rows[t]
        meta = info.get(t, {})
        r.update(ticker=t, event_ticker=meta.get("event_ticker"), series_ticker=meta.get("series_ticker"),
                 result=results.get(t))
        p = portfolio.positions.get(t)
        yb, nb = marks.get(t, (None, None))
        ov = _leg_value(p, yb, nb) if p is not None else 0
        oc = (p.yes_cost + p.no_cost) if p is not None and (p.yes or p.no) else 0
        realized, settled, fees = (p.realized, p.settled, p.fees) if p is not None else (0, 0, 0)
        r.update(fees=fees, realized=realized, settled=settled, open_value=ov, open_cost=oc, unrealized=ov - oc,
                 pnl=realized + settled + ov - oc - fees, position=(p.yes - p.no) if p is not None else 0)
        out.append({c: r[c] for c in MARKET_COLUMNS})
    return out


def _sums_by_fill(fills: Iterable, results: Mapping[str, str]) -> dict[str, dict]:
    """Per-ticker ``n_fills, qty_traded, notional, settled_qty, edge``, one fill at a time."""
    rows: dict[str, dict] = {}
    for f in fills:
        r = rows.get(f.ticker)
        if r is None:
            r = rows[f.ticker] = {"n_fills": 0, "qty_traded": 0, "notional": 0, "settled_qty": 0, "edge": 0}
        r["n_fills"] += 1
        r["qty_traded"] += f.qty
        r["notional"] += notional(f.price, f.qty)
        result = results.get(f.ticker)
        if result in ("yes", "no"):
            r["settled_qty"] += f.qty
            r["edge"] += settlement_edge(f, result)
    return rows


def _sums_by_column(cols: Mapping[str, Any], results: Mapping[str, str]) -> dict[str, dict] | None:
    """``_sums_by_fill`` with numpy int64 (exact); ``None`` (use the loop) when price / qty are not
    int64 arrays or a sum could leave int64 (every |term| <= (max|price| + $1) x max|qty|)."""
    import numpy as np
    import pandas as pd

    price, qty = cols["price"], cols["qty"]
    n = len(qty)
    if not (isinstance(price, np.ndarray) and isinstance(qty, np.ndarray)) or n == 0:
        return None
    if not sums_fit(qty, max(abs(int(price.min())), abs(int(price.max()))) + DOLLAR):
        return None
    codes, uniques = pd.factorize(np.asarray(cols["ticker"], dtype=object))
    tickers = list(uniques)
    k = len(tickers)
    res = [results.get(t) for t in tickers]
    settled_m = np.array([r in ("yes", "no") for r in res], dtype=bool)[codes]
    yes_m = np.array([r == "yes" for r in res], dtype=bool)[codes]
    side = np.asarray(cols["side"], dtype=object)
    won = np.where(yes_m, side == "yes", side == "no")  # the fill's side is the market's result
    value = np.where(won, DOLLAR, 0)
    per = np.where(np.asarray(cols["action"], dtype=object) == "buy", value - price, price - value)
    settled_qty = np.where(settled_m, qty, 0)

    def by_ticker(values) -> list[int]:
        out = np.zeros(k, dtype=np.int64)
        np.add.at(out, codes, values)
        return out.tolist()

    sums = zip(np.bincount(codes, minlength=k).tolist(), by_ticker(qty), by_ticker(-((-price * qty) // CONTRACT)),
               by_ticker(settled_qty), by_ticker(per * settled_qty))
    return {t: {"n_fills": a, "qty_traded": b, "notional": c, "settled_qty": d, "edge": e}
            for t, (a, b, c, d, e) in zip(tickers, sums)}


_SUMMED = ["n_fills", "qty_traded", "notional", "fees", "realized", "settled", "open_value", "open_cost",
           "unrealized", "pnl", "settled_qty", "edge"]


def event_table(markets: Iterable[dict]) -> list[dict]:
    """Market rows summed per ``event_ticker`` (``n_markets``, ``n_won``: markets with PnL > 0)."""
    events: dict[str, dict] = {}
    for m in markets:
        key = m["event_ticker"] or m["ticker"]
        e = events.get(key)
        if e is None:
            e = events[key] = {"event_ticker": key, "series_ticker": m["series_ticker"], "n_markets": 0,
                               "n_won": 0, **{c: 0 for c in _SUMMED}}
        e["n_markets"] += 1
        e["n_won"] += m["pnl"] > 0
        for c in _SUMMED:
            e[c] += m[c]
    return [events[k] for k in sorted(events)]
