"""Matching engine of the local Kalshi-compatible exchange.

One book per market in Kalshi's style: a YES bid ladder and a NO bid ladder. A YES ask at ``p``
is a NO bid at ``DOLLAR - p``; "sell YES at p" is matched as "buy NO at DOLLAR - p" and "sell NO
at q" as "buy YES at DOLLAR - q". An incoming order on leg L at leg price ``c`` matches resting
bids on the other leg whose price is ``>= DOLLAR - c``, best price first, FIFO within a level;
the trade happens at the resting order's price.

All amounts are exact integers (:mod:`framework.units`): prices and money in $0.0001, quantities
in 0.01 contract. Positions are netted per account and market (+YES / -NO); acquiring the leg
opposite to the one held closes pairs, each worth $1.

Accounting is exactly conservative: per fill the maker pays ``notional(maker_price, qty)``
(rounded up) and the taker pays the rest of the pair's $1 value, so
``sum(cash) + fees_collected + $1 x open pairs`` never changes.

The engine is thread-safe (one re-entrant lock) and reports what happens to listeners, called
synchronously while the lock is held, in the order things happened (see :class:`Engine.listeners`).
"""

from __future__ import annotations

import bisect
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from framework.model.fees import ROUNDING_SCHEDULES, balance_round
from framework.units import CENT, CONTRACT, DOLLAR, notional

__all__ = [
    "Account",
    "Engine",
    "EventInfo",
    "ExchangeError",
    "Fill",
    "MarketInfo",
    "Order",
    "SeriesFeeChange",
    "SeriesInfo",
    "SettlementRow",
    "Trade",
    "fee_for",
    "pair_value",
]

TAKER_FEE = Fraction(7, 100)
MAKER_FEE = Fraction(175, 10_000)
TIFS = ("good_till_canceled", "immediate_or_cancel", "fill_or_kill")
STP_TYPES = ("taker_at_cross", "maker")


