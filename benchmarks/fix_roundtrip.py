"""Order round trip over FIX on loopback: FixBroker -> local FixAcceptor -> matching engine -> back.

Measures, per order, the wall time from ``broker.submit(order)`` until the broker has applied
the exchange's answer (``poll`` on the calling thread, as the live runner does):

* ``new``: a 1-contract GTC bid far from the market until it is ACCEPTED (ExecutionReport New);
* ``cancel``: its OrderCancelRequest until CANCELLED;
* ``fill``: a 1-contract marketable limit until FILLED (Trade report, fee group parsed).

Run: ``python benchmarks/fix_roundtrip.py [-n 1000] [--session NR|RT] [--store FILE]``.
Plain TCP on 127.0.0.1, the SQLite store in memory unless ``--store`` is given.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from framework.exchange.fix_testing import DEFAULT_TICKER as T  # noqa: E402
from framework.exchange.fix_testing import FixTestBed  # noqa: E402
from framework.model.orders import Order, OrderStatus  # noqa: E402
from framework.units import CONTRACT, cents  # noqa: E402


class _Sink:
    now = 0

    def order_update(self, o):
        pass

    def fill(self, o, f):
        pass


def _wait(broker, order, status, timeout=5.0) -> float:
    t0 = time.perf_counter()
    while order.status != status:
        broker.poll(timeout=0.001)
        if time.perf_counter() - t0 > timeout:
            raise RuntimeError(f"{order} did not reach {status}")
    return time.perf_counter()


def _stats(name: str, xs: list[float]) -> str:
    xs = sorted(xs)
    p99 = xs[min(len(xs) - 1, int(round(0.99 * (len(xs) - 1))))]
    return (f"{name:<7} n={len(xs):<5} median {statistics.median(xs) * 1e6:8.0f} us   p99 {p99 * 1e6:8.0f} us   "
            f"max {xs[-1] * 1e6:8.0f} us")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("--session", default="NR", choices=("NR", "RT"))
    ap.add_argument("--store", default=":memory:")
    args = ap.parse_args(argv)
    with FixTestBed(args.session) as bed:
        bed.quote(yes_bid=cents(45), no_bid=cents(50), size=args.n * 2 * CONTRACT)
        broker = bed.broker(store_path=args.store)
        broker.bind(_Sink(), {}, None)
        new, cancel, fill = [], [], []
        for i in range(args.n):
            o = Order(f"B{i}", T, "yes", "buy", CONTRACT, cents(10))
            t0 = time.perf_counter()
            broker.submit(o)
            new.append(_wait(broker, o, OrderStatus.ACCEPTED) - t0)
            t0 = time.perf_counter()
            broker.cancel(o)
            cancel.append(_wait(broker, o, OrderStatus.CANCELLED) - t0)
            f = Order(f"F{i}", T, "yes", "buy", CONTRACT, cents(50))
            t0 = time.perf_counter()
            broker.submit(f)
            fill.append(_wait(broker, f, OrderStatus.FILLED) - t0)
        broker.stop()
    print(f"FIX order round trip over loopback ({args.session}, store {args.store}, Python "
          f"{sys.version.split()[0]})")
    for name, xs in (("new", new), ("cancel", cancel), ("fill", fill)):
        print(_stats(name, xs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
