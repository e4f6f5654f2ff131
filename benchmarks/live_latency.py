"""Update latency of the live feeds against the local exchange: exchange book event -> chunk yielded.

::

    python benchmarks/live_latency.py [--seconds 10] [--markets 6] [--poll-interval 1.0] [--step-ms 20]

An engine listener stamps every book change inside the local exchange (``time.time_ns()``);
the feed is iterated on the main thread and every BOOK row yielded marks all pending changes
of that level as delivered. Latency = yield time - change time, per change (so for REST
polling a change waits for the next poll of its market). The exchange is stepped on a thread
every ``--step-ms``. WebSocket rows are matched level by level (one delta per change); a REST
poll's rows deliver every change of that market made before its response arrived (changes
undone within one interval are only counted when the market's next visible change is polled,
which inflates the REST tail a little). Prints median / p90 / p99 / max per feed. Not a test: timings vary by
machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict, deque
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from framework.core.events import BOOK  # noqa: E402
from framework.data.live import make_live_feed  # noqa: E402
from framework.exchange.server import LocalExchange  # noqa: E402
from framework.kalshi.auth import KalshiSigner, load_private_key  # noqa: E402
from framework.kalshi.envs import Environment  # noqa: E402
from framework.kalshi.rest import KalshiRestClient  # noqa: E402


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def measure(kind: str, seconds: float, n_markets: int, poll_interval: float, step_ms: float, seed: int) -> dict:
    state = tempfile.mkdtemp(prefix="live-latency-")
    ex = LocalExchange(port=0, seed=seed, state_dir=state, background=False, read_rate=4000.0)
    ex.start()
    ex.step(3)
    tickers = sorted(ex.engine.markets)[:n_markets]
    pending: dict[tuple[str, bool, int], deque[int]] = defaultdict(deque)
    lock = threading.Lock()
    armed = threading.Event()

    def listener(ev):
        if ev.get("type") == "book" and armed.is_set() and ev["ticker"] in tickers:
            with lock:
                pending[(ev["ticker"], ev["side"] == "yes", ev["price"])].append(time.time_ns())

    ex.engine.listeners.append(listener)
    env = Environment("local", ex.rest_url, ex.ws_url)
    signer = KalshiSigner(ex.key_id, load_private_key(ex.private_key_path))
    client = KalshiRestClient(env, signer, tier="prime")
    feed = make_live_feed(env, kind, signer=signer, client=client, markets=tickers, poll_interval=poll_interval)
    stop = threading.Event()

    def stepper():
        while not stop.wait(step_ms / 1000):
            ex.step(1)

    lat: list[float] = []
    it = feed.chunks()
    # warm up: initial snapshots
    t_warm = time.monotonic() + 10
    seen: set[str] = set()
    while time.monotonic() < t_warm and len(seen) < len(tickers):
        k, cols = next(it)
        if k == BOOK:
            seen.update(cols[1])
    armed.set()
    th = threading.Thread(target=stepper, daemon=True)
    th.start()
    t_end = time.monotonic() + seconds
    try:
        while time.monotonic() < t_end:
            k, cols = next(it)
            if k != BOOK:
                continue
            now = time.time_ns()
            with lock:
                if kind == "ws":  # one delta per change: match level by level
                    for tk, is_yes, price in zip(cols[1], cols[2], cols[3]):
                        q = pending.get((tk, is_yes, price))
                        while q:
                            lat.append((now - q.popleft()) / 1e6)
                else:  # a poll reflects every change of its market made before the response arrived
                    upto = {}
                    for ts, tk in zip(cols[0], cols[1]):
                        upto[tk] = max(upto.get(tk, 0), ts)
                    for key, q in pending.items():
                        t_resp = upto.get(key[0])
                        while q and t_resp is not None and q[0] <= t_resp:
                            lat.append((now - q.popleft()) / 1e6)
    finally:
        stop.set()
        th.join()
        feed.close()
        ex.stop()
    return {"feed": kind, "n": len(lat), "median_ms": statistics.median(lat) if lat else float("nan"),
            "p90_ms": pct(lat, 0.90) if lat else float("nan"), "p99_ms": pct(lat, 0.99) if lat else float("nan"),
            "max_ms": max(lat) if lat else float("nan")}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--markets", type=int, default=6)
    p.add_argument("--poll-interval", type=float, default=1.0)
    p.add_argument("--step-ms", type=float, default=20.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--feeds", default="ws,rest")
    a = p.parse_args(argv)
    print(f"{a.markets} markets, exchange stepped every {a.step_ms:g} ms, {a.seconds:g} s per feed, "
          f"REST poll interval {a.poll_interval:g} s")
    print(f"{'feed':<6}{'changes':>9}{'median':>10}{'p90':>10}{'p99':>10}{'max':>10}  (ms)")
    for kind in a.feeds.split(","):
        r = measure(kind.strip(), a.seconds, a.markets, a.poll_interval, a.step_ms, a.seed)
        print(f"{r['feed']:<6}{r['n']:>9}{r['median_ms']:>10.2f}{r['p90_ms']:>10.2f}{r['p99_ms']:>10.2f}"
              f"{r['max_ms']:>10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
