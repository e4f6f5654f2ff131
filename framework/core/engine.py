"""The engine: one deterministic, single-threaded event loop for every mode.

Per market event, in this order: fire timers/settlements that are due (time has reached them),
update the cache (the market's ``OrderBook``), let the broker react (a simulated broker matches
resting orders), deliver the resulting order/fill notifications, then call the strategy, then
deliver what the strategy's own orders caused. The engine is the only caller of strategy
callbacks and the only writer of books, orders, cash and positions; feeds and brokers only
produce data.

The hot loops below are written for CPython: locals instead of attribute lookups, ``zip`` over
column lists, one dict lookup per event, and callbacks a strategy does not override are skipped.
"""

from __future__ import annotations

import gc
import heapq
import itertools
import logging
import math
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from ..logs import use_clock
from ..model.bars import Bar, closing_quote
from ..model.book import OrderBook
from ..model.orders import ACTIVE_STATUSES, Fill, Order, OrderStatus, Settlement, Trade
from ..model.portfolio import SETTLE_RESULTS, Portfolio
from ..strategy import Strategy
from ..units import CONTRACT, DOLLAR
from .equity import EquityPath
from .events import BOOK, CANDLE, IDLE, MIXED, QUOTE, TRADE
from .strategy_errors import strategy_error

__all__ = ["Engine", "parse_duration"]

log = logging.getLogger(__name__)
_NEVER = 1 << 62  # "no scheduled item" sentinel, later than any real timestamp

# scheduled item kinds, in their order at equal timestamps
# at equal times: market close, settlement, broker calls (order latency), timers, equity samples
_CLOSE, _SETTLE, _CALL, _TIMER, _EQUITY = 0, 1, 2, 3, 4
_INFO_KEYS = ("ticker", "event_ticker", "series_ticker", "open_ts", "close_ts", "title")  # market_info

_ORDER_EVT, _FILL_EVT = 0, 1
_VALID_TIF = ("gtc", "ioc")


def parse_duration(value: int | str) -> int:
    """A duration as int ns, or a string such as ``"5min"``, ``"1h"``, ``"30s"``, ``"1d"``."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value <= 0:
            raise ValueError(f"timer interval must be positive, got {value}")
        return value
    import pandas as pd  # parsing user input only

    try:
        ns = int(pd.Timedelta(value).value)
    except (ValueError, TypeError):
        raise ValueError(f"cannot parse duration {value!r}; use ns or e.g. '5min', '1h', '30s'") from None
    if ns <= 0:
        raise ValueError(f"timer interval must be positive, got {value!r}")
    return ns


def _overrides(strategy: Strategy, name: str) -> Callable | None:
    """The bound callback if the strategy's class overrides it, else None (skipped entirely)."""
    if getattr(type(strategy), name) is getattr(Strategy, name):
        return None
    return getattr(strategy, name)


