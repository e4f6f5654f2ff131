"""SimulatedBroker: fills orders against the replayed book (backtest and paper modes).

Rules (first version; documented in docs/simulation.md):

* A marketable order (price ``None``, or a limit that crosses) takes the opposite side's visible
  levels best first. With L2 depth it walks the levels up to its limit; with top of book only it
  fills at the touch, up to the shown size (the full order when the size is unknown). Liquidity
  we took is remembered until that market's book next changes, so two orders cannot both take
  the same displayed size.
* ``price=None`` orders are IOC; their unfilled rest is cancelled (Kalshi has no market orders).
  An IOC limit cancels its rest too. A GTC limit rests after taking what crosses.
* A resting limit order fills as maker, at its own price, when the opposite side later crosses
  it (up to the crossing size when known) or when a public trade prints strictly through its
  price (up to the trade's count). Prints *at* its price depend on ``queue_model``:

  - ``"none"`` (default): they never fill it (it is assumed to stay at the back of the queue);
  - ``"trades"``: the order joins behind the size displayed at its price when it starts resting
    (or, when that is unknown, when it first becomes visible); prints at its price that hit its
    side (a NO taker for a YES bid, and the mirror) use up that size first and fill the order
    with the excess. Cancellations never move it up, and book updates are not used to shrink
    the queue, so a delta and the print it reflects cannot be counted twice. This can only
    under-fill relative to a real queue position, never over-fill.
* Post-only orders that would cross are rejected; reduce-only orders are capped to the size that
  reduces the position and rejected when nothing can be reduced.
* Cash: an order whose opening part costs more than the available cash is rejected; a fill is
  capped to what the cash can pay (the rest of that order is cancelled).
* Orders are accepted only while the market is open; resting orders expire at ``close_ts``.
* ``latency`` (default 0): an order or cancel reaches the simulated exchange that long after the
  strategy sent it and is matched against the book as it is then (the order stays PENDING in
  between; all checks apply on arrival). Orders and cancels keep their sending order, so a
  cancel can arrive after the order filled. Something still in flight when the data ends stays
  pending.

Trading on a replay cannot move the recorded market: our fills do not change later book
updates. Results are only as good as this assumption for the sizes traded.
"""

from __future__ import annotations

from ..model.book import OrderBook
from ..model.fees import FeeModel
from ..model.orders import Fill, Order, OrderStatus, Trade
from ..units import DOLLAR, notional

__all__ = ["SimulatedBroker"]

_ACCEPTED = OrderStatus.ACCEPTED


