"""Speed of ``write_table`` on quote rows: ``N`` rows over 50 markets in 5 series and 3 UTC days,
time-sorted and interleaved across markets (as ``kalshi record`` flushes them), written flat,
``partition_by="series"`` with the series from the catalog's markets table, and with a
``series`` column (as ``kalshi download`` passes it). Reports; asserts only the written row count.

    python benchmarks/write_speed.py [ROWS] [RUNS] [OLD_CATALOG_PY]   (default 1,000,000 rows, 5 runs)

With ``OLD_CATALOG_PY`` (e.g. ``git show <rev>:framework/data/catalog.py > /tmp/old_catalog.py``)
each case alternates old, new, old, new... so both see the same load; the summary is the
minimum over runs of wall clock and CPU time (``time.process_time``), with the load average.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from framework.data import catalog  # noqa: E402

N_SERIES, N_MARKETS, N_DAYS = 5, 50, 3
DAY = 86_400_000_000_000
T0 = 1_795_000_000_000_000_000 // DAY * DAY  # midnight UTC, 2026-11-19


def markets_frame():
    import pandas as pd

    tickers = [f"KXS{i % N_SERIES}-26NOV20-T{i}" for i in range(N_MARKETS)]
    return pd.DataFrame({
        "ticker": tickers,
        "event_ticker": [t.rsplit("-", 1)[0] for t in tickers],
        "series_ticker": [f"KXSER{i % N_SERIES}" for i in range(N_MARKETS)],  # not the ticker prefix
        "open_ts": pd.to_datetime([T0] * N_MARKETS, utc=True),
        "close_ts": pd.to_datetime([T0 + N_DAYS * DAY] * N_MARKETS, utc=True),
        "settle_ts": pd.to_datetime([None] * N_MARKETS, utc=True),
        "result": [None] * N_MARKETS,
    })


def quotes_frame(n: int, seed: int = 13):
    """``n`` time-sorted quote rows over N_DAYS days; market of each row random (interleaved)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    ts = T0 + np.sort(rng.integers(0, N_DAYS * DAY, n))
    m = markets_frame()
    mk = rng.integers(0, N_MARKETS, n)
    return pd.DataFrame({
        "ts": pd.to_datetime(ts, utc=True),
        "ticker": m["ticker"].to_numpy()[mk],
        "yes_bid": rng.integers(1, 5000, n),
        "no_bid": rng.integers(1, 4999, n),
        "yes_bid_size": rng.integers(0, 10_000, n),
        "no_bid_size": rng.integers(0, 10_000, n),
    }), m["series_ticker"].to_numpy()[mk]


def load_old(path: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location("old_catalog", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main(n: int, runs: int, old_path: str | None) -> None:
    import pyarrow.parquet as pq

    df, series = quotes_frame(n)
    with_series = df.assign(series=series)
    work = Path(tempfile.mkdtemp(prefix="write_speed-"))
    mods: dict[str, ModuleType] = {"new": catalog}
    if old_path:
        mods = {"old": load_old(old_path), **mods}
    cases: dict[str, Callable[[ModuleType, Path], list[Path]]] = {
        "flat": lambda c, r: c.write_table(r, "quotes", df),
        "series (markets table)": lambda c, r: c.write_table(r, "quotes", df, partition_by="series"),
        "series column": lambda c, r: c.write_table(r, "quotes", with_series, partition_by="series"),
    }
    try:
        for case, fn in cases.items():
            best: dict[str, tuple[float, float]] = {k: (1e9, 1e9) for k in mods}
            for i in range(runs):
                for label, mod in mods.items():
                    root = work / f"{label}-{i}"
                    mod.write_table(root, "markets", markets_frame())
                    w, c = time.perf_counter(), time.process_time()
                    paths = fn(mod, root)
                    w, c = time.perf_counter() - w, time.process_time() - c
                    assert sum(pq.ParquetFile(p).metadata.num_rows for p in paths) == n
                    best[label] = (min(best[label][0], w), min(best[label][1], c))
                    shutil.rmtree(root)
            print(f"{case}: " + "; ".join(f"{k} {w:.2f} s wall, {c:.2f} s CPU" for k, (w, c) in best.items()),
                  flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{n:,} rows, min of {runs} runs; load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    a = sys.argv[1:]
    main(int(a[0]) if a else 1_000_000, int(a[1]) if len(a) > 1 else 5, a[2] if len(a) > 2 else None)
