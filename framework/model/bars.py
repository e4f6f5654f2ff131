"""One OHLC bar (a catalog ``candles`` row) as the engine hands it to a bar-capable broker.

A bar covers the half-open interval ``(ts - period, ts]``: ``ts`` is its end (Kalshi's
``end_period_ts``, inclusive) and the only moment the replay lets anyone see it, so nothing of
a bar is known before the bar is over. Prices are YES prices in units of $0.0001, ``None`` when
the bar has none (no trade in the period; no quote stored); ``volume`` is in 0.01 contract.
"""

from __future__ import annotations

from typing import NamedTuple

from ..units import DOLLAR

__all__ = ["MINUTE_NS", "Bar", "closing_quote"]

MINUTE_NS = 60_000_000_000


class Bar(NamedTuple):
    """Fields in the ``CANDLE`` chunk column order (``framework.core.events``)."""

    ts: int  # bar end, ns UTC (inclusive)
    ticker: str
    period: int  # minutes
    open: int | None  # YES trade prices; None when nothing traded in the bar
    high: int | None
    low: int | None
    close: int | None
    volume: int  # contracts traded in the bar, 0.01 contract
    yes_bid_close: int | None  # best YES bid at the bar's end; 0 or None = no bid
    yes_ask_close: int | None  # best YES ask at the bar's end; DOLLAR or None = no ask

    @property
    def start(self) -> int:
        """The bar's (exclusive) start, ns: only what rested by then can trade in this bar."""
        return self.ts - self.period * MINUTE_NS

    @property
    def traded(self) -> bool:
        """True when the bar holds at least one trade (its trade OHLC is known)."""
        return self.low is not None and self.high is not None and self.volume > 0


def closing_quote(yes_bid_close: int | None, yes_ask_close: int | None) -> tuple[int | None, int | None]:
    """``(yes_bid, no_bid)`` of the book derived from a bar's closing quotes, ``None`` where that
    side is empty or not stored (a bid of 0, an ask of ``DOLLAR``, a null). A YES ask at p is a
    NO bid at ``DOLLAR - p``."""
    yb, ya = yes_bid_close, yes_ask_close
    return (yb if yb is not None and 0 < yb < DOLLAR else None,
            DOLLAR - ya if ya is not None and 0 < ya < DOLLAR else None)
