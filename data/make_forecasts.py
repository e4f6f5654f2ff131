"""Write ``data/forecasts/sample_forecasts.csv``: a toy forecast model of the synthetic sample.

Every 30 minutes, for each event, each market's last mid (from the ``quotes`` kind, known at that
time) is divided by the sum of its event's mids, so the event's probabilities sum to 1. It reads
only prices at or before each forecast time, so a backtest that uses it has no look-ahead.
It is deterministic (no randomness): ``python data/make_forecasts.py`` rewrites the same file.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from framework.data.catalog import read_markets, read_table

ROOT = Path(__file__).resolve().parent
STEP = pd.Timedelta("30min")


def generate(catalog: Path = ROOT / "sample", out: Path = ROOT / "forecasts" / "sample_forecasts.csv") -> Path:
    markets = read_markets(catalog)
    quotes = read_table(catalog, "quotes").sort_values(["ts", "ticker"], kind="stable")
    quotes = quotes.dropna(subset=["yes_bid", "no_bid"])
    quotes["mid"] = (quotes["yes_bid"] + 10_000 - quotes["no_bid"]) / 2 / 10_000
    rows = []
    for _event, group in markets.groupby("event_ticker", sort=True):
        tickers = sorted(group["ticker"])
        q = quotes[quotes["ticker"].isin(tickers)]
        if q.empty:
            continue
        start = group["open_ts"].min().ceil(STEP)
        end = group["close_ts"].max()
        grid = pd.date_range(start, end, freq=STEP, inclusive="left")
        last = q.pivot_table(index="ts", columns="ticker", values="mid", aggfunc="last").sort_index().ffill()
        before = grid - pd.Timedelta(1, "ns")  # strictly before each forecast time: no same-instant look-ahead
        known = last.reindex(last.index.union(before)).ffill().loc[before]
        known.index = grid
        known = known.dropna(how="any")
        probs = known.div(known.sum(axis=1), axis=0)
        for ts, row in probs.iterrows():
            for ticker in tickers:
                rows.append((ts.strftime("%Y-%m-%dT%H:%M:%SZ"), ticker, round(float(row[ticker]), 4)))
    out.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=["ts", "ticker", "probability"]).to_csv(out, index=False)
    return out


if __name__ == "__main__":
    print(generate(*(Path(a) for a in sys.argv[1:3])))
