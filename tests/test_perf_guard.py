"""CI guard against large performance regressions, with no timing in it.

Wall-clock assertions fail on a loaded machine (this one once tripped at load 8), so the guard
counts work instead: Python-level calls (``sys.setprofile`` "call" and "c_call" events) made
by the engine, broker and strategy per event, in blocks of events. The count is the same on
every machine and every run, and it is what the hot loop's cost follows: a per-event helper
call, an allocation behind a function, or an O(n) scan sneaking in shows up as more calls per
event, or as blocks that grow over the run. Measured counts and the thresholds:
docs/performance.md "CI guard".
"""

from __future__ import annotations

import sys
from pathlib import Path

from benchmarks import datagen
from framework import CONTRACT, Strategy, run_backtest

N = 60_000
BLOCK = 20_000
MAX_NOOP_CALLS = 0.5  # per L1 event, no orders; measured 0.0 (the loop makes no per-event Python calls)
MAX_ORDER_CALLS = 65.0  # per event + marketable order; measured 50.6 (23ac21e: 40.5; 6f9f42a: 84.8-92.9)
MAX_GROWTH = 1.05  # last block / first block: per-order cost must stay flat


def _blocks(strategy_cls, root: Path) -> list[float]:
    """Calls per event in consecutive blocks of ``BLOCK`` events, counted by the strategy."""
    calls = [0]

    def prof(frame, event, arg):
        if event == "call" or event == "c_call":
            calls[0] += 1

    class Counting(strategy_cls):
        def on_start(self):
            super().on_start()
            self.n, self.c0, self.blocks = 0, 0, []

        def on_book(self, book):
            super().on_book(book)
            self.n += 1
            if self.n % BLOCK == 0:
                self.blocks.append((calls[0] - self.c0) / BLOCK)
                self.c0 = calls[0]

    s = Counting()
    sys.setprofile(prof)
    try:
        run_backtest(s, root, equity_interval=None, starting_cash=10**13)
    finally:
        sys.setprofile(None)
    assert len(s.blocks) == N // BLOCK
    return s.blocks[1:]  # the first block holds the strategy's start-up and first batch decode


class Noop(Strategy):
    def on_start(self):
        pass

    def on_book(self, book):
        pass


class OrderEveryEvent(Strategy):
    """A marketable order on every event, alternating buy/sell so the position stays small."""

    def on_start(self):
        self.k = 0

    def on_book(self, book):
        self.k += 1
        if self.k & 1:
            self.buy(book.ticker, CONTRACT)
        else:
            self.sell(book.ticker, CONTRACT)


def test_engine_loop_calls_per_event(tmp_path):
    root = datagen.quotes_catalog(tmp_path / "cat", N)
    noop = _blocks(Noop, root)
    # the strategy's own on_book (+ super() and the counter) is 3 calls per event: not the engine's
    engine = [c - 3 for c in noop]
    print(f"no-op: engine calls per event by block {engine}")
    assert max(engine) <= MAX_NOOP_CALLS, (
        f"the engine loop makes {max(engine):.2f} Python calls per L1 event (allowed {MAX_NOOP_CALLS}): "
        "something now runs per event in the hot loop; profile with `python -m cProfile -s tottime -m "
        "framework.cli backtest`")
    orders = _blocks(OrderEveryEvent, root)
    print(f"order per event: calls per event+order by block {orders}")
    assert max(orders) <= MAX_ORDER_CALLS, (
        f"{max(orders):.1f} Python calls per event+order (allowed {MAX_ORDER_CALLS}): the order path got "
        "heavier; see docs/performance.md 'CI guard'")
    assert orders[-1] <= orders[0] * MAX_GROWTH, (
        f"calls per order grow over the run ({orders}): an O(n) step in the order path")
