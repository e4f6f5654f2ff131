"""Shared helpers for tests: build tiny catalogs from human-friendly rows.

Human-friendly values (converted here, so tests read like the scenario they describe):

* times: ``int`` = seconds after :data:`T0` (2026-01-01T00:00:00Z); ``str`` = ISO time;
  ``None`` stays null (``settle_ts``);
* prices (``yes_bid``, ``no_bid``, ``price``, ``yes_price``): cents (``45`` = $0.45, ``"45.5"``);
* sizes (``*_size``, ``size``, ``count``): contracts (``10`` = 10 contracts, ``"2.5"``);
* ``snapshot`` defaults to ``False``, ``seq`` to ``None``, ``trade_id`` to a running id,
  ``taker_side`` to ``"yes"``; market ``event_ticker``/``series_ticker`` default to the ticker's
  prefixes.

``make_catalog(tmp_path, markets=[...], quotes=[...], trades=[...], book=[...])`` writes one flat
file per kind. A kind may also be given as a list of lists of rows: one file per inner list
(``part-0``, ``part-1``... in that order). ``partition_by="series"`` writes Hive partitions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from framework.core.events import BOOK, MIXED, QUOTE, TRADE
from framework.data.catalog import write_table
from framework.units import cents, contracts

__all__ = [
    "T0",
    "at",
    "events_of",
    "make_catalog",
    "run",
    "market",
    "to_df",
    "write_rows",
]

T0 = int(pd.Timestamp("2026-01-01T00:00:00Z").value)
SEC = 1_000_000_000

_TS_COLS = ("ts", "open_ts", "close_ts", "settle_ts")
_PRICE_COLS = ("yes_bid", "no_bid", "price", "yes_price")
_SIZE_COLS = ("yes_bid_size", "no_bid_size", "size", "count")


def at(t: int | str) -> int:
    """Seconds after T0 (int) or an ISO string -> int ns UTC."""
    if isinstance(t, str):
        ts = pd.Timestamp(t)
        if ts.tzinfo is None:
            ts = ts.tz_localize("UTC")
        return int(ts.value)
    return T0 + int(t) * SEC


def market(ticker: str, open_ts: int | str = 0, close_ts: int | str = 3600,
           settle_ts: int | str | None = None, result: str | None = None, **extra: Any) -> dict:
    """A markets row (times in seconds after T0)."""
    row = {"ticker": ticker, "open_ts": open_ts, "close_ts": close_ts, "settle_ts": settle_ts,
           "result": result}
    row.update(extra)
    return row


def _convert(kind: str, row: dict, idx: int) -> dict:
    out = dict(row)
    for c in _TS_COLS:
        if c in out and out[c] is not None:
            out[c] = at(out[c])
    for c in _PRICE_COLS:
        if c in out and out[c] is not None:
            out[c] = cents(out[c])
    for c in _SIZE_COLS:
        if c in out and out[c] is not None:
            out[c] = contracts(out[c])
    if kind == "markets":
        tk = out["ticker"]
        parts = tk.split("-")
        out.setdefault("series_ticker", parts[0])
        out.setdefault("event_ticker", "-".join(parts[:2]) if len(parts) > 1 else tk)
        out.setdefault("settle_ts", None)
        out.setdefault("result", None)
    elif kind == "quotes":
        out.setdefault("yes_bid_size", None)
        out.setdefault("no_bid_size", None)
    elif kind == "book":
        out.setdefault("seq", None)
        out.setdefault("snapshot", False)
    elif kind == "trades":
        out.setdefault("trade_id", f"T{idx}")
        out.setdefault("taker_side", "yes")
    return out


_ORDER = {
    "markets": ["ticker", "event_ticker", "series_ticker", "open_ts", "close_ts", "settle_ts", "result"],
    "quotes": ["ts", "ticker", "yes_bid", "no_bid", "yes_bid_size", "no_bid_size"],
    "book": ["ts", "ticker", "side", "price", "size", "seq", "snapshot"],
    "trades": ["ts", "ticker", "trade_id", "yes_price", "count", "taker_side"],
}


def to_df(kind: str, rows: list[dict]) -> pd.DataFrame:
    """Human rows -> a DataFrame in framework units with the kind's columns."""
    conv = [_convert(kind, r, i) for i, r in enumerate(rows)]
    cols = list(_ORDER[kind])
    for r in conv:
        for k in r:
            if k not in cols:
                cols.append(k)
    df = pd.DataFrame(conv, columns=cols)
    for c in _TS_COLS:
        if c in df.columns:
            df[c] = pd.to_datetime(df[c].astype("Int64"), unit="ns", utc=True)
    for c in ("seq", "yes_bid_size", "no_bid_size"):
        if c in df.columns:
            df[c] = df[c].astype("Int64")
    if "snapshot" in df.columns:
        df["snapshot"] = df["snapshot"].astype(bool)
    return df


def write_rows(root: Path, kind: str, rows: list[dict], **kw: Any) -> list[Path]:
    """Write one batch of human rows of ``kind`` (``write_table`` keyword args pass through)."""
    return write_table(root, kind, to_df(kind, rows), **kw)


def make_catalog(root: Path, markets: list[dict] | None = None, quotes: list | None = None,
                 trades: list | None = None, book: list | None = None,
                 partition_by: str | None = None) -> Path:
    """Write a tiny catalog under ``root`` and return ``root``.

    ``markets`` defaults to one row per ticker seen in the data, open T0..T0+1h, unsettled.
    """
    root = Path(root)
    data = {"quotes": quotes, "trades": trades, "book": book}
    if markets is None:
        seen: list[str] = []
        for rows in data.values():
            for r in _flatten(rows):
                if r["ticker"] not in seen:
                    seen.append(r["ticker"])
        markets = [market(t) for t in seen]
    if markets:
        write_rows(root, "markets", markets, partition_by=partition_by)
    for kind, rows in data.items():
        if not rows:
            continue
        groups = rows if isinstance(rows[0], list) else [rows]
        for i, g in enumerate(groups):
            kw: dict[str, Any] = {"partition_by": partition_by}
            if partition_by is None:
                kw["filename"] = f"part-{i}.parquet"
            write_rows(root, kind, g, **kw)
    return root


def _flatten(rows: list | None) -> list[dict]:
    if not rows:
        return []
    if isinstance(rows[0], list):
        return [r for g in rows for r in g]
    return rows


def events_of(feed) -> list[tuple]:
    """Flatten a feed's chunks into ``(ts, kind, ticker, *row values)`` tuples (MIXED resolved)."""
    out: list[tuple] = []
    for kind, cols in feed.chunks():
        if kind == MIXED:
            ts, kinds, tk, a, b, c, d, e = cols
            for i in range(len(ts)):
                k = kinds[i]
                vals = (a[i], b[i], c[i], d[i], e[i]) if k == BOOK else (a[i], b[i], c[i], d[i])
                out.append((ts[i], k, tk[i], *vals))
        else:
            assert kind in (QUOTE, BOOK, TRADE)
            ts, tk, *rest = cols
            for i in range(len(ts)):
                out.append((ts[i], kind, tk[i], *(c[i] for c in rest)))
    return out


def run(root: Path, strategy, *, markets=None, quotes=None, trades=None, book=None,
        partition_by: str | None = None, **kw: Any):
    """Write a tiny catalog under ``root`` and backtest ``strategy`` (an instance) on it."""
    from framework.backtest import run_backtest

    make_catalog(root, markets=markets, quotes=quotes, trades=trades, book=book, partition_by=partition_by)
    kw.setdefault("equity_interval", None)
    return run_backtest(strategy, root, **kw)
