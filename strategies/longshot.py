"""Fade longshots: buy NO on markets whose YES trades cheaply, hold to settlement.

Prediction-market prices of unlikely outcomes tend to be too high (the longshot bias). This
strategy buys NO whenever a market's YES ask sits at or below ``max_yes_cents`` (i.e. NO costs at
least ``100 - max_yes_cents`` cents), up to ``max_position`` contracts per market, and holds the
position to settlement. It also records its implied probability with ``predict`` so the run
reports a Brier score.

It shows: reading ``book.yes_ask`` / ``book.no_ask``, buying the NO side with a limit price,
position limits via ``self.position``, and settlement callbacks.
"""

from __future__ import annotations

from framework import CONTRACT, DOLLAR, Strategy, cents, fmt_money


class LongshotFade(Strategy):
    params = {
        "max_yes_cents": 15,  # act when YES is priced at or below this
        "min_yes_cents": 2,  # ...but not when it is nearly settled already
        "clip": 5,  # contracts per order
        "max_position": 20,  # contracts per market
    }

    def on_start(self) -> None:
        p = self.params
        self.max_yes = cents(p["max_yes_cents"])
        self.min_yes = cents(p["min_yes_cents"])
        self.clip = p["clip"] * CONTRACT
        self.max_pos = p["max_position"] * CONTRACT

    def on_book(self, book) -> None:
        yes_bid, no_ask = book.yes_bid, book.no_ask
        if yes_bid is None or not self.min_yes <= yes_bid <= self.max_yes:
            return
        held_no = -self.position(book.ticker)  # NO holdings show as a negative position
        if held_no >= self.max_pos or self.open_orders(book.ticker):
            return
        qty = min(self.clip, self.max_pos - held_no)
        # IOC limit at the visible NO ask: never pay more than what is shown
        self.buy(book.ticker, qty, price=no_ask, side="no", tif="ioc")
        self.predict(book.ticker, (DOLLAR - no_ask) / DOLLAR * 0.5)

    def on_settlement(self, settlement) -> None:
        if settlement.position:
            self.log.info("%s settled %s: paid %s", settlement.ticker, settlement.result.upper(),
                          fmt_money(settlement.payout))
