"""Small strategies for trying paper/live mode on the local exchange (and for the fault tests).

* :class:`QuoteJoiner` (``framework.live.examples:QuoteJoiner``): joins the best YES bid with a
  small resting buy; when filled, offers the position out at ``edge_cents`` above its entry.
  Used by ``backtests/local_live.toml``.
* :class:`OneShot`: on a first run only, sends a marketable buy and a resting buy far below the
  market in each of its markets, then waits. Restarts place nothing, so a test can count orders.
* :class:`LoadGenerator`: submits ``rate`` resting orders per second (1-contract YES bids at
  ``price_cents``, round robin over its markets) until stopped: the load for measuring how many
  orders a stop leaves resting (docs/live-trading.md, "Stop under load").
"""

from __future__ import annotations

from framework import CENT, CONTRACT, DOLLAR, Strategy, cents

__all__ = ["LoadGenerator", "OneShot", "QuoteJoiner"]


class QuoteJoiner(Strategy):
    params = {"qty": 1, "edge_cents": 2, "max_position": 5, "min_interval_s": 1.0}

    def on_reconciled(self, report) -> None:
        self.log.info("reconciled: %s", report)

    def on_start(self) -> None:
        self.qty = self.params["qty"] * CONTRACT
        self.edge = cents(self.params["edge_cents"])
        self.limit = self.params["max_position"] * CONTRACT
        self.gap = int(float(self.params["min_interval_s"]) * 1e9)
        self.acted: dict[str, int] = {}
        self.subscribe(list(self.markets))

    def on_book(self, book) -> None:
        t = book.ticker
        if book.yes_bid is None or book.no_bid is None or self.now - self.acted.get(t, 0) < self.gap:
            return
        self.acted[t] = self.now  # at most one decision per market per min_interval_s
        pos = self.position(t)
        mine = self.open_orders(t)
        buys = [o for o in mine if o.action == "buy"]
        sells = [o for o in mine if o.action == "sell"]
        if pos < self.limit and not buys:
            self.buy(t, self.qty, price=book.yes_bid)
        for o in buys:  # follow the bid when it moves away
            if o.price is not None and o.price < book.yes_bid - cents(2):
                self.cancel(o)
        offered = sum(o.qty - o.filled_qty for o in sells)
        if pos > 0 and offered != pos:
            for o in sells:  # re-offer the whole position in one order
                self.cancel(o)
            if not sells:
                ask = DOLLAR - book.no_bid
                # no reduce_only: the offer is exactly the position held, and Kalshi FIX takes
                # reduce-only on IOC orders only, so a GTC reduce-only offer would not go over FIX
                self.sell(t, pos, price=min(max(book.yes_bid + self.edge, ask), DOLLAR - CENT))


class OneShot(Strategy):
    """First run: one marketable buy of ``qty`` and one resting buy ``below_cents`` under the bid
    per market. Later runs (after a restart) only watch."""

    params = {"qty": 2, "below_cents": 10}

    def on_reconciled(self, report) -> None:
        self.first_run = report.first_run
        self.report = report

    def on_start(self) -> None:
        self.placed: set[str] = set()
        if not hasattr(self, "first_run"):
            self.first_run = True  # paper mode: no reconciliation
        self.subscribe(list(self.markets))

    def on_book(self, book) -> None:
        t = book.ticker
        if not self.first_run or t in self.placed or book.yes_bid is None or book.no_bid is None:
            return
        self.placed.add(t)
        qty = self.params["qty"] * CONTRACT
        self.buy(t, qty)  # marketable: IOC at the visible ask
        low = book.yes_bid - cents(self.params["below_cents"])
        if low >= CENT:
            self.buy(t, qty, price=low)  # rests


class LoadGenerator(Strategy):
    """``rate`` orders per second, evenly over time (on every book update and timer tick the
    orders due since the start go out), each a ``qty``-contract YES bid at ``price_cents``
    (default 1 cent: it rests and never fills), round robin over the markets."""

    params = {"rate": 100, "qty": 1, "price_cents": 1}

    def on_start(self) -> None:
        self.sent = 0
        self.t0: int | None = None
        self.tickers = sorted(self.markets)
        self.subscribe(self.tickers)
        self.set_timer("load", every="20ms")

    def _send_due(self) -> None:
        if self.t0 is None:
            self.t0 = self.now
        due = int((self.now - self.t0) * float(self.params["rate"]) // 1_000_000_000) + 1
        qty, price = int(self.params["qty"]) * CONTRACT, cents(self.params["price_cents"])
        while self.sent < due:
            self.buy(self.tickers[self.sent % len(self.tickers)], qty, price=price)
            self.sent += 1

    def on_book(self, book) -> None:
        self._send_due()

    def on_timer(self, name: str) -> None:
        self._send_due()
