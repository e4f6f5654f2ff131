"""Sweep speed-up: a 12-combination sweep of the bundled example, 1 process vs N local workers
(and optionally a Dask LocalCluster). A benchmark, not a test: run

    python -m benchmarks.sweep_speed [--workers 2] [--repeat 3] [--dask]

It prints the wall time of each repeat and the median speed-up; docs/performance.md has figures.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from framework.sweep import run_sweep

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "backtests" / "longshot.toml"
GRID = {"max_yes_cents": ["10", "15", "20"], "clip": ["1", "5"], "max_position": ["10", "20"]}  # 12


def _time(**kw) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        table = run_sweep(CONFIG, GRID, Path(tmp) / "sw", **kw)
        elapsed = time.perf_counter() - t0
    assert len(table) == 12 and table["error"].isna().all()
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dask", action="store_true", help="also time a Dask LocalCluster with --workers workers")
    args = ap.parse_args()
    one, many, dask = [], [], []
    for _ in range(args.repeat):  # interleaved, so machine-load drift hits both alike
        one.append(_time(workers=1))
        many.append(_time(workers=args.workers))
        if args.dask:
            from distributed import LocalCluster

            with LocalCluster(n_workers=args.workers, threads_per_worker=1, dashboard_address=None,
                              host="127.0.0.1") as cluster:
                dask.append(_time(scheduler=cluster.scheduler_address))
    m1, mn = statistics.median(one), statistics.median(many)
    print(f"1 process:       {', '.join(f'{t:.2f}' for t in one)} s (median {m1:.2f})")
    print(f"{args.workers} workers:       {', '.join(f'{t:.2f}' for t in many)} s (median {mn:.2f}); "
          f"speed-up {m1 / mn:.2f}x")
    if dask:
        md = statistics.median(dask)
        print(f"Dask LocalCluster: {', '.join(f'{t:.2f}' for t in dask)} s (median {md:.2f}); "
              f"speed-up {m1 / md:.2f}x (cluster start-up excluded)")


if __name__ == "__main__":
    main()
