"""Cost of each fill/queue model option on generated data (docs/performance.md, "Fill models").

    PYTHONPATH=. python benchmarks/fill_models_bench.py [--events 200000]

* ``l1_orders``: ``kalshi bench``'s L1 scenario (one marketable order per 100 quotes) under
  each level-refill and crossed-book policy;
* ``l2_resting``: L2 level updates with one resting YES bid at the best bid at all times
  (re-placed when it fills), so the queue model sees every book change, under each queue model.

Best of three runs per line, in one process; figures are wall-clock and vary with the machine's
load (2 shared cores).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _resting():
    from framework import CONTRACT, Strategy

    class RestAtBest(Strategy):
        def on_book(self, book) -> None:
            if book.yes_bid is not None and not self.open_orders(book.ticker):
                self.buy(book.ticker, CONTRACT, price=book.yes_bid)

    return RestAtBest


def _best(strategy, root: Path, **kw) -> float:
    from framework import run_backtest

    times = []
    for _ in range(3):
        t = time.perf_counter()
        res = run_backtest(strategy, root, equity_interval=None, starting_cash=10**13, **kw)
        times.append(time.perf_counter() - t)
    return res.metrics["n_events"] / min(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=200_000)
    args = ap.parse_args(argv)
    import framework.bench as bench
    from benchmarks import datagen

    _, every_hundred, _ = bench._strategies()
    with tempfile.TemporaryDirectory() as tmp:
        l1 = datagen.quotes_catalog(Path(tmp) / "l1", args.events)
        l2 = datagen.book_catalog(Path(tmp) / "l2", args.events)
        runs = [("l1_orders", every_hundred, l1, {}),
                ("l1_orders", every_hundred, l1, {"level_refill": "growth"}),
                ("l1_orders", every_hundred, l1, {"crossed_books": "match"})]
        runs += [("l2_resting", _resting(), l2, {"queue_model": m}) for m in ("none", "trades", "power", "log")]
        for name, strat, root, kw in runs:
            rate = _best(strat, root, **kw)
            opts = ", ".join(f"{k}={v}" for k, v in kw.items()) or "defaults"
            print(f"{name:<11} {opts:<28} {rate / 1e6:6.2f} M events/s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
