"""Shared helpers for the live-feed tests (named test_* to live with them; it holds no tests): a local
exchange factory and a chunk pump that rebuilds books the way the engine does."""

from __future__ import annotations

import time
from collections.abc import Callable

from framework.core.events import BOOK, IDLE, MIXED, TRADE
from framework.exchange.server import LocalExchange
from framework.kalshi.auth import KalshiSigner, load_private_key
from framework.kalshi.envs import Environment
from framework.kalshi.rest import KalshiRestClient
from framework.model.book import OrderBook


def start_exchange(state_dir, seed: int = 7, **kw) -> LocalExchange:
    kw.setdefault("read_rate", 4000.0)
    ex = LocalExchange(port=0, seed=seed, state_dir=state_dir, background=False, ws_ping_interval=1.0, **kw)
    ex.start()
    ex.step(3)
    return ex


def env_of(ex: LocalExchange) -> Environment:
    return Environment("local", ex.rest_url, ex.ws_url)


def signer_of(ex: LocalExchange) -> KalshiSigner:
    return KalshiSigner(ex.key_id, load_private_key(ex.private_key_path))


def client_of(ex: LocalExchange, tier: str = "prime") -> KalshiRestClient:
    return KalshiRestClient(env_of(ex), signer_of(ex), tier=tier, max_retries=1, backoff_base=0.01)


def exchange_book(ex: LocalExchange, ticker: str):
    yes, no, _ = ex.engine.orderbook(ticker)
    return tuple(tuple(x) for x in yes), tuple(tuple(x) for x in no)


def levels(book: OrderBook):
    return tuple(sorted(book._yes.items())), tuple(sorted(book._no.items()))


class Pump:
    """Iterates a feed's chunks on the test thread and rebuilds books the way the engine does."""

    def __init__(self, feed) -> None:
        self.feed = feed
        self.it = feed.chunks()
        self.books: dict[str, OrderBook] = {}
        self.book_rows: list[tuple] = []
        self.trades: list[tuple] = []
        self.n_idle = 0
        self.last_ts = 0
        self._snap: tuple[str, int] | None = None
        self.monotonic_ok = True

    def once(self) -> None:
        kind, cols = next(self.it)
        if kind == IDLE:
            self.n_idle += 1
            self._check_ts(cols[0][0], allow_equal=True)
            return
        if kind == MIXED:  # live feeds never mix; fail loudly if they start to
            raise AssertionError("live feed yielded a MIXED chunk")
        if kind == BOOK:
            for row in zip(*cols):
                ts, tk, is_yes, price, size, seq, snap = row
                self._check_ts(ts, allow_equal=snap or (self.book_rows and self.book_rows[-1][0] == ts))
                self.book_rows.append(row)
                book = self.books.get(tk)
                if book is None:
                    book = self.books[tk] = OrderBook(tk)
                if snap:
                    if self._snap != (tk, ts):
                        book.clear()
                        self._snap = (tk, ts)
                else:
                    self._snap = None
                book.set_level(is_yes, price, size)
        elif kind == TRADE:
            self._snap = None
            for row in zip(*cols):
                self._check_ts(row[0], allow_equal=False)
                self.trades.append(row)

    def _check_ts(self, ts: int, allow_equal: bool) -> None:
        if ts < self.last_ts or (ts == self.last_ts and not allow_equal):
            self.monotonic_ok = False
        self.last_ts = max(self.last_ts, ts)

    def until(self, pred: Callable[[], bool], timeout: float = 15.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pred():
                return
            self.once()
        if pred():
            return
        raise AssertionError(f"timed out after {timeout} s waiting for {what}")

    def levels(self, ticker: str):
        b = self.books.get(ticker)
        return None if b is None else levels(b)

    def matches(self, ex: LocalExchange, tickers) -> bool:
        return all(self.levels(t) == exchange_book(ex, t) for t in tickers)
