"""The exact equity path: equity recorded at every change, not sampled on a clock.

Equity is cash plus open positions marked at the bid of each held leg (``Portfolio.open_value``).
It changes only when a fill or a settlement moves cash or positions, or when the bid of a market
with an open position moves. The engine tells ``EquityPath`` about exactly those moments, so
metrics computed from it (max drawdown and its duration, returns on a grid) do not depend on an
equity sampling interval.

Cost: the engine checks ``ticker in path.held`` once per book update (a set lookup); only books of
held markets are revalued, one market at a time, and a point is stored only when equity changed.
Points live in two ``array('q')`` columns (16 bytes a point).
"""

from __future__ import annotations

from array import array

from ..units import CONTRACT, DOLLAR

__all__ = ["EquityPath"]


class EquityPath:
    """Equity (money units) at every instant it changed; ``ts[i]``, ``equity[i]`` in order."""

    __slots__ = ("portfolio", "books", "last_trade", "held", "ts", "equity", "_open")

    def __init__(self, portfolio, books: dict, last_trade: dict | None = None) -> None:
        self.portfolio = portfolio
        self.books = books
        self.last_trade = {} if last_trade is None else last_trade  # marks of markets without a book
        # ticker -> [Position, its open value at bid]: tickers with an open position (the engine's
        # hot loop tests membership; the list saves two dict lookups per mark)
        self.held: dict[str, list] = {}
        self.ts = array("q")
        self.equity = array("q")
        self._open = 0  # sum of the held values

    def start(self, ts: int) -> None:
        """The first point: equity when the run starts (cash plus anything already held)."""
        for t, p in self.portfolio.positions.items():
            if p.yes or p.no:
                self._revalue(t)
        self._append(ts)

    def mark(self, book) -> None:
        """A held market's book changed: revalue that market only (called per book event of a
        held market, so kept to a few attribute reads; marks arrive in time order)."""
        entry = self.held[book.ticker]
        pos = entry[0]
        v = (pos.yes * (book.yes_bid or 0) + pos.no * (book.no_bid or 0)) // CONTRACT
        if v != entry[1]:
            self._open += v - entry[1]
            entry[1] = v
            self.ts.append(book.ts)
            self.equity.append(self.portfolio.cash + self._open)

    def mark_print(self, ticker: str, ts: int) -> None:
        """A trade printed in a held market: it moves the mark only when the market has no book
        (trades-only data is marked at its last print, as ``Engine.marks`` does)."""
        if ticker not in self.books:
            self._revalue(ticker)
            self._append(ts)

    def changed(self, ticker: str, ts: int) -> None:
        """Cash or the position in ``ticker`` changed (a fill or a settlement)."""
        self._revalue(ticker)
        # _append inlined (once per fill; keep the two in step)
        eq = self.portfolio.cash + self._open
        equity = self.equity
        if equity and equity[-1] == eq:
            return
        points = self.ts
        if points and ts < points[-1]:
            ts = points[-1]
        points.append(ts)
        equity.append(eq)

    def _revalue(self, ticker: str) -> None:
        # once per fill: the held entry is updated in place (``held`` is only looked up, never
        # iterated, so where an entry sits in it does not matter)
        p = self.portfolio.positions.get(ticker)
        held = self.held
        entry = held.get(ticker)
        old = 0 if entry is None else entry[1]
        if p is None or not (p.yes or p.no):
            if entry is not None:
                del held[ticker]
            self._open -= old
            return
        book = self.books.get(ticker)
        if book is not None:
            yb, nb = book.yes_bid, book.no_bid
        else:
            last = self.last_trade.get(ticker)
            yb, nb = (last, DOLLAR - last) if last is not None else (None, None)
        v = (p.yes * (yb or 0) + p.no * (nb or 0)) // CONTRACT
        if entry is None:
            held[ticker] = [p, v]
        else:
            entry[0] = p
            entry[1] = v
        self._open += v - old

    def _append(self, ts: int) -> None:
        eq = self.portfolio.cash + self._open
        if self.equity and self.equity[-1] == eq:
            return  # unchanged: the previous point still holds
        if self.ts and ts < self.ts[-1]:
            ts = self.ts[-1]  # never step back in time (a fill stamped before the last mark)
        self.ts.append(ts)
        self.equity.append(eq)

    def __len__(self) -> int:
        return len(self.ts)
