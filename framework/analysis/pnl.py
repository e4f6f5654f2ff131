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
                 results: Mapping[str, str], info: Mapping[str, Mapping[str, Any]]) -> list[dict]:
    """One row per market the run traded (columns ``MARKET_COLUMNS``; money and qty in framework
    units; ``edge`` = sum of ``settlement_edge`` over the market's fills, ``settled_qty`` the qty
    those fills cover)."""
    rows: dict[str, dict] = {}
    for f in fills:
        r = rows.get(f.ticker)
        if r is None:
            meta = info.get(f.ticker, {})
            r = rows[f.ticker] = {"ticker": f.ticker, "event_ticker": meta.get("event_ticker"),
                                  "series_ticker": meta.get("series_ticker"), "result": results.get(f.ticker),
                                  "n_fills": 0, "qty_traded": 0, "notional": 0, "settled_qty": 0, "edge": 0}
        r["n_fills"] += 1
        r["qty_traded"] += f.qty
        r["notional"] += notional(f.price, f.qty)
        if r["result"] in ("yes", "no"):
            r["settled_qty"] += f.qty
            r["edge"] += settlement_edge(f, r["result"])
    out = []
    for t in sorted(rows):
        r = rows[t]
        p = portfolio.positions.get(t)
        yb, nb = marks.get(t, (None, None))
        ov = _leg_value(p, yb, nb) if p is not None else 0
        oc = (p.yes_cost + p.no_cost) if p is not None and (p.yes or p.no) else 0
        realized, settled, fees = (p.realized, p.settled, p.fees) if p is not None else (0, 0, 0)
        r.update(fees=fees, realized=realized, settled=settled, open_value=ov, open_cost=oc, unrealized=ov - oc,
                 pnl=realized + settled + ov - oc - fees, position=(p.yes - p.no) if p is not None else 0)
        out.append({c: r[c] for c in MARKET_COLUMNS})
    return out


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
