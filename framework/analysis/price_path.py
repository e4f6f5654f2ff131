"""The top-of-book path of a few markets, re-read from the catalog for the report's price plots.

Replays only the chosen markets (``ParquetReplayFeed(markets=...)``) into ``OrderBook`` objects
the way the engine does, and keeps ``(ts, yes_bid, yes_ask)`` whenever either changed. Runs
after the backtest, never during it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ..core.events import BOOK, IDLE, MIXED, QUOTE
from ..model.book import OrderBook

__all__ = ["price_paths"]


def price_paths(catalog: str | Path, tickers: Iterable[str], start: int | None = None,
                end: int | None = None) -> dict[str, list[tuple[int, int | None, int | None]]]:
    """``{ticker: [(ts, yes_bid, yes_ask), ...]}`` (price units; ``None`` = that side empty)."""
    from ..data.replay import ParquetReplayFeed

    tickers = list(tickers)
    books = {t: OrderBook(t) for t in tickers}
    out: dict[str, list] = {t: [] for t in tickers}
    last: dict[str, tuple] = {}
    snap: tuple[str, int] | None = None

    def emit(book: OrderBook) -> None:
        top = (book.yes_bid, book.yes_ask)
        if last.get(book.ticker) != top:
            last[book.ticker] = top
            out[book.ticker].append((book.ts, *top))

    def quote(ts, tk, yb, nb, ybs, nbs) -> None:
        b = books[tk]
        b.set_top(ts, yb, nb, ybs, nbs)
        emit(b)

    def level(ts, tk, is_yes, price, size, seq, snapshot) -> None:
        nonlocal snap
        b = books[tk]
        b.ts = ts
        if snapshot:
            if snap != (tk, ts):
                b.clear()
                snap = (tk, ts)
        else:
            snap = None
        b.set_level(is_yes, price, size)
        emit(b)

    feed = ParquetReplayFeed(catalog, markets=tickers, start=start, end=end, kinds="auto")
    try:
        for kind, cols in feed.chunks():
            if kind == QUOTE:
                for row in zip(*cols):
                    quote(*row)
            elif kind == BOOK:
                for row in zip(*cols):
                    level(*row)
            elif kind == MIXED:
                ts_col, kind_col, tk_col, a, b, c, d, e = cols
                for i, k in enumerate(kind_col):
                    if k == QUOTE:
                        quote(ts_col[i], tk_col[i], a[i], b[i], c[i], d[i])
                    elif k == BOOK:
                        level(ts_col[i], tk_col[i], a[i], b[i], c[i], d[i], e[i])
            elif kind != IDLE:
                continue  # trades do not move the book
    finally:
        feed.close()
    return out
