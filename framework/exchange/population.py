"""Markets and background traders for the local exchange.

* :func:`synthetic_markets` creates a few series/events/markets (2 events x 3 mutually exclusive
  markets by default) when no catalog is given.
* :func:`catalog_markets` reads the ``markets`` table of a Parquet catalog
  (``CATALOG/markets/**/*.parquet``) and seeds those tickers.
* :class:`MarketMakers` quotes both sides of every market and lets a noise trader take liquidity
  now and then. It is driven by ``random.Random(seed)``; :meth:`MarketMakers.step` does one tick
  (tests call it directly), :meth:`MarketMakers.start` runs it on a daemon thread.
"""

from __future__ import annotations

import glob
import logging
import os
import random
import threading
from typing import Any

from framework.units import CENT, CONTRACT, DOLLAR

from .matching import Engine, EventInfo, ExchangeError, MarketInfo, SeriesInfo

__all__ = ["MarketMakers", "catalog_markets", "synthetic_markets"]

log = logging.getLogger(__name__)

MM_BALANCE = 10_000_000 * DOLLAR


def synthetic_markets(engine: Engine, rng: random.Random, n_events: int = 2, per_event: int = 3) -> dict[str, int]:
    """Create synthetic series/events/markets; returns ``{ticker: initial fair YES price}``."""
    fair: dict[str, int] = {}
    specs = [("KXLOCALTEMP", "Local high temperature", "Climate"), ("KXLOCALRATE", "Local rate decision", "Economics")]
    for i in range(n_events):
        s_ticker, s_title, cat = specs[i % len(specs)]
        if i >= len(specs):
            s_ticker = f"{s_ticker}{i}"
        engine.add_series(SeriesInfo(ticker=s_ticker, title=s_title, category=cat))
        ev_ticker = f"{s_ticker}-26JAN{i + 1:02d}"
        engine.add_event(EventInfo(event_ticker=ev_ticker, series_ticker=s_ticker, title=f"{s_title} #{i + 1}", mutually_exclusive=True))
        weights = [rng.uniform(1, 3) for _ in range(per_event)]
        total = sum(weights)
        for j in range(per_event):
            ticker = f"{ev_ticker}-B{j + 1}"
            engine.add_market(
                MarketInfo(
                    ticker=ticker,
                    event_ticker=ev_ticker,
                    series_ticker=s_ticker,
                    title=f"{s_title} #{i + 1}: bucket {j + 1}",
                    yes_sub_title=f"Bucket {j + 1}",
                    no_sub_title=f"Not bucket {j + 1}",
                )
            )
            fair[ticker] = min(95, max(5, round(100 * weights[j] / total))) * CENT
    return fair


def _to_ms(v: Any) -> int | None:
    if v is None:
        return None
    if hasattr(v, "timestamp"):  # datetime / pandas Timestamp
        return int(v.timestamp() * 1000)
    try:
        x = int(v)
    except (TypeError, ValueError):
        return None
    if x > 10**14:  # microseconds or nanoseconds
        while x > 10**14:
            x //= 1000
        return x
    return x if x > 10**11 else x * 1000


