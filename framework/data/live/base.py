"""The consumer half every live feed shares: a thread-safe queue in, engine chunks out."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator

from ...core.events import IDLE
from .books import STATUS, ChunkBuilder, LiveBooks

__all__ = ["LiveFeedBase"]

log = logging.getLogger("framework.data.live")


class LiveFeedBase:
    """A ``DataFeed`` fed by background producers through a ``queue.Queue``.

    ``chunks()`` blocks for at most ``idle_interval`` seconds (default 0.1): when nothing
    arrived it yields ``(IDLE, ([now_ns],))`` so the engine can fire timers and poll the broker.
    Subclasses implement ``_start()`` (start producers), ``_stop()`` and ``_added(tickers)``
    (new subscriptions while running), and may override ``_accept(msg)`` (drop messages).
    """

    def __init__(self, *, markets: Iterable[str] = (), books: LiveBooks | None = None,
                 sink: queue.Queue | None = None, idle_interval: float = 0.1,
                 clock: Callable[[], int] = time.time_ns, max_batch: int = 2000) -> None:
        self.clock = clock
        self.books = books if books is not None else LiveBooks(clock)
        self.queue: queue.Queue = sink if sink is not None else queue.Queue()
        self.idle_interval = float(idle_interval)
        self.max_batch = int(max_batch)
        self.tickers: list[str] = []
        self._ticker_set: set[str] = set()
        self._lock = threading.Lock()
        self._started = False
        self._closed = threading.Event()
        self.subscribe(markets)

    # ---- DataFeed --------------------------------------------------------------------------
    def subscribe(self, tickers: Iterable[str]) -> None:
        """Add markets (duplicates ignored). Works before and while ``chunks()`` runs."""
        new = []
        with self._lock:
            for t in tickers:
                t = str(t).strip()
                if t and t not in self._ticker_set:
                    self._ticker_set.add(t)
                    self.tickers.append(t)
                    new.append(t)
        if new:
            self.books.subscribed(new)
            if self._started:
                self._added(new)

    def start(self) -> None:
        """Start the background producers (``chunks()`` does it on first use)."""
        if not self._started and not self._closed.is_set():
            self._started = True
            self._start()

    def close(self) -> None:
        """Stop producers; ``chunks()`` returns after the current batch."""
        if self._closed.is_set():
            return
        self._closed.set()
        if self._started:
            self._stop()
        self.queue.put(None)  # wake the consumer

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def chunks(self) -> Iterator[tuple[int, tuple[list, ...]]]:
        self.start()
        q = self.queue
        books = self.books
        out = ChunkBuilder()
        timeout = self.idle_interval
        max_batch = self.max_batch
        while not self._closed.is_set():
            try:
                msg = q.get(timeout=timeout)
            except queue.Empty:
                self._tick()
                yield IDLE, ([books.stamp(self.clock())],)
                continue
            n = 0
            while msg is not None:
                if msg[0] == STATUS:
                    self._status(msg)
                elif self._accept(msg):
                    books.apply(msg, out)
                n += 1
                if n >= max_batch:
                    break
                try:
                    msg = q.get_nowait()
                except queue.Empty:
                    break
            self._tick()
            chunks = out.take()
            if chunks:
                yield from chunks
            else:
                yield IDLE, ([books.stamp(self.clock())],)

    def __iter__(self):
        return self.chunks()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- hooks -----------------------------------------------------------------------------
    def _start(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _stop(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _added(self, tickers: list[str]) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _accept(self, msg: tuple) -> bool:
        return True

    def _tick(self) -> None:
        pass

    def _status(self, msg: tuple) -> None:
        pass
