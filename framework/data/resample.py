"""``to_candles``: OHLC bars (the catalog's ``candles`` kind) from top-of-book quotes and trades.

Kalshi's candlesticks are bars of *its* data; this builds the same shape from a catalog's own
``quotes`` and ``trades``, for any period: so the bundled sample has candles, and so one data
set can be backtested both ways (book replay vs the bar rule) to see what bars cost.

Bars end on the epoch-aligned grid of ``period`` minutes (like Kalshi's ``end_period_ts``) and
cover ``(end - period, end]``; a trade at exactly ``end`` belongs to the bar ending then.

* trade OHLC: first, highest, lowest, last ``yes_price`` in the bar; ``volume`` = sum of
  ``count``; OHLC null and volume 0 when nothing traded;
* quote OHLC (``yes_bid_*``, ``yes_ask_*``): the quote in effect at the bar's start (else the
  bar's first quote) opens it, every quote in the bar sets high/low, the last one in effect at
  the end closes it; no bid = 0, no ask = ``DOLLAR``; null before the market's first quote;
* ``open_interest`` is null (quotes and trades do not tell it).

With ``markets`` (a frame with ``ticker``, ``open_ts``, ``close_ts``) every period from the
open to the close gets a bar (empty ones included, as Kalshi returns them); without it, only
periods with a quote or a trade.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..units import DOLLAR
from .catalog import SCHEMAS

__all__ = ["to_candles"]

_MINUTE = 60_000_000_000


def _ns(col: pd.Series) -> np.ndarray:
    """Timestamps (datetime, tz-aware or naive = UTC, or int ns) as int64 ns."""
    return pd.DatetimeIndex(pd.to_datetime(col, utc=True)).asi8


def _ceil(ts: np.ndarray, step: int) -> np.ndarray:
    return -(-ts // step) * step


def to_candles(quotes: pd.DataFrame | None, trades: pd.DataFrame | None, period: int,
               markets: pd.DataFrame | None = None) -> pd.DataFrame:
    """Bars of ``period`` minutes per ticker, in the ``candles`` schema, sorted by (ts, ticker)."""
    if type(period) is not int or period < 1:
        raise ValueError(f"period must be a whole number of minutes >= 1, got {period!r}")
    step = period * _MINUTE
    q = quotes if quotes is not None else pd.DataFrame(columns=["ts", "ticker", "yes_bid", "no_bid"])
    t = trades if trades is not None else pd.DataFrame(columns=["ts", "ticker", "yes_price", "count"])
    q_ts, t_ts = _ns(q["ts"]), _ns(t["ts"])
    hours = {}
    if markets is not None:
        for tk, o, c in zip(markets["ticker"], _ns(markets["open_ts"]), _ns(markets["close_ts"]), strict=True):
            hours[tk] = (int(o), int(c))
    tickers = sorted(set(q["ticker"]) | set(t["ticker"]) | set(hours))
    parts = []
    for tk in tickers:
        qm = (q["ticker"] == tk).to_numpy()
        tm = (t["ticker"] == tk).to_numpy()
        qts = q_ts[qm]
        bid = q["yes_bid"].to_numpy(np.int64)[qm]
        nb = q["no_bid"].to_numpy(np.int64)[qm]
        ask = np.where(nb > 0, DOLLAR - nb, DOLLAR)
        tts = t_ts[tm]
        px = t["yes_price"].to_numpy(np.int64)[tm]
        cnt = t["count"].to_numpy(np.int64)[tm]
        if tk in hours:
            o, c = hours[tk]
            ends = np.arange(_ceil(np.array([o + 1]), step)[0], _ceil(np.array([c]), step)[0] + 1, step)
        else:
            ends = np.unique(np.concatenate([_ceil(qts, step), _ceil(tts, step)]))
        if not len(ends):
            continue
        parts.append(_bars(tk, period, ends, step, qts, bid, ask, tts, px, cnt))
    cols = SCHEMAS["candles"].names
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype="Int64") for c in cols})
    df = pd.concat(parts, ignore_index=True)
    df = df.sort_values(["ts", "ticker"], kind="stable").reset_index(drop=True)
    df["ts"] = pd.to_datetime(df["ts"], unit="ns", utc=True)
    return df[cols]


def _bars(tk, period, ends, step, qts, bid, ask, tts, px, cnt) -> pd.DataFrame:
    n = len(ends)
    starts = ends - step
    # trades in (start, end]: searchsorted right on both bounds
    t_lo = np.searchsorted(tts, starts, side="right")
    t_hi = np.searchsorted(tts, ends, side="right")
    # quotes: the one in effect at start (index before t_lo-equivalent), then those in (start, end]
    q_lo = np.searchsorted(qts, starts, side="right")
    q_hi = np.searchsorted(qts, ends, side="right")
    out = {c: [None] * n for c in ("open", "high", "low", "close", "yes_bid_open", "yes_bid_high", "yes_bid_low",
                                   "yes_bid_close", "yes_ask_open", "yes_ask_high", "yes_ask_low", "yes_ask_close")}
    volume = np.zeros(n, dtype=np.int64)
    for i in range(n):
        a, b = t_lo[i], t_hi[i]
        if b > a:
            seg = px[a:b]
            out["open"][i], out["high"][i] = int(seg[0]), int(seg.max())
            out["low"][i], out["close"][i] = int(seg.min()), int(seg[-1])
            volume[i] = int(cnt[a:b].sum())
        a, b = q_lo[i], q_hi[i]
        first = a - 1 if a > 0 else a  # the quote in effect at the start, else the bar's first
        if b > first and b > 0:
            for name, arr in (("yes_bid", bid), ("yes_ask", ask)):
                seg = arr[first:b]
                out[f"{name}_open"][i], out[f"{name}_close"][i] = int(seg[0]), int(seg[-1])
                out[f"{name}_high"][i], out[f"{name}_low"][i] = int(seg.max()), int(seg.min())
    df = pd.DataFrame({"ts": ends, "ticker": tk, "period": period})
    for c, v in out.items():
        df[c] = pd.array(v, dtype="Int64")
    df["volume"] = volume
    df["open_interest"] = pd.array([None] * n, dtype="Int64")
    return df
