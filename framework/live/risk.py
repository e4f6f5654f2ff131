"""The pre-trade risk gate: ``RiskGate.check(order, engine) -> str | None``.

The engine calls ``check`` before every ``broker.submit``; a returned string denies the order,
which the strategy then sees as a REJECTED order with ``reason = "risk: <text>"``. The gate
reads only engine state (portfolio, open orders, books, market metadata, ``engine.now``), so the
same limits behave the same in a backtest, a paper run and a live run.

Limits (``None`` = off). Quantities are 0.01-contract units, money and prices $0.0001 units:

* ``max_position``: worst-case absolute position per market (current position plus every open
  order on the same side of the market plus this order, as if all filled);
* ``max_event_position``: the same summed over the markets of one event;
* ``max_open_orders``: open (non-terminal) orders at once;
* ``max_notional``: money at risk: cost of open positions plus the cost of open orders plus this
  order (a marketable order is valued at the visible price, or $1 without a book);
* ``max_orders`` per ``rate_window`` ns: order rate (only orders that pass count);
* ``max_daily_loss``: equity (cash + open positions marked at the bid) below the day's first
  equity by this much switches the gate to REDUCING (or HALTED with ``on_daily_loss="halt"``);
  days are UTC days of ``engine.now``; the live runner journals the day's baseline, so a
  restart the same day keeps it (``restore_day``);
* ``max_price_deviation``: a limit may not be through the visible opposite price by more than
  this (a buy above the best ask + deviation, a sell below the best bid - deviation).

States: ``ACTIVE`` (all checks), ``REDUCING`` (only orders that reduce an existing position;
they skip the exposure limits), ``HALTED`` (nothing). ``halt()``/``reduce_only()``/``resume()``
switch them; the kill switch halts.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, fields
from typing import Any

from ..units import DOLLAR, fmt_contracts, fmt_money, fmt_price, notional

__all__ = ["ACTIVE", "HALTED", "REDUCING", "RiskGate", "RiskLimits"]

ACTIVE = "ACTIVE"
REDUCING = "REDUCING"
HALTED = "HALTED"
_DAY_NS = 86_400_000_000_000


@dataclass
class RiskLimits:
    """Risk limits in framework units; ``None`` switches a limit off."""

    max_position: int | None = None
    max_event_position: int | None = None
    max_open_orders: int | None = None
    max_notional: int | None = None
    max_orders: int | None = None
    rate_window: int = 1_000_000_000
    max_daily_loss: int | None = None
    max_price_deviation: int | None = None
    on_daily_loss: str = "reduce"  # "reduce" | "halt"

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "on_daily_loss":
                if v not in ("reduce", "halt"):
                    raise ValueError(f"on_daily_loss must be 'reduce' or 'halt', got {v!r}")
                continue
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
                raise ValueError(f"risk limit {f.name} must be a non-negative int in framework units or None, "
                                 f"got {v!r}")
        if self.rate_window <= 0:
            raise ValueError("rate_window must be a positive number of ns")


def _direction(order) -> int:
    """+1 when the order moves the position toward YES (buy YES / sell NO), -1 toward NO."""
    return 1 if (order.side == "yes") == (order.action == "buy") else -1


class RiskGate:
    """Pre-trade checks in front of any broker (see the module docstring)."""

    def __init__(self, limits: RiskLimits | None = None, **kwargs: Any) -> None:
        if limits is not None and kwargs:
            raise TypeError("pass either a RiskLimits or keyword limits, not both")
        self.limits = limits or RiskLimits(**kwargs)
        self.state = ACTIVE
        self.state_reason: str | None = None
        self._sent: deque[int] = deque()
        self._day: int | None = None
        self.day_start_equity: int | None = None
        self.denials = 0
        self.reducing_markets: dict[str, str] = {}  # ticker -> why only reducing orders pass there
        self.on_state_change = None  # optional callback(state, reason), e.g. the journal
        self.on_new_day = None  # optional callback(day, equity): the live runner journals the baseline

    def restore_day(self, day: int, equity: int) -> None:
        """Resume a day's loss baseline (``day`` = UTC days since the epoch), e.g. from the journal
        after a restart, so that restarting after a loss does not reset the daily-loss limit."""
        self._day, self.day_start_equity = int(day), int(equity)

    # ---- state ---------------------------------------------------------------------------------
    def _set_state(self, state: str, reason: str | None) -> None:
        if state != self.state or reason != self.state_reason:
            self.state = state
            self.state_reason = reason
            if self.on_state_change is not None:
                self.on_state_change(state, reason)

    def halt(self, reason: str = "halted") -> None:
        self._set_state(HALTED, reason)

    def reduce_only(self, reason: str = "reducing") -> None:
        self._set_state(REDUCING, reason)

    def reduce_market(self, ticker: str, reason: str) -> None:
        """REDUCING for one market only (e.g. an order there is unresolved, or the exchange sent an
        implausible report about it); the first reason stays."""
        self.reducing_markets.setdefault(ticker, reason)

    def resume(self) -> None:
        self._set_state(ACTIVE, None)

    # ---- helpers -------------------------------------------------------------------------------
    @staticmethod
    def equity(engine) -> int:
        books = engine.books
        marks = {t: (b.yes_bid, b.no_bid) for t, b in books.items()}
        return engine.portfolio.cash + engine.portfolio.open_value(marks)

    @staticmethod
    def _visible_price(order, engine) -> int | None:
        """Best opposite price on the order's own side: the price a marketable order would pay."""
        book = engine.books.get(order.ticker)
        return None if book is None else book.touch_price(order.side, order.action)

    def _cost(self, order, engine, qty: int) -> int:
        """Cash the order would use if it filled ``qty``: own-leg price (a sell opens the other leg)."""
        price = order.price
        if price is None:
            price = self._visible_price(order, engine)
            if price is None:
                price = DOLLAR if order.action == "buy" else 0
        per = price if order.action == "buy" else DOLLAR - price
        return notional(per, qty)

    def _reduces(self, order, engine) -> bool:
        net = engine.portfolio.net(order.ticker)
        d = _direction(order)
        if net == 0 or (net > 0) == (d > 0):
            return False
        pending = sum(o.qty - o.filled_qty for o in engine.open.values()
                      if o.ticker == order.ticker and _direction(o) == d and o is not order)
        return order.qty + pending <= abs(net)

    def _event_of(self, ticker: str, engine) -> str:
        info = engine.market_info.get(ticker)
        ev = info.get("event_ticker") if info else None
        return ev or ticker.rpartition("-")[0] or ticker

    # ---- the check ----------------------------------------------------------------------------
    def check(self, order, engine) -> str | None:
        reason = self._check(order, engine)
        if reason is None:
            self._sent.append(engine.now)
        else:
            self.denials += 1
        return reason

    def _check(self, order, engine) -> str | None:
        lim = self.limits
        if self.state == HALTED:
            return f"trading halted ({self.state_reason or 'halted'}): no new orders"
        now = engine.now
        if lim.max_daily_loss is not None:
            eq = self.equity(engine)
            day = now // _DAY_NS
            if self._day != day or self.day_start_equity is None:
                self._day, self.day_start_equity = day, eq
                if self.on_new_day is not None:
                    self.on_new_day(day, eq)
            loss = self.day_start_equity - eq
            if loss >= lim.max_daily_loss and self.state == ACTIVE:
                why = f"daily loss {fmt_money(loss)} reached the limit {fmt_money(lim.max_daily_loss)}"
                if lim.on_daily_loss == "halt":
                    self.halt(why)
                    return f"trading halted ({why}): no new orders"
                self.reduce_only(why)
        reduces = self._reduces(order, engine)
        if self.state == REDUCING and not reduces:
            return f"reducing only ({self.state_reason}): order would not reduce a position"
        if order.ticker in self.reducing_markets and not reduces:
            return (f"reducing only in {order.ticker} ({self.reducing_markets[order.ticker]}): "
                    "order would not reduce a position")
        if lim.max_orders is not None:
            sent = self._sent
            while sent and sent[0] <= now - lim.rate_window:
                sent.popleft()
            if len(sent) >= lim.max_orders:
                return (f"order rate limit: {len(sent)} orders in the last "
                        f"{lim.rate_window / 1e9:g} s (max {lim.max_orders})")
        if lim.max_price_deviation is not None and order.price is not None:
            ref = self._visible_price(order, engine)
            if ref is not None:
                dev = lim.max_price_deviation
                if order.action == "buy" and order.price > ref + dev:
                    return (f"price sanity: buy limit {fmt_price(order.price)} is more than {fmt_price(dev)} "
                            f"above the best ask {fmt_price(ref)}")
                if order.action == "sell" and order.price < ref - dev:
                    return (f"price sanity: sell limit {fmt_price(order.price)} is more than {fmt_price(dev)} "
                            f"below the best bid {fmt_price(ref)}")
        if lim.max_open_orders is not None and len(engine.open) >= lim.max_open_orders:
            return f"max open orders: {len(engine.open)} open (max {lim.max_open_orders})"
        if reduces:
            return None
        d = _direction(order)
        if lim.max_position is not None:
            net = engine.portfolio.net(order.ticker)
            pending = sum(o.qty - o.filled_qty for o in engine.open.values()
                          if o.ticker == order.ticker and _direction(o) == d)
            worst = abs(net + d * (pending + order.qty))
            if worst > lim.max_position:
                return (f"max position: {order.ticker} could reach {fmt_contracts(worst)} contracts "
                        f"(max {fmt_contracts(lim.max_position)})")
        if lim.max_event_position is not None:
            event = self._event_of(order.ticker, engine)
            total = order.qty
            tickers = {t for t in engine.portfolio.positions} | {o.ticker for o in engine.open.values()}
            for t in tickers:
                if self._event_of(t, engine) != event:
                    continue
                net = engine.portfolio.net(t)
                up = sum(o.qty - o.filled_qty for o in engine.open.values() if o.ticker == t and _direction(o) > 0)
                down = sum(o.qty - o.filled_qty for o in engine.open.values() if o.ticker == t and _direction(o) < 0)
                total += max(abs(net + up), abs(net - down))
            if total > lim.max_event_position:
                return (f"max event position: event {event} could reach {fmt_contracts(total)} contracts "
                        f"(max {fmt_contracts(lim.max_event_position)})")
        if lim.max_notional is not None:
            at_risk = sum(p.yes_cost + p.no_cost for p in engine.portfolio.positions.values())
            at_risk += sum(self._cost(o, engine, o.qty - o.filled_qty) for o in engine.open.values())
            total = at_risk + self._cost(order, engine, order.qty)
            if total > lim.max_notional:
                return (f"max notional: {fmt_money(total)} at risk with this order "
                        f"(max {fmt_money(lim.max_notional)})")
        return None

    def summary(self) -> dict[str, Any]:
        out = {"state": self.state, "reason": self.state_reason, "denials": self.denials}
        if self.reducing_markets:
            out["reducing_markets"] = dict(self.reducing_markets)
        return out
