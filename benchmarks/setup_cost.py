"""CPU time of a backtest's set-up: from the ``run_backtest`` call to ``Engine.run``.

    python benchmarks/setup_cost.py SCENARIO [EVENTS] [RUNS]

SCENARIO is a ``kalshi bench`` scenario (``merge_1000``, ``l1_noop``, ...); its data is
generated as the bench does (``framework.bench.generate_data``) into a temporary folder, then
``RUNS`` (default 5) warm runs of the bench's no-op strategy are timed with
``time.process_time`` (CPU, so less sensitive to a shared machine than wall time). Prints the
minimum set-up and the minimum whole run, in ms (docs/performance.md, "Set-up per run").
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str]) -> None:
    import framework.bench as bench
    from framework import run_backtest
    from framework.core.engine import Engine

    scenario = argv[0]
    events = int(argv[1]) if len(argv) > 1 else 200_000
    runs = int(argv[2]) if len(argv) > 2 else 5
    noop = bench._strategies()[0]
    entered: list[float] = []
    real_run = Engine.run

    def run(self: Engine) -> None:  # the set-up ends where the engine loop starts
        entered.append(time.process_time())
        real_run(self)

    Engine.run = run
    with tempfile.TemporaryDirectory(prefix="kalshi-setup-") as tmp:
        root = bench.generate_data(scenario, events, Path(tmp))
        setups, totals = [], []
        for i in range(runs + 1):
            t0 = time.process_time()
            run_backtest(noop, root, equity_interval=None, starting_cash=10**13)
            if i:  # the first run pays one-time lazy imports
                setups.append(entered[-1] - t0)
                totals.append(time.process_time() - t0)
    print(f"{scenario} ({events:,} events): set-up {min(setups) * 1000:.1f} ms CPU, "
          f"whole run {min(totals) * 1000:.0f} ms CPU (min of {runs})")


if __name__ == "__main__":
    main(sys.argv[1:])
