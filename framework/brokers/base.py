"""The Broker seam: what the engine needs from any execution venue (simulated, REST, FIX).

A broker receives orders and cancels from the engine and reports every outcome through the
engine's ``EventSink`` (order updates and fills). Simulated brokers report synchronously;
live brokers report from ``poll()``. The engine never asks a broker for state it can keep itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from ..model.book import OrderBook
from ..model.orders import Fill, Order, Trade

__all__ = ["Broker", "EventSink"]


class EventSink(Protocol):
    """Implemented by the engine: the only way brokers change orders, cash and positions."""

    now: int  # current engine time, ns

    def order_update(self, order: Order) -> None: ...
    def fill(self, order: Order, fill: Fill) -> None: ...
    def call_at(self, ts: int, fn: Callable[[Any], None], arg: Any) -> None: ...


class Broker(Protocol):
    def bind(self, sink: EventSink, books: dict[str, OrderBook], portfolio) -> None: ...
    def submit(self, order: Order) -> None: ...
    def cancel(self, order: Order) -> None: ...
    def on_book(self, book: OrderBook) -> None: ...
    def on_trade(self, trade: Trade) -> None: ...
    def market_closed(self, ticker: str, ts: int) -> None: ...
    def poll(self) -> None: ...