def catalog_markets(engine: Engine, catalog: str, rng: random.Random, max_markets: int | None = None) -> dict[str, int]:
    """Seed markets from ``CATALOG/markets/**/*.parquet``; returns ``{ticker: fair price}``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = sorted(glob.glob(os.path.join(catalog, "markets", "**", "*.parquet"), recursive=True))
    if not files:
        raise FileNotFoundError(f"no Parquet files under {os.path.join(catalog, 'markets')}; pass a catalog directory")
    wanted = ["ticker", "event_ticker", "series_ticker", "open_ts", "close_ts", "settle_ts", "result", "title"]
    tables = []
    for f in files:
        t = pq.read_table(f)
        cols = [c for c in wanted if c in t.column_names]
        tables.append(t.select(cols))
    table = pa.concat_tables(tables, promote_options="default") if len(tables) > 1 else tables[0]
    fair: dict[str, int] = {}
    for row in table.to_pylist():
        ticker = row.get("ticker")
        if not ticker or ticker in engine.markets:
            continue
        event = row.get("event_ticker") or ticker.rsplit("-", 1)[0]
        series = row.get("series_ticker") or event.split("-", 1)[0]
        engine.add_market(
            MarketInfo(
                ticker=ticker,
                event_ticker=event,
                series_ticker=series,
                title=row.get("title") or ticker,
                open_ms=_to_ms(row.get("open_ts")) or 0,
                close_ms=_to_ms(row.get("close_ts")) or 0,
            )
        )
        fair[ticker] = rng.randint(10, 90) * CENT
        if max_markets is not None and len(fair) >= max_markets:
            break
    return fair


class MarketMakers:
    """Seeded background liquidity: two-sided quotes plus an occasional noise taker."""

    def __init__(self, engine: Engine, fair: dict[str, int], seed: int = 0, tick: float = 0.2, trade_prob: float = 0.15) -> None:
        self.engine = engine
        self.fair = dict(fair)
        self.rng = random.Random(seed)
        self.tick = tick
        self.trade_prob = trade_prob
        self.mm = "local-mm"
        self.noise = "local-noise"
        for acct in (self.mm, self.noise):
            engine.account(acct).cash = MM_BALANCE
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def step(self) -> None:
        """One tick: each market's fair price takes a random step, quotes are refreshed, and the
        noise trader sometimes crosses the spread."""
        eng = self.engine
        with eng.lock:
            for ticker in sorted(self.fair):
                m = eng.markets.get(ticker)
                if m is None or m.status != "active":
                    continue
                f = self.fair[ticker] + self.rng.choice((-CENT, 0, 0, CENT))
                f = min(95 * CENT, max(5 * CENT, f))
                self.fair[ticker] = f
                if self.rng.random() < 0.5 or not self._has_quotes(ticker):
                    self._requote(ticker, f)
                if self.rng.random() < self.trade_prob:
                    self._noise_trade(ticker)

    def _has_quotes(self, ticker: str) -> bool:
        acct = self.engine.accounts[self.mm]
        return any(o.ticker == ticker and o.status == "resting" for o in acct.orders.values())

    def _requote(self, ticker: str, f: int) -> None:
        eng = self.engine
        acct = eng.accounts[self.mm]
        for o in [o for o in acct.orders.values() if o.ticker == ticker and o.status == "resting"]:
            eng.cancel_order(self.mm, o.order_id)
        # forget finished orders so the account does not grow without bound
        for oid in [oid for oid, o in acct.orders.items() if o.status != "resting"]:
            del acct.orders[oid]
            eng.orders.pop(oid, None)
        if len(acct.fills) > 1000:
            del acct.fills[:500]
        half = self.rng.choice((1, 1, 2)) * CENT
        for level in range(2):
            bid = f - half - level * CENT
            ask = f + half + level * CENT
            size = self.rng.randint(5, 50) * CONTRACT
            try:
                if CENT <= bid:
                    eng.place_order(self.mm, ticker, "yes", "buy", bid, size, post_only=True, stp="maker")
                if ask <= DOLLAR - CENT:
                    eng.place_order(self.mm, ticker, "yes", "sell", ask, size, post_only=True, stp="maker")
            except ExchangeError as e:  # crossing someone else's order: fine, skip this level
                log.debug("mm quote skipped: %s", e)

    def _noise_trade(self, ticker: str) -> None:
        eng = self.engine
        size = self.rng.randint(1, 10) * CONTRACT
        side_buy = self.rng.random() < 0.5
        try:
            if side_buy:
                eng.place_order(self.noise, ticker, "yes", "buy", 99 * CENT, size, tif="immediate_or_cancel")
            else:
                eng.place_order(self.noise, ticker, "yes", "sell", CENT, size, tif="immediate_or_cancel")
        except ExchangeError as e:
            log.debug("noise trade skipped: %s", e)
        acct = eng.accounts[self.noise]
        for oid in acct.orders:
            eng.orders.pop(oid, None)
        acct.orders.clear()
        if len(acct.fills) > 1000:
            del acct.fills[:500]

    # ------------------------------------------------------------------ thread
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="local-exchange-mm", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.tick):
            try:
                self.step()
            except Exception:
                log.exception("market maker step failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
