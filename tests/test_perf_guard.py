"""CI guard against large performance regressions, without timing flakiness.

It does not assert an absolute speed (machines differ and are noisy). It measures, in the same
process and on the same rows, the engine's replay against a plain Python loop doing comparable
minimal work (one dict update per row), best of three each, and fails only when the engine
falls far below its usual ratio: a regression of several times, such as a per-event allocation
or an O(n) step sneaking into the hot loop. Measured ratio and threshold: docs/performance.md.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import datagen  # noqa: E402
from framework import Strategy, run_backtest  # noqa: E402
from framework.core.events import QUOTE  # noqa: E402
from framework.data.replay import ParquetReplayFeed  # noqa: E402

N = 200_000
MIN_RATIO = 0.05  # engine time per row may be at most 20x a bare loop's (measured: ~6.5x)


class Noop(Strategy):
    def on_book(self, book):
        pass


def _plain_loop(chunks) -> float:
    t = time.perf_counter()
    last = {}
    for kind, cols in chunks:
        assert kind == QUOTE
        for ts, tk, yb, nb, ybs, nbs in zip(*cols):
            last[tk] = (ts, yb, nb, ybs, nbs)
    return time.perf_counter() - t


def test_engine_throughput_ratio(tmp_path):
    root = datagen.quotes_catalog(tmp_path / "cat", N)
    chunks = list(ParquetReplayFeed(root).chunks())  # decoding excluded from the baseline
    baseline = min(_plain_loop(chunks) for _ in range(3))
    engine = []
    for _ in range(3):
        t = time.perf_counter()
        res = run_backtest(Noop, root, equity_interval=None)
        engine.append(time.perf_counter() - t)
        assert res.metrics["n_events"] == N
    ratio = baseline / min(engine)
    print(f"plain loop {N / baseline / 1e6:.2f} M rows/s, engine {N / min(engine) / 1e6:.2f} M events/s, "
          f"ratio {ratio:.3f} (fails below {MIN_RATIO})")
    assert ratio >= MIN_RATIO, (
        f"engine replay is {1 / ratio:.1f}x slower than a plain loop over the same rows "
        f"(allowed {1 / MIN_RATIO:.1f}x): a large performance regression; profile with "
        f"`python -m cProfile -s tottime -m framework.cli backtest`")
