"""Speed of ``kalshi import`` on a top-of-book CSV (issue 13's shape (a): cents, naive New York
times, columns named by the source tool), generated deterministically. Reports; asserts only
the row count.

    python benchmarks/import_speed.py [ROWS] [RUNS] [WORKDIR]   (default 1,000,000 rows, 5 runs, a temp dir)

Each run imports the same CSV into a fresh catalog (``import_files``, the code behind the CLI)
and prints its wall time; the summary is the minimum (the machine is shared, so the minimum is
the least disturbed run) with the load average.
"""

from __future__ import annotations

import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from framework.data.importer import import_files  # noqa: E402

N_MARKETS = 20
MAPPING = {"ts": "time", "ticker": "market", "yes_bid": "bid", "no_bid": "ask_no",
           "yes_bid_size": "bid_qty", "no_bid_size": "ask_qty"}


def write_csv(path: Path, n: int) -> Path:
    """``n`` quote rows over ``N_MARKETS`` markets, one every 50 ms of New York local time
    (2026-11-20 09:00 onwards, no DST change inside), cents prices, whole-contract sizes."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(13)
    start = pd.Timestamp("2026-11-20 09:00:00")
    ts = (start + pd.to_timedelta(np.arange(n) * 50, unit="ms")).strftime("%Y-%m-%d %H:%M:%S.%f").str[:-3]
    bid = rng.integers(1, 90, n)
    df = pd.DataFrame({
        "time": ts,
        "market": np.array([f"KXBENCH-26NOV20-B{i}" for i in range(N_MARKETS)])[rng.integers(0, N_MARKETS, n)],
        "bid": bid,
        "ask_no": 99 - bid - rng.integers(0, 8, n),
        "bid_qty": rng.integers(1, 500, n),
        "ask_qty": rng.integers(1, 500, n),
    })
    df.to_csv(path, index=False)
    return path


def _cpu() -> float:
    """CPU seconds of this process (user + system, all threads): less disturbed by other load."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main(n: int, runs: int, work: Path) -> float:
    src = write_csv(work / "tob.csv", n)
    print(f"{n:,} rows, {src.stat().st_size / 1e6:.0f} MB CSV; load average {os.getloadavg()[0]:.2f}", flush=True)
    times, cpus = [], []
    for i in range(runs):
        cat = work / f"cat{i}"
        t, c = time.perf_counter(), _cpu()
        counts = import_files("quotes", [src], cat, mapping=MAPPING, price_unit="cents", tz="America/New_York")
        times.append(time.perf_counter() - t)
        cpus.append(_cpu() - c)
        assert sum(counts.values()) == n
        shutil.rmtree(cat)
        print(f"run {i + 1}: {times[-1]:.2f} s wall, {cpus[-1]:.2f} s CPU", flush=True)
    best = min(times)
    print(f"import quotes: min {best:.2f} s wall ({min(cpus):.2f} s CPU, both threads) of {runs} runs = "
          f"{n / best:,.0f} rows/s; load average {os.getloadavg()[0]:.2f}")
    return best


if __name__ == "__main__":
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    n_runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    if len(sys.argv) > 3:
        main(rows, n_runs, Path(sys.argv[3]))
    else:
        with tempfile.TemporaryDirectory() as d:
            main(rows, n_runs, Path(d))
