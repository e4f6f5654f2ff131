"""Settlements during paper and live runs: poll Kalshi for finalized markets.

In a backtest the engine settles each market at its recorded ``settle_ts``. Live, the result is
only known when Kalshi finalizes the market, so a :class:`SettlementWatcher` polls
``GET /markets?tickers=...`` on a background thread (default every 30 s, ``[live]
settlement_poll``) and hands each market that reached ``finalized`` (``settled`` in older
payloads) with a ``yes``/``no``/``void``/``scalar`` result to the runner once, as a
:class:`Finalized`. The runner settles it on the engine thread with
:meth:`framework.core.engine.Engine.settle_market`, which pays $1 per winning contract, returns
the cost of a ``void`` market's contracts, or pays a ``scalar`` market's settlement value per YES
contract (and the rest per NO contract), closes the position and calls ``on_settlement``.

Results are read by :func:`framework.kalshi.outcome.market_outcome` (the downloader reads them
the same way). A scalar result needs the market's ``settlement_value_dollars``; a scalar market
finalized without one is logged and left alone (a restart reconciles it from the exchange).
Kalshi's ``Market.result`` enum lists ``yes``/``no``/``scalar``/``""``; ``void`` appears only in
its settlement records, so how a voided market reads is not documented: a finalized market with
an empty result is settled as void (``[live] empty_result = "void"``, the default) or left
alone (``"unsettled"``); a literal ``void`` result is settled as void. Not handled: the ``determined`` state (result known, not yet paid: nothing is paid until
``finalized``, so nothing is settled before).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import NamedTuple

from ..kalshi.outcome import FINAL_STATUSES, check_empty_result, market_outcome

__all__ = ["FINAL_STATUSES", "Finalized", "SettlementWatcher"]

log = logging.getLogger(__name__)
_TICKERS_PER_REQUEST = 100  # keeps the query string short; GET /markets pages hold up to 1,000


class Finalized(NamedTuple):
    """A market Kalshi finalized: its result and, for ``scalar``, the YES payout per contract."""

    ticker: str
    result: str  # "yes" | "no" | "void" | "scalar"
    value: int | None = None  # $0.0001 units, scalar only


class SettlementWatcher:
    """Reports each watched market once when Kalshi has finalized it with a result.

    ``client`` is a :class:`framework.kalshi.rest.KalshiRestClient` (anything with
    ``iter_markets(tickers=..., mve_filter=None)``). ``done`` holds tickers already settled
    (from the journal), which are never reported again. ``take()`` is thread-safe.
    ``empty_result``: ``"void"`` or ``"unsettled"``, see :mod:`framework.kalshi.outcome`.
    """

    def __init__(self, client, tickers: Iterable[str], interval_s: float = 30.0,
                 done: Iterable[str] = (), on_error: Callable[[str], None] | None = None,
                 empty_result: str = "void") -> None:
        if interval_s <= 0:
            raise ValueError("settlement_poll must be > 0 seconds (or 0/false in the config to turn it off)")
        self.empty_result = check_empty_result(empty_result)
        self.client = client
        self.tickers = sorted(set(tickers))
        self.interval_s = float(interval_s)
        self._done = set(done)
        self._ready: list[Finalized] = []
        self._warned: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.on_error = on_error or (lambda msg: log.warning("%s", msg))
        self.polls = 0
        self.errors = 0

    def poll_once(self) -> list[Finalized]:
        """One pass over the watched markets; returns (and queues) the newly finalized ones."""
        todo = [t for t in self.tickers if t not in self._done]
        found: list[Finalized] = []
        for i in range(0, len(todo), _TICKERS_PER_REQUEST):
            chunk = todo[i:i + _TICKERS_PER_REQUEST]
            for m in self.client.iter_markets(tickers=chunk, mve_filter=None):
                if m.ticker in self._done or m.status not in FINAL_STATUSES:
                    continue
                outcome, note = market_outcome(m, self.empty_result)
                if outcome is not None:
                    found.append(Finalized(m.ticker, outcome.result, outcome.value))
                    self._done.add(m.ticker)
                    if note:
                        log.info("%s", note)
                elif m.ticker not in self._warned:
                    self._warned.add(m.ticker)
                    self.on_error(f"market {note or m.ticker + ' has no result'}: not settled during the run; "
                                  "a restart reconciles the position")
        self.polls += 1
        if found:
            with self._lock:
                self._ready.extend(found)
        return found

    def take(self) -> list[Finalized]:
        """Finalized markets not handed out yet, oldest first."""
        if not self._ready:  # the common case, read without the lock (a list's truth is atomic)
            return []
        with self._lock:
            out, self._ready = self._ready, []
        return out

    # ---- background polling ------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None and self.tickers:
            self._thread = threading.Thread(target=self._loop, name="settlement-watcher", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception as e:  # the next poll retries; a strategy must not die of a 5xx here
                self.errors += 1
                self.on_error(f"settlement poll failed ({type(e).__name__}: {e}); retrying in "
                              f"{self.interval_s:g} s")
            if len(self._done) >= len(self.tickers):
                return  # every market settled: nothing left to watch
            self._stop.wait(self.interval_s)
