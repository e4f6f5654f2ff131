"""RestPollingFeed: order books and trades polled over REST, diffed into WebSocket-style updates.

Every ``poll_interval`` seconds (default 1.0) each subscribed market's order book
(``GET /markets/{t}/orderbook``) and new trades (``GET /markets/trades``) are fetched. The book
is diffed against the feed's current book into level updates ``(is_yes, price, new_size)``:
the same BOOK rows the WebSocket feed emits for deltas, only coarser (several changes inside
one interval collapse into one). A market seen for the first time gets a snapshot group.
Trades are deduplicated by ``trade_id``.

Requests are spread evenly across the interval (market ``i`` of ``n`` is due at
``start + i * cycle / n``) and paced by the client's read token bucket. When the markets do
not fit the read budget in one interval (``read_share`` of the tier's tokens/s at 10 tokens a
read) the cycle is stretched and a warning says so. A market that could not be refreshed
(errors, or not refreshed for ``stale_after`` s) is put in :attr:`stale` and logged once; it
leaves the set (and a recovery line is logged) when a poll succeeds again.

Trades: with ``trades="per_market"`` each market costs two reads per cycle; ``"global"`` reads
the exchange-wide trade list once per cycle (``GET /markets/trades?min_ts=...``, paginated) and
keeps the subscribed markets' trades, so each market costs one read; ``"auto"`` (default) uses
per-market requests while they fit the budget, else the global list.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ...kalshi.errors import KalshiAPIError, KalshiError
from ...kalshi.ratelimit import DEFAULT_COST, TIERS
from .base import LiveFeedBase
from .books import POLL, STATUS, TRADE_MSG

__all__ = ["RestPollingFeed", "markets_per_interval"]

log = logging.getLogger("framework.data.live")

NS = 1_000_000_000


def markets_per_interval(tier: str = "basic", poll_interval: float = 1.0, *, trades: str = "per_market",
                         read_share: float = 1.0, cost: int = DEFAULT_COST, trade_pages: int = 1) -> int:
    """How many markets REST polling refreshes within one ``poll_interval`` on ``tier``.

    Read budget per interval = ``TIERS[tier].read * read_share * poll_interval`` tokens; a read
    costs ``cost`` (10). Per market: an order book read, plus a trade read when
    ``trades="per_market"``; ``"global"`` pays ``trade_pages`` reads per interval instead.
    """
    reads = TIERS[tier.lower()][0] * read_share * poll_interval / cost
    if trades == "per_market":
        return int(reads // 2)
    return max(0, int(reads - trade_pages))


def _err_text(e: BaseException) -> str:
    if isinstance(e, KalshiAPIError):
        return f"HTTP {e.status}" + (f" {e.message}" if e.message else "")
    return str(e) or type(e).__name__


class RestPollingFeed(LiveFeedBase):
    """Polls order books and trades over REST (see module docstring).

    Args:
        client: a :class:`~framework.kalshi.rest.KalshiRestClient` (its token bucket paces us).
        markets: initial tickers; ``subscribe()`` adds more at any time.
        poll_interval: seconds between refreshes of one market (default 1.0).
        trades: ``"auto"``, ``"per_market"`` or ``"global"`` (see module docstring).
        read_share: share of the client's read rate this feed may plan to use (default 0.8,
            leaving room for the broker's reads on the same key).
        workers: concurrent requests (a request's latency must not stretch the cycle).
        stale_after: seconds without a successful refresh before a market counts as stale
            (default: twice the cycle).
    """

    def __init__(self, client, *, markets: Iterable[str] = (), poll_interval: float = 1.0, trades: str = "auto",
                 read_share: float = 0.8, workers: int = 4, stale_after: float | None = None,
                 src: str = "rest", **base: Any) -> None:
        super().__init__(markets=markets, **base)
        if poll_interval <= 0:
            raise ValueError(f"poll_interval must be > 0 seconds, got {poll_interval!r}")
        if trades not in ("auto", "per_market", "global"):
            raise ValueError(f"trades must be 'auto', 'per_market' or 'global', got {trades!r}")
        self.client = client
        self.poll_interval = float(poll_interval)
        self.trades_mode = trades
        self.read_share = float(read_share)
        self.workers = max(1, int(workers))
        self.stale_after = stale_after
        self.src = src
        self.stale: set[str] = set()
        self.last_ok: dict[str, float] = {}  # ticker -> monotonic time of the last good refresh
        self.errors: dict[str, str] = {}
        self.n_polls = 0
        self.n_cycles = 0
        self.cycle_seconds = self.poll_interval
        self._paused = threading.Event()
        self._stop_ev = threading.Event()
        self._wakeup = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._stale_lock = threading.Lock()
        self._global_wm: int | None = None
        self._warned_budget = False

    # ---- control -----------------------------------------------------------------------------
    def pause(self) -> None:
        """Stop issuing requests (AutoFeed: the WebSocket is back)."""
        self._paused.set()

    def resume(self) -> None:
        """Resume polling at once."""
        self._paused.clear()
        self._wakeup.set()

    @property
    def paused(self) -> bool:
        return self._paused.is_set()

    def _start(self) -> None:
        self._stop_ev.clear()
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="kalshi-rest-poll")
        self._thread = threading.Thread(target=self._run, name="kalshi-rest-feed", daemon=True)
        self._thread.start()

    def _stop(self) -> None:
        self._stop_ev.set()
        self._wakeup.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._thread = None
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def _added(self, tickers: list[str]) -> None:
        self._wakeup.set()

    # ---- budget ------------------------------------------------------------------------------
    def read_rate(self) -> float:
        """Read tokens per second the client may spend (its bucket's rate)."""
        try:
            return float(self.client.limiter.read.rate)
        except AttributeError:
            return float(TIERS["basic"][0])

    def _plan(self, n: int) -> tuple[bool, float]:
        """``(per_market_trades, cycle_seconds)`` for ``n`` markets."""
        reads_per_s = self.read_rate() * self.read_share / DEFAULT_COST
        per_market = self.trades_mode == "per_market" or (
            self.trades_mode == "auto" and 2 * n <= reads_per_s * self.poll_interval)
        reads = n * (2 if per_market else 1) + (0 if per_market else 1)
        cycle = max(self.poll_interval, reads / reads_per_s if reads_per_s > 0 else self.poll_interval)
        if cycle > self.poll_interval * 1.001 and not self._warned_budget:
            self._warned_budget = True
            log.warning("REST polling: %d markets need %d reads per cycle but the read budget allows %.0f/s, so "
                        "each market is refreshed every %.2f s instead of %.2f s (use fewer markets, a higher "
                        "tier, or the WebSocket)", n, reads, reads_per_s, cycle, self.poll_interval)
        return per_market, cycle

    # ---- polling (background thread) ---------------------------------------------------------
    def _run(self) -> None:
        stop = self._stop_ev
        while not stop.is_set():
            if self._paused.is_set():
                self._wakeup.wait(0.1)
                self._wakeup.clear()
                continue
            tickers = list(self.tickers)
            if not tickers:
                self._wakeup.wait(0.1)
                self._wakeup.clear()
                continue
            per_market, cycle = self._plan(len(tickers))
            self.cycle_seconds = cycle
            start = time.monotonic()
            futures = []
            if not per_market:
                futures.append(self._submit(self._poll_global_trades, tickers))
            for i, t in enumerate(tickers):
                due = start + i * cycle / len(tickers)
                if not self._sleep_until(due):
                    break
                futures.append(self._submit(self._poll_market, t, per_market))
            self.n_cycles += 1
            self._check_stale(tickers, cycle)
            # next cycle: wait out the interval (new subscriptions wake us early)
            end = start + cycle
            while not stop.is_set() and not self._paused.is_set():
                left = end - time.monotonic()
                if left <= 0:
                    break
                if self._wakeup.wait(left):
                    self._wakeup.clear()
                    new = [t for t in self.tickers if t not in self.last_ok and t not in tickers]
                    if new:
                        for t in new:
                            self._submit(self._poll_market, t, per_market)
                        tickers = tickers + new

    def _sleep_until(self, due: float) -> bool:
        while True:
            if self._stop_ev.is_set() or self._paused.is_set():
                return False
            left = due - time.monotonic()
            if left <= 0:
                return True
            self._stop_ev.wait(min(left, 0.05))

    def _submit(self, fn, *args):
        pool = self._pool
        if pool is None:
            return None
        try:
            return pool.submit(fn, *args)
        except RuntimeError:  # shut down
            return None

    def _poll_market(self, ticker: str, with_trades: bool) -> None:
        if self._stop_ev.is_set() or self._paused.is_set():
            return
        try:
            trades = []
            if with_trades:
                trades = self._fetch_trades(ticker)
            ob = self.client.get_orderbook(ticker)
        except KalshiError as e:
            self._failed(ticker, _err_text(e))
            return
        except Exception as e:  # network stack surprises: never kill the worker
            self._failed(ticker, f"{type(e).__name__}: {e}")
            return
        if self._paused.is_set() or self._stop_ev.is_set():
            return  # the WebSocket took over while we were waiting: its book wins
        now = self.clock()
        for tr in trades:
            self.queue.put((TRADE_MSG, self.src, now, tr.ticker, tr.trade_id, tr.price, tr.count,
                            tr.taker_outcome_side or "yes", tr.created_time))
        self.queue.put((POLL, self.src, now, ticker, ob.yes, ob.no))
        self.n_polls += 1
        self._ok(ticker)

    def _fetch_trades(self, ticker: str | None, tickers: set[str] | None = None) -> list:
        if ticker is not None:
            w = self.books.watermark_ns(ticker)
        else:
            w = self._global_wm
            if w is None:
                w = min((self.books.watermark_ns(t) or self.clock()) for t in tickers) if tickers else self.clock()
        min_ts = max(0, (w // NS) - 1) if w else None  # seconds, inclusive; overlap removed by trade_id
        out = []
        for tr in self.client.iter_trades(ticker=ticker, min_ts=min_ts):
            if tickers is not None and tr.ticker not in tickers:
                continue
            out.append(tr)
        out.sort(key=lambda tr: (tr.created_time, tr.trade_id))
        return out

    def _poll_global_trades(self, tickers: list[str]) -> None:
        if self._stop_ev.is_set() or self._paused.is_set():
            return
        try:
            trades = self._fetch_trades(None, set(tickers))
        except KalshiError as e:
            log.warning("REST polling: could not read the trade list: %s", _err_text(e))
            return
        now = self.clock()
        newest = self._global_wm or 0
        for tr in trades:
            newest = max(newest, tr.created_time)
            self.queue.put((TRADE_MSG, self.src, now, tr.ticker, tr.trade_id, tr.price, tr.count,
                            tr.taker_outcome_side or "yes", tr.created_time))
        if newest:
            self._global_wm = newest

    # ---- staleness ---------------------------------------------------------------------------
    def _ok(self, ticker: str) -> None:
        with self._stale_lock:
            self.last_ok[ticker] = time.monotonic()
            self.errors.pop(ticker, None)
            if ticker in self.stale:
                self.stale.discard(ticker)
                log.info("REST polling: %s is fresh again", ticker)
                self.queue.put((STATUS, self.src, self.clock(), "fresh", ticker))

    def _failed(self, ticker: str, reason: str) -> None:
        with self._stale_lock:
            self.errors[ticker] = reason
            if ticker not in self.stale:
                self.stale.add(ticker)
                log.warning("REST polling: %s could not be refreshed (%s); its book is stale until a poll succeeds",
                            ticker, reason)
                self.queue.put((STATUS, self.src, self.clock(), "stale", ticker))

    def _check_stale(self, tickers: list[str], cycle: float) -> None:
        limit = self.stale_after if self.stale_after is not None else 2 * cycle + 1.0
        now = time.monotonic()
        with self._stale_lock:
            for t in tickers:
                last = self.last_ok.get(t)
                if last is not None and now - last > limit and t not in self.stale:
                    self.stale.add(t)
                    log.warning("REST polling: %s was not refreshed for %.1f s; its book is stale", t, now - last)
                    self.queue.put((STATUS, self.src, self.clock(), "stale", t))
