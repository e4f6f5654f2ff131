"""Trade momentum: follow sharp moves in the traded price, exit on a target or a stop.

Keeps a short window of trade prints per market. When the last print is ``trigger_cents``
above the oldest in the window, buy YES with a marketable order (``price=None``: an IOC at the
best ask; on Kalshi it goes out as an IOC limit at the visible price). A resting take-profit
sell is placed at entry + ``target_cents``; a timer checks every ``check_every`` and closes the
position with a reduce-only marketable sell when the bid falls ``stop_cents`` below entry.

It shows: ``on_trade``, marketable orders, resting limit orders, ``reduce_only``, timers,
``on_fill``, and ``record`` for custom time series.
"""

from __future__ import annotations

from collections import deque

from framework import CONTRACT, DOLLAR, Strategy, cents


class Momentum(Strategy):
    params = {
        "window": 20,  # trade prints remembered per market
        "trigger_cents": 4,
        "target_cents": 5,
        "stop_cents": 4,
        "qty": 10,  # contracts
        "check_every": "5min",
    }

    def on_start(self) -> None:
        p = self.params
        self.prints: dict[str, deque] = {}
        self.entry: dict[str, int] = {}
        self.trigger = cents(p["trigger_cents"])
        self.target = cents(p["target_cents"])
        self.stop = cents(p["stop_cents"])
        self.qty = p["qty"] * CONTRACT
        self.set_timer("stops", every=p["check_every"])

    def on_trade(self, trade) -> None:
        w = self.prints.get(trade.ticker)
        if w is None:
            w = self.prints[trade.ticker] = deque(maxlen=self.params["window"])
        w.append(trade.yes_price)
        if len(w) < w.maxlen or trade.ticker in self.entry or self.open_orders(trade.ticker):
            return
        if w[-1] - w[0] >= self.trigger and self.position(trade.ticker) == 0:
            self.buy(trade.ticker, self.qty)  # marketable IOC

    def on_fill(self, fill) -> None:
        t = fill.ticker
        if fill.action == "buy" and t not in self.entry:
            self.entry[t] = fill.price
            target = min(fill.price + self.target, DOLLAR - cents(1))
            self.sell(t, self.position(t), price=target, reduce_only=True)
        elif self.position(t) == 0:
            self.entry.pop(t, None)
            self.cancel_all(t)
        self.record("position", self.position(t))

    def on_timer(self, name: str) -> None:
        for t, entry in list(self.entry.items()):
            book = self.book(t)
            if book is None or book.yes_bid is None or self.position(t) <= 0:
                continue
            if book.yes_bid <= entry - self.stop:
                self.cancel_all(t)
                self.sell(t, self.position(t), reduce_only=True)  # marketable exit