def _latency_ns(value: int | str) -> int:
    """``latency`` as int ns: an int (ns) >= 0, or a duration such as ``"50ms"`` or ``"0"``."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"latency must be >= 0 ns, got {value}")
        return value
    import pandas as pd  # parsing a config value once, not on the hot path

    try:
        ns = int(pd.Timedelta(value).value) if isinstance(value, str) else None
    except (ValueError, TypeError):
        ns = None
    if ns is None or ns < 0:
        raise ValueError(f"latency must be a duration >= 0 such as '50ms' or an int of ns, got {value!r}")
    return ns
_PARTIAL = OrderStatus.PARTIALLY_FILLED


class SimulatedBroker:
    """Matches orders against the engine's books. One instance per run."""

    QUEUE_MODELS = ("none", "trades")

    def __init__(self, fees: FeeModel | None = None, queue_model: str = "none", latency: int | str = 0) -> None:
        self.latency = _latency_ns(latency)
        if queue_model not in self.QUEUE_MODELS:
            raise ValueError(f"queue_model must be one of {', '.join(map(repr, self.QUEUE_MODELS))}, "
                             f"got {queue_model!r}")
        self.fees = fees or FeeModel()
        self.queue_model = queue_model
        # queue_model "trades": order id -> displayed size still ahead of the order (None = unknown)
        self._ahead: dict[str, int | None] = {}
        self.resting: dict[str, list[Order]] = {}
        # markets the engine must report book/trade changes for (resting orders or taken liquidity)
        self.active: set[str] = set()
        self._taken: dict[str, dict[tuple[bool, int], int]] = {}
        self.market_hours: dict[str, tuple[int | None, int | None]] = {}
        self.sink = None
        self.books: dict[str, OrderBook] = {}
        self.portfolio = None

    def bind(self, sink, books: dict[str, OrderBook], portfolio) -> None:
        self.sink = sink
        self.books = books
        self.portfolio = portfolio

    # ---- order entry ------------------------------------------------------------------------
    def submit(self, order: Order) -> None:
        if self.latency:
            self.sink.call_at(self.sink.now + self.latency, self._arrive, order)
        else:
            self._arrive(order)

    def cancel(self, order: Order) -> None:
        if self.latency:
            self.sink.call_at(self.sink.now + self.latency, self._cancel_arrive, order)
        else:
            self._cancel_arrive(order)

    def _arrive(self, order: Order) -> None:
        """The order reaches the simulated exchange: checks, then matching against the book."""
        reason = self._check(order)
        if reason is not None:
            return self._reject(order, reason)
        book = self.books.get(order.ticker)
        # _taking_terms and _best inlined: this runs once per order
        buy = order.action == "buy"
        ladder_yes = (order.side == "yes") != buy
        price = order.price
        threshold = 1 if price is None else (DOLLAR - price if buy else price)
        best = None if book is None else (book.yes_bid if ladder_yes else book.no_bid)
        crosses = best is not None and best >= threshold
        if order.post_only and crosses:
            return self._reject(order, "post-only order would cross the book")
        if price is None and not crosses:
            order.status = OrderStatus.CANCELLED
            order.reason = "no liquidity on the opposite side"
            self.sink.order_update(order)
            return None
        gtc = order.tif == "gtc"
        if price is not None and gtc:
            order.status = _ACCEPTED
            self.sink.order_update(order)
        if crosses:
            self._take(order, book, ladder_yes, threshold)
        status = order.status
        if status is OrderStatus.FILLED or status is OrderStatus.CANCELLED or status is OrderStatus.REJECTED:
            return None
        if price is None or not gtc:
            order.status = OrderStatus.CANCELLED
            order.reason = "IOC remainder cancelled" if order.filled_qty else "IOC not filled"
            self.sink.order_update(order)
            return None
        self.resting.setdefault(order.ticker, []).append(order)
        self.active.add(order.ticker)
        if self.queue_model == "trades":
            self._ahead[order.order_id] = None if book is None else book.size_at(not ladder_yes, DOLLAR - threshold)
        return None

    def _cancel_arrive(self, order: Order) -> None:
        lst = self.resting.get(order.ticker)
        if lst is None or order not in lst:
            return
        lst.remove(order)
        self._ahead.pop(order.order_id, None)
        if not lst:
            del self.resting[order.ticker]
            self._refresh_active(order.ticker)
        order.status = OrderStatus.CANCELLED
        order.reason = "cancelled by strategy"
        self.sink.order_update(order)

    def _check(self, order: Order) -> str | None:
        hours = self.market_hours.get(order.ticker)
        now = self.sink.now
        if hours is not None:
            open_ts, close_ts = hours
            if open_ts is not None and now < open_ts:
                return "market not open yet"
            if close_ts is not None and now >= close_ts:
                return "market closed"
        if order.reduce_only:
            net = self.portfolio.net(order.ticker)
            reduces = -net if (order.side == "yes") == (order.action == "buy") else net
            if reduces <= 0:
                return "reduce-only order would not reduce the position"
            if order.qty > reduces:
                order.qty = reduces
        if order.price is not None:
            opening = self._opening_qty(order)
            if opening:
                own = self._own_leg_price(order)
                if notional(own, opening) + self.fees.preview(order, own, opening, False, now) > self.portfolio.cash:
                    return "insufficient cash"
        return None

    def _opening_qty(self, order: Order) -> int:
        """Quantity of ``order`` that adds exposure (costs cash) rather than closing a holding."""
        if order.action == "buy":
            return order.qty
        pos = self.portfolio.positions.get(order.ticker)
        held = 0 if pos is None else (pos.yes if order.side == "yes" else pos.no)
        return max(order.qty - held, 0)

    @staticmethod
    def _own_leg_price(order: Order) -> int:
        # price paid per contract for what the order opens: a sell opens the other leg at 1 - p
        return order.price if order.action == "buy" else DOLLAR - order.price

    def _reject(self, order: Order, reason: str) -> None:
        order.status = OrderStatus.REJECTED
        order.reason = reason
        self.sink.order_update(order)

    # ---- matching -----------------------------------------------------------------------------
    @staticmethod
    def _taking_terms(order: Order) -> tuple[bool, int]:
        """Which bid ladder the order takes from, and the lowest ladder price it accepts.

        Buying YES at p takes NO bids >= 1 - p; selling YES at p takes YES bids >= p (and the
        mirror for NO). A marketable order accepts any level (threshold 1)."""
        buy = order.action == "buy"
        ladder_yes = (order.side == "yes") != buy
        if order.price is None:
            return ladder_yes, 1
        return ladder_yes, (DOLLAR - order.price) if buy else order.price

    @staticmethod
    def _best(book: OrderBook, ladder_yes: bool) -> int | None:
        return book.yes_bid if ladder_yes else book.no_bid

    def _levels(self, book: OrderBook, ladder_yes: bool) -> list[tuple[int, int | None]]:
        levels = book.levels("yes" if ladder_yes else "no")
        taken = self._taken.get(book.ticker)
        if not taken:
            return levels
        out = []
        for p, s in levels:
            t = taken.get((ladder_yes, p), 0)
            if s is None or s > t:
                out.append((p, None if s is None else s - t))
        return out

    def _take(self, order: Order, book: OrderBook, ladder_yes: bool, threshold: int) -> None:
        buy = order.action == "buy"
        taken = self._taken.setdefault(order.ticker, {})
        self.active.add(order.ticker)
        for level_price, size in self._levels(book, ladder_yes):
            if level_price < threshold:
                break
            want = order.qty - order.filled_qty
            qty = want if size is None or size >= want else size
            price = DOLLAR - level_price if buy else level_price
            filled = self._fill(order, price, qty, is_maker=False)
            if filled:
                key = (ladder_yes, level_price)
                taken[key] = taken.get(key, 0) + filled
            if filled < qty or order.filled_qty >= order.qty:
                break

    def _fill(self, order: Order, price: int, qty: int, is_maker: bool) -> int:
        """Execute ``qty`` of ``order`` at ``price`` (capped by cash). Returns the quantity filled."""
        opening = qty if order.action == "buy" else min(self._opening_qty(order), qty)
        if opening:
            cash = self.portfolio.cash
            per = price if order.action == "buy" else DOLLAR - price
            closing = qty - opening
            preview = self.fees.preview
            now = self.sink.now

            def cost(n: int) -> int:  # cash needed to open n contracts of this fill, fee included
                return notional(per, n) + preview(order, price, closing + n, is_maker, now)

            if cost(opening) > cash:
                # fill only what the cash pays for, fee included (largest n with cost(n) <= cash)
                lo, hi = 0, opening
                while lo < hi:
                    mid = (lo + hi + 1) // 2
                    if cost(mid) <= cash:
                        lo = mid
                    else:
                        hi = mid - 1
                qty = closing + lo
                if qty == 0:
                    self._finish(order, OrderStatus.CANCELLED, "insufficient cash")
                    return 0
        fee = self.fees.charge(order, price, qty, is_maker, self.sink.now)  # schedule in force now
        order.filled_qty += qty
        order.avg_price_num += price * qty
        order.status = OrderStatus.FILLED if order.filled_qty >= order.qty else _PARTIAL
        self.sink.fill(order, Fill(order.ticker, order.side, order.action, price, qty, fee,
                                   self.sink.now, order.order_id, is_maker))
        return qty

    def _finish(self, order: Order, status: str, reason: str) -> None:
        order.status = status
        order.reason = reason
        self._ahead.pop(order.order_id, None)
        lst = self.resting.get(order.ticker)
        if lst is not None and order in lst:
            lst.remove(order)
            if not lst:
                del self.resting[order.ticker]
        self.sink.order_update(order)

    # ---- market events ------------------------------------------------------------------------
    def on_book(self, book: OrderBook) -> None:
        """The book of a market we watch changed: forget taken liquidity, match resting orders."""
        ticker = book.ticker
        if ticker in self._taken:
            del self._taken[ticker]
        lst = self.resting.get(ticker)
        if lst:
            ahead = self._ahead
            for order in list(lst):
                ladder_yes, threshold = self._taking_terms(order)
                if ahead and order.order_id in ahead and ahead[order.order_id] is None:
                    # the size at the order's price was unknown when it joined: queue behind it now
                    ahead[order.order_id] = book.size_at(not ladder_yes, DOLLAR - threshold)
                best = self._best(book, ladder_yes)
                if best is None or best < threshold:
                    continue
                available = 0
                unknown = False
                for p, s in self._levels(book, ladder_yes):
                    if p < threshold:
                        break
                    if s is None:
                        unknown = True
                        break
                    available += s
                want = order.qty - order.filled_qty
                qty = want if unknown or available >= want else available
                filled = self._fill(order, order.price, qty, is_maker=True)
                if filled:
                    taken = self._taken.setdefault(ticker, {})
                    key = (ladder_yes, best)
                    taken[key] = taken.get(key, 0) + filled
                if order.filled_qty >= order.qty:
                    self._done_resting(order)
        self._refresh_active(ticker)

    def on_trade(self, trade: Trade) -> None:
        """A print strictly through a resting order's price fills it, up to the print's count;
        with ``queue_model="trades"`` a print at its price can too (see the module docstring)."""
        lst = self.resting.get(trade.ticker)
        if not lst:
            return
        left = trade.count
        queue = self.queue_model == "trades"
        for order in list(lst):
            if left <= 0:
                break
            own_price = trade.yes_price if order.side == "yes" else DOLLAR - trade.yes_price
            through = own_price < order.price if order.action == "buy" else own_price > order.price
            want = order.qty - order.filled_qty
            if not through:
                if not queue or own_price != order.price or not self._hits_own_side(order, trade):
                    continue
                ahead = self._ahead.get(order.order_id)
                if ahead is None:
                    continue  # the size ahead was never visible: assume the back of the queue
                if left <= ahead:
                    self._ahead[order.order_id] = ahead - left
                    continue
                self._ahead[order.order_id] = 0
                excess = left - ahead
                want = want if want <= excess else excess
            filled = self._fill(order, order.price, want if want <= left else left, is_maker=True)
            left -= filled
            if order.filled_qty >= order.qty:
                self._done_resting(order)

    @staticmethod
    def _hits_own_side(order: Order, trade: Trade) -> bool:
        """Did the print's taker sell into the ladder this order bids on? A resting order bids on
        the YES ladder when it buys YES or sells NO; a NO taker hits YES bids, and the mirror."""
        taker = trade.taker_side
        if taker != "yes" and taker != "no":
            return False  # unknown aggressor: it cannot be said to have traded into our queue
        return (taker == "no") == ((order.side == "yes") == (order.action == "buy"))

    def _done_resting(self, order: Order) -> None:
        self._ahead.pop(order.order_id, None)
        lst = self.resting.get(order.ticker)
        if lst is not None and order in lst:
            lst.remove(order)
            if not lst:
                del self.resting[order.ticker]
                self._refresh_active(order.ticker)

    def _refresh_active(self, ticker: str) -> None:
        if ticker not in self.resting and not self._taken.get(ticker):
            self.active.discard(ticker)

    def market_closed(self, ticker: str, ts: int) -> None:
        """Expire resting orders when trading ends."""
        for order in list(self.resting.get(ticker, ())):
            self._finish(order, OrderStatus.EXPIRED, "market closed")
        self._taken.pop(ticker, None)
        self._refresh_active(ticker)

    def cancel_all(self, ticker: str | None = None) -> None:
        tickers = [ticker] if ticker is not None else sorted(self.resting)
        for t in tickers:
            for order in list(self.resting.get(t, ())):
                self.cancel(order)

    def poll(self) -> None:
        """Simulated fills are reported synchronously; nothing arrives later."""
        return None
