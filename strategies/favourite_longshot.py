"""Favourite-longshot: buy favourites late before close and hold them to settlement.

The favourite-longshot bias: in betting and prediction markets, heavy favourites tend to win a
little more often than their price says and longshots a little less. This strategy buys YES in
markets whose YES ask sits in ``[min_cents, max_cents]`` (favourites by default: 80-95 cents),
only in the last ``window_hours`` before the market closes (when prices carry the most
information), up to ``max_position`` contracts per market, and holds to settlement. Buying NO on
the longshot side of the same market is the same trade: a YES ask at p is a NO bid at $1 - p.
Set ``side = "no"`` to apply the band to NO prices instead.

It shows: time-dependent logic from ``self.markets`` close times (no look-ahead: results and
settlement times are hidden), IOC limits at the visible ask, ``predict`` (the price is scored as
the strategy's probability, so the run reports its calibration) and ``on_settlement``.

Risks: the edge, where it exists, is a few cents per contract and fees take about 1 cent at these
prices; one upset costs the gains of many wins (buying at 90 cents risks 90 to win 10). The
bundled sample is random data: its result says nothing about the bias.
"""

from __future__ import annotations

from framework import CONTRACT, DOLLAR, Strategy, cents, fmt_money
from framework.core.engine import parse_duration


class FavouriteLongshot(Strategy):
    params = {
        "min_cents": 80,  # buy when the ask is within [min_cents, max_cents]
        "max_cents": 95,
        "side": "yes",  # which side's ask the band applies to
        "window_hours": 6,  # only this long before close
        "clip": 5,  # contracts per order
        "max_position": 20,  # contracts per market
    }

    def on_start(self) -> None:
        p = self.params
        if p["side"] not in ("yes", "no"):
            raise ValueError(f"side must be 'yes' or 'no', got {p['side']!r}")
        self.low, self.high = cents(p["min_cents"]), cents(p["max_cents"])
        self.window = parse_duration(f"{p['window_hours']}h")
        self.clip = p["clip"] * CONTRACT
        self.max_pos = p["max_position"] * CONTRACT

    def in_window(self, ticker: str) -> bool:
        close = (self.markets.get(ticker) or {}).get("close_ts")
        return close is not None and close - self.window <= self.now < close

    def on_book(self, book) -> None:
        t = book.ticker
        side = self.params["side"]
        ask = book.yes_ask if side == "yes" else book.no_ask
        if ask is None or not self.low <= ask <= self.high or not self.in_window(t):
            return
        held = self.position(t) if side == "yes" else -self.position(t)
        if held >= self.max_pos or self.open_orders(t):
            return
        self.buy(t, min(self.clip, self.max_pos - held), price=ask, side=side, tif="ioc")
        p_yes = ask / DOLLAR if side == "yes" else 1 - ask / DOLLAR
        self.predict(t, p_yes)  # the price paid, as the strategy's probability of YES

    def on_settlement(self, settlement) -> None:
        if settlement.position:
            self.log.info("%s settled %s: paid %s", settlement.ticker, settlement.result.upper(),
                          fmt_money(settlement.payout))
