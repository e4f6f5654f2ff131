"""Helpers for testing paper/live runs against the in-process local exchange.

* :func:`local_exchange`: a started :class:`~framework.exchange.LocalExchange` on port 0 with a
  fresh key registered; returns ``(exchange, key_id, private_key_path)``.
* :func:`write_live_config`: a ``mode = "live"`` TOML config pointing at that exchange.
* :class:`RecordingSink`: a stand-in for the engine's EventSink (portfolio + recorded events).
* :class:`ReplayAsLiveFeed`: replays a catalog like a live feed: the same chunks with an IDLE
  chunk after each one (so the engine polls the broker and fires timers as it does live).
* :func:`wait_for`: poll a predicate against a deadline (no fixed sleeps in tests).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from ..core.events import IDLE
from ..model.book import OrderBook
from ..model.portfolio import Portfolio
from ..units import DOLLAR

__all__ = ["RecordingSink", "ReplayAsLiveFeed", "local_exchange", "run_in_thread", "start_live_process", "wait_for",
           "write_live_config"]

STARTING_BALANCE = 10_000 * DOLLAR


def local_exchange(tmp: str | Path, key_id: str = "test-key", **kwargs):
    """Start a LocalExchange on 127.0.0.1:0 with a new key; ``(ex, key_id, private_key_path)``."""
    from ..exchange import LocalExchange
    from ..kalshi.auth import generate_key_pair

    d = Path(tmp)
    d.mkdir(parents=True, exist_ok=True)
    priv, pub = generate_key_pair(d, name=key_id)
    kwargs.setdefault("background", False)
    ex = LocalExchange(port=0, seed=kwargs.pop("seed", 1), register_keys={key_id: pub}, **kwargs).start()
    return ex, key_id, Path(priv)


def write_live_config(path: str | Path, ex, key_id: str, key_file: str | Path, *, markets: list[str],
                      strategy: str = "framework.live.examples:OneShot", state_dir: str | Path | None = None,
                      params: dict | None = None, live: dict | None = None, risk: dict | None = None,
                      mode: str = "live") -> Path:
    p = Path(path)

    def val(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return str(v)
        return '"' + str(v).replace("\\", "\\\\") + '"'

    table = {"env": "local", "port": ex.port, "key_id": key_id, "key_file": str(key_file), "feed": "rest",
             "poll_interval": 0.2, "state_dir": str(state_dir or p.parent / "state"), "write_timeout": 1.0,
             "fill_poll_interval": 0.3, "order_poll_interval": 0.5}
    table.update(live or {})
    lines = ["[run]", f'mode = "{mode}"', f"strategy = {val(strategy)}",
             "markets = [" + ", ".join(val(m) for m in markets) + "]", "", "[live]"]
    lines += [f"{k} = {val(v)}" for k, v in table.items()]
    if params:
        lines += ["", "[params]"] + [f"{k} = {val(v)}" for k, v in params.items()]
    if risk:
        lines += ["", "[risk]"] + [f"{k} = {val(v)}" for k, v in risk.items()]
    p.write_text("\n".join(lines) + "\n")
    return p


class RecordingSink:
    """Implements the engine's EventSink for broker tests: applies fills to a portfolio."""

    def __init__(self, cash: int = STARTING_BALANCE) -> None:
        self.now = time.time_ns()
        self.portfolio = Portfolio(cash)
        self.books: dict[str, OrderBook] = {}
        self.updates: list[tuple[str, str, str | None]] = []
        self.fills = []

    def order_update(self, order) -> None:
        self.updates.append((order.order_id, order.status, order.reason))

    def fill(self, order, fill) -> None:
        self.portfolio.apply_fill(fill.ticker, fill.side, fill.action, fill.price, fill.qty, fill.fee)
        self.fills.append(fill)

    def set_book(self, ex, ticker: str) -> OrderBook:
        """Copy the exchange's top of book into ``books`` (what a feed would have delivered)."""
        top = ex.engine.top(ticker)
        b = self.books.setdefault(ticker, OrderBook(ticker))
        b.yes_bid = top["yes_bid"]
        b.no_bid = DOLLAR - top["yes_ask"] if top["yes_ask"] is not None else None
        b.yes_bid_size = top["yes_bid_size"]
        b.no_bid_size = top["yes_ask_size"]
        return b


class ReplayAsLiveFeed:
    """A recorded stream delivered the way a live feed delivers it (chunks plus IDLE chunks)."""

    def __init__(self, inner, clock: Callable[[], int] = time.time_ns) -> None:
        self.inner = inner
        self.clock = clock

    def subscribe(self, tickers) -> None:
        self.inner.subscribe(tickers)

    def chunks(self):
        last = None
        for kind, cols in self.inner.chunks():
            yield kind, cols
            last = cols[0][-1] if cols[0] else last
            if last is not None:
                yield IDLE, ([last],)  # time has not moved past the data: no timer fires early

    def close(self) -> None:
        self.inner.close()


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0, step: float = 0.01,
             between: Callable[[], object] | None = None) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if between is not None:
            between()
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(step)


def run_in_thread(runner) -> tuple[threading.Thread, dict]:
    """Start ``runner.run()`` on a daemon thread. The returned dict receives ``"summary"`` (what
    ``run()`` returned) or ``"error"`` (what it raised), for the test to check."""
    box: dict = {}

    def target() -> None:
        try:
            box["summary"] = runner.run()
        except BaseException as e:  # surfaced by the test
            box["error"] = e

    t = threading.Thread(target=target, daemon=True)
    t.start()
    return t, box


def start_live_process(cfg: str | Path, tmp: str | Path, repo: str | Path, **env_extra: str) -> subprocess.Popen:
    """``python -m framework.live.cli live CFG`` in a subprocess (kill -9 tests and the fault
    matrix): ``KALSHI_LIVE_*`` hooks only from ``env_extra``, hook files in ``<tmp>/hooks``,
    ``repo`` first on PYTHONPATH, output in ``<tmp>/runner-<n>.log``."""
    tmp = Path(tmp)
    env = {k: v for k, v in os.environ.items() if k not in ("KALSHI_LIVE_CRASH_AT", "KALSHI_LIVE_PAUSE_AT")}
    env.update(env_extra)
    env["KALSHI_LIVE_HOOK_DIR"] = str(tmp / "hooks")
    env["PYTHONPATH"] = str(repo) + os.pathsep + env.get("PYTHONPATH", "")
    log = open(tmp / f"runner-{len(list(tmp.glob('runner-*.log')))}.log", "w")
    return subprocess.Popen([sys.executable, "-m", "framework.live.cli", "live", str(cfg)], cwd=repo, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
