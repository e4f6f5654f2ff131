"""How many orders does a stop leave resting on the exchange, under load?

A live run (REST broker, or FIX with ``--broker fix``) on the in-process local exchange sends
``rate`` resting 1-contract bids per second for ``--seconds``, then stops on ``duration``
(the same path as ``kalshi kill``). Reported per rate: orders the strategy submitted, orders
that reached the exchange, how long the stop took, and the orders of the run still resting on
the exchange when ``run()`` returned (what the issue found: 1,136 at 800 orders/s).

Run: ``python benchmarks/stop_under_load.py [--rates 100,400,800] [--seconds 3] [--broker rest]``.
The exchange's and the client's rate limits are raised (``tier = "prime"``: 400 writes/s client
side) and every REST answer is delayed by ``--latency-ms`` (default 10: a network round trip;
one sender then manages ~100 creates/s), so at higher rates the creates queue up in the broker
as they would on a busy day. Loopback, shared
machine: the timings are noisy; the resting count is the figure that matters.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from framework import CONTRACT, Strategy, cents  # noqa: E402
from framework.live.config import load_live_config  # noqa: E402
from framework.live.runner import LiveRunner, resolve_settings  # noqa: E402
from framework.live.testing import local_exchange, write_live_config  # noqa: E402


class Load(Strategy):
    """``rate`` 1-cent YES bids per second, round robin over the markets (defined here, not
    imported, so the script also runs against older versions of the framework)."""

    params = {"rate": 100}

    def on_start(self) -> None:
        self.sent, self.t0 = 0, None
        self.tickers = sorted(self.markets)
        self.subscribe(self.tickers)
        self.set_timer("load", every="20ms")

    def _due(self) -> None:
        self.t0 = self.now if self.t0 is None else self.t0
        due = int((self.now - self.t0) * self.params["rate"] // 1_000_000_000) + 1
        while self.sent < due:
            self.buy(self.tickers[self.sent % len(self.tickers)], CONTRACT, price=cents(1))
            self.sent += 1

    def on_book(self, book) -> None:
        self._due()

    def on_timer(self, name: str) -> None:
        self._due()


class TimedRunner(LiveRunner):
    """Times the stop itself (halt, cancels, waiting for the exchange)."""

    stop_s = 0.0

    def shutdown_orders(self, *a, **kw) -> None:
        t0 = time.monotonic()
        try:
            super().shutdown_orders(*a, **kw)
        finally:
            self.stop_s = self.stop_s or time.monotonic() - t0


def run_once(rate: int, seconds: float, broker: str, tmp: Path, latency_ms: int = 0) -> dict:
    ex, kid, priv = local_exchange(tmp / "ex", read_rate=1e9, write_rate=1e9)
    acc = None
    try:
        ex.step(3)
        ex.faults.delay(latency_ms)  # every HTTP answer this late: a network round trip
        markets = sorted(ex.engine.markets)[:3]
        live = {"tier": "prime", "ws_fills": False, "settlement_poll": 0, "duration": seconds}
        if broker == "fix":
            from framework.exchange.fix_acceptor import attach_fix_acceptor

            acc = attach_fix_acceptor(ex, port=0, session="NR").start()
            live.update(broker="fix", fix_port=acc.port)
        cfg = write_live_config(tmp / "live.toml", ex, kid, priv, markets=markets, live=live,
                                risk={"max_open_orders": 1_000_000, "max_orders_per_second": 1_000_000})
        s = resolve_settings(load_live_config(cfg), out=str(tmp / "out"))
        strategy = Load({"rate": rate})
        runner = TimedRunner(s, strategy=strategy, install_signals=False, echo=None)
        summary = runner.run()
        acct = ex.engine.account(kid)
        return {"rate": rate, "submitted": strategy.sent, "reached_exchange": len(acct.orders),
                "stop_s": round(runner.stop_s, 2),
                "resting_after_stop": sum(1 for o in acct.orders.values() if o.status == "resting"),
                "reported_resting": len(summary.get("resting_on_exchange") or [])}
    finally:
        if acc is not None:
            acc.stop()
        ex.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", default="100,400,800")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--broker", choices=("rest", "fix"), default="rest")
    ap.add_argument("--latency-ms", type=int, default=10, help="added to every REST answer (default 10)")
    a = ap.parse_args()
    print("rate/s  submitted  reached_exchange  stop_s  resting_after_stop  reported_resting")
    for rate in (int(r) for r in a.rates.split(",")):
        with tempfile.TemporaryDirectory() as d:
            r = run_once(rate, a.seconds, a.broker, Path(d), a.latency_ms)
        print(f"{r['rate']:>6}  {r['submitted']:>9}  {r['reached_exchange']:>16}  {r['stop_s']:>6}  "
              f"{r['resting_after_stop']:>18}  {r['reported_resting']:>16}", flush=True)


if __name__ == "__main__":
    main()
