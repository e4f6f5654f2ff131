"""Replay speed of 1,000 markets in one file each (the `kalshi download` layout), before and
after `kalshi catalog compact`, and the compaction's own time. Reports wall clock and CPU time
(``time.process_time``: all threads of this process, less sensitive to a loaded machine); the
runs before and after alternate so both see the same load. Asserts only the event count.

    python benchmarks/compact_speed.py [EVENTS] [WORKDIR] [ROUNDS]   (default 2,000,000 events, a temp dir, 5)
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import datagen  # noqa: E402
from framework.bench import _strategies, _timed_run  # noqa: E402
from framework.data.catalog_tools import compact  # noqa: E402


def main(n: int, work: Path, rounds: int = 5) -> None:
    root = work / "cat"
    datagen.quotes_catalog(root, n, n_markets=1000)
    part = root / "quotes" / "series=KXBENCH" / "date=2026-09-21"  # as `kalshi download` nests it
    part.mkdir(parents=True)
    for f in (root / "quotes").glob("*.parquet"):
        f.rename(part / f.name)
    noop = _strategies()[0]
    before = root.with_name("before")
    shutil.copytree(root, before)  # an uncompacted copy, so before/after runs can alternate

    def timed(cat: Path) -> tuple[float, float]:
        w, c = time.perf_counter(), time.process_time()
        _, res = _timed_run(noop, cat)
        assert res.metrics["n_events"] == n
        return time.perf_counter() - w, time.process_time() - c

    timed(before)  # warm the page cache and imports
    w, c = time.perf_counter(), time.process_time()
    plan = compact(root)
    cw, cc = time.perf_counter() - w, time.process_time() - c
    print(f"compact: {plan.files_before} files -> {len(plan.groups)} in {cw:.2f} s wall, {cc:.2f} s CPU "
          f"({n / cw / 1e6:.2f} M rows/s wall)", flush=True)
    runs: dict[str, list[tuple[float, float]]] = {"before": [], "after": []}
    for _ in range(rounds):
        runs["before"].append(timed(before))
        runs["after"].append(timed(root))
    for label, rs in runs.items():
        wall = [r[0] for r in rs]
        cpu = [r[1] for r in rs]
        print(f"{label} compact: best {n / min(wall) / 1e6:.2f} M events/s wall (median {n / statistics.median(wall) / 1e6:.2f}), "
              f"best {n / min(cpu) / 1e6:.2f} M events/s CPU; runs {[round(x, 2) for x in wall]} s", flush=True)
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    events = int(sys.argv[1]) if len(sys.argv) > 1 else 2_000_000
    if len(sys.argv) > 2 and sys.argv[2] != "-":
        main(events, Path(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 5)
    else:
        with tempfile.TemporaryDirectory() as d:
            main(events, Path(d), int(sys.argv[3]) if len(sys.argv) > 3 else 5)
