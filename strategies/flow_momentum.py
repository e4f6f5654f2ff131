"""Trade-flow momentum: follow aggressive buying or selling, exit on a timer.

Every public trade on Kalshi has a taker (the side that crossed the spread: ``trade.taker_side``,
``"yes"`` when the taker bought YES). Takers who pay the spread often know something. This
strategy sums the signed taker volume of each market over the last ``window`` (YES takers +,
NO takers -). When the net flow reaches ``threshold`` contracts it buys ``qty`` on the same side
with a marketable IOC (YES on YES flow, NO on NO flow) and sets a timer; after ``hold`` the
position is closed with a reduce-only marketable order. One position per market at a time.

What it needs from the data: **trades with a taker side** (the ``trades`` kind; Kalshi's
``taker_outcome_side``) for the signal, and a book (``book`` or ``quotes``) to trade against.
On a catalog without trades it never trades, so it says so: a warning after
``warn_after_books`` book updates with no trade, and again at the end of the run.

It shows: ``on_trade`` with ``taker_side``, a time window with a deque, timers per position,
marketable entries and ``reduce_only`` exits.

Risks: prints are public after the fact, so the move may be over before the order arrives (try
``[broker] latency``); the exit pays the spread again; a momentum rule on thin markets mostly
buys the top of bursts.
"""

from __future__ import annotations

from collections import deque

from framework import CONTRACT, Strategy
from framework.core.engine import parse_duration


class TradeFlowMomentum(Strategy):
    params = {
        "window": "10min",  # net taker flow over this window
        "threshold": 50,  # contracts of net flow that trigger an entry
        "qty": 5,  # contracts per entry
        "hold": "30min",  # exit after this long
        "warn_after_books": 2000,  # book updates without a single trade before warning
    }

    def on_start(self) -> None:
        p = self.params
        self.window = parse_duration(p["window"])
        self.hold = parse_duration(p["hold"])
        self.threshold = p["threshold"] * CONTRACT
        self.qty = p["qty"] * CONTRACT
        self.flow: dict[str, deque] = {}
        self.net: dict[str, int] = {}
        self.n_trades = 0
        self.n_unsided = 0
        self.n_books = 0
        self.warned = False

    def on_trade(self, trade) -> None:
        self.n_trades += 1
        if trade.taker_side not in ("yes", "no"):
            self.n_unsided += 1  # no aggressor recorded: not a signal
            return
        t = trade.ticker
        signed = trade.count if trade.taker_side == "yes" else -trade.count
        window = self.flow.setdefault(t, deque())
        window.append((trade.ts, signed))
        net = self.net.get(t, 0) + signed
        while window and window[0][0] <= trade.ts - self.window:  # drop prints older than the window
            net -= window.popleft()[1]
        self.net[t] = net
        if self.position(t) != 0 or self.open_orders(t) or abs(net) < self.threshold:
            return
        self.buy(t, self.qty, side="yes" if net > 0 else "no")  # marketable IOC with the flow
        self.set_timer(f"exit {t}", at=self.now + self.hold)

    def on_timer(self, name: str) -> None:
        _, _, t = name.partition(" ")
        held = self.position(t)
        if held > 0:
            self.sell(t, held, reduce_only=True)
        elif held < 0:
            self.sell(t, -held, side="no", reduce_only=True)

    def on_book(self, book) -> None:
        self.n_books += 1
        if not self.warned and self.n_trades == 0 and self.n_books >= self.params["warn_after_books"]:
            self.warned = True
            self.log.warning("%d book updates and no trade yet: this strategy trades on public trades "
                             "(the 'trades' kind with a taker side); check the catalog has them and "
                             "[broker] kinds includes 'trades'", self.n_books)

    def on_stop(self) -> None:
        if self.n_trades == 0:
            self.log.warning("the run had no trades at all, so TradeFlowMomentum never traded: it needs "
                             "the 'trades' kind (with taker_side) in the catalog")
        elif self.n_unsided == self.n_trades:
            self.log.warning("none of the %d trades had a taker side, so TradeFlowMomentum never traded",
                             self.n_trades)
