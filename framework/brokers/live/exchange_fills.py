"""Kalshi REST fills as framework orders and fills, shared by RestBroker and JournaledFixBroker.

Both brokers meet the same three cases when a fill arrives from ``GET /portfolio/fills`` (or the
WebSocket ``fill`` channel): it belongs to one of this run's orders, to a journaled order of an
earlier session, or to an order this run never placed. The brokers differ in how they register
and journal orders; what an exchange fill means for an order is the same and lives here.
"""

from __future__ import annotations

from ...kalshi.models import Fill as KFill
from ...model.orders import TERMINAL_STATUSES, Fill, Order, OrderStatus
from ...units import DOLLAR

__all__ = ["count_fill", "fill_problem", "foreign_order", "journaled_order"]


def journaled_order(journal, kf: KFill) -> Order | None:
    """The journaled order of an earlier session that ``kf`` belongs to (by exchange id, else by
    client order id), rebuilt with the id ``<old id>/s<session>``; ``None`` when the journal
    has no such order."""
    jo = journal.order_by_exchange_id(kf.order_id) or (
        journal.order(kf.client_order_id) if kf.client_order_id else None)
    return None if jo is None else jo.to_order(f"{jo.order_id}/s{jo.session}")


def fill_problem(order: Order | None, kf: KFill, qty: int | None = None) -> str | None:
    """Why exchange fill ``kf`` cannot be true (None: plausible). Checked before it is counted:
    a count that is not positive, a price outside (0, $1), a negative fee; for one of our orders
    also ``qty`` (default the whole fill) beyond what the order has left and a price worse than
    its limit. The REST/WS models refuse what does not parse (``KalshiParseError``); these are
    the checks only the broker can make (they need the order)."""
    if kf.count <= 0:
        return f"fill {kf.fill_id}: count {kf.count / 100:g} is not positive"
    if not 0 < kf.yes_price < DOLLAR:
        return f"fill {kf.fill_id}: price {kf.yes_price / DOLLAR:.4f} is outside the (0, $1) range"
    if kf.fee is not None and kf.fee < 0:
        return f"fill {kf.fill_id}: negative fee {kf.fee / DOLLAR:.4f}"
    if order is None:
        return None
    qty = kf.count if qty is None else qty
    left = order.qty - order.filled_qty
    if qty > left:
        return (f"fill {kf.fill_id}: {qty / 100:g} contracts on order {order.order_id} which has "
                f"{left / 100:g} left of {order.qty / 100:g}")
    if order.price is not None:
        own = kf.yes_price if order.side == "yes" else DOLLAR - kf.yes_price
        if own > order.price if order.action == "buy" else own < order.price:
            return (f"fill {kf.fill_id}: price {own / DOLLAR:.4f} is worse than order {order.order_id}'s "
                    f"limit {order.price / DOLLAR:.4f} ({order.action} {order.side})")
    return None


def foreign_order(kf: KFill, order_id: str, ts: int) -> Order:
    """An order this run did not place, adopted from one of its fills (resting, size unknown
    beyond what its fills show)."""
    side = kf.side or kf.outcome_side or "yes"
    price = kf.yes_price if side == "yes" else DOLLAR - kf.yes_price
    order = Order(order_id, kf.ticker, side, kf.action or "buy", kf.count, price, "gtc", ts=ts,
                  client_order_id=kf.client_order_id or f"external-{kf.order_id}")
    order.exchange_order_id = kf.order_id
    order.status = OrderStatus.ACCEPTED
    order.reason = "adopted: fill of an order this run did not place"
    return order


def count_fill(order: Order, kf: KFill, qty: int, ts: int) -> Fill:
    """Add ``qty`` of exchange fill ``kf`` to ``order`` (its price on the order's side, the fee
    pro rata when only part of the fill is new) and return the framework ``Fill``."""
    price = kf.yes_price if order.side == "yes" else DOLLAR - kf.yes_price
    fee = (kf.fee or 0) if qty == kf.count else (kf.fee or 0) * qty // max(1, kf.count)
    order.filled_qty += qty
    order.avg_price_num += price * qty
    order.fee += fee
    if order.filled_qty > order.qty:
        order.qty = order.filled_qty  # adopted orders only know what they have seen
    if order.filled_qty >= order.qty:
        order.status = OrderStatus.FILLED
    elif order.status not in TERMINAL_STATUSES:
        order.status = OrderStatus.PARTIALLY_FILLED
    return Fill(order.ticker, order.side, order.action, price, qty, fee, ts, order.order_id, not bool(kf.is_taker))
