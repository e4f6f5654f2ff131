"""Market making: quote both sides around a fair value, lean against inventory, flatten before close.

Fair value is the book's mid. The strategy keeps one resting post-only bid (buy YES) and one
resting post-only offer (sell YES, which on Kalshi's single book is a NO bid at $1 - price)
``half_spread_cents`` either side of it, shifted by ``skew_cents`` per contract held so that a
long position quotes lower (sells more readily) and a short one higher. It stops adding on the
side that would take the position past ``max_inventory`` and replaces a quote only when its
price is ``requote_cents`` or more away from where it should be (fewer cancels, and a resting
quote keeps its place in the queue). ``flatten_minutes`` before each market's close it cancels
its quotes and closes the position with a reduce-only marketable order.

It shows: two-sided post-only quoting with ``open_orders``/``cancel``, cancel/replace, inventory
skew, per-market timers from ``self.markets`` close times, and ``reduce_only``.

Risks: adverse selection (quotes fill when the price is about to move through them; a backtest
cannot show how much a real queue would protect you), inventory left when the flatten order
finds no liquidity, and maker fees on series that charge them. Results depend on the fill model:
run it with ``queue_model = "trades"`` or ``"probabilistic"`` and read the run's fidelity notes.
"""

from __future__ import annotations

from framework import CENT, CONTRACT, DOLLAR, Strategy, cents
from framework.core.engine import parse_duration


class MarketMaker(Strategy):
    params = {
        "half_spread_cents": 2,  # distance of each quote from fair value
        "skew_cents": 1,  # quotes move this much per contract held (against the position)
        "qty": 5,  # contracts per quote
        "max_inventory": 20,  # contracts, either way
        "requote_cents": 1,  # replace a quote when it is this far from where it should be
        "flatten_minutes": 30,  # before close: cancel quotes and flatten
    }

    def on_start(self) -> None:
        p = self.params
        self.half = cents(p["half_spread_cents"])
        self.skew = cents(p["skew_cents"])
        self.qty = p["qty"] * CONTRACT
        self.max_inv = p["max_inventory"] * CONTRACT
        self.requote = cents(p["requote_cents"])
        self.flattened: set[str] = set()
        ahead = parse_duration(f"{p['flatten_minutes']}min")
        for ticker, info in self.markets.items():
            if info.get("close_ts") is not None:
                self.set_timer(f"flatten {ticker}", at=max(info["close_ts"] - ahead, info.get("open_ts") or 0))

    def quotes_for(self, book) -> tuple[int | None, int | None]:
        """(bid, offer) YES prices this book and position call for; ``None`` = no quote."""
        fair = book.mid
        if fair is None:
            return None, None
        held = self.position(book.ticker)  # +YES / -NO, qty units
        shift = self.skew * held // CONTRACT
        bid = (fair - self.half - shift) // CENT * CENT  # whole cents, rounded away from the fair value
        offer = -(-(fair + self.half - shift) // CENT) * CENT
        # never cross the book (post-only would be rejected) and stay inside (0, $1)
        bid = min(bid, book.yes_ask - CENT) if book.yes_ask is not None else bid
        offer = max(offer, book.yes_bid + CENT) if book.yes_bid is not None else offer
        bid = bid if CENT <= bid < DOLLAR and held + self.qty <= self.max_inv else None
        offer = offer if CENT <= offer < DOLLAR and held - self.qty >= -self.max_inv else None
        return bid, offer

    def on_book(self, book) -> None:
        t = book.ticker
        if t in self.flattened:
            return
        bid, offer = self.quotes_for(book)
        resting = {o.action: o for o in self.open_orders(t)}
        for action, price in (("buy", bid), ("sell", offer)):
            order = resting.get(action)
            if order is not None:
                if order.status == "pending" or (price is not None and abs(order.price - price) < self.requote):
                    continue  # in flight, or close enough: keep the queue place
                self.cancel(order)
            if price is not None:
                if action == "buy":
                    self.buy(t, self.qty, price=price, post_only=True)
                else:
                    self.sell(t, self.qty, price=price, post_only=True)

    def on_timer(self, name: str) -> None:
        kind, _, ticker = name.partition(" ")
        if kind != "flatten":
            return
        self.flattened.add(ticker)
        self.cancel_all(ticker)
        held = self.position(ticker)
        if held > 0:
            self.sell(ticker, held, reduce_only=True)  # marketable IOC at the bid
        elif held < 0:
            self.sell(ticker, -held, side="no", reduce_only=True)  # sell the NO we hold
