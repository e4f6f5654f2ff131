"""``kalshi bench``: replay-speed scenarios on generated data, one subprocess per scenario.

Each scenario generates its data deterministically (seeded) into a temporary catalog, then runs
in a fresh Python process so its peak RSS is its own. Figures are wall-clock on this machine;
``docs/performance.md`` records them with the command used.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["SCENARIOS", "main_bench", "run_scenario"]

SCENARIOS = {
    "l1_noop": "L1 quotes of one market, no-op on_book",
    "l1_orders": "L1 quotes, one marketable order per 100 events",
    "per_order": "submit -> fill callback cost, 1st vs last block of orders",
    "l2_noop": "L2 level updates of one market (book maintained), no-op on_book",
    "merge_1000": "1,000 markets in 10 files merged by time, no-op on_book",
    "merge_1000_files": "1,000 markets, one file each, merged by time",
    "stream_memory": "peak RSS streaming a large quote file (default 50 M rows)",
    "import": "python -c 'import framework'",
}


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _strategies():
    from framework import CONTRACT, Strategy

    class Noop(Strategy):
        def on_book(self, book):
            pass

    class EveryHundred(Strategy):
        """One marketable order per 100 book events, alternating buy/sell so cash stays put."""

        def on_start(self):
            self.n = 0

        def on_book(self, book):
            self.n += 1
            if self.n % 100 == 0:
                if self.n % 200 == 0:
                    self.buy(book.ticker, CONTRACT)
                else:
                    self.sell(book.ticker, CONTRACT)

    class EveryEvent(Strategy):
        """An order on every event; times each block of orders to show cost stays flat."""

        blocks: list[float] = []  # us per (event + order) per block of 50,000, across the run

        def on_start(self):
            self.n = 0
            self.t0 = time.perf_counter_ns()

        def on_book(self, book):
            self.n += 1
            if self.n & 1:
                self.buy(book.ticker, CONTRACT)
            else:
                self.sell(book.ticker, CONTRACT)
            if self.n % 50_000 == 0:
                t = time.perf_counter_ns()
                self.blocks.append((t - self.t0) / 50_000 / 1000)
                self.t0 = t

    return Noop, EveryHundred, EveryEvent


def _timed_run(strategy, root: Path, **kw) -> tuple[float, object]:
    from framework import run_backtest

    t = time.perf_counter()
    res = run_backtest(strategy, root, equity_interval=None, starting_cash=10**13, **kw)
    return time.perf_counter() - t, res


def _best_of(rounds: int, strategy, root: Path) -> tuple[float, object]:
    """Fastest of ``rounds`` runs (as timeit does: slower rounds measure the machine's noise)."""
    return min((_timed_run(strategy, root) for _ in range(rounds)), key=lambda r: r[0])


def generate_data(name: str, events: int, workdir: Path) -> Path:
    """Write the scenario's catalog (deterministic) and return its root."""
    from benchmarks import datagen

    root = workdir / name
    if name in ("l1_noop", "l1_orders", "per_order", "stream_memory"):
        datagen.quotes_catalog(root, events)
    elif name == "l2_noop":
        datagen.book_catalog(root, events)
    elif name == "merge_1000":
        datagen.quotes_catalog(root, events, n_markets=1000, n_files=10)
    elif name == "merge_1000_files":
        datagen.quotes_catalog(root, events, n_markets=1000)
    elif name != "import":
        raise ValueError(f"unknown scenario {name!r}; choose from {', '.join(SCENARIOS)}")
    return root


def run_scenario(name: str, events: int, workdir: Path) -> dict:
    """Run one scenario (its data already generated) in this process and return its figures."""
    import pandas  # noqa: F401  one-time imports (~0.4 s) are start-up cost, not replay speed
    import pyarrow.parquet  # noqa: F401

    import framework.backtest  # noqa: F401

    Noop, EveryHundred, EveryEvent = _strategies()
    root = workdir / name
    out: dict = {"scenario": name, "events": events}
    if name == "import":
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import framework"], check=True)
        out.update(seconds=time.perf_counter() - t)
        return out
    rss_before = _peak_rss_mb()
    if name == "l1_orders":
        dt, res = _best_of(3, EveryHundred, root)
        out["orders"] = res.metrics["n_orders"]
    elif name == "per_order":
        _, base = _timed_run(Noop, root)
        dt_base = _
        dt, res = _timed_run(EveryEvent, root)
        n = res.metrics["n_orders"]
        out["orders"] = n
        out["us_per_order"] = (dt - dt_base) / n * 1e6
        blocks = EveryEvent.blocks
        if blocks:
            # in-loop cost of event + order per block: first vs last shows whether it grows
            out["us_first_block"] = blocks[0]
            out["us_last_block"] = blocks[-1]
    else:
        # one pass for the memory scenario (its point is peak RSS); best of three otherwise
        dt, res = _best_of(1 if name == "stream_memory" else 3, Noop, root)
    out["seconds"] = dt
    out["events_per_s"] = res.metrics["n_events"] / dt
    out["peak_rss_mb"] = _peak_rss_mb()
    out["rss_before_run_mb"] = rss_before  # interpreter + imports, before the replay
    return out


def _run_child(name: str, events: int, workdir: Path) -> dict:
    """Generate the data in one interpreter, then run the scenario in a fresh one, so the peak
    RSS reported is the replay's own (ru_maxrss is per process)."""
    env = dict(os.environ)
    repo = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = repo + os.pathsep + env.get("PYTHONPATH", "")
    result = None
    for step in ("generate_data", "run_scenario"):
        code = ("import json,sys; from pathlib import Path; import framework.bench as b; "
                f"r = b.{step}({name!r}, {events}, Path({str(workdir)!r})); "
                "print(json.dumps(r if isinstance(r, dict) else None))")
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            tail = proc.stderr.strip().splitlines()[-1:] or ["(no output)"]
            raise RuntimeError(f"scenario {name} failed in {step}: {tail[0]}")
        result = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main_bench(events: int = 1_000_000, scenarios: list[str] | None = None, memory_events: int = 50_000_000,
               as_json: bool = False) -> list[dict]:
    names = scenarios or list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise ValueError(f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="kalshi-bench-") as tmp:
        for name in names:
            n = memory_events if name == "stream_memory" else events
            if not as_json:
                print(f"  running {name} ({n:,} events) ...", file=sys.stderr, flush=True)
            rows.append(_run_child(name, n, Path(tmp)))
    return rows


def format_table(rows: list[dict]) -> str:
    lines = [f"{'scenario':<18} {'events':>12} {'M events/s':>11} {'us/order':>9} {'peak RSS MB':>12}  notes",
             "-" * 80]
    for r in rows:
        if r["scenario"] == "import":
            lines.append(f"{'import':<18} {'':>12} {'':>11} {'':>9} {'':>12}  {r['seconds'] * 1000:.0f} ms "
                         "(incl. interpreter start)")
            continue
        us = f"{r['us_per_order']:.2f}" if "us_per_order" in r else ""
        note = SCENARIOS[r["scenario"]]
        lines.append(f"{r['scenario']:<18} {r['events']:>12,} {r['events_per_s'] / 1e6:>11.2f} {us:>9} "
                     f"{r['peak_rss_mb']:>12.0f}  {note}")
    return "\n".join(lines)
