"""Trading-activity metrics: turnover, fill ratios, edge per contract, win rate by market.

Money in, exact out: turnover is an int of money units; edge per contract is a ratio, given as
``Decimal`` dollars rounded to $0.000001 so it prints exactly what was computed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import numpy as np

from ..units import CONTRACT, DOLLAR
from .columns import sums_fit

__all__ = ["edge_per_contract", "fill_ratios", "turnover", "win_rate"]

_MICRO = Decimal("0.000001")


def turnover(markets: Iterable[dict]) -> int:
    """Traded notional over the run, money units (price x contracts, summed over every fill)."""
    return sum(m["notional"] for m in markets)


def fill_ratios(orders: Sequence, columns: Mapping[str, Any] | None = None) -> tuple[float, float]:
    """(orders with any fill / orders, filled qty / ordered qty); 0.0 without orders. Orders the
    risk gate or the exchange rejected count as unfilled. ``columns``: the same orders column-wise
    (``analysis.columns.order_columns``); int64 ``qty`` / ``filled_qty`` arrays are summed by numpy."""
    if not orders:
        return 0.0, 0.0
    qty, got = (columns.get("qty"), columns.get("filled_qty")) if columns is not None else (None, None)
    if isinstance(qty, np.ndarray) and isinstance(got, np.ndarray) and sums_fit(qty) and sums_fit(got):
        n_filled = int(np.count_nonzero(got))
        ordered, filled = int(qty.sum()), int(got.sum())
    else:
        n_filled = sum(1 for o in orders if o.filled_qty)
        ordered = sum(o.qty for o in orders)
        filled = sum(o.filled_qty for o in orders)
    return n_filled / len(orders), (filled / ordered if ordered else 0.0)


def edge_per_contract(markets: Iterable[dict]) -> tuple[Decimal | None, Decimal | None]:
    """(gross, net of fees) dollars per contract earned against settlement, over fills in markets
    that settled YES or NO: ``sum(edge) / settled qty`` (and minus those markets' fees per
    contract); ``None`` when nothing traded settled."""
    edge = qty = fees = 0
    for m in markets:
        if m["settled_qty"]:
            edge += m["edge"]
            qty += m["settled_qty"]
            fees += m["fees"]
    if not qty:
        return None, None
    gross = Decimal(edge) / qty / DOLLAR
    net = Decimal(edge - fees * CONTRACT) / qty / DOLLAR
    return gross.quantize(_MICRO, ROUND_HALF_EVEN), net.quantize(_MICRO, ROUND_HALF_EVEN)


def win_rate(markets: Sequence[dict]) -> tuple[int, int, float | None]:
    """(markets with PnL > 0 after fees, markets traded, their ratio or ``None``)."""
    won = sum(1 for m in markets if m["pnl"] > 0)
    return won, len(markets), (won / len(markets) if markets else None)