class ExchangeError(Exception):
    """A request the exchange refuses; ``status``/``code`` map to Kalshi's HTTP error shape."""

    def __init__(self, status: int, code: str, message: str, details: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def pair_value(qty: int) -> int:
    """Money value of ``qty`` quantity units of a YES+NO pair ($1 per contract), always exact."""
    return qty * DOLLAR // CONTRACT  # DOLLAR / CONTRACT == 100


def fee_for(coefficient: Fraction, qty: int, price: int, multiplier: Fraction = Fraction(1)) -> int:
    """Kalshi's quadratic fee ``M * coef * C * P * (1-P)`` rounded up to the next cent, in money units."""
    if coefficient == 0 or qty <= 0:
        return 0
    exact = multiplier * coefficient * Fraction(qty, CONTRACT) * Fraction(price, DOLLAR) * Fraction(DOLLAR - price, DOLLAR)
    cents_ = -((-exact * 100).numerator // (exact * 100).denominator)  # ceil in cents
    return int(cents_) * CENT


@dataclass
class SeriesInfo:
    ticker: str
    title: str = ""
    category: str = "Local"
    frequency: str = "daily"
    fee_type: str = "quadratic"
    fee_multiplier: str = "1"
    tags: list[str] = field(default_factory=list)


@dataclass
class SeriesFeeChange:
    change_id: str
    series_ticker: str
    fee_type: str
    fee_multiplier: str
    scheduled_ms: int


@dataclass
class EventInfo:
    event_ticker: str
    series_ticker: str
    title: str = ""
    sub_title: str = ""
    mutually_exclusive: bool = True
    markets: list[str] = field(default_factory=list)


@dataclass
class MarketInfo:
    ticker: str
    event_ticker: str
    series_ticker: str
    title: str = ""
    yes_sub_title: str = ""
    no_sub_title: str = ""
    created_ms: int = 0
    open_ms: int = 0
    close_ms: int = 0
    settle_ms: int | None = None
    status: str = "active"  # active | closed | settled
    result: str = ""  # "" | yes | no | void | scalar
    settlement_value: int | None = None  # YES payout per contract ($0.0001) once settled; None for void
    last_price: int | None = None
    volume: int = 0
    open_interest: int = 0
    book_version: int = 0  # +1 per book change, lets WS subscribers line up snapshots and deltas
    market_id: str = ""
    tick: int = CENT  # price step (linear_cent)


@dataclass(eq=False)
class Order:
    order_id: str
    account: str
    ticker: str
    side: str  # yes | no (as requested)
    action: str  # buy | sell
    leg: str  # ladder the order lives on: "yes" (buy yes / sell no) or "no" (buy no / sell yes)
    price: int  # price on ``leg``
    initial: int
    client_order_id: str = ""
    tif: str = "good_till_canceled"
    post_only: bool = False
    reduce_only: bool = False
    stp: str = "taker_at_cross"
    expiration_ts: int | None = None
    remaining: int = 0
    filled: int = 0
    status: str = "resting"  # resting | canceled | executed
    created_ms: int = 0
    updated_ms: int = 0
    taker_fill_cost: int = 0
    maker_fill_cost: int = 0
    taker_fees: int = 0
    maker_fees: int = 0
    fee_acc: int = 0  # fee rounding accumulator (framework.model.fees: 2026 $0.000001, 2025 exact total)
    close_claim: int = 0  # part of remaining that will close an opposite position (needs no cash)
    reserved: int = 0  # cash held back for the resting remainder
    last_update_reason: str = ""
    seq: int = 0  # creation sequence (pagination)

    @property
    def yes_price(self) -> int:
        return self.price if self.leg == "yes" else DOLLAR - self.price

    @property
    def outcome_side(self) -> str:
        return self.leg

    @property
    def book_side(self) -> str:
        return "bid" if self.leg == "yes" else "ask"


@dataclass
class Trade:
    trade_id: str
    ticker: str
    yes_price: int
    qty: int
    taker_leg: str  # yes | no: the leg the taker acquired
    ts_ms: int
    seq: int  # global trade sequence number (cursor)


@dataclass
class Fill:
    fill_id: str
    trade_id: str
    order_id: str
    client_order_id: str
    account: str
    ticker: str
    side: str
    action: str
    leg: str
    yes_price: int
    qty: int
    is_taker: bool
    fee: int
    post_position: int
    ts_ms: int
    seq: int


@dataclass
class SettlementRow:
    ticker: str
    event_ticker: str
    result: str
    yes_count: int
    no_count: int
    yes_total_cost: int
    no_total_cost: int
    revenue: int  # money units
    fee_cost: int
    ts_ms: int
    seq: int
    value: int | None = None  # YES payout per contract ($0.0001): $1 / 0 / the scalar value; None for void


@dataclass
class Position:
    qty: int = 0  # + YES / - NO
    cost: int = 0  # money paid for the open contracts
    total_traded: int = 0
    realized_pnl: int = 0
    fees_paid: int = 0
    updated_ms: int = 0


@dataclass
class Account:
    key_id: str
    cash: int
    positions: dict[str, Position] = field(default_factory=dict)
    orders: dict[str, Order] = field(default_factory=dict)  # insertion order = creation order
    fills: list[Fill] = field(default_factory=list)
    settlements: list[SettlementRow] = field(default_factory=list)
    client_ids: set[str] = field(default_factory=set)

    def position(self, ticker: str) -> Position:
        p = self.positions.get(ticker)
        if p is None:
            p = self.positions[ticker] = Position()
        return p

    @property
    def reserved(self) -> int:
        return sum(o.reserved for o in self.orders.values() if o.status == "resting")

    @property
    def available(self) -> int:
        return self.cash - self.reserved


class Ladder:
    """Bids on one leg: price -> FIFO of resting orders, plus aggregated sizes."""

    def __init__(self) -> None:
        self.levels: dict[int, deque[Order]] = {}
        self.sizes: dict[int, int] = {}
        self.prices: list[int] = []  # ascending

    def best(self) -> int | None:
        return self.prices[-1] if self.prices else None

    def add(self, order: Order) -> None:
        q = self.levels.get(order.price)
        if q is None:
            q = self.levels[order.price] = deque()
            self.sizes[order.price] = 0
            bisect.insort(self.prices, order.price)
        q.append(order)
        self.sizes[order.price] += order.remaining

    def change(self, price: int, delta: int) -> None:
        self.sizes[price] += delta

    def remove(self, order: Order, qty: int) -> None:
        """Take ``order`` out (its remaining is ``qty`` before removal)."""
        q = self.levels[order.price]
        q.remove(order)
        self.sizes[order.price] -= qty
        self._drop_if_empty(order.price)

    def _drop_if_empty(self, price: int) -> None:
        if not self.levels[price]:
            del self.levels[price]
            del self.sizes[price]
            i = bisect.bisect_left(self.prices, price)
            del self.prices[i]

    def snapshot(self) -> list[tuple[int, int]]:
        return [(p, self.sizes[p]) for p in self.prices]


class Book:
    def __init__(self) -> None:
        self.yes = Ladder()
        self.no = Ladder()

    def ladder(self, leg: str) -> Ladder:
        return self.yes if leg == "yes" else self.no


Listener = Callable[[dict[str, Any]], None]


def _other(leg: str) -> str:
    return "no" if leg == "yes" else "yes"


class Engine:
    """The exchange's books, accounts and history.

    ``listeners`` receive event dicts (while the engine lock is held, in order):

    * ``{"type": "book", "ticker", "side", "price", "delta", "version", "ts_ms", "account", "client_order_id"}``
    * ``{"type": "trade", "trade": Trade}``
    * ``{"type": "fill", "fill": Fill}``
    * ``{"type": "order", "order": Order}``
    * ``{"type": "market", "ticker", "event": "settled"|"closed", ...}``
    """

    def __init__(
        self,
        *,
        taker_fee: Fraction | str = TAKER_FEE,
        maker_fee: Fraction | str = MAKER_FEE,
        starting_balance: int = 10_000 * DOLLAR,
        clock: Callable[[], int] | None = None,
        id_seed: int | None = None,
        fee_rounding: str = "2026",
        balance_precision: int = CENT,
    ) -> None:
        self.lock = threading.RLock()
        self.taker_fee = Fraction(taker_fee)
        self.maker_fee = Fraction(maker_fee)
        if fee_rounding not in ROUNDING_SCHEDULES:
            raise ValueError(f"fee_rounding must be one of {', '.join(ROUNDING_SCHEDULES)}, got {fee_rounding!r}")
        # the simulated broker's rule (framework.model.fees), so backtest, paper and local-live agree
        self.fee_rounding = fee_rounding
        self.balance_precision = balance_precision
        self.starting_balance = starting_balance
        self.clock = clock or (lambda: int(time.time() * 1000))
        self._ids = random.Random(id_seed)
        self.series: dict[str, SeriesInfo] = {}
        self.events: dict[str, EventInfo] = {}
        self.markets: dict[str, MarketInfo] = {}
        self.books: dict[str, Book] = {}
        self.accounts: dict[str, Account] = {}
        self.orders: dict[str, Order] = {}
        self.trades: list[Trade] = []
        self.fees_collected = 0
        # scheduled fee changes (GET /series/fee_changes): applied to fills from their time on
        self.fee_changes: list[SeriesFeeChange] = []
        self.listeners: list[Listener] = []
        self._seq = 0
        self.trading_active = True

    # ------------------------------------------------------------------ setup
    def new_id(self) -> str:
        with self.lock:
            return str(uuid.UUID(int=self._ids.getrandbits(128), version=4))

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def add_series(self, s: SeriesInfo) -> None:
        with self.lock:
            self.series[s.ticker] = s

    def add_fee_change(self, c: SeriesFeeChange) -> None:
        with self.lock:
            self.fee_changes.append(c)
            self.fee_changes.sort(key=lambda x: (x.scheduled_ms, x.change_id))

    def add_event(self, e: EventInfo) -> None:
        with self.lock:
            self.events[e.event_ticker] = e

    def add_market(self, m: MarketInfo) -> None:
        with self.lock:
            if m.series_ticker not in self.series:
                self.add_series(SeriesInfo(ticker=m.series_ticker, title=m.series_ticker))
            ev = self.events.get(m.event_ticker)
            if ev is None:
                ev = EventInfo(event_ticker=m.event_ticker, series_ticker=m.series_ticker, title=m.event_ticker)
                self.add_event(ev)
            if m.ticker not in ev.markets:
                ev.markets.append(m.ticker)
            if not m.market_id:
                m.market_id = self.new_id()
            now = self.clock()
            m.created_ms = m.created_ms or now
            m.open_ms = m.open_ms or now
            m.close_ms = m.close_ms or now + 30 * 86_400_000
            self.markets[m.ticker] = m
            self.books[m.ticker] = Book()

    def account(self, key_id: str) -> Account:
        with self.lock:
            a = self.accounts.get(key_id)
            if a is None:
                a = self.accounts[key_id] = Account(key_id=key_id, cash=self.starting_balance)
            return a

    def emit(self, event: dict[str, Any]) -> None:
        for fn in list(self.listeners):
            try:
                fn(event)
            except Exception:  # a broken listener must not break matching
                import logging

                logging.getLogger(__name__).exception("exchange listener failed")

    # ------------------------------------------------------------------ fees
    def _fee_params(self, ticker: str) -> tuple[Fraction, Fraction]:
        m = self.markets[ticker]
        s = self.series.get(m.series_ticker)
        fee_type, mult = (s.fee_type, Fraction(s.fee_multiplier)) if s else ("quadratic", Fraction(1))
        if self.fee_changes:  # the latest change in force now wins over the series' value
            now = self.clock()
            for c in self.fee_changes:
                if c.series_ticker == m.series_ticker and c.scheduled_ms <= now:
                    fee_type, mult = c.fee_type, Fraction(c.fee_multiplier)
        maker = self.maker_fee if fee_type == "quadratic_with_maker_fees" else Fraction(0)
        return mult, maker

    def taker_fee_for(self, ticker: str, qty: int, price: int) -> int:
        mult, _ = self._fee_params(ticker)
        return fee_for(self.taker_fee, qty, price, mult)

    def maker_fee_for(self, ticker: str, qty: int, price: int) -> int:
        mult, maker = self._fee_params(ticker)
        return fee_for(maker, qty, price, mult)

    def _fill_fee(self, o: Order, is_taker: bool, qty: int, price: int, cost: int) -> int:
        """Fee of one fill of ``o`` (``qty`` of its leg at ``price`` for ``cost``), by Kalshi's rule.

        2026: trade fee up to $0.0001, balance change floored to the precision, the order's
        accumulator refunding whole cents (``framework.model.fees.balance_round``); 2025: the
        order's running total rounded up to the cent."""
        mult, maker = self._fee_params(o.ticker)
        coef = self.taker_fee if is_taker else maker
        exact = mult * coef * Fraction(qty, CONTRACT) * Fraction(price, DOLLAR) * Fraction(DOLLAR - price, DOLLAR)
        if self.fee_rounding == "2025":
            total = o.fee_acc + exact * DOLLAR * CONTRACT  # exact running total, $0.000001
            o.fee_acc = total
            charged = -((-total) // (CENT * CONTRACT)) * CENT
            return int(charged) - o.taker_fees - o.maker_fees
        trade = int(-((-exact * DOLLAR) // 1))  # up to $0.0001
        change, rebate, o.fee_acc = balance_round(-price * qty, trade, o.fee_acc, self.balance_precision)
        return -cost - change - rebate

    # ------------------------------------------------------------------ queries
    def market(self, ticker: str) -> MarketInfo:
        m = self.markets.get(ticker)
        if m is None:
            raise ExchangeError(404, "not_found", "market not found", f"no market {ticker!r}")
        return m

    def get_order(self, account: str, order_id: str) -> Order:
        with self.lock:
            o = self.orders.get(order_id)
            if o is None or o.account != account:
                raise ExchangeError(404, "not_found", "order not found", f"no order {order_id!r}")
            return o

    def orderbook(self, ticker: str, depth: int = 0) -> tuple[list[tuple[int, int]], list[tuple[int, int]], int]:
        """``(yes_levels, no_levels, version)``, each ascending by price (best last)."""
        with self.lock:
            self.market(ticker)
            b = self.books[ticker]
            yes, no = b.yes.snapshot(), b.no.snapshot()
            if depth and depth > 0:
                yes, no = yes[-depth:], no[-depth:]
            return yes, no, self.markets[ticker].book_version

    def top(self, ticker: str) -> dict[str, int | None]:
        """Best YES bid/ask with sizes (ask derived from the NO ladder)."""
        with self.lock:
            b = self.books[ticker]
            yb, nb = b.yes.best(), b.no.best()
            return {
                "yes_bid": yb,
                "yes_bid_size": b.yes.sizes[yb] if yb is not None else 0,
                "yes_ask": DOLLAR - nb if nb is not None else None,
                "yes_ask_size": b.no.sizes[nb] if nb is not None else 0,
            }

    # ------------------------------------------------------------------ book events
    def _book_event(self, ticker: str, leg: str, price: int, delta: int, order: Order | None) -> None:
        if delta == 0:
            return
        m = self.markets[ticker]
        m.book_version += 1
        self.emit(
            {
                "type": "book",
                "ticker": ticker,
                "side": leg,
                "price": price,
                "delta": delta,
                "version": m.book_version,
                "ts_ms": self.clock(),
                "account": order.account if order else None,
                "client_order_id": order.client_order_id if order else "",
            }
        )

    def _order_event(self, order: Order, reason: str) -> None:
        order.last_update_reason = reason
        order.updated_ms = self.clock()
        self.emit({"type": "order", "order": order})

    # ------------------------------------------------------------------ orders
    @staticmethod
    def leg_of(side: str, action: str) -> str:
        return "yes" if (side, action) in (("yes", "buy"), ("no", "sell")) else "no"

    def _closable(self, acct: Account, ticker: str, leg: str, exclude: Order | None = None) -> int:
        """How much of an order acquiring ``leg`` would close an opposite position (not yet claimed)."""
        pos = acct.positions.get(ticker)
        held = 0
        if pos is not None:
            held = -pos.qty if leg == "yes" else pos.qty
        held = max(0, held)
        claimed = sum(
            o.close_claim
            for o in acct.orders.values()
            if o.status == "resting" and o.ticker == ticker and o.leg == leg and o is not exclude
        )
        return max(0, held - claimed)

    def _reserve_for(self, o: Order, taker: bool) -> int:
        need = notional(o.price, max(0, o.remaining - o.close_claim))
        if taker:
            need += self.taker_fee_for(o.ticker, o.remaining, o.price)
        else:
            need += self.maker_fee_for(o.ticker, o.remaining, o.price)
        return need

    def place_order(
        self,
        account: str,
        ticker: str,
        side: str,
        action: str,
        price: int,
        qty: int,
        *,
        client_order_id: str = "",
        tif: str = "good_till_canceled",
        post_only: bool = False,
        reduce_only: bool = False,
        stp: str = "taker_at_cross",
        expiration_ts: int | None = None,
        buy_max_cost: int | None = None,
    ) -> Order:
        """Place a limit order. ``price`` is on the requested ``side`` (a NO price for side=no).

        Raises :class:`ExchangeError` for rejections. Returns the order (its status tells whether
        it rests, was executed, or was canceled by IOC/FOK/self-trade prevention).
        """
        with self.lock:
            if side not in ("yes", "no"):
                raise ExchangeError(400, "invalid_order", "invalid order", "side must be 'yes' or 'no'")
            if action not in ("buy", "sell"):
                raise ExchangeError(400, "invalid_order", "invalid order", "action must be 'buy' or 'sell'")
            if tif not in TIFS:
                raise ExchangeError(400, "invalid_order", "invalid order", f"time_in_force must be one of {TIFS}")
            if stp not in STP_TYPES:
                raise ExchangeError(400, "invalid_order", "invalid order", f"self_trade_prevention_type must be one of {STP_TYPES}")
            if not (0 < price < DOLLAR):
                raise ExchangeError(400, "invalid_price", "invalid price", "price must be strictly between 0 and 1 dollar")
            if qty <= 0:
                raise ExchangeError(400, "invalid_order", "invalid order", "count must be at least 0.01")
            m = self.market(ticker)
            if price % m.tick:
                raise ExchangeError(400, "invalid_price", "invalid price", f"price is not a multiple of the market's tick ({m.tick / DOLLAR})")
            if m.status != "active" or not self.trading_active:
                raise ExchangeError(400, "market_closed", "market is not open for trading", f"market {ticker} is {m.status}")
            acct = self.account(account)
            if client_order_id and client_order_id in acct.client_ids:
                raise ExchangeError(409, "order_already_exists", "duplicate client_order_id", client_order_id)
            if buy_max_cost is not None:
                tif = "fill_or_kill"
            leg = self.leg_of(side, action)
            leg_price = price if leg == side else DOLLAR - price
            now = self.clock()
            o = Order(
                order_id=self.new_id(),
                account=account,
                ticker=ticker,
                side=side,
                action=action,
                leg=leg,
                price=leg_price,
                initial=qty,
                remaining=qty,
                client_order_id=client_order_id or "",
                tif=tif,
                post_only=post_only,
                reduce_only=reduce_only,
                stp=stp,
                expiration_ts=expiration_ts,
                created_ms=now,
                updated_ms=now,
            )
            book = self.books[ticker]
            opp = book.ladder(_other(leg))
            best = opp.best()
            crosses = best is not None and best >= DOLLAR - leg_price
            if post_only and crosses:
                raise ExchangeError(400, "invalid_order", "post only order would cross", "post_only order crosses the book")
            if reduce_only:
                pos = acct.positions.get(ticker)
                held = max(0, (-pos.qty if leg == "yes" else pos.qty)) if pos else 0
                if held <= 0:
                    raise ExchangeError(400, "invalid_order", "reduce only order would increase position", "no position to reduce")
                o.remaining = o.initial = min(qty, held)
            o.close_claim = min(o.remaining, self._closable(acct, ticker, leg))
            need = self._reserve_for(o, taker=True)
            if buy_max_cost is not None and notional(leg_price, o.remaining) > buy_max_cost:
                raise ExchangeError(400, "invalid_order", "invalid order", "buy_max_cost below the order's cost")
            if need > acct.available:
                raise ExchangeError(400, "insufficient_balance", "insufficient balance", f"order needs {need} units, {acct.available} available")
            if tif == "fill_or_kill" and self._fillable(o, opp) < o.remaining:
                if client_order_id:
                    acct.client_ids.add(client_order_id)
                self._register(acct, o)
                self._finish(o, "canceled", "FillOrKillCancel")
                return o
            if client_order_id:
                acct.client_ids.add(client_order_id)
            self._register(acct, o)
            self._match(acct, o)
            self._after_match(o)
            return o

    def _register(self, acct: Account, o: Order) -> None:
        o.seq = self._next_seq()
        acct.orders[o.order_id] = o
        self.orders[o.order_id] = o

    def _finish(self, o: Order, status: str, reason: str) -> None:
        o.status = status
        o.reserved = 0
        o.close_claim = 0
        self._order_event(o, reason)

    def _after_match(self, o: Order) -> None:
        if o.status != "resting":
            return
        if o.remaining == 0:
            self._finish(o, "executed", "Trade")
        elif o.tif in ("immediate_or_cancel", "fill_or_kill"):
            o.remaining = 0
            self._finish(o, "canceled", "ImmediateOrCancel")
        else:
            acct = self.accounts[o.account]
            o.close_claim = min(o.remaining, self._closable(acct, o.ticker, o.leg, exclude=o))
            o.reserved = self._reserve_for(o, taker=False)
            self.books[o.ticker].ladder(o.leg).add(o)
            self._book_event(o.ticker, o.leg, o.price, o.remaining, o)
            self._order_event(o, "Placed" if o.filled == 0 else "Trade")

    def _fillable(self, o: Order, opp: Ladder) -> int:
        total = 0
        for p in reversed(opp.prices):
            if p < DOLLAR - o.price:
                break
            for r in opp.levels[p]:
                if r.account == o.account:
                    if o.stp == "taker_at_cross":
                        return total
                    continue
                total += r.remaining
                if total >= o.remaining:
                    return total
        return total

    def _reduce_cap(self, acct: Account, o: Order) -> int:
        if not o.reduce_only:
            return o.remaining
        pos = acct.positions.get(o.ticker)
        held = max(0, (-pos.qty if o.leg == "yes" else pos.qty)) if pos else 0
        return min(o.remaining, held)

    def _match(self, acct: Account, o: Order) -> None:
        opp = self.books[o.ticker].ladder(_other(o.leg))
        while o.remaining > 0:
            best = opp.best()
            if best is None or best < DOLLAR - o.price:
                break
            maker = opp.levels[best][0]
            if maker.account == o.account:
                if o.stp == "taker_at_cross":
                    o.remaining = 0
                    self._finish(o, "canceled", "SelfTradeCancel")
                    return
                self._cancel_resting(maker, "SelfTradeCancel")
                continue
            qty = min(self._reduce_cap(acct, o), maker.remaining)
            if qty <= 0:  # reduce-only order has nothing left to reduce
                o.remaining = 0
                self._finish(o, "canceled", "ReduceOnlyCancel")
                return
            self._execute(o, maker, qty)

    def _execute(self, taker: Order, maker: Order, qty: int) -> None:
        ticker = taker.ticker
        m = self.markets[ticker]
        now = self.clock()
        maker_price = maker.price
        taker_price = DOLLAR - maker_price
        yes_price = maker_price if maker.leg == "yes" else taker_price
        maker_cost = notional(maker_price, qty)
        taker_cost = pair_value(qty) - maker_cost
        maker_fee = self._fill_fee(maker, False, qty, maker_price, maker_cost)
        taker_fee = self._fill_fee(taker, True, qty, taker_price, taker_cost)
        # book: the maker's level shrinks
        ladder = self.books[ticker].ladder(maker.leg)
        maker.remaining -= qty
        maker.filled += qty
        maker.maker_fill_cost += maker_cost
        maker.maker_fees += maker_fee
        if maker.remaining == 0:
            ladder.levels[maker_price].popleft()
            ladder.sizes[maker_price] -= qty
            ladder._drop_if_empty(maker_price)
        else:
            ladder.change(maker_price, -qty)
        self._book_event(ticker, maker.leg, maker_price, -qty, maker)
        taker.remaining -= qty
        taker.filled += qty
        taker.taker_fill_cost += taker_cost
        taker.taker_fees += taker_fee
        trade = Trade(self.new_id(), ticker, yes_price, qty, taker.leg, now, self._next_seq())
        self.trades.append(trade)
        m.last_price = yes_price
        m.volume += qty
        t_acct, m_acct = self.accounts[taker.account], self.accounts[maker.account]
        self._apply(t_acct, ticker, taker.leg, taker_cost, qty, taker_fee, now)
        self._apply(m_acct, ticker, maker.leg, maker_cost, qty, maker_fee, now)
        # maker reservation follows its remaining size
        maker.close_claim = max(0, maker.close_claim - qty)
        maker.close_claim = min(maker.close_claim, maker.remaining)
        maker.reserved = self._reserve_for(maker, taker=False) if maker.remaining else 0
        m.open_interest = sum(max(0, a.positions[ticker].qty) for a in self.accounts.values() if ticker in a.positions)
        self.emit({"type": "trade", "trade": trade})
        for acct, order, is_taker, fee in ((m_acct, maker, False, maker_fee), (t_acct, taker, True, taker_fee)):
            f = Fill(
                fill_id=trade.trade_id,
                trade_id=trade.trade_id,
                order_id=order.order_id,
                client_order_id=order.client_order_id,
                account=acct.key_id,
                ticker=ticker,
                side=order.side,
                action=order.action,
                leg=order.leg,
                yes_price=yes_price,
                qty=qty,
                is_taker=is_taker,
                fee=fee,
                post_position=acct.positions[ticker].qty,
                ts_ms=now,
                seq=self._next_seq(),
            )
            acct.fills.append(f)
            self.emit({"type": "fill", "fill": f})
        if maker.remaining == 0:
            self._finish(maker, "executed", "Trade")
        else:
            self._order_event(maker, "Trade")

    def _apply(self, acct: Account, ticker: str, leg: str, cost: int, qty: int, fee: int, now: int) -> None:
        """Account ``acct`` acquires ``qty`` of ``leg`` paying ``cost`` plus ``fee``; nets pairs."""
        pos = acct.position(ticker)
        acct.cash -= cost + fee
        self.fees_collected += fee
        pos.fees_paid += fee
        pos.total_traded += cost
        pos.updated_ms = now
        held_opp = -pos.qty if leg == "yes" else pos.qty  # contracts of the other leg held
        netted = min(qty, max(0, held_opp))
        if netted:
            credit = pair_value(netted)
            acct.cash += credit
            closed_cost = pos.cost * netted // held_opp
            new_cost_part = cost * netted // qty
            pos.realized_pnl += credit - closed_cost - new_cost_part
            pos.cost -= closed_cost
            cost -= new_cost_part
        pos.cost += cost
        pos.qty += qty if leg == "yes" else -qty
        if pos.qty == 0:
            pos.realized_pnl -= pos.cost  # leftover rounding
            pos.cost = 0

    # ------------------------------------------------------------------ cancel / decrease / amend
    def _cancel_resting(self, o: Order, reason: str) -> int:
        reduced = o.remaining
        if o.status == "resting" and reduced > 0:
            self.books[o.ticker].ladder(o.leg).remove(o, reduced)
            o.remaining = 0
            self._book_event(o.ticker, o.leg, o.price, -reduced, o)
        if o.status == "resting":
            self._finish(o, "canceled", reason)
        return reduced

    def cancel_order(self, account: str, order_id: str) -> tuple[Order, int]:
        with self.lock:
            o = self.get_order(account, order_id)
            if o.status != "resting":
                return o, 0
            return o, self._cancel_resting(o, "Cancel")

    def decrease_order(self, account: str, order_id: str, *, reduce_by: int | None = None, reduce_to: int | None = None) -> Order:
        with self.lock:
            if (reduce_by is None) == (reduce_to is None):
                raise ExchangeError(400, "invalid_parameters", "invalid parameters", "exactly one of reduce_by or reduce_to")
            o = self.get_order(account, order_id)
            if o.status != "resting":
                raise ExchangeError(400, "invalid_order", "order is not resting", f"order {order_id} is {o.status}")
            if reduce_by is not None:
                if reduce_by <= 0:
                    raise ExchangeError(400, "invalid_parameters", "invalid parameters", "reduce_by must be positive")
                new_remaining = max(0, o.remaining - reduce_by)
            else:
                assert reduce_to is not None
                if reduce_to < 0 or reduce_to > o.remaining:
                    raise ExchangeError(400, "invalid_parameters", "invalid parameters", "reduce_to must be between 0 and the remaining count")
                new_remaining = reduce_to
            self._shrink(o, new_remaining, "Decrease")
            return o

    def _shrink(self, o: Order, new_remaining: int, reason: str) -> None:
        if new_remaining <= 0:
            self._cancel_resting(o, reason)
            return
        delta = new_remaining - o.remaining
        if delta == 0:
            return
        self.books[o.ticker].ladder(o.leg).change(o.price, delta)
        o.remaining = new_remaining
        o.close_claim = min(o.close_claim, o.remaining)
        o.reserved = self._reserve_for(o, taker=False)
        self._book_event(o.ticker, o.leg, o.price, delta, o)
        self._order_event(o, reason)

    def amend_order(
        self,
        account: str,
        order_id: str,
        *,
        side: str,
        action: str,
        price: int,
        count: int,
        updated_client_order_id: str | None = None,
    ) -> tuple[Order, Order]:
        """Amend price and/or size. ``count`` = filled + desired remaining (Kalshi's convention).

        Returns ``(old_order_copy, order)``. A pure size decrease keeps queue priority; any price
        change or size increase re-queues the order (and may match immediately).
        """
        import copy

        with self.lock:
            o = self.get_order(account, order_id)
            if o.status != "resting":
                raise ExchangeError(400, "invalid_order", "order is not resting", f"order {order_id} is {o.status}")
            if side != o.side or action != o.action:
                raise ExchangeError(400, "invalid_order", "invalid order", "side and action must match the order")
            if not (0 < price < DOLLAR):
                raise ExchangeError(400, "invalid_price", "invalid price", "price must be strictly between 0 and 1 dollar")
            if price % self.markets[o.ticker].tick:
                raise ExchangeError(400, "invalid_price", "invalid price", "price is not a multiple of the market's tick")
            new_remaining = count - o.filled
            if new_remaining <= 0:
                raise ExchangeError(400, "invalid_order", "invalid order", "count must exceed the filled count")
            old = copy.copy(o)
            leg_price = price if o.leg == side else DOLLAR - price
            acct = self.accounts[account]
            if updated_client_order_id and updated_client_order_id != o.client_order_id:
                if updated_client_order_id in acct.client_ids:
                    raise ExchangeError(409, "order_already_exists", "duplicate client_order_id", updated_client_order_id)
                acct.client_ids.add(updated_client_order_id)
                o.client_order_id = updated_client_order_id
            if leg_price == o.price and new_remaining <= o.remaining:
                o.initial = count
                self._shrink(o, new_remaining, "Amend")
                return old, o
            # re-queue: take it off the book, check balance, match as a new taker
            ladder = self.books[o.ticker].ladder(o.leg)
            ladder.remove(o, o.remaining)
            self._book_event(o.ticker, o.leg, o.price, -o.remaining, o)
            o.reserved = 0
            o.close_claim = 0
            prev_price, prev_remaining = o.price, o.remaining
            o.price, o.remaining = leg_price, new_remaining
            o.close_claim = min(o.remaining, self._closable(acct, o.ticker, o.leg, exclude=o))
            opp = self.books[o.ticker].ladder(_other(o.leg))
            best = opp.best()
            crosses = best is not None and best >= DOLLAR - leg_price
            need = self._reserve_for(o, taker=True)
            if need > acct.available or (o.post_only and crosses):
                # put it back untouched
                o.price, o.remaining = prev_price, prev_remaining
                o.close_claim = min(o.remaining, self._closable(acct, o.ticker, o.leg, exclude=o))
                o.reserved = self._reserve_for(o, taker=False)
                ladder.add(o)
                self._book_event(o.ticker, o.leg, o.price, o.remaining, o)
                if o.post_only and crosses:
                    raise ExchangeError(400, "invalid_order", "post only order would cross", "amended post_only order crosses the book")
                raise ExchangeError(400, "insufficient_balance", "insufficient balance", "amended order needs more cash")
            o.initial = o.filled + new_remaining
            self._match(acct, o)
            if o.status == "resting":
                if o.remaining == 0:
                    self._finish(o, "executed", "Trade")
                else:
                    o.close_claim = min(o.remaining, self._closable(acct, o.ticker, o.leg, exclude=o))
                    o.reserved = self._reserve_for(o, taker=False)
                    ladder.add(o)
                    self._book_event(o.ticker, o.leg, o.price, o.remaining, o)
                    self._order_event(o, "Amend")
            return old, o

    def expire_orders(self, now_ms: int | None = None) -> int:
        """Cancel resting orders whose ``expiration_ts`` (Unix s) has passed; returns how many."""
        with self.lock:
            now_s = (self.clock() if now_ms is None else now_ms) // 1000
            due = [o for o in self.orders.values() if o.status == "resting" and o.expiration_ts and o.expiration_ts <= now_s]
            for o in due:
                self._cancel_resting(o, "ExpiryCancel")
            return len(due)

    # ------------------------------------------------------------------ market lifecycle
    def close_market(self, ticker: str) -> None:
        """Stop trading (status ``closed``) and cancel resting orders."""
        with self.lock:
            m = self.market(ticker)
            if m.status != "active":
                return
            self._cancel_all(ticker, "CloseCancel")
            m.status = "closed"
            m.close_ms = min(m.close_ms, self.clock())
            self.emit({"type": "market", "ticker": ticker, "event": "closed", "ts_ms": self.clock()})

    def _cancel_all(self, ticker: str, reason: str) -> None:
        book = self.books[ticker]
        for ladder in (book.yes, book.no):
            for p in list(ladder.prices):
                for o in list(ladder.levels.get(p, ())):
                    self._cancel_resting(o, reason)

    def settle(self, ticker: str, result: str, value: int | None = None) -> list[SettlementRow]:
        """Settle ``ticker`` and cancel its orders: ``"yes"``/``"no"`` pay $1 per winning contract,
        ``"void"`` returns each position's cost, ``"scalar"`` pays ``value`` ($0.0001 units) per
        YES contract and ``DOLLAR - value`` per NO contract (rounded down)."""
        with self.lock:
            if result not in ("yes", "no", "void", "scalar"):
                raise ValueError("result must be 'yes', 'no', 'void' or 'scalar'")
            if result == "scalar" and (type(value) is not int or not 0 <= value <= DOLLAR):
                raise ValueError(f"a scalar result needs value in [0, {DOLLAR}] ($0.0001 units)")
            m = self.market(ticker)
            if m.status == "settled":
                raise ExchangeError(400, "market_settled", "market already settled", ticker)
            self._cancel_all(ticker, "CloseCancel")
            now = self.clock()
            rows = []
            for acct in self.accounts.values():
                pos = acct.positions.get(ticker)
                if pos is None:
                    continue
                yes_cnt, no_cnt = max(0, pos.qty), max(0, -pos.qty)
                if result == "void":
                    revenue = pos.cost
                elif result == "scalar":
                    revenue = yes_cnt * value // CONTRACT + no_cnt * (DOLLAR - value) // CONTRACT
                else:
                    revenue = pair_value(yes_cnt if result == "yes" else no_cnt)
                acct.cash += revenue
                row = SettlementRow(
                    ticker=ticker,
                    event_ticker=m.event_ticker,
                    result=result,
                    yes_count=yes_cnt,
                    no_count=no_cnt,
                    yes_total_cost=pos.cost if yes_cnt else 0,
                    no_total_cost=pos.cost if no_cnt else 0,
                    revenue=revenue,
                    fee_cost=0,
                    ts_ms=now,
                    seq=self._next_seq(),
                    value={"yes": DOLLAR, "no": 0, "scalar": value}.get(result),
                )
                pos.realized_pnl += revenue - pos.cost
                pos.qty = 0
                pos.cost = 0
                pos.updated_ms = now
                acct.settlements.append(row)
                rows.append(row)
            m.status = "settled"
            m.result = result
            m.settlement_value = {"yes": DOLLAR, "no": 0, "scalar": value}.get(result)
            m.settle_ms = now
            m.close_ms = min(m.close_ms, now)
            m.open_interest = 0
            self.emit({"type": "market", "ticker": ticker, "event": "settled", "result": result, "ts_ms": now})
            return rows

    # ------------------------------------------------------------------ invariants (tests)
    def total_value(self) -> int:
        """``sum(cash) + fees_collected + $1 x open pairs``: constant under trading and settlement."""
        with self.lock:
            cash = sum(a.cash for a in self.accounts.values())
            pairs = sum(max(0, p.qty) for a in self.accounts.values() for p in a.positions.values())
            return cash + self.fees_collected + pair_value(pairs)
