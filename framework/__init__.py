"""Kalshi event-contract trading framework: one engine for backtest, paper and live trading.

Quick reference::

    from framework import Strategy, run_backtest, cents, contracts

    class Dip(Strategy):
        params = {"below": 30}
        def on_book(self, book):
            if book.yes_ask is not None and book.yes_ask <= cents(self.params["below"]):
                if self.position(book.ticker) == 0:
                    self.buy(book.ticker, contracts(10), price=book.yes_ask)

    result = run_backtest(Dip, "data/sample")
    print(result.metrics["pnl"])

Units are exact integers: prices and money in $0.0001 (``CENT = 100``, ``DOLLAR = 10_000``),
quantities in 0.01 contract (``CONTRACT = 100``), times in ns since the epoch (UTC).

Heavy modules (pandas, pyarrow) load on first use, so ``import framework`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .strategy import Strategy
from .units import CENT, CONTRACT, DOLLAR, UnitError, cents, contracts, dollars, fmt_contracts, fmt_money

if TYPE_CHECKING:
    from .analysis.results import Result
    from .backtest import run_backtest
    from .model.book import OrderBook
    from .model.orders import Fill, Order, OrderStatus, Settlement, Trade

__version__ = "0.1.0"

__all__ = [
    "CENT",
    "CONTRACT",
    "DOLLAR",
    "Fill",
    "Order",
    "OrderBook",
    "OrderStatus",
    "Result",
    "Settlement",
    "Strategy",
    "Trade",
    "UnitError",
    "cents",
    "contracts",
    "dollars",
    "fmt_contracts",
    "fmt_money",
    "run_backtest",
]

_LAZY = {
    "run_backtest": ("framework.backtest", "run_backtest"),
    "Result": ("framework.analysis.results", "Result"),
    "OrderBook": ("framework.model.book", "OrderBook"),
    "Order": ("framework.model.orders", "Order"),
    "OrderStatus": ("framework.model.orders", "OrderStatus"),
    "Fill": ("framework.model.orders", "Fill"),
    "Trade": ("framework.model.orders", "Trade"),
    "Settlement": ("framework.model.orders", "Settlement"),
}


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'framework' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(target[0]), target[1])
    globals()[name] = value
    return value
