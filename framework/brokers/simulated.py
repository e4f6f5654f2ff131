"""SimulatedBroker: fills orders against the replayed book (backtest and paper modes).

Rules (documented with formulas and worked examples in docs/simulation.md):

* A marketable order (price ``None``, or a limit that crosses) takes the opposite side's visible
  levels best first. With L2 depth it walks the levels up to its limit; with top of book only it
  fills at the touch, up to the shown size.
* **Never unlimited size.** Where the data shows a price but no size (quotes without sizes), the
  level counts as ``unknown_size_contracts`` contracts (default 10), shared by all our orders,
  refilled when the touch moves (the level disappears or a better price hides it). Such fills
  are recorded with basis ``"assumed"`` in the run's fidelity record.
* **Consumed liquidity per level.** What our orders took at a level stays taken until the data
  shows a new size *at that price* (``level_refill = "change"``, default): then the level holds
  what the data says. ``level_refill = "growth"`` is stricter: a new size gives back only its
  growth (what we took is clamped to the new size, never returned by a decrease). A level that
  disappears from the data (size 0, or the best bid moved below it) is fresh when it returns.
  Changes at other prices never refill a level.
* **Crossed or locked data books** (YES bid + NO bid >= $1: impossible on the exchange, so a
  data artefact) are not matched against by default (``crossed_books = "skip"``): marketable
  orders arriving then are cancelled, resting orders wait; each such event is counted.
  ``crossed_books = "match"`` matches them anyway.
* ``price=None`` orders are IOC; their unfilled rest is cancelled (Kalshi has no market orders).
  An IOC limit cancels its rest too. A GTC limit rests after taking what crosses.
* A resting limit order fills as maker, at its own price, when the opposite side later crosses
  it (up to the crossing size, less what we already took there) or when a public trade whose
  taker trades into its side prints strictly through its price (up to the trade's count).
  Prints *at* its price go through the queue model (``queue_model``, framework.brokers.
  queue_models): ``"none"`` (never), ``"trades"`` (risk-averse), ``"power"`` / ``"log"``
  (probabilistic, seeded by ``seed``).
* Post-only orders that would cross are rejected; reduce-only orders are capped to the size that
  reduces the position and rejected when nothing can be reduced.
* Cash: an order whose opening part costs more than the available cash is rejected; a fill is
  capped to what the cash can pay (the rest of that order is cancelled).
* Orders are accepted only while the market is open; resting orders expire at ``close_ts``.
* Candle replay (``bar_rule``, framework.brokers.bar_fills): orders that pass the checks wait for
  the next bar and are filled by the bar rule instead of the book (basis ``"bar"``).
* ``latency`` (default 0): an order or cancel reaches the simulated exchange that long after the
  strategy sent it and is matched against the book as it is then (the order stays PENDING in
  between; all checks apply on arrival). Orders and cancels keep their sending order, so a
  cancel can arrive after the order filled. Something still in flight when the data ends stays
  pending.

Every fill is reported to ``self.fidelity`` (framework.brokers.fidelity) with the basis of its
size; ``finish()`` adds the run's warnings. Trading on a replay cannot move the recorded market:
our fills do not change later book updates. Results are only as good as this assumption for
the sizes traded.
"""

from __future__ import annotations

from ..model.book import OrderBook
from ..model.fees import FeeModel
from ..model.orders import Fill, Order, OrderStatus, Trade
from ..units import DOLLAR, contracts, notional
from .fidelity import Fidelity, contracts_str
from .latency import DelayedReports, parse_latency
from .queue_models import MODELS as QUEUE_MODELS
from .queue_models import make_queue_model
from .taken import TakenLevels

__all__ = ["BROKER_OPTIONS", "CROSSED_BOOKS", "DEFAULT_UNKNOWN_SIZE_CONTRACTS", "LEVEL_REFILL", "SimulatedBroker"]

_ACCEPTED = OrderStatus.ACCEPTED
_PARTIAL = OrderStatus.PARTIALLY_FILLED
CROSSED_BOOKS = ("skip", "match")
LEVEL_REFILL = ("change", "growth")
DEFAULT_UNKNOWN_SIZE_CONTRACTS = 10
_HIDDEN = -1  # level state: the data cannot show this price now (top of book, below the best)
_NO_LIQUIDITY = "no liquidity on the opposite side"
# [broker] options passed through to the constructor by name (run_backtest, paper runner)
BROKER_OPTIONS = ("queue_model", "queue_power", "seed", "unknown_size_contracts", "crossed_books", "level_refill")


