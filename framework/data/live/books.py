"""Shared L2 book state of a live feed, and the conversion of exchange messages into chunks.

Producers (the WebSocket thread, the REST poller) never touch book state: they put small
tuples (*messages*, below) on a queue. The consumer side of a feed (the thread iterating
``chunks()``) applies them to one :class:`LiveBooks` and builds the engine's column chunks
(see :mod:`framework.core.events`). Because every source goes through the same state, an
:class:`~framework.data.live.auto_feed.AutoFeed` can switch from the WebSocket to REST polling
and the first REST poll is *diffed against the book the WebSocket built*: the strategy sees
level updates, not a reset.

Messages (tuples, first item the type):

* ``(SNAP, src, ts, ticker, yes, no, seq)``: a full book (``yes``/``no`` = ``[(price, size)]``)
  from a WebSocket snapshot: replaces the book, emitted as a snapshot group.
* ``(DELTA, src, ts, ticker, is_yes, price, delta, seq)``: add ``delta`` to one level.
* ``(POLL, src, ts, ticker, yes, no)``: a full book read over REST: diffed against the current
  book into level updates (a snapshot group when the market has no book yet).
* ``(TRADE, src, ts, ticker, trade_id, yes_price, count, taker_side, exch_ns)``: a public trade;
  deduplicated by ``trade_id`` across sources.
* ``(STATUS, src, ts, state, reason)``: a source went up/down (only AutoFeed acts on it).
* ``(DROP, src, ts, tickers)``: the books of ``tickers`` are suspect (sequence gap); with
  ``clear_on_gap`` an empty snapshot is emitted, otherwise the book is held until the next
  snapshot arrives (the WebSocket worker drops deltas for it meanwhile).

Timestamps of emitted rows are the local receive time in int ns UTC, made strictly increasing
per feed (``max(ts, last + 1)``; all rows of one snapshot group share one ts), so a recording
replays in exactly the order the live feed produced.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

from ...core.events import BOOK, IDLE, TRADE

__all__ = [
    "DELTA",
    "DROP",
    "POLL",
    "SNAP",
    "STATUS",
    "TRADE_MSG",
    "ChunkBuilder",
    "L2Book",
    "LiveBooks",
    "diff_levels",
]

SNAP, DELTA, POLL, TRADE_MSG, STATUS, DROP = range(6)

# price of the single size-0 row that stands for an empty book (any valid price would do)
EMPTY_ROW_PRICE = 1


class L2Book:
    """Two bid ladders ``price -> size`` (YES and NO), sizes > 0 only."""

    __slots__ = ("yes", "no", "seq")

    def __init__(self) -> None:
        self.yes: dict[int, int] = {}
        self.no: dict[int, int] = {}
        self.seq: int | None = None

    def ladder(self, is_yes: bool) -> dict[int, int]:
        return self.yes if is_yes else self.no

    def as_tuple(self) -> tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]]:
        """``(yes, no)`` levels sorted ascending by price (comparable across feeds)."""
        return tuple(sorted(self.yes.items())), tuple(sorted(self.no.items()))

    def top(self) -> tuple[int, int, int | None, int | None]:
        """``(yes_bid, no_bid, yes_size, no_size)`` with 0/None for an empty side."""
        yb = max(self.yes) if self.yes else 0
        nb = max(self.no) if self.no else 0
        return yb, nb, (self.yes[yb] if yb else None), (self.no[nb] if nb else None)


def diff_levels(book: L2Book, yes: Iterable[tuple[int, int]], no: Iterable[tuple[int, int]]
                ) -> list[tuple[bool, int, int]]:
    """Level updates ``(is_yes, price, new_size)`` that turn ``book`` into ``(yes, no)``.

    Deterministic order: YES side then NO side, each by ascending price. Applies them to
    ``book`` as a side effect.
    """
    out: list[tuple[bool, int, int]] = []
    for is_yes, levels in ((True, yes), (False, no)):
        ladder = book.ladder(is_yes)
        target = {p: s for p, s in levels if s > 0}
        for price in sorted(set(ladder) | set(target)):
            new = target.get(price, 0)
            if ladder.get(price, 0) != new:
                out.append((is_yes, price, new))
                if new:
                    ladder[price] = new
                else:
                    del ladder[price]
    return out


class ChunkBuilder:
    """Accumulates rows of consecutive messages into ``(kind, columns)`` chunks."""

    __slots__ = ("chunks", "_kind", "_cols")

    def __init__(self) -> None:
        self.chunks: list[tuple[int, tuple[list, ...]]] = []
        self._kind: int | None = None
        self._cols: tuple[list, ...] | None = None

    def _start(self, kind: int, ncols: int) -> tuple[list, ...]:
        if self._kind != kind:
            self.flush()
            self._kind = kind
            self._cols = tuple([] for _ in range(ncols))
        assert self._cols is not None
        return self._cols

    def book_row(self, ts: int, ticker: str, is_yes: bool, price: int, size: int, seq: int | None,
                 snapshot: bool) -> None:
        c = self._start(BOOK, 7)
        c[0].append(ts)
        c[1].append(ticker)
        c[2].append(is_yes)
        c[3].append(price)
        c[4].append(size)
        c[5].append(seq)
        c[6].append(snapshot)

    def trade_row(self, ts: int, ticker: str, trade_id: str, yes_price: int, count: int, taker_side: str) -> None:
        c = self._start(TRADE, 6)
        c[0].append(ts)
        c[1].append(ticker)
        c[2].append(trade_id)
        c[3].append(yes_price)
        c[4].append(count)
        c[5].append(taker_side)

    def flush(self) -> None:
        if self._kind is not None and self._cols is not None and self._cols[0]:
            kind, cols = self._kind, self._cols
            self.chunks.append((kind, cols))
            # a chunk that ends inside a snapshot group: the engine delivers the group when the
            # next chunk of another kind arrives, so follow it at once with an IDLE
            if kind == BOOK and cols[6][-1]:
                self.chunks.append((IDLE, ([cols[0][-1]],)))
        self._kind = None
        self._cols = None

    def take(self) -> list[tuple[int, tuple[list, ...]]]:
        self.flush()
        out, self.chunks = self.chunks, []
        return out


class LiveBooks:
    """Book and trade state shared by every source of one feed (consumer thread only, except
    the read-only ``trade_watermark`` lookups the REST poller makes)."""

    def __init__(self, clock: Callable[[], int] = time.time_ns, *, clear_on_gap: bool = False,
                 max_trade_ids: int = 200_000) -> None:
        self.clock = clock
        self.books: dict[str, L2Book] = {}
        self.clear_on_gap = clear_on_gap
        self.last_ts = 0
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._max_ids = max_trade_ids
        # per ticker: exchange time (ns) of the newest trade seen; trades older than the floor
        # (set when the market is subscribed) are history, not news
        self.trade_watermark: dict[str, int] = {}
        self.trade_floor: dict[str, int] = {}
        self.n_messages = 0

    # ---- helpers ---------------------------------------------------------------------------
    def stamp(self, ts: int) -> int:
        if ts <= self.last_ts:
            ts = self.last_ts + 1
        self.last_ts = ts
        return ts

    def subscribed(self, tickers: Iterable[str], now_ns: int | None = None) -> None:
        now = self.clock() if now_ns is None else now_ns
        for t in tickers:
            self.trade_floor.setdefault(t, now)

    def watermark_ns(self, ticker: str) -> int | None:
        """Exchange time of the newest trade seen (or the subscription time) for ``ticker``."""
        w = self.trade_watermark.get(ticker)
        return w if w is not None else self.trade_floor.get(ticker)

    def book(self, ticker: str) -> L2Book | None:
        return self.books.get(ticker)

    def state(self) -> dict[str, tuple]:
        """``{ticker: (yes_levels, no_levels)}``, levels ascending: for comparisons and tests."""
        return {t: b.as_tuple() for t, b in self.books.items()}

    # ---- message application ---------------------------------------------------------------
    def apply(self, msg: tuple, out: ChunkBuilder) -> None:
        """Apply one message; append the resulting rows to ``out``."""
        typ = msg[0]
        self.n_messages += 1
        if typ == DELTA:
            _, _, ts, ticker, is_yes, price, delta, seq = msg
            book = self.books.get(ticker)
            if book is None:  # no snapshot yet (or dropped after a gap): never guess
                return
            ladder = book.yes if is_yes else book.no
            new = ladder.get(price, 0) + delta
            if new > 0:
                ladder[price] = new
            else:
                new = 0
                if ladder.pop(price, None) is None:
                    return  # removing a level that is not there: nothing changes
            book.seq = seq
            out.book_row(self.stamp(ts), ticker, is_yes, price, new, seq, False)
        elif typ == TRADE_MSG:
            _, _, ts, ticker, trade_id, yes_price, count, taker_side, exch_ns = msg
            seen = self._seen
            if trade_id in seen:
                return
            floor = self.trade_floor.get(ticker)
            if exch_ns is not None and floor is not None and exch_ns < floor:
                self._remember(trade_id)
                return
            self._remember(trade_id)
            if exch_ns is not None and exch_ns > self.trade_watermark.get(ticker, 0):
                self.trade_watermark[ticker] = exch_ns
            out.trade_row(self.stamp(ts), ticker, trade_id, yes_price, count, taker_side)
        elif typ == SNAP:
            _, _, ts, ticker, yes, no, seq = msg
            self._snapshot(ticker, yes, no, seq, ts, out)
        elif typ == POLL:
            _, _, ts, ticker, yes, no = msg
            book = self.books.get(ticker)
            if book is None:
                self._snapshot(ticker, yes, no, None, ts, out)
                return
            changes = diff_levels(book, yes, no)
            if changes:
                ts = self.stamp(ts)
                for is_yes, price, size in changes:
                    out.book_row(ts, ticker, is_yes, price, size, None, False)
        elif typ == DROP:
            _, _, ts, tickers = msg
            for t in tickers:
                if self.books.pop(t, None) is not None and self.clear_on_gap:
                    out.book_row(self.stamp(ts), t, True, EMPTY_ROW_PRICE, 0, None, True)

    def _snapshot(self, ticker: str, yes, no, seq: int | None, ts: int, out: ChunkBuilder) -> None:
        book = L2Book()
        book.seq = seq
        for p, s in yes:
            if s > 0:
                book.yes[p] = s
        for p, s in no:
            if s > 0:
                book.no[p] = s
        self.books[ticker] = book
        ts = self.stamp(ts)
        if not book.yes and not book.no:
            out.book_row(ts, ticker, True, EMPTY_ROW_PRICE, 0, seq, True)
            return
        for p in sorted(book.yes):
            out.book_row(ts, ticker, True, p, book.yes[p], seq, True)
        for p in sorted(book.no):
            out.book_row(ts, ticker, False, p, book.no[p], seq, True)

    def _remember(self, trade_id: str) -> None:
        seen = self._seen
        seen[trade_id] = None
        if len(seen) > self._max_ids:
            seen.popitem(last=False)
