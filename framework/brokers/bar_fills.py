"""BarRule: how the simulated exchange fills orders when the replay is OHLC bars (``candles``).

A bar says what traded in ``(start, end]`` (open, high, low, close, volume) and where the quotes
closed, but not in which order, nor who traded with whom, nor what size was displayed. The rule
below only fills what the bar proves could have traded, and never uses a bar before its end:

* **Which bars can fill an order.** An order that reaches the exchange at time ``t`` can only be
  filled by bars whose interval starts at or after ``t`` (``bar.start >= t``). An order sent when
  bar k became visible (at its end) is first eligible for bar k + 1; an order sent from a timer
  in the middle of a bar waits for the bar after. The current bar's prices never fill anything.
* **Resting limit** (maker, at its own limit price). A buy at ``p`` fills when the bar traded
  strictly below ``p`` on the order's side (``low < p`` for YES; for NO, ``DOLLAR - high < p``);
  a sell at ``p`` when it traded strictly above (``high > p``; for NO, ``DOLLAR - low > p``).
  Trading *at* the limit proves nothing about our place in the queue, so it never fills.
* **Marketable order** (``price=None``, or a limit that crosses the bar's closing quote when sent,
  or an IOC limit when that quote is unknown): taker, at the *next* eligible bar's open plus
  ``spread`` for a buy (minus for a sell), on the order's side, clamped to ``[1, DOLLAR - 1]``;
  only when the bar traded and that price is within the limit. An IOC's rest is then cancelled; a
  GTC's rest becomes a resting limit, eligible from the bar after. An IOC limit that does not
  cross a known closing quote is cancelled at once, as on the book.
* **Size.** The contracts all our orders take from one bar are at most
  ``floor(volume * volume_share)`` (0.01-contract units), shared in order-arrival order; a bar
  without trades fills nothing.

The broker's usual checks (market hours, reduce-only, post-only, cash, close-time expiry) apply
unchanged. Fills are reported at the bar's end (the engine time when the bar becomes visible).
Formulas and a worked example: docs/simulation.md "Candles".
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from ..model.bars import Bar
from ..model.orders import Order, OrderStatus
from ..units import CENT, DOLLAR

__all__ = ["BarRule"]


def _share(value) -> Fraction:
    """``volume_share`` as an exact fraction in (0, 1]: a str/int/Decimal such as ``"0.1"``."""
    if isinstance(value, float):
        value = repr(value)  # "0.1" rather than the binary 0.1000000000000000055...
    try:
        share = Fraction(value)
    except (TypeError, ValueError):
        share = None
    if share is None or not 0 < share <= 1:
        raise ValueError(f"bar_volume_share must be a fraction in (0, 1] such as '0.1', got {value!r}")
    return share


def _spread(value) -> int:
    """``spread_cents`` as money units per contract: whole or decimal cents >= 0 (``"0.5"``)."""
    try:
        units = Fraction(repr(value) if isinstance(value, float) else value) * CENT
    except (TypeError, ValueError):
        units = None
    if units is None or units < 0 or units.denominator != 1:
        raise ValueError(f"bar_spread_cents must be cents >= 0 in steps of $0.0001, such as 1 or '0.5', "
                         f"got {value!r}")
    return int(units)


class BarRule:
    """The bar execution rule (module docstring). One instance per simulated broker."""

    basis = "bar"  # how these fills are labelled in the run's fidelity record (brokers/fidelity.py)

    def __init__(self, volume_share="0.1", spread_cents=1) -> None:
        self.volume_share = _share(volume_share)
        self._share_text = str(volume_share)  # as the user wrote it, for the record
        self.spread = _spread(spread_cents)
        # ticker -> order id -> (earliest bar start that may fill it, marketable?)
        self._state: dict[str, dict[str, tuple[int, bool]]] = {}

    def report(self, fidelity) -> None:
        """Write this rule's assumptions into the run's fidelity record (``models``)."""
        fidelity.model("fills", "bar rule")
        fidelity.model("bar_volume_share", self._share_text)
        fidelity.model("bar_spread_cents", str(Decimal(self.spread) / CENT))

    # ---- order entry --------------------------------------------------------------------------
    def accept(self, broker, order: Order) -> None:
        """An order that passed the broker's checks: it waits for the next bar (never filled now)."""
        buy = order.action == "buy"
        ladder_yes = (order.side == "yes") != buy  # the bid ladder it would take from
        threshold = 1 if order.price is None else (DOLLAR - order.price if buy else order.price)
        book = broker.books.get(order.ticker)
        best = None if book is None else (book.yes_bid if ladder_yes else book.no_bid)
        crosses = best is not None and best >= threshold
        if order.post_only and crosses:
            return broker._reject(order, "post-only order would cross the book")
        ioc = order.price is None or order.tif == "ioc"
        if ioc and not crosses and order.price is not None and best is not None:
            order.status = OrderStatus.CANCELLED
            order.reason = "IOC not filled"
            broker.sink.order_update(order)
            return None
        taker = order.price is None or crosses or (ioc and best is None)
        order.status = OrderStatus.ACCEPTED
        broker.sink.order_update(order)
        broker.resting.setdefault(order.ticker, []).append(order)
        broker.active.add(order.ticker)
        self._state.setdefault(order.ticker, {})[order.order_id] = (broker.sink.now, taker)
        return None

    # ---- a bar ended --------------------------------------------------------------------------
    def on_bar(self, broker, bar: Bar) -> None:
        """Fill the orders of ``bar.ticker`` that rested through the whole bar (module docstring)."""
        ticker = bar.ticker
        orders = broker.resting.get(ticker)
        state = self._state.get(ticker)
        if not orders or state is None:
            return
        # drop state of orders cancelled or expired since the last bar of this market
        live = {o.order_id for o in orders}
        for oid in [k for k in state if k not in live]:
            del state[oid]
        start = bar.start
        pool = bar.volume * self.volume_share.numerator // self.volume_share.denominator if bar.traded else 0
        for order in list(orders):
            eligible_from, taker = state[order.order_id]
            if eligible_from > start:
                continue  # it was not resting when this bar began
            want = order.qty - order.filled_qty
            if taker:
                price = self._taker_price(order, bar)
                if price is not None and pool > 0:
                    pool -= broker._fill(order, price, want if want <= pool else pool, False, self.basis)
            elif self._traded_through(order, bar):
                if pool > 0:
                    pool -= broker._fill(order, order.price, want if want <= pool else pool, True, self.basis)
                else:
                    broker.fidelity.count("bar_volume_share_used_up")
            elif bar.traded and bar.low <= self._yes_limit(order) <= bar.high:
                # traded at the limit, not through it: the rule assumes the queue ahead took it all
                broker.fidelity.count("bar_traded_at_limit_not_filled")
            status = order.status
            if status is OrderStatus.FILLED or status is OrderStatus.CANCELLED:
                del state[order.order_id]
                if status is OrderStatus.FILLED:
                    broker._done_resting(order)  # a cash-capped cancel was already removed
            elif taker and (order.price is None or order.tif == "ioc"):
                del state[order.order_id]
                if not order.filled_qty:
                    broker.fidelity.count("bar_ioc_not_filled")
                broker._finish(order, OrderStatus.CANCELLED,
                               "IOC remainder cancelled" if order.filled_qty else "IOC not filled")
            elif taker:
                state[order.order_id] = (bar.ts, False)  # a GTC's rest rests, from the next bar on
        broker._refresh_active(ticker)

    def _taker_price(self, order: Order, bar: Bar) -> int | None:
        """The bar's open on the order's side plus (buy) or minus (sell) the spread, clamped to
        ``[1, DOLLAR - 1]``; ``None`` when the bar did not trade or the price is past the limit."""
        if not bar.traded or bar.open is None:
            return None
        open_own = bar.open if order.side == "yes" else DOLLAR - bar.open
        if order.action == "buy":
            price = min(open_own + self.spread, DOLLAR - 1)
            ok = order.price is None or price <= order.price
        else:
            price = max(open_own - self.spread, 1)
            ok = order.price is None or price >= order.price
        return price if ok else None

    @staticmethod
    def _yes_limit(order: Order) -> int:
        """A limit order's price on the YES scale (a NO price p is the YES price $1 - p)."""
        return order.price if order.side == "yes" else DOLLAR - order.price

    @staticmethod
    def _traded_through(order: Order, bar: Bar) -> bool:
        """Did the bar trade strictly through the order's limit on the order's side?"""
        if not bar.traded:
            return False
        if order.side == "yes":
            low, high = bar.low, bar.high
        else:  # NO prices mirror YES: the NO low is where YES traded highest
            low, high = DOLLAR - bar.high, DOLLAR - bar.low
        return low < order.price if order.action == "buy" else high > order.price
