"""The Strategy base class: what users subclass. The same object runs in every mode.

Callbacks are no-ops by default; override the ones you need. The engine only calls a callback a
subclass overrides, so unused ones cost nothing. Actions (``buy``, ``sell``, ``cancel``...) go
through the engine the strategy is attached to; they are only valid once the run has started
(from ``on_start`` on).

Units: prices are int units of $0.0001 (``framework.CENT = 100``, ``framework.DOLLAR =
10_000``), quantities int units of 0.01 contract (``framework.CONTRACT = 100``), times int ns
UTC. Use ``framework.cents(56)``, ``framework.contracts(10)`` to write human numbers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from .core.engine import Engine
    from .model.bars import Bar
    from .model.book import OrderBook
    from .model.orders import Fill, Order, Settlement, Trade

__all__ = ["Strategy"]


class Strategy:
    """Subclass this. ``params`` holds class defaults, merged with config/CLI overrides."""

    params: ClassVar[dict[str, Any]] = {}

    def __init__(self, params: dict[str, Any] | None = None) -> None:
        merged = dict(type(self).params)
        if params:
            unknown = sorted(set(params) - set(merged))
            if unknown:
                raise ValueError(f"{type(self).__name__} has no parameter(s) {', '.join(unknown)}; "
                                 f"known: {', '.join(sorted(merged)) or '(none)'}")
            for k, v in params.items():
                try:
                    merged[k] = _coerce_like(merged.get(k), v)
                except ValueError as exc:  # name the parameter: "--param qty=ten" must say which one
                    raise ValueError(f"{type(self).__name__} parameter {k!r}: {exc} "
                                     f"(default {merged.get(k)!r})") from None
        self.params = merged  # instance attribute shadows the class defaults
        self._engine: Engine | None = None
        self.log = logging.getLogger(f"strategy.{type(self).__name__}")

    # ---- callbacks (default no-ops) -------------------------------------------------------
    def on_start(self) -> None: ...
    def on_book(self, book: OrderBook) -> None: ...
    def on_trade(self, trade: Trade) -> None: ...
    def on_bar(self, bar: Bar) -> None:
        """Candle replay only: a bar ended (``framework.model.bars.Bar``: OHLC, volume, closing
        quotes), right after ``on_book`` showed its closing quotes."""
    def on_fill(self, fill: Fill) -> None: ...
    def on_order(self, order: Order) -> None: ...
    def on_timer(self, name: str) -> None: ...
    def on_settlement(self, settlement: Settlement) -> None: ...
    def on_stop(self) -> None: ...
    def on_reconciled(self, report) -> None:
        """Live only: state was rebuilt from the journal and checked against the exchange
        before the strategy got control; ``report`` summarises what was found."""

    # ---- actions -----------------------------------------------------------------------------
    def buy(self, ticker: str, qty: int, price: int | None = None, side: str = "yes", tif: str = "gtc",
            post_only: bool = False, reduce_only: bool = False) -> Order:
        """Buy ``qty`` (0.01-contract units) of ``side`` at limit ``price`` (units of $0.0001, on
        that side's scale). ``price=None`` is a marketable IOC at the best available price."""
        return self._require_engine().submit(ticker, "buy", qty, price, side, tif, post_only, reduce_only)

    def sell(self, ticker: str, qty: int, price: int | None = None, side: str = "yes", tif: str = "gtc",
             post_only: bool = False, reduce_only: bool = False) -> Order:
        """Sell ``qty`` of ``side``; selling more than held opens the other side (Kalshi's book)."""
        return self._require_engine().submit(ticker, "sell", qty, price, side, tif, post_only, reduce_only)

    def cancel(self, order: Order) -> None:
        self._require_engine().cancel(order)

    def cancel_all(self, ticker: str | None = None) -> None:
        self._require_engine().cancel_all(ticker)

    def position(self, ticker: str) -> int:
        """Signed position in quantity units: +YES, -NO."""
        return self._require_engine().portfolio.net(ticker)

    @property
    def cash(self) -> int:
        return self._require_engine().portfolio.cash

    @property
    def now(self) -> int:
        return self._require_engine().now

    @property
    def portfolio(self):
        return self._require_engine().portfolio

    def book(self, ticker: str) -> OrderBook | None:
        """The current book of a market, or ``None`` before its first update."""
        return self._require_engine().strategy_books.get(ticker)  # delayed view under market-data latency

    def open_orders(self, ticker: str | None = None) -> list[Order]:
        return self._require_engine().open_orders(ticker)

    @property
    def markets(self) -> dict[str, dict]:
        """Metadata of the run's markets (ticker, event, series, open/close times). Results and
        settlement times are hidden: they are not known before settlement."""
        return self._require_engine().market_info

    def subscribe(self, tickers: str | Iterable[str]) -> None:
        self._require_engine().subscribe([tickers] if isinstance(tickers, str) else list(tickers))

    def set_timer(self, name: str, at: int | str | None = None, every: int | str | None = None) -> None:
        """Call ``on_timer(name)`` at ``at`` (ns or time string) and/or every ``every`` (ns or
        a duration like ``"5min"``, ``"1h"``). Setting an existing name replaces it."""
        self._require_engine().set_timer(name, at, every)

    def cancel_timer(self, name: str) -> None:
        self._require_engine().cancel_timer(name)

    def record(self, name: str, value: float | int) -> None:
        """Store a time-series point for the report (``records.parquet``)."""
        self._require_engine().record(name, value)

    def predict(self, ticker: str, probability: float) -> None:
        """Record the strategy's probability that ``ticker`` settles YES (scored in metrics)."""
        self._require_engine().predict(ticker, probability)

    def _require_engine(self) -> Engine:
        eng = self._engine
        if eng is None:
            raise RuntimeError("strategy is not attached to a running engine; actions are only "
                               "available from on_start() on")
        return eng


def _coerce_like(default: Any, value: Any) -> Any:
    """Turn a CLI/config string into the type of the class default (int, float, bool)."""
    if not isinstance(value, str) or default is None or isinstance(default, str):
        return value
    try:
        if isinstance(default, bool):
            low = value.lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
    except ValueError:
        raise ValueError(f"parameter value {value!r} is not a valid {type(default).__name__}") from None
    return value
