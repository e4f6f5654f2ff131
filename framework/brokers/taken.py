"""Liquidity our orders took from one market's data book, per level (the simulated broker's record).

``TakenLevels`` is a dict ``(ladder is YES, price) -> [qty we took, what the data showed when we
took it]`` (``None``: the price was shown with no size, an *assumed* size), plus an index that
lets a top-of-book sync touch only the levels whose state can have changed:

* each ladder's taken prices, kept sorted: with top-of-book data the levels above the best bid
  are gone (size 0) and the level at the best may have a new size, but every level below the best
  is hidden, so nothing can be learned about it. A run that trades at many prices would otherwise
  rescan every level it ever took from on every sync (per-order cost growing over the run);
* the keys holding an assumed size, which refill when the touch moves, hidden or not.

The index is only consistent if entries are added with ``add`` and removed with ``drop`` or
``drop_above``. A record never holds a shown size of 0 (nothing is taken from an empty level, and
a level the data shows empty is dropped), which ``drop_above`` relies on.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort

__all__ = ["TakenLevels"]


class TakenLevels(dict):
    """Taken liquidity of one market; see the module docstring."""

    __slots__ = ("yes_prices", "no_prices", "assumed")

    def __init__(self) -> None:
        super().__init__()
        self.yes_prices: list[int] = []  # the YES ladder's taken prices, ascending
        self.no_prices: list[int] = []
        self.assumed: set[tuple[bool, int]] = set()  # keys whose recorded size is None

    def add(self, key: tuple[bool, int], rec: list) -> None:
        """A new level taken from: ``rec`` is ``[qty, size shown then]``."""
        self[key] = rec
        insort(self.yes_prices if key[0] else self.no_prices, key[1])
        if rec[1] is None:
            self.assumed.add(key)

    def drop(self, key: tuple[bool, int]) -> None:
        """The level is fresh again (its data changed or it disappeared)."""
        del self[key]
        prices = self.yes_prices if key[0] else self.no_prices
        del prices[bisect_left(prices, key[1])]
        self.assumed.discard(key)

    def drop_above(self, ladder_yes: bool, price: int) -> None:
        """Every level of one ladder above ``price`` is fresh again (gone from the data)."""
        prices = self.yes_prices if ladder_yes else self.no_prices
        i = bisect_right(prices, price)
        for p in prices[i:]:
            key = (ladder_yes, p)
            del self[key]
            self.assumed.discard(key)
        del prices[i:]

    def seen(self, key: tuple[bool, int], rec: list, shown: int | None) -> None:
        """The data now shows ``shown`` at the level (``level_refill = "growth"`` keeps the record)."""
        rec[1] = shown
        if shown is None:
            self.assumed.add(key)
        else:
            self.assumed.discard(key)
