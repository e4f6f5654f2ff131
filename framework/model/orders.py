"""Orders, fills, trades and settlements: the records strategies receive.

Orders are mutable (their status and filled quantity change); every other record is an
immutable slotted class. Prices are int units of $0.0001, quantities int units of 0.01 contract,
timestamps int ns since the epoch (UTC).
"""

from __future__ import annotations

from typing import NamedTuple

from ..units import fmt_contracts, fmt_money, fmt_price

__all__ = [
    "ACTIVE_STATUSES",
    "Fill",
    "Order",
    "OrderStatus",
    "Settlement",
    "TERMINAL_STATUSES",
    "Trade",
]


class OrderStatus:
    """Order lifecycle states (plain strings so they compare and serialise cheaply)."""

    PENDING = "pending"  # created by the strategy, not yet accepted by the broker
    ACCEPTED = "accepted"  # resting on the book
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"  # by request, or IOC remainder
    EXPIRED = "expired"  # market closed/settled while resting
    REJECTED = "rejected"  # refused by the broker or the risk gate; see ``reason``
    UNKNOWN = "unknown"  # live only: outcome not known yet, must be reconciled


ACTIVE_STATUSES = frozenset({OrderStatus.PENDING, OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED,
                             OrderStatus.UNKNOWN})
# final states a live broker stops tracking (EXPIRED included; UNKNOWN is not final)
TERMINAL_STATUSES = frozenset({OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.EXPIRED,
                               OrderStatus.REJECTED})


class Order:
    """One order. ``price`` is the limit price on the order's own ``side`` (a NO order's price is
    a NO price); ``None`` means marketable IOC at the best available price."""

    __slots__ = ("order_id", "ticker", "side", "action", "qty", "price", "tif", "post_only",
                 "reduce_only", "status", "filled_qty", "fee", "ts", "updated_ts", "reason",
                 "client_order_id", "exchange_order_id", "_fee_num", "avg_price_num")

    def __init__(self, order_id: str, ticker: str, side: str, action: str, qty: int,
                 price: int | None, tif: str = "gtc", post_only: bool = False,
                 reduce_only: bool = False, ts: int = 0, client_order_id: str | None = None) -> None:
        self.order_id = order_id
        self.ticker = ticker
        self.side = side
        self.action = action
        self.qty = qty
        self.price = price
        self.tif = tif
        self.post_only = post_only
        self.reduce_only = reduce_only
        self.status = OrderStatus.PENDING
        self.filled_qty = 0
        self.fee = 0  # money units charged so far
        self.ts = ts
        self.updated_ts = ts
        self.reason: str | None = None
        self.client_order_id = client_order_id or order_id
        self.exchange_order_id: str | None = None
        self._fee_num = 0  # exact fee accumulator (see FeeModel); rounding is per order
        self.avg_price_num = 0  # sum(price * qty) of fills, for the average fill price

    @property
    def remaining(self) -> int:
        return self.qty - self.filled_qty

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def is_buy(self) -> bool:
        return self.action == "buy"

    @property
    def avg_fill_price(self) -> int | None:
        """Average fill price (rounded down to a unit), ``None`` before the first fill."""
        return self.avg_price_num // self.filled_qty if self.filled_qty else None

    def to_record(self) -> dict:
        return {
            "order_id": self.order_id, "ticker": self.ticker, "side": self.side,
            "action": self.action, "qty": self.qty, "price": self.price, "tif": self.tif,
            "post_only": self.post_only, "reduce_only": self.reduce_only, "status": self.status,
            "filled_qty": self.filled_qty, "fee": self.fee, "ts": self.ts,
            "updated_ts": self.updated_ts, "reason": self.reason,
        }

    def __repr__(self) -> str:
        px = "MKT" if self.price is None else fmt_price(self.price)
        return (f"Order({self.order_id} {self.action} {fmt_contracts(self.qty)} {self.ticker} "
                f"{self.side.upper()} @ {px} {self.tif} {self.status} filled={fmt_contracts(self.filled_qty)})")


class Fill(NamedTuple):
    """One execution of one of our orders. ``price`` is on the order's ``side``."""

    ticker: str
    side: str  # "yes" | "no"
    action: str  # "buy" | "sell"
    price: int
    qty: int
    fee: int
    ts: int
    order_id: str
    is_maker: bool

    def __repr__(self) -> str:
        role = "maker" if self.is_maker else "taker"
        return (f"Fill({self.action} {fmt_contracts(self.qty)} {self.ticker} {self.side.upper()} @ "
                f"{fmt_price(self.price)} fee {fmt_money(self.fee)} {role} {self.order_id})")


class Trade(NamedTuple):
    """A public trade print. ``yes_price`` is in YES terms; ``taker_side`` is the side the
    aggressor bought ("yes" = taker bought YES)."""

    ts: int
    ticker: str
    trade_id: str
    yes_price: int
    count: int
    taker_side: str


class Settlement(NamedTuple):
    """A market's result applied to the account: ``payout`` is cash received (money units)."""

    ticker: str
    result: str  # "yes" | "no" | "void" | "scalar"
    ts: int
    payout: int
    position: int  # signed position (qty units) that was settled: +YES / -NO
    value: int | None = None  # scalar: YES payout per contract in $0.0001 (NO gets DOLLAR - value)
