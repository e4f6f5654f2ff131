"""Property tests (hypothesis) of the simulated broker's honesty (issue 12, item 10).

The real Engine and SimulatedBroker run on random in-memory event streams (one event per
second, so a fill's timestamp names the event that caused it):

* no fill at a price the data never showed;
* contracts taken from a level never exceed what it displayed since it last changed;
* no fills from crossed or locked data books (default policy);
* queue position never negative (probabilistic and risk-averse queue models);
* same seed, same fills.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from framework import Strategy
from framework.brokers.simulated import SimulatedBroker
from framework.core.engine import Engine
from framework.core.events import BOOK, QUOTE, TRADE
from framework.model.portfolio import Portfolio
from framework.units import CENT, CONTRACT, DOLLAR, dollars

TK = "M-1"
SEC = 1_000_000_000
PROPS = settings(max_examples=120, deadline=None)


class ListFeed:
    """Events as one-row chunks, in list order (what ParquetReplayFeed yields, minus Parquet)."""

    def __init__(self, events: list[tuple]) -> None:
        self.events = events

    def subscribe(self, tickers) -> None:
        pass

    def chunks(self):
        for i, (kind, *vals) in enumerate(self.events):
            ts = (i + 1) * SEC
            yield kind, tuple([v] for v in (ts, TK, *vals))


class Actor(Strategy):
    """Sends the order drawn for each book event (``actions[i]``), keeps what it saw."""

    def __init__(self, actions: list) -> None:
        super().__init__()
        self.actions = actions
        self.n = 0
        self.fills = []
        self.queue_seen: list[int] = []

    def on_book(self, book) -> None:
        broker = self._engine.broker
        for o in broker.resting.get(TK, ()):
            ahead = broker.queue.ahead(o.order_id)
            if ahead is not None:
                self.queue_seen.append(ahead)
        act = self.actions[self.n % len(self.actions)] if self.actions else None
        self.n += 1
        if act is None:
            return
        side, action, qty, offset, tif = act
        price = None
        if offset is not None:
            touch = book.touch_price(side, action)
            if touch is None:
                return
            price = min(max(touch + (offset if action == "buy" else -offset) * CENT, CENT), DOLLAR - CENT)
        self.submit(TK, action, qty * CONTRACT, price=price, side=side, tif=tif if price is not None else "ioc")

    def submit(self, ticker, action, qty, price, side, tif):
        if action == "buy":
            self.buy(ticker, qty, price=price, side=side, tif=tif)
        else:
            self.sell(ticker, qty, price=price, side=side, tif=tif)

    def on_fill(self, fill) -> None:
        self.fills.append(fill)


def run_events(events, actions, **broker_kw):
    strat = Actor(actions)
    broker = SimulatedBroker(**broker_kw)
    engine = Engine(strat, ListFeed(events), broker, Portfolio(dollars(10**7)),
                    [{"ticker": TK, "open_ts": 0, "close_ts": 10**15}], equity_interval=None)
    engine.run()
    return strat, broker, engine


prices = st.integers(min_value=30, max_value=70).map(lambda c: c * CENT)
sizes = st.integers(min_value=0, max_value=30).map(lambda c: c * CONTRACT)
book_event = st.tuples(st.just(BOOK), st.booleans(), prices, sizes, st.none(), st.just(False))
quote_event = st.tuples(st.just(QUOTE), st.integers(20, 60).map(lambda c: c * CENT),
                        st.integers(20, 60).map(lambda c: c * CENT),
                        st.one_of(st.none(), sizes), st.one_of(st.none(), sizes))
trade_event = st.tuples(st.just(TRADE), st.just("t"), prices, st.integers(1, 20).map(lambda c: c * CONTRACT),
                        st.sampled_from(["yes", "no"]))
action = st.one_of(st.none(), st.tuples(st.sampled_from(["yes", "no"]), st.sampled_from(["buy", "sell"]),
                                        st.integers(1, 40), st.one_of(st.none(), st.integers(-2, 3)),
                                        st.sampled_from(["gtc", "ioc"])))
actions = st.lists(action, min_size=1, max_size=12)


def _ladder_price(fill) -> tuple[bool, int]:
    """The bid ladder and price a taker fill took: buying YES at p took the NO bid 1 - p, etc."""
    buy = fill.action == "buy"
    ladder_yes = (fill.side == "yes") != buy
    return ladder_yes, (DOLLAR - fill.price) if buy else fill.price


@PROPS
@given(events=st.lists(book_event, min_size=1, max_size=60), acts=actions,
       refill=st.sampled_from(["change", "growth"]))
def test_taker_fills_only_at_shown_levels_and_never_beyond_their_size(events, acts, refill):
    strat, _, _ = run_events(events, acts, level_refill=refill)
    fills_at: dict[int, list] = {}
    for f in strat.fills:
        fills_at.setdefault(f.ts, []).append(f)
    size: dict[tuple[bool, int], int] = {}
    taken: dict[tuple[bool, int], int] = {}
    for i, (_, is_yes, price, qty, _, _) in enumerate(events):
        key = (is_yes, price)
        if size.get(key, 0) != qty:  # the data changed this level: what it shows is new
            taken[key] = 0
        size[key] = qty
        for f in fills_at.get((i + 1) * SEC, ()):
            if f.is_maker:
                continue
            level = _ladder_price(f)
            assert size.get(level, 0) > 0, f"taker fill at a level the data does not show: {f}"
            taken[level] = taken.get(level, 0) + f.qty
            assert taken[level] <= size[level], f"took {taken[level]} from a level showing {size[level]}"


@PROPS
@given(events=st.lists(st.one_of(book_event, trade_event), min_size=1, max_size=60), acts=actions)
def test_no_fill_at_a_price_the_data_never_showed(events, acts):
    strat, _, _ = run_events(events, acts, queue_model="trades")
    shown_ladder = {(e[1], e[2]) for e in events if e[0] == BOOK and e[3] > 0}
    printed = {e[2] for e in events if e[0] == TRADE}  # YES prices printed
    for f in strat.fills:
        if not f.is_maker:
            assert _ladder_price(f) in shown_ladder
            continue
        # a maker fill is at the order's own price, which a crossing level or a print reached
        yes_price = f.price if f.side == "yes" else DOLLAR - f.price
        own_ladder_yes = (f.side == "yes") == (f.action == "buy")
        bid_on_own = yes_price if own_ladder_yes else DOLLAR - yes_price
        crossing = any(lad != own_ladder_yes and p >= DOLLAR - bid_on_own for lad, p in shown_ladder)
        through = any((yp <= yes_price) if own_ladder_yes else (yp >= yes_price) for yp in printed)
        assert crossing or through, f"maker fill at {f.price} never reached by the data"


@PROPS
@given(events=st.lists(quote_event, min_size=1, max_size=60), acts=actions)
def test_no_fills_from_crossed_data_books_by_default(events, acts):
    strat, _, _ = run_events(events, acts)
    crossed = {(i + 1) * SEC for i, e in enumerate(events) if e[1] + e[2] >= DOLLAR}
    assert not [f for f in strat.fills if f.ts in crossed]


@PROPS
@given(events=st.lists(st.one_of(book_event, trade_event), min_size=1, max_size=80), acts=actions,
       model=st.sampled_from(["trades", "power", "log"]), seed=st.integers(0, 3))
def test_queue_position_never_negative_and_same_seed_same_fills(events, acts, model, seed):
    strat, broker, _ = run_events(events, acts, queue_model=model, seed=seed)
    assert all(a >= 0 for a in strat.queue_seen)
    assert all(broker.queue.ahead(o.order_id) is None or broker.queue.ahead(o.order_id) >= 0
               for lst in broker.resting.values() for o in lst)
    again, _, _ = run_events(events, acts, queue_model=model, seed=seed)
    assert again.fills == strat.fills


class _TakenChecker(Actor):
    """Checks, at every book event, that the broker's index of taken levels matches its record
    and that a top-of-book sync keeps exactly what a sync over every taken level would keep."""

    def on_book(self, book) -> None:
        from framework.brokers.simulated import _HIDDEN, level_state

        broker = self._engine.broker
        for taken in broker._taken.values():
            assert taken.yes_prices == sorted(p for lad, p in taken if lad)
            assert taken.no_prices == sorted(p for lad, p in taken if not lad)
            assert taken.assumed == {k for k, rec in taken.items() if rec[1] is None}
            assert all(rec[1] != 0 for rec in taken.values())  # TakenLevels.drop_above relies on it
            if not book.depth_known and taken is broker._taken.get(book.ticker):
                # levels a top-of-book sync skips: shown sizes below the best (hidden: unchanged)
                for (lad, p), rec in taken.items():
                    best = book.yes_bid if lad else book.no_bid
                    if best is not None and p < best and rec[1] is not None:
                        assert level_state(book, lad, p) == _HIDDEN
        super().on_book(book)


@PROPS
@given(events=st.lists(st.one_of(quote_event, book_event, trade_event), min_size=1, max_size=80), acts=actions,
       refill=st.sampled_from(["change", "growth"]))
def test_taken_level_index_stays_consistent(events, acts, refill):
    strat = _TakenChecker(acts)
    engine = Engine(strat, ListFeed(events), SimulatedBroker(level_refill=refill), Portfolio(dollars(10**7)),
                    [{"ticker": TK, "open_ts": 0, "close_ts": 10**15}], equity_interval=None)
    engine.run()