class Engine:
    """Drives one strategy from one feed through one broker."""

    def __init__(self, strategy: Strategy, feed, broker, portfolio: Portfolio,
                 markets: Iterable[dict[str, Any]] = (), equity_interval: int | None = 3_600_000_000_000,
                 start: int | None = None, end: int | None = None, progress: Callable[[int], None] | None = None,
                 clock: Callable[[], int] | None = None, risk=None) -> None:
        self.strategy = strategy
        self.feed = feed
        self.broker = broker
        self.portfolio = portfolio
        self.books: dict[str, OrderBook] = {}
        self.now = 0
        self.start = start
        self.end = end
        self.progress = progress
        self.clock = clock
        # optional pre-trade gate: ``risk.check(order, engine) -> str | None`` (a denial reason)
        self.risk = risk
        self.open: dict[str, Order] = {}
        self.order_log: list[Order] = []  # every order ever submitted, in submission order
        self.fills: list[Fill] = []
        self.equity: list[tuple[int, int, int]] = []  # (ts, cash, open value at bid)
        # last YES print per market: the mark of markets without a book (trades-only data)
        self.last_trade: dict[str, int] = {}
        self.equity_path = EquityPath(portfolio, self.books, self.last_trade)  # every change, for drawdown metrics
        self.records: list[tuple[int, str, Any]] = []
        self.predictions: list[tuple[int, str, float, int | None]] = []  # (ts, ticker, p, mid then)
        self.settlements: list[Settlement] = []
        self.subscribed: set[str] = set()
        self.trade_marked: set[str] = set()  # markets whose open position was marked at a print
        self.n_events = 0
        self._debug = False
        self._ids = itertools.count(1)
        self._queue: deque = deque()
        self._order_queued: set[Order] = set()  # orders with an on_order notification pending
        self._sched: list[tuple[int, int, int, Any]] = []
        self._sched_seq = itertools.count()
        self._next_due = _NEVER
        self._timers: dict[str, tuple[int, int | None, int]] = {}  # name -> (at, every, token)
        self._deferred: list[tuple[str, int, int]] = []
        self._snap_book: OrderBook | None = None
        self._snap_ts = -1
        self._equity_interval = equity_interval
        self._last_ts = 0
        self._results: dict[str, tuple[str, int | None]] = {}  # ticker -> (result, scalar value)
        self._settled: set[str] = set()
        self.market_info: dict[str, dict[str, Any]] = {}
        first_open = None
        # closes and settlements, heapified once below: the same (time, kind, seq) pop order as a
        # _schedule per market (seq is unique, so the order is total), at half the cost
        due = self._sched
        seq = self._sched_seq
        info = self.market_info
        for m in markets:
            t = m["ticker"]
            # look-ahead guard: strategies see metadata without result or settlement time
            info[t] = {k: m.get(k) for k in _INFO_KEYS}
            close_ts, settle_ts, result = m.get("close_ts"), m.get("settle_ts"), m.get("result")
            if close_ts is not None:
                due.append((close_ts, _CLOSE, next(seq), t))
            if settle_ts is not None and result in SETTLE_RESULTS and (end is None or settle_ts < end):
                self._results[t] = (result, m.get("settlement_value"))
                due.append((settle_ts, _SETTLE, next(seq), t))
            if m.get("open_ts") is not None:
                first_open = m["open_ts"] if first_open is None else min(first_open, m["open_ts"])
        heapq.heapify(due)
        if due and due[0][0] < self._next_due:
            self._next_due = due[0][0]
        self._first_open = first_open
        broker.bind(self, self.books, portfolio)
        if hasattr(broker, "market_hours"):
            broker.market_hours.update({t: (m.get("open_ts"), m.get("close_ts"))
                                        for t, m in self.market_info.items()})
        self._on_book = _overrides(strategy, "on_book")
        self._on_trade = _overrides(strategy, "on_trade")
        self._on_bar = _overrides(strategy, "on_bar")
        self._on_fill = _overrides(strategy, "on_fill")
        self._on_order = _overrides(strategy, "on_order")
        # market-data latency (the broker's ``market_data_latency`` channel, framework.brokers.latency):
        # the strategy gets copies of books and the prints that much later; ``strategy_books`` is
        # its view. Off, it is the same dict and the hot loops are unchanged (no cost).
        self.strategy_books = self.books
        self._md = getattr(broker, "market_data_latency", None)
        if self._md is not None:
            self.strategy_books = {}
            self._md_on_book, self._md_on_trade = self._on_book, self._on_trade
            self._on_book = self._delay_book
            if self._on_trade is not None:
                self._on_trade = self._delay_trade

    # ---- scheduling -----------------------------------------------------------------------
    def _schedule(self, ts: int, kind: int, payload: Any) -> None:
        heapq.heappush(self._sched, (ts, kind, next(self._sched_seq), payload))
        if ts < self._next_due:
            self._next_due = ts

    def _fire_due(self, upto: int) -> None:
        """Run every scheduled item with time <= ``upto``, in (time, kind, insertion) order."""
        if self._deferred:  # relative timers set before any time was known start at the first event
            for name, every, token in self._deferred:
                self._timers[name] = (upto + every, every, token)
                self._schedule(upto + every, _TIMER, (name, token))
            self._deferred = []
        sched = self._sched
        while sched and sched[0][0] <= upto:
            ts, kind, _, payload = heapq.heappop(sched)
            if ts > self.now:
                self.now = ts
            if kind == _TIMER:
                name, token = payload
                cur = self._timers.get(name)
                if cur is None or cur[2] != token:
                    continue  # cancelled or replaced
                every = cur[1]
                if every is not None:
                    self._timers[name] = (ts + every, every, token)
                    self._schedule(ts + every, _TIMER, payload)
                else:
                    del self._timers[name]
                self.strategy.on_timer(name)
                self._drain()
            elif kind == _SETTLE:
                self._settle(payload, ts)
            elif kind == _CLOSE:
                self.broker.market_closed(payload, ts)
                self._drain()
            elif kind == _CALL:
                fn, arg = payload
                fn(arg)
                self._drain()
            else:
                self._sample_equity(ts)
                if self._equity_interval:
                    self._schedule(ts + self._equity_interval, _EQUITY, None)
        self._next_due = sched[0][0] if sched else _NEVER

    def set_timer(self, name: str, at: int | str | None = None, every: int | str | None = None) -> None:
        if at is None and every is None:
            raise ValueError("set_timer needs at= (a time) and/or every= (an interval)")
        interval = parse_duration(every) if every is not None else None
        token = next(self._sched_seq)
        if at is None and self.now == 0:
            self._timers[name] = (_NEVER, interval, token)
            self._deferred.append((name, interval, token))
            self._next_due = 0  # the first event anchors it
            return
        if at is None:
            first = self.now + interval
        elif isinstance(at, int) and not isinstance(at, bool):
            first = at
        else:
            from ..data.replay import _to_ns

            first = _to_ns(at)
        self._timers[name] = (first, interval, token)
        self._schedule(first, _TIMER, (name, token))

    def cancel_timer(self, name: str) -> None:
        self._timers.pop(name, None)

    def settle_market(self, ticker: str, result: str, ts: int | None = None,
                      value: int | None = None) -> Settlement | None:
        """Settle ``ticker`` now as ``"yes"``, ``"no"``, ``"void"`` or ``"scalar"`` (with
        ``value``, the YES payout per contract in $0.0001) (paper and live runs, when the exchange
        reports the market finalized; backtests settle from the catalog by themselves).

        Open orders in the market end, the position is paid out (see ``Portfolio.settle``) and
        closed, and the strategy's ``on_settlement`` runs, as in a backtest. Returns the
        settlement, or ``None`` when the market was already settled in this run.
        """
        if result not in SETTLE_RESULTS:
            raise ValueError(f"settlement result must be one of {', '.join(SETTLE_RESULTS)}, got {result!r}")
        if result == "scalar" and (type(value) is not int or not 0 <= value <= DOLLAR):
            raise ValueError(f"a scalar settlement needs value in [0, {DOLLAR}] ($0.0001 units), got {value!r}")
        if ticker in self._settled:
            return None
        self._results[ticker] = (result, value if result == "scalar" else None)
        self._settle(ticker, self.now if ts is None else ts)
        return self.settlements[-1]

    def _settle(self, ticker: str, ts: int) -> None:
        if ticker in self._settled:  # a market settles once, however it was asked to
            return
        self._settled.add(ticker)
        self.broker.market_closed(ticker, ts)
        self._drain()
        result, value = self._results[ticker]
        payout, net = self.portfolio.settle(ticker, result, value)
        if ticker in self.equity_path.held:
            self.equity_path.changed(ticker, ts)
        s = Settlement(ticker, result, ts, payout, net, value)
        self.settlements.append(s)
        in_scope = net != 0 or not self.subscribed or ticker in self.subscribed
        if in_scope:
            self.strategy.on_settlement(s)
            self._drain()
        if net:
            self._sample_equity(ts)

    def marks(self) -> dict[str, tuple[int | None, int | None]]:
        """``(yes_bid, no_bid)`` per market to value open positions at: the book's bids, or, for a
        market with no book at all (trades-only data), its last print (YES at p, NO at 1 - p;
        such markets are listed in ``trade_marked`` for the run's fidelity record)."""
        marks = {t: (b.yes_bid, b.no_bid) for t, b in self.books.items()}
        for t, p in self.last_trade.items():
            if t not in marks:
                marks[t] = (p, DOLLAR - p)
                pos = self.portfolio.positions.get(t)
                if pos is not None and (pos.yes or pos.no):
                    self.trade_marked.add(t)
        return marks

    def _sample_equity(self, ts: int) -> None:
        self.equity.append((ts, self.portfolio.cash, self.portfolio.open_value(self.marks())))

    # ---- strategy actions -----------------------------------------------------------------
    def submit(self, ticker: str, action: str, qty: int, price: int | None, side: str, tif: str,
               post_only: bool, reduce_only: bool) -> Order:
        if type(qty) is not int or qty <= 0:
            raise ValueError(f"order qty must be a positive int in 0.01-contract units "
                             f"(10 contracts = framework.contracts(10) = 1000), got {qty!r}")
        if price is not None and (type(price) is not int or not 0 < price < DOLLAR):
            raise ValueError(f"order price must be an int in (0, {DOLLAR}) units of $0.0001 "
                             f"($0.56 = framework.cents(56) = 5600) or None for marketable, got {price!r}")
        if side not in ("yes", "no"):
            raise ValueError(f"side must be 'yes' or 'no', got {side!r}")
        if tif not in _VALID_TIF:
            raise ValueError(f"tif must be 'gtc' or 'ioc', got {tif!r}")
        if price is None and post_only:
            raise ValueError("a marketable order (price=None) cannot be post-only")
        order = Order(f"O{next(self._ids)}", ticker, side, action, qty, price, tif, post_only,
                      reduce_only, self.now)
        self.order_log.append(order)
        if self.risk is not None:
            reason = self.risk.check(order, self)
            if reason is not None:  # denied: the strategy sees a rejected order with the reason
                order.status = OrderStatus.REJECTED
                order.reason = f"risk: {reason}"
                self.order_update(order)
                return order
        self.open[order.order_id] = order
        if self._debug:
            log.debug("submit %r", order)
        self.broker.submit(order)
        return order

    def cancel(self, order: Order) -> None:
        if order.status in ACTIVE_STATUSES:
            self.broker.cancel(order)

    def cancel_all(self, ticker: str | None = None) -> None:
        for order in list(self.open.values()):
            if ticker is None or order.ticker == ticker:
                self.broker.cancel(order)

    def open_orders(self, ticker: str | None = None) -> list[Order]:
        return [o for o in self.open.values() if ticker is None or o.ticker == ticker]

    def subscribe(self, tickers: list[str]) -> None:
        self.subscribed.update(tickers)
        self.feed.subscribe(tickers)

    def record(self, name: str, value: Any) -> None:
        self.records.append((self.now, name, value))

    def predict(self, ticker: str, probability: float) -> None:
        p = float(probability)
        if not 0.0 <= p <= 1.0 or math.isnan(p):
            raise ValueError(f"probability must be within [0, 1], got {probability!r}")
        book = self.books.get(ticker)  # the market's own forecast at that moment, to score against
        self.predictions.append((self.now, ticker, p, book.mid if book is not None else None))

    # ---- EventSink (called by brokers) ------------------------------------------------------
    def call_at(self, ts: int, fn: Callable[[Any], None], arg: Any) -> None:
        """Run ``fn(arg)`` on the engine thread when time reaches ``ts`` (after market closes and
        settlements due then, before timers): how a simulated broker delays orders by a latency."""
        self._schedule(ts, _CALL, (fn, arg))

    def _delay_book(self, book: OrderBook) -> None:
        self._schedule(self._md.arrival(self.now), _CALL, (self._deliver_book, book.copy()))

    def _deliver_book(self, snap: OrderBook) -> None:
        self.strategy_books[snap.ticker] = snap
        if self._md_on_book is not None:
            self._md_on_book(snap)

    def _delay_trade(self, trade: Trade) -> None:
        self._schedule(self._md.arrival(self.now), _CALL, (self._md_on_trade, trade))

    def order_update(self, order: Order) -> None:
        order.updated_ts = self.now
        if self._debug:
            log.debug("order %r%s", order, f" ({order.reason})" if order.reason else "")
        if order.status not in ACTIVE_STATUSES:
            self.open.pop(order.order_id, None)
        if self._on_order is not None and order not in self._order_queued:
            self._order_queued.add(order)
            self._queue.append((_ORDER_EVT, order))

    def fill(self, order: Order, fill: Fill) -> None:
        order.updated_ts = self.now
        if self._debug:
            log.debug("fill %r", fill)
        self.portfolio.apply_fill(fill.ticker, fill.side, fill.action, fill.price, fill.qty, fill.fee)
        self.equity_path.changed(fill.ticker, self.now)
        self.fills.append(fill)
        if order.status == OrderStatus.FILLED:
            self.open.pop(order.order_id, None)
        if self._on_fill is not None:
            self._queue.append((_FILL_EVT, fill))
        if self._on_order is not None and order not in self._order_queued:
            self._order_queued.add(order)
            self._queue.append((_ORDER_EVT, order))

    def _drain(self) -> None:
        q = self._queue
        while q:
            kind, obj = q.popleft()
            if kind == _FILL_EVT:
                self._on_fill(obj)
            else:
                # one on_order per order per change batch, showing the order's current state
                self._order_queued.discard(obj)
                self._on_order(obj)

    # ---- the loop -----------------------------------------------------------------------------
    def _book_for(self, ticker: str) -> OrderBook:
        book = self.books.get(ticker)
        if book is None:
            book = self.books[ticker] = OrderBook(ticker)
        return book

    def run(self) -> None:
        """Run to the end of the feed. An exception raised in strategy code comes out as a
        ``StrategyError`` naming the callback, ticker and simulated time (original as its cause)."""
        self._debug = log.isEnabledFor(logging.DEBUG)  # order/fill flow for --debug, checked once
        use_clock(self._clock_now)  # log lines carry simulated time
        try:
            self._run()
        except Exception as exc:
            err = strategy_error(exc, self.strategy, self.now)
            if err is None:
                raise
            raise err from exc
        finally:
            use_clock(None)

    def _clock_now(self) -> int:
        return self.now

    def _run(self) -> None:
        strategy = self.strategy
        strategy._engine = self
        if self._equity_interval and self._first_open is not None:
            self._schedule(self._first_open, _EQUITY, None)
        if self.clock is not None:
            self.now = self.clock()
        elif self.start is not None:
            self.now = self.start
        elif self._first_open is not None:
            self.now = self._first_open  # the clock starts when the run's first market opens
        self.equity_path.start(self.now)
        strategy.on_start()
        self._drain()
        # Long runs accumulate orders and fills; frequent young-generation collections would
        # rescan them and make per-order cost grow. Collect rarely during the loop, restore after.
        gc_threshold = gc.get_threshold()
        gc.set_threshold(100_000, 50, 100)
        try:
            self._loop()
        finally:
            gc.set_threshold(*gc_threshold)
        final = self.end - 1 if self.end is not None else max(self._last_ts, self._last_settle_ts())
        self._fire_due(final)
        flush = getattr(self.broker, "flush", None)  # reports still in flight (response latency)
        if flush is not None:
            flush()
            self._drain()
        if self.now < final and self.end is not None:
            self.now = final
        self._sample_equity(self.now)
        strategy.on_stop()
        self._drain()

    def _loop(self) -> None:
        handlers = {QUOTE: self._run_quotes, BOOK: self._run_book, TRADE: self._run_trades,
                    MIXED: self._run_mixed, IDLE: self._run_idle, CANDLE: self._run_candles}
        live = self.clock is not None  # live brokers report asynchronously: poll after each chunk
        progress = self.progress
        for kind, cols in self.feed.chunks():
            if self._snap_book is not None and kind != BOOK:
                self._flush_snapshot()
            handlers[kind](cols)
            if live:
                self.broker.poll()
                self._drain()
            if kind == IDLE:
                continue
            n = len(cols[0])
            self.n_events += n
            if progress is not None:
                progress(n)
        self._flush_snapshot()

    def _last_settle_ts(self) -> int:
        return max((ts for ts, kind, _, _ in self._sched if kind == _SETTLE), default=self._last_ts)

    def _run_quotes(self, cols) -> None:
        books = self.books
        active = self.broker.active
        broker_on_book = self.broker.on_book
        on_book = self._on_book
        queue = self._queue
        drain = self._drain
        path = self.equity_path
        # bound appends of the path's two columns (the arrays live as long as the engine)
        held, ts_append, eq_append, portfolio = path.held, path.ts.append, path.equity.append, self.portfolio
        ts = self._last_ts
        for ts, tk, yb, nb, ybs, nbs in zip(*cols):
            if ts >= self._next_due:
                self._fire_due(ts)
            self.now = ts
            book = books.get(tk)
            if book is None:
                book = self._book_for(tk)
            # inlined OrderBook.set_top (saves a call per event; keep the two in step)
            book.ts = ts
            book.yes_bid = yb or None  # 0 = side empty
            book.no_bid = nb or None
            book.yes_bid_size = ybs if yb else None
            book.no_bid_size = nbs if nb else None
            if book.depth_known:
                book.drop_depth()
            if tk in held:  # exact equity path: revalue markets we hold when their bid may move
                # inlined EquityPath.mark (a call per event of a held market; keep the two in step)
                entry = held[tk]
                pos = entry[0]
                v = (pos.yes * (yb or 0) + pos.no * (nb or 0)) // CONTRACT
                if v != entry[1]:
                    path._open += v - entry[1]
                    entry[1] = v
                    ts_append(ts)
                    eq_append(portfolio.cash + path._open)
            if tk in active:  # only markets with our resting orders or taken liquidity
                broker_on_book(book)
                if queue:
                    drain()
            if on_book is not None:
                on_book(book)
                if queue:
                    drain()
        self._last_ts = ts

    def _run_book(self, cols) -> None:
        books = self.books
        active = self.broker.active
        broker_on_book = self.broker.on_book
        on_book = self._on_book
        queue = self._queue
        drain = self._drain
        # book whose snapshot rows are being applied: callbacks wait for the end of the group,
        # which may lie in a later chunk (the state lives on the engine between chunks)
        snap_book, snap_ts = self._snap_book, self._snap_ts
        held, mark = self.equity_path.held, self.equity_path.mark
        ts = self._last_ts
        for ts, tk, is_yes, price, size, seq, snapshot in zip(*cols):
            if snap_book is not None and (not snapshot or snap_book.ticker != tk or snap_ts != ts):
                self._book_done(snap_book, active, broker_on_book, on_book)
                snap_book = None
            if ts >= self._next_due:
                self._fire_due(ts)
            self.now = ts
            book = books.get(tk)
            if book is None:
                book = self._book_for(tk)
            book.ts = ts
            if seq is not None:
                book.seq = seq
            if snapshot:
                if snap_book is None:
                    book.clear()
                    snap_book, snap_ts = book, ts
                book.set_level(is_yes, price, size)
                continue
            book.set_level(is_yes, price, size)
            if tk in held:
                mark(book)
            if tk in active:
                broker_on_book(book)
                if queue:
                    drain()
            if on_book is not None:
                on_book(book)
                if queue:
                    drain()
        self._snap_book, self._snap_ts = snap_book, snap_ts
        self._last_ts = ts

    def _flush_snapshot(self) -> None:
        """Deliver a snapshot group that ended because a different chunk kind (or the end) came."""
        book = self._snap_book
        if book is not None:
            self._snap_book = None
            self._book_done(book, self.broker.active, self.broker.on_book, self._on_book)

    def _book_done(self, book, active, broker_on_book, on_book) -> None:
        if book.ticker in self.equity_path.held:
            self.equity_path.mark(book)
        if book.ticker in active:
            broker_on_book(book)
            self._drain()
        if on_book is not None:
            on_book(book)
            self._drain()

    def _run_trades(self, cols) -> None:
        active = self.broker.active
        broker_on_trade = self.broker.on_trade
        on_trade = self._on_trade
        queue = self._queue
        drain = self._drain
        last_trade = self.last_trade
        held, mark_print = self.equity_path.held, self.equity_path.mark_print
        ts = self._last_ts
        for ts, tk, trade_id, yes_price, count, taker_side in zip(*cols):
            if ts >= self._next_due:
                self._fire_due(ts)
            self.now = ts
            last_trade[tk] = yes_price  # one dict store per print: marks for trades-only data
            if tk in held:  # exact equity path (a print moves the mark only without a book)
                mark_print(tk, ts)
            if tk in active or on_trade is not None:
                trade = Trade(ts, tk, trade_id, yes_price, count, taker_side)
                if tk in active:
                    broker_on_trade(trade)
                    if queue:
                        drain()
                if on_trade is not None:
                    on_trade(trade)
                    if queue:
                        drain()
        self._last_ts = ts

    def _run_candles(self, cols) -> None:
        """Bars, each at its end time (never earlier: no intrabar look-ahead). The market's book
        becomes the bar's closing YES bid/ask with unknown sizes; the broker's ``on_bar`` fills
        orders by the bar rule (framework.brokers.bar_fills); then the strategy's ``on_book``
        and ``on_bar``."""
        books = self.books
        active = self.broker.active
        on_book = self._on_book
        on_bar = self._on_bar
        queue = self._queue
        drain = self._drain
        ts = self._last_ts
        for row in zip(*cols):
            ts, tk = row[0], row[1]
            if ts >= self._next_due:
                self._fire_due(ts)
            self.now = ts
            book = books.get(tk)
            if book is None:
                book = self._book_for(tk)
            book.ts = ts
            book.yes_bid, book.no_bid = closing_quote(row[8], row[9])
            book.yes_bid_size = book.no_bid_size = None  # a bar says nothing about displayed sizes
            if tk in self.equity_path.held:  # exact equity path: the mark moved to the bar's close
                self.equity_path.mark(book)
            bar = Bar(*row) if on_bar is not None or tk in active else None
            if tk in active:
                self.broker.on_bar(bar)
                if queue:
                    drain()
            if on_book is not None:
                on_book(book)
                if queue:
                    drain()
            if on_bar is not None:
                on_bar(bar)
                if queue:
                    drain()
        self._last_ts = ts

    def _run_idle(self, cols) -> None:
        for ts in cols[0]:
            if ts >= self._next_due:
                self._fire_due(ts)
            if ts > self.now:
                self.now = ts

    def _run_mixed(self, cols) -> None:
        # rows of several kinds interleaved: dispatch one row at a time through the same code
        ts_col, kind_col, tk_col, a, b, c, d, e = cols
        start = 0
        n = len(ts_col)
        while start < n:
            kind = kind_col[start]
            stop = start + 1
            while stop < n and kind_col[stop] == kind:
                stop += 1
            if kind != BOOK and self._snap_book is not None:
                self._flush_snapshot()
            if kind == QUOTE:
                self._run_quotes((ts_col[start:stop], tk_col[start:stop], a[start:stop], b[start:stop],
                                  c[start:stop], d[start:stop]))
            elif kind == BOOK:
                self._run_book((ts_col[start:stop], tk_col[start:stop], a[start:stop], b[start:stop],
                                c[start:stop], d[start:stop], e[start:stop]))
            else:
                self._run_trades((ts_col[start:stop], tk_col[start:stop], a[start:stop], b[start:stop],
                                  c[start:stop], d[start:stop]))
            start = stop
