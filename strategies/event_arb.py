"""Event arbitrage: trade a whole event's basket when its YES prices do not add up to $1.

In an event whose markets are mutually exclusive and exhaustive (exactly one settles YES, like
the temperature brackets of ``KXHIGHNY-26NOV20``), one YES contract of every market pays exactly
$1 at settlement. So:

* **buy the basket** when the YES asks sum to less than $1 minus the taker fees: buy one YES of
  every market, collect $1;
* **sell the basket** when the YES bids sum to more than $1 plus the fees: sell one YES of every
  market. On Kalshi's single book selling YES you do not hold opens NO at $1 - bid, and a NO of
  every market but the winner pays: the basket costs ``n - sum(bids)`` and pays ``n - 1``.

The size is the smallest size displayed across the legs (capped by ``max_qty``), so the basket
never asks for more than the book shows. Orders are IOC limits at the visible prices.

It shows: subscribing to a whole event (``self.markets`` carries each market's
``event_ticker``), reading several books at once with ``self.book``, Kalshi's YES/NO mechanics,
and fees in the decision (``framework.model.fees.fee_for``, Kalshi's formula rounded up to the
cent per order: never less than what the fill will pay).

Risks: **legging** (some legs fill, others do not, because a price moved or the size was
taken; the position is then directional until settlement), an event that is not exhaustive (if
no market settles YES a bought basket pays nothing; set ``exhaustive = false`` to only sell),
and fees on a basket of many cheap legs. Backtests fill at the displayed sizes, assuming nobody
took them first.
"""

from __future__ import annotations

from framework import CONTRACT, DOLLAR, Strategy, cents, fmt_money
from framework.model.fees import fee_for
from framework.units import notional


class EventArbitrage(Strategy):
    params = {
        "min_edge_cents": 1,  # profit per basket after fees, at least
        "max_qty": 10,  # contracts per leg and basket
        "max_baskets": 5,  # baskets per event over the run
        "taker_fee": "0.07",  # coefficient used to price the fees in the decision
        "exhaustive": True,  # exactly one market of each event settles YES
    }

    def on_start(self) -> None:
        p = self.params
        self.min_edge = cents(p["min_edge_cents"])
        self.max_qty = p["max_qty"] * CONTRACT
        self.events: dict[str, list[str]] = {}
        for ticker, info in sorted(self.markets.items()):
            self.events.setdefault(info["event_ticker"] or ticker, []).append(ticker)
        self.event_of = {t: ev for ev, tickers in self.events.items() for t in tickers}
        self.baskets = dict.fromkeys(self.events, 0)
        self.subscribe(list(self.event_of))  # every market of every event: a basket needs all its legs

    def on_book(self, book) -> None:
        event = self.event_of.get(book.ticker)
        legs = self.events.get(event, ())
        if len(legs) < 2 or self.baskets[event] >= self.params["max_baskets"]:
            return
        if any(self.open_orders(t) for t in legs):
            return  # the last basket is still being filled
        books = [self.book(t) for t in legs]
        if any(b is None for b in books):
            return
        if self.params["exhaustive"]:
            basket = self.buy_basket(books)
            if basket is not None:
                return self._trade(event, "buy", *basket)
        basket = self.sell_basket(books)
        if basket is not None:
            self._trade(event, "sell", *basket)

    # ---- the decisions (pure: tested on constructed books) ----------------------------------------
    def buy_basket(self, books) -> tuple[int, list[int], int] | None:
        """(qty, YES asks, edge) when buying one YES of every leg pays more than it costs."""
        asks = [b.yes_ask for b in books]
        qty = self._basket_qty(asks, [b.yes_ask_size for b in books])
        if qty is None:
            return None
        cost = sum(notional(p, qty) for p in asks) + self._fees(asks, qty)  # costs round up
        edge = DOLLAR * qty // CONTRACT - cost
        return (qty, asks, edge) if edge >= self.min_edge * qty // CONTRACT else None

    def sell_basket(self, books) -> tuple[int, list[int], int] | None:
        """(qty, YES bids, edge) when selling one YES of every leg brings more than the basket
        can cost at settlement (one leg wins: $1 per contract)."""
        bids = [b.yes_bid for b in books]
        qty = self._basket_qty(bids, [b.yes_bid_size for b in books])
        if qty is None:
            return None
        # selling YES at b = buying NO at $1 - b; the fee is the same (P(1-P) is symmetric)
        proceeds = sum(p * qty // CONTRACT for p in bids) - self._fees(bids, qty)  # proceeds round down
        edge = proceeds - DOLLAR * qty // CONTRACT
        return (qty, bids, edge) if edge >= self.min_edge * qty // CONTRACT else None

    def _basket_qty(self, prices: list[int | None], sizes: list[int | None]) -> int | None:
        """The smallest size shown across the legs (capped at ``max_qty``); None if a leg is empty."""
        if None in prices or None in sizes:
            return None
        qty = min(min(sizes), self.max_qty)
        return qty if qty > 0 else None

    def _fees(self, prices: list[int], qty: int) -> int:
        return sum(fee_for(p, qty, self.params["taker_fee"]) for p in prices)

    def _trade(self, event: str, action: str, qty: int, prices: list[int], edge: int) -> None:
        self.baskets[event] += 1
        self.log.info("%s: %s basket of %d legs, edge %s", event, action, len(prices), fmt_money(edge))
        for ticker, price in zip(self.events[event], prices):
            if action == "buy":
                self.buy(ticker, qty, price=price, tif="ioc")
            else:
                self.sell(ticker, qty, price=price, tif="ioc")