def _unknown_size(value) -> int:
    """``unknown_size_contracts`` (contracts, > 0) as 0.01-contract units."""
    try:
        qty = contracts(value)
    except (ValueError, TypeError):
        qty = 0
    if qty <= 0 or isinstance(value, bool):
        raise ValueError(f"unknown_size_contracts must be a positive number of contracts such as 10, got {value!r}")
    return qty


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    return value


def level_state(book: OrderBook, is_yes: bool, price: int) -> int | None:
    """What the data shows at ``price`` of a bid ladder: a size (0 = nobody bids there), ``None``
    (the price is shown with no size) or ``_HIDDEN`` (top-of-book data below the best bid)."""
    best = book.yes_bid if is_yes else book.no_bid
    if best is None or price > best:
        return 0
    if book.depth_known:
        return book.size_at(is_yes, price)
    if price == best:
        return book.yes_bid_size if is_yes else book.no_bid_size
    return _HIDDEN


def is_crossed(book: OrderBook) -> bool:
    """YES bid + NO bid >= $1: a crossed (>) or locked (=) book, which the exchange never shows."""
    yb, nb = book.yes_bid, book.no_bid
    return yb is not None and nb is not None and yb + nb >= DOLLAR


class SimulatedBroker:
    """Matches orders against the engine's books. One instance per run."""

    QUEUE_MODELS = QUEUE_MODELS

    def __init__(self, fees: FeeModel | None = None, queue_model: str = "none", latency: int | str = 0, *,
                 unknown_size_contracts: int | float | str = DEFAULT_UNKNOWN_SIZE_CONTRACTS,
                 crossed_books: str = "skip", level_refill: str = "change", queue_power: float = 2.0,
                 seed: int = 0, fidelity: Fidelity | None = None, bar_rule=None) -> None:
        # entry / response / market_data legs (framework.brokers.latency); the engine reads market_data
        self.latencies = parse_latency(latency, seed)
        self.latency = max(self.latencies.constant_entry_ns, 0)  # constant entry latency (0: off or random)
        self._entry = self.latencies.entry
        self.market_data_latency = self.latencies.market_data
        # candle replay: bars fill orders by this rule, never the derived book (brokers/bar_fills.py)
        self.bar_rule = bar_rule
        self.queue = make_queue_model(queue_model, power=queue_power, seed=seed)
        self.fees = fees or FeeModel()
        self.queue_model = queue_model
        self.unknown_size = _unknown_size(unknown_size_contracts)
        self.crossed_books = _choice("crossed_books", crossed_books, CROSSED_BOOKS)
        self.level_refill = _choice("level_refill", level_refill, LEVEL_REFILL)
        self._skip_crossed = crossed_books == "skip"
        self._growth = level_refill == "growth"
        self._queued = queue_model != "none"
        self.fidelity = fidelity if fidelity is not None else Fidelity()
        fid = self.fidelity
        fid.model("queue_model", queue_model if queue_model != "power" else f"power (n={queue_power})")
        fid.model("level_refill", level_refill)
        fid.model("unknown_size_contracts", contracts_str(self.unknown_size))
        fid.model("crossed_books", crossed_books)
        fid.model("latency", self.latencies.describe())
        if queue_model in ("power", "log"):
            fid.model("seed", seed)
        self.resting: dict[str, list[Order]] = {}
        # markets the engine must report book/trade changes for (resting orders or taken liquidity)
        self.active: set[str] = set()
        # ticker -> {(ladder is YES, price): [qty we took, what the data showed when we took it]}
        self._taken: dict[str, TakenLevels] = {}
        self.market_hours: dict[str, tuple[int | None, int | None]] = {}
        self.sink = None
        self.books: dict[str, OrderBook] = {}
        self.portfolio = None
        self.n_orders = 0  # orders that reached the simulated exchange
        self.n_prints = 0  # trade prints seen while we had resting orders
        self.n_rested = 0  # orders that started resting

    def bind(self, sink, books: dict[str, OrderBook], portfolio) -> None:
        # response latency: acks and fills reach the engine later (a wrapper, so no cost when off)
        self.sink = sink if self.latencies.response is None else DelayedReports(sink, self.latencies.response)
        self.books = books
        self.portfolio = portfolio

    def flush(self) -> None:
        """End of the run: deliver reports still in flight under response latency."""
        if isinstance(self.sink, DelayedReports):
            self.sink.flush()

    # ---- order entry ------------------------------------------------------------------------
    def submit(self, order: Order) -> None:
        entry = self._entry
        if entry is not None:
            self.sink.call_at(entry.arrival(self.sink.now), self._arrive, order)
        else:
            self._arrive(order)

    def cancel(self, order: Order) -> None:
        entry = self._entry
        if entry is not None:  # the same channel as orders: a cancel never overtakes its order
            self.sink.call_at(entry.arrival(self.sink.now), self._cancel_arrive, order)
        else:
            self._cancel_arrive(order)

    def _arrive(self, order: Order) -> None:
        """The order reaches the simulated exchange: checks, then matching against the book."""
        self.n_orders += 1
        reason = self._check(order)
        if reason is not None:
            return self._reject(order, reason)
        if self.bar_rule is not None:
            return self.bar_rule.accept(self, order)
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
        why = _NO_LIQUIDITY
        if crosses and is_crossed(book):
            if self._skip_crossed:
                self.fidelity.count("crossed_book_orders_not_matched")
                crosses = False
                why = "the data book is crossed or locked (crossed_books = 'skip')"
            else:
                self.fidelity.count("crossed_book_events_matched")
        if price is None and not crosses:
            if why is _NO_LIQUIDITY:
                self.fidelity.count("orders_cancelled_no_liquidity")
            order.status = OrderStatus.CANCELLED
            order.reason = why
            self.sink.order_update(order)
            return None
        gtc = order.tif == "gtc"
        if price is not None and gtc:
            order.status = _ACCEPTED
            self.sink.order_update(order)
        if crosses:
            taken = self._taken.get(order.ticker)
            if taken:
                self._sync_taken(book, taken)
            if book.depth_known:
                self._take(order, book, ladder_yes, threshold)
            else:
                self._take_top(order, book, ladder_yes, best, taken)
        status = order.status
        if status is OrderStatus.FILLED or status is OrderStatus.CANCELLED or status is OrderStatus.REJECTED:
            return None
        if price is None or not gtc:
            # nothing left to take: the opposite side is empty or all of what crosses was taken
            if not order.filled_qty and why is _NO_LIQUIDITY and (crosses or best is None):
                self.fidelity.count("orders_cancelled_no_liquidity")
            order.status = OrderStatus.CANCELLED
            order.reason = "IOC remainder cancelled" if order.filled_qty else "IOC not filled"
            self.sink.order_update(order)
            return None
        self.resting.setdefault(order.ticker, []).append(order)
        self.active.add(order.ticker)
        self.n_rested += 1
        if self._queued:
            self.queue.join(order.order_id, None if book is None else book.size_at(not ladder_yes, DOLLAR - threshold))
        return None

    def _cancel_arrive(self, order: Order) -> None:
        lst = self.resting.get(order.ticker)
        if lst is None or order not in lst:
            return
        lst.remove(order)
        self.queue.leave(order.order_id)
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

    def _levels(self, book: OrderBook, ladder_yes: bool, threshold: int) -> list[tuple[int, int, bool]]:
        """Levels of a bid ladder at or above ``threshold``, best first, as ``(price, contracts
        still available to us, size shown by the data)``: displayed (or, with no size shown,
        ``unknown_size``) less what we already took there; empty levels left out."""
        taken = self._taken.get(book.ticker)
        out = []
        for p, s in book.levels("yes" if ladder_yes else "no"):
            if p < threshold:
                break
            rec = None if not taken else taken.get((ladder_yes, p))
            left = (self.unknown_size if s is None else s) - (0 if rec is None else rec[0])
            if left > 0:
                out.append((p, left, s is not None))
        return out

    def _consume(self, book: OrderBook, ladder_yes: bool, price: int, qty: int) -> None:
        """Remember that we took ``qty`` at ``price`` (see ``_sync_taken`` for how it refills)."""
        taken = self._taken.get(book.ticker)
        if taken is None:
            taken = self._taken[book.ticker] = TakenLevels()
        key = (ladder_yes, price)
        rec = taken.get(key)
        if rec is None:
            self._new_taken(book.ticker, taken, key, qty, level_state(book, ladder_yes, price))
        else:
            rec[0] += qty

    def _new_taken(self, ticker: str, taken: TakenLevels | None, key: tuple[bool, int], qty: int,
                   seen: int | None) -> None:
        if taken is None:
            taken = self._taken[ticker] = TakenLevels()
        taken.add(key, [qty, seen])
        if seen is None:  # an assumed size refills when the touch moves: watch every change
            self.active.add(ticker)

    def _sync_taken(self, book: OrderBook, taken: TakenLevels) -> None:
        """Refill the levels whose data changed since we took from them (module docstring rules).

        Run on each book change of an active market and before an order takes liquidity. Taken
        displayed sizes do not make a market active (following a level hidden by a better price
        would cost a broker call per event for long stretches): they are compared when next
        looked at, so a change that reverted in between counts as no change (stricter, never
        looser). Assumed sizes refill when the touch moves, so they keep the market watched.
        With top-of-book data only the levels at or above the best bid and the assumed ones can
        change, so only those are looked at (``TakenLevels`` keeps them findable): the others
        are hidden, and a long run may have taken from every price."""
        if book.depth_known:
            for key in list(taken):
                self._refill(taken, key, level_state(book, key[0], key[1]))
        else:
            yb, nb = book.yes_bid, book.no_bid
            if taken.assumed:  # hidden now (below the best): the touch moved, so they refill
                for key in [k for k in taken.assumed if k[1] < ((yb if k[0] else nb) or 0)]:
                    self._refill(taken, key, _HIDDEN)
            prices = taken.yes_prices
            if prices and prices[-1] >= (yb or 0):
                self._sync_top(taken, True, prices, yb, book.yes_bid_size)
            prices = taken.no_prices
            if prices and prices[-1] >= (nb or 0):
                self._sync_top(taken, False, prices, nb, book.no_bid_size)
        # an emptied record stays (making one costs more than keeping it; empty means none taken)

    def _sync_top(self, taken: TakenLevels, ladder_yes: bool, prices: list[int], best: int | None,
                  size: int | None) -> None:
        """Top-of-book data, one ladder: the levels above the best are gone (all dropped at once:
        a taken level never records a size of 0, so each would be), the best shows ``size``."""
        if prices[-1] > (best or 0):
            taken.drop_above(ladder_yes, best or 0)
        if best is not None and prices and prices[-1] == best:
            self._refill(taken, (ladder_yes, best), size)

    def _refill(self, taken: TakenLevels, key: tuple[bool, int], now: int | None) -> None:
        """One taken level whose data now shows ``now`` (a ``level_state``)."""
        rec = taken[key]
        seen = rec[1]
        if now == seen:
            return
        if now == 0 or (seen is None and now == _HIDDEN):
            taken.drop(key)  # the level is gone (or an assumed size's touch moved): fresh later
        elif now == _HIDDEN:
            return  # the data cannot show the level now: nothing learned
        elif not self._growth:
            taken.drop(key)  # a new size at this price: the level holds what the data says
        else:
            if now is not None:
                rec[0] = min(rec[0], now)  # a decrease never gives back what we took
            taken.seen(key, rec, now)
            if not rec[0]:
                taken.drop(key)

    def _take(self, order: Order, book: OrderBook, ladder_yes: bool, threshold: int) -> None:
        buy = order.action == "buy"
        for level_price, left, shown in self._levels(book, ladder_yes, threshold):
            want = order.qty - order.filled_qty
            qty = want if left >= want else left
            price = DOLLAR - level_price if buy else level_price
            filled = self._fill(order, price, qty, False, "displayed" if shown else "assumed")
            if filled:
                self._consume(book, ladder_yes, level_price, filled)
            if filled < qty or order.filled_qty >= order.qty:
                break

    def _take_top(self, order: Order, book: OrderBook, ladder_yes: bool, best: int,
                  taken: TakenLevels | None) -> None:
        """``_take`` for top-of-book data: the one level shown is the best (crossing the order),
        and what the data shows there is its size (``level_state``); no level list is built."""
        size = book.yes_bid_size if ladder_yes else book.no_bid_size
        key = (ladder_yes, best)
        rec = None if not taken else taken.get(key)
        left = (self.unknown_size if size is None else size) - (0 if rec is None else rec[0])
        if left <= 0:
            return
        want = order.qty - order.filled_qty
        filled = self._fill(order, DOLLAR - best if order.action == "buy" else best, want if left >= want else left,
                            False, "displayed" if size is not None else "assumed")
        if not filled:
            return
        if rec is not None:
            rec[0] += filled
        else:
            self._new_taken(book.ticker, taken, key, filled, size)

    def _fill(self, order: Order, price: int, qty: int, is_maker: bool, basis: str) -> int:
        """Execute ``qty`` of ``order`` at ``price`` (capped by cash). Returns the quantity filled."""
        buy = order.action == "buy"
        opening = qty if buy else min(self._opening_qty(order), qty)
        fees = self.fees
        now = self.sink.now  # the fee schedule in force now
        quote = fees.quote(order, price, qty, is_maker, now)  # computed once: checked, then booked
        if opening:
            cash = self.portfolio.cash
            per = price if buy else DOLLAR - price
            if notional(per, opening) + quote[0] > cash:
                # fill only what the cash pays for, fee included (largest n with cost(n) <= cash)
                closing = qty - opening

                def cost(n: int) -> int:  # cash needed to open n contracts of this fill, fee included
                    return notional(per, n) + fees.quote(order, price, closing + n, is_maker, now)[0]

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
                quote = fees.quote(order, price, qty, is_maker, now)
        fee = fees.book(order, quote)
        order.filled_qty += qty
        order.avg_price_num += price * qty
        order.status = OrderStatus.FILLED if order.filled_qty >= order.qty else _PARTIAL
        self.fidelity.record_fill(basis, qty)
        self.sink.fill(order, Fill(order.ticker, order.side, order.action, price, qty, fee,
                                   now, order.order_id, is_maker))
        return qty

    def _finish(self, order: Order, status: str, reason: str) -> None:
        order.status = status
        order.reason = reason
        self.queue.leave(order.order_id)
        lst = self.resting.get(order.ticker)
        if lst is not None and order in lst:
            lst.remove(order)
            if not lst:
                del self.resting[order.ticker]
        self.sink.order_update(order)

    # ---- market events ------------------------------------------------------------------------
    def on_book(self, book: OrderBook) -> None:
        """The book of a market we watch changed: refill changed levels, match resting orders."""
        ticker = book.ticker
        taken = self._taken.get(ticker)
        if taken:
            self._sync_taken(book, taken)
        lst = self.resting.get(ticker)
        if lst:
            if self._queued:
                queue = self.queue
                for order in lst:
                    oid = order.order_id
                    if queue.wants_level(oid):
                        ladder_yes, threshold = self._taking_terms(order)
                        queue.on_level(oid, book.size_at(not ladder_yes, DOLLAR - threshold))
            if is_crossed(book):
                if self._skip_crossed:
                    self.fidelity.count("crossed_book_events_skipped")
                else:
                    self.fidelity.count("crossed_book_events_matched")
                    self._match_resting(book, lst)
            else:
                self._match_resting(book, lst)
        self._refresh_active(ticker)

    def _match_resting(self, book: OrderBook, lst: list[Order]) -> None:
        """Fill resting orders the book now crosses, as maker at their own price."""
        for order in list(lst):
            ladder_yes, threshold = self._taking_terms(order)
            best = self._best(book, ladder_yes)
            if best is None or best < threshold:
                continue
            want = order.qty - order.filled_qty
            plan = []
            total = 0
            shown = True
            for p, left, known in self._levels(book, ladder_yes, threshold):
                q = want - total if left >= want - total else left
                plan.append((p, q))
                total += q
                shown = shown and known
                if total >= want:
                    break
            if not total:
                continue
            filled = self._fill(order, order.price, total, True, "displayed" if shown else "assumed")
            for p, q in plan:  # what the cash allowed, taken from the best levels first
                if filled <= 0:
                    break
                self._consume(book, ladder_yes, p, q if q <= filled else filled)
                filled -= q
            if order.filled_qty >= order.qty:
                self._done_resting(order)

    def on_bar(self, bar) -> None:
        """A bar of a market we watch ended (candle replay): the bar rule fills what it proves."""
        if self.bar_rule is None:
            raise RuntimeError("candle replay needs SimulatedBroker(bar_rule=BarRule(...)); "
                               "run_backtest sets it when kinds = ['candles']")
        self.bar_rule.on_bar(self, bar)

    def on_trade(self, trade: Trade) -> None:
        """A print strictly through a resting order's price whose taker trades into its side fills
        it, up to the print's count; a print at its price goes through the queue model."""
        lst = self.resting.get(trade.ticker)
        if not lst:
            return
        self.n_prints += 1
        left = trade.count
        queued = self._queued
        for order in list(lst):
            if left <= 0:
                break
            if not self._hits_own_side(order, trade):
                continue
            own_price = trade.yes_price if order.side == "yes" else DOLLAR - trade.yes_price
            through = own_price < order.price if order.action == "buy" else own_price > order.price
            want = order.qty - order.filled_qty
            if through:
                basis = "print"
            else:
                if not queued or own_price != order.price:
                    continue
                reach = self.queue.on_print(order.order_id, left)
                if reach <= 0:
                    continue
                want = want if want <= reach else reach
                basis = "queue"
            filled = self._fill(order, order.price, want if want <= left else left, True, basis)
            left -= filled
            if order.filled_qty >= order.qty:
                self._done_resting(order)

    @staticmethod
    def _hits_own_side(order: Order, trade: Trade) -> bool:
        """Did the print's taker sell into the ladder this order bids on? A resting order bids on
        the YES ladder when it buys YES or sells NO; a NO taker hits YES bids, and the mirror."""
        taker = trade.taker_side
        if taker != "yes" and taker != "no":
            return False  # unknown aggressor: it cannot be said to have traded into our order
        return (taker == "no") == ((order.side == "yes") == (order.action == "buy"))

    def _done_resting(self, order: Order) -> None:
        self.queue.leave(order.order_id)
        lst = self.resting.get(order.ticker)
        if lst is not None and order in lst:
            lst.remove(order)
            if not lst:
                del self.resting[order.ticker]
                self._refresh_active(order.ticker)

    def _refresh_active(self, ticker: str) -> None:
        if ticker in self.resting:
            return
        taken = self._taken.get(ticker)
        if taken is None or not taken.assumed:  # only assumed sizes need every book change
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

    def finish(self) -> Fidelity:
        """End of the run: add the warnings that follow from what happened; return the record."""
        fid = self.fidelity
        no_liq = fid.counts.get("orders_cancelled_no_liquidity", 0)
        if self.n_orders and no_liq == self.n_orders:
            fid.warn(f"every order ({no_liq:,} of {self.n_orders:,}) was cancelled for lack of liquidity: "
                     "the data has no book the orders could trade against (trades-only data?)")
        elif no_liq:
            fid.warn(f"{no_liq:,} of {self.n_orders:,} orders were cancelled for lack of liquidity")
        if self._queued and not self.n_prints and self.n_rested:
            fid.warn(f"queue_model = {self.queue_model!r} had no trade prints to work with while orders rested: "
                     "replay the 'trades' kind too, or resting orders fill only when the book crosses them")
        marked = sorted(getattr(self.sink, "trade_marked", ()))  # the engine's, see Engine.marks
        if marked:
            fid.model("marks", "book bids; last trade where no book")
            fid.warn(f"open positions in {len(marked)} market(s) without book data were marked at the last "
                     f"trade price, not at a bid (e.g. {marked[0]}): their open value is an estimate")
        matched = fid.counts.get("crossed_book_events_matched", 0)
        if matched:
            fid.warn(f"{matched:,} matches ran against crossed or locked data books (crossed_books = 'match'): "
                     "the exchange never shows such a book, so fills there may be riskless-looking artefacts")
        fid.finish()
        return fid
