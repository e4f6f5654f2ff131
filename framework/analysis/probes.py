"""The market's own forecast before close: its YES mid at chosen horizons before each close.

``MidProbes(engine, {"1h": ns, ...})`` schedules one engine call per market and horizon at
``close_ts - horizon`` (``Engine.call_at``: after closes and settlements due then, before timers,
before the market event at that instant), reads the book's mid then and keeps it. Nothing runs on
the per-event path. A horizon that falls before the run's start, before the market opened or
after the run's end is skipped; a one-sided book gives ``None`` (not scored).
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["DEFAULT_HORIZONS", "MidProbes"]

DEFAULT_HORIZONS = ("1h", "24h")


class MidProbes:
    """Collects ``(ticker, horizon label, ts, mid or None)`` in ``samples``."""

    def __init__(self, engine, horizons: Mapping[str, int]) -> None:
        self.engine = engine
        self.horizons = dict(horizons)
        self.samples: list[tuple[str, str, int, int | None]] = []
        first = engine.start
        for ticker in sorted(engine.market_info):
            m = engine.market_info[ticker]
            close, opened = m.get("close_ts"), m.get("open_ts")
            if close is None:
                continue
            for label, h in self.horizons.items():
                at = close - h
                if (first is not None and at < first) or (opened is not None and at < opened) or \
                        (engine.end is not None and at >= engine.end):
                    continue
                engine.call_at(at, self._probe, (ticker, label, at))

    def _probe(self, arg: tuple[str, str, int]) -> None:
        ticker, label, at = arg
        book = self.engine.books.get(ticker)
        self.samples.append((ticker, label, at, book.mid if book is not None else None))
