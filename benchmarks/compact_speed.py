"""Replay speed of 1,000 markets in one file each (the `kalshi download` layout), before and
after `kalshi catalog compact`. Reports; asserts only the event count.

    python benchmarks/compact_speed.py [EVENTS] [WORKDIR]      (default 2,000,000 events, a temp dir)
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import datagen  # noqa: E402
from framework.bench import _strategies, _timed_run  # noqa: E402
from framework.data.catalog_tools import compact  # noqa: E402


def main(n: int, work: Path) -> None:
    root = work / "cat"
    datagen.quotes_catalog(root, n, n_markets=1000)
    part = root / "quotes" / "series=KXBENCH" / "date=2026-09-21"  # as `kalshi download` nests it
    part.mkdir(parents=True)
    for f in (root / "quotes").glob("*.parquet"):
        f.rename(part / f.name)
    noop = _strategies()[0]

    def runs(label: str) -> None:
        times = []
        for _ in range(3):
            dt, res = _timed_run(noop, root)
            assert res.metrics["n_events"] == n
            times.append(dt)
        med = statistics.median(times)
        print(f"{label}: {len(list(part.iterdir()))} files, runs {[round(t, 2) for t in times]} s, "
              f"median {n / med:,.0f} events/s; load average {os.getloadavg()[0]:.1f}", flush=True)

    runs("before compact")
    t = time.perf_counter()
    plan = compact(root)
    print(f"compact: {plan.files_before} files -> {len(plan.groups)} in {time.perf_counter() - t:.1f} s")
    runs("after compact")


if __name__ == "__main__":
    events = int(sys.argv[1]) if len(sys.argv) > 1 else 2_000_000
    if len(sys.argv) > 2:
        main(events, Path(sys.argv[2]))
    else:
        with tempfile.TemporaryDirectory() as d:
            main(events, Path(d))
