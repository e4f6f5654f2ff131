"""Per-market order book: a YES bid ladder and a NO bid ladder.

Kalshi publishes bids only. A YES ask at ``p`` is a NO bid at ``DOLLAR - p`` and vice versa, so
the book stores two bid ladders and derives the asks. All prices are int units of $0.0001, all
sizes int units of 0.01 contract.

The engine mutates one ``OrderBook`` per market in place and hands that same object to
``Strategy.on_book``; strategies must copy what they want to keep (``book.snapshot()``).
"""

from __future__ import annotations

from ..units import DOLLAR, fmt_contracts, fmt_price

__all__ = ["OrderBook"]


class OrderBook:
    """Top of book plus (when L2 data exists) full depth for one market.

    Attributes read by strategies: ``ticker``, ``ts`` (int ns UTC), ``yes_bid``, ``no_bid``
    (``None`` when that side is empty), ``yes_bid_size``, ``no_bid_size`` (``None`` when
    unknown), ``seq`` (last exchange sequence number applied, or ``None``).
    Derived: ``yes_ask``, ``no_ask``, ``yes_ask_size``, ``no_ask_size``, ``mid``.
    """

    __slots__ = ("ticker", "ts", "yes_bid", "no_bid", "yes_bid_size", "no_bid_size", "seq",
                 "_yes", "_no", "depth_known")

    def __init__(self, ticker: str) -> None:
        self.ticker = ticker
        self.ts = 0
        self.yes_bid: int | None = None
        self.no_bid: int | None = None
        self.yes_bid_size: int | None = None
        self.no_bid_size: int | None = None
        self.seq: int | None = None
        # price -> size ladders; only populated from L2 data (depth_known=True)
        self._yes: dict[int, int] = {}
        self._no: dict[int, int] = {}
        self.depth_known = False

    # ---- derived prices -------------------------------------------------------------------
    @property
    def yes_ask(self) -> int | None:
        nb = self.no_bid
        return None if nb is None else DOLLAR - nb

    @property
    def no_ask(self) -> int | None:
        yb = self.yes_bid
        return None if yb is None else DOLLAR - yb

    @property
    def yes_ask_size(self) -> int | None:
        return self.no_bid_size

    @property
    def no_ask_size(self) -> int | None:
        return self.yes_bid_size

    @property
    def mid(self) -> int | None:
        """YES mid price rounded down to a whole unit, ``None`` unless both sides are quoted."""
        if self.yes_bid is None or self.no_bid is None:
            return None
        return (self.yes_bid + DOLLAR - self.no_bid) // 2

    def touch_price(self, side: str, action: str) -> int | None:
        """The price on ``side``'s own scale at which a marketable ``action`` order trades at
        the touch: buying YES pays the YES ask, selling YES gets the YES bid, and the mirror for
        NO. ``None`` when that side of the book is empty."""
        if action == "buy":
            return self.yes_ask if side == "yes" else self.no_ask
        return self.yes_bid if side == "yes" else self.no_bid

    def levels(self, side: str = "yes") -> list[tuple[int, int | None]]:
        """Bid levels of ``side`` ("yes" or "no") as ``(price, size)``, best (highest) first.

        With top-of-book data only, this is the single best level (size may be ``None``).
        """
        if side == "yes":
            ladder, best, size = self._yes, self.yes_bid, self.yes_bid_size
        elif side == "no":
            ladder, best, size = self._no, self.no_bid, self.no_bid_size
        else:
            raise ValueError(f"side must be 'yes' or 'no', got {side!r}")
        if self.depth_known:
            return sorted(ladder.items(), reverse=True)
        return [] if best is None else [(best, size)]

    def size_at(self, is_yes: bool, price: int) -> int | None:
        """Displayed size bid at ``price`` on the YES (``is_yes``) or NO ladder: 0 when nobody
        bids there, ``None`` when unknown (top-of-book data below the best bid, or no size)."""
        best = self.yes_bid if is_yes else self.no_bid
        if best is None or price > best:
            return 0
        if self.depth_known:
            return (self._yes if is_yes else self._no).get(price, 0)
        if price == best:
            return self.yes_bid_size if is_yes else self.no_bid_size
        return None

    def ask_levels(self, side: str = "yes") -> list[tuple[int, int | None]]:
        """Ask levels for buying ``side``: the opposite ladder mirrored, best (lowest) first."""
        other = "no" if side == "yes" else "yes"
        return [(DOLLAR - p, s) for p, s in self.levels(other)]

    def copy(self) -> OrderBook:
        """An independent snapshot (market-data latency delivers the book as it was)."""
        b = OrderBook.__new__(OrderBook)
        b.ticker, b.ts, b.seq, b.depth_known = self.ticker, self.ts, self.seq, self.depth_known
        b.yes_bid, b.no_bid, b.yes_bid_size, b.no_bid_size = self.yes_bid, self.no_bid, self.yes_bid_size, \
            self.no_bid_size
        b._yes, b._no = dict(self._yes), dict(self._no)
        return b

    # ---- mutation (engine only) ------------------------------------------------------------
    def set_top(self, ts: int, yes_bid: int, no_bid: int, yes_bid_size: int | None,
                no_bid_size: int | None) -> None:
        """Apply a top-of-book quote (0 = side empty). Depth becomes unknown."""
        self.ts = ts
        self.yes_bid = yes_bid or None  # 0 means empty
        self.no_bid = no_bid or None
        self.yes_bid_size = yes_bid_size if yes_bid else None
        self.no_bid_size = no_bid_size if no_bid else None
        if self.depth_known:
            self.drop_depth()

    def drop_depth(self) -> None:
        """Forget L2 levels (a top-of-book quote replaced them)."""
        self._yes.clear()
        self._no.clear()
        self.depth_known = False

    def clear(self) -> None:
        """Empty both ladders (start of a snapshot)."""
        self._yes.clear()
        self._no.clear()
        self.yes_bid = self.no_bid = None
        self.yes_bid_size = self.no_bid_size = None
        self.depth_known = True

    def set_level(self, is_yes: bool, price: int, size: int) -> None:
        """Set the total size at one level (0 removes it) and keep the cached best current."""
        self.depth_known = True
        if is_yes:
            ladder = self._yes
            if size > 0:
                ladder[price] = size
                best = self.yes_bid
                if best is None or price >= best:
                    self.yes_bid = price
                    self.yes_bid_size = size
            elif ladder.pop(price, None) is not None and price == self.yes_bid:
                # best level removed: rescan (ladders are short, <= 100 levels for cent markets)
                if ladder:
                    p = max(ladder)
                    self.yes_bid, self.yes_bid_size = p, ladder[p]
                else:
                    self.yes_bid = self.yes_bid_size = None
        else:
            ladder = self._no
            if size > 0:
                ladder[price] = size
                best = self.no_bid
                if best is None or price >= best:
                    self.no_bid = price
                    self.no_bid_size = size
            elif ladder.pop(price, None) is not None and price == self.no_bid:
                if ladder:
                    p = max(ladder)
                    self.no_bid, self.no_bid_size = p, ladder[p]
                else:
                    self.no_bid = self.no_bid_size = None

    # ---- convenience -----------------------------------------------------------------------
    def snapshot(self) -> dict:
        """A plain-dict copy of the current state (safe to keep)."""
        return {
            "ticker": self.ticker, "ts": self.ts, "yes_bid": self.yes_bid, "no_bid": self.no_bid,
            "yes_bid_size": self.yes_bid_size, "no_bid_size": self.no_bid_size,
            "yes": self.levels("yes"), "no": self.levels("no"),
        }

    def __repr__(self) -> str:
        return (f"OrderBook({self.ticker} yes {fmt_price(self.yes_bid)} x {fmt_contracts(self.yes_bid_size)}"
                f" / ask {fmt_price(self.yes_ask)} x {fmt_contracts(self.yes_ask_size)})")
