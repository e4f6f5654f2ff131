"""RiskGate: every limit, the three states, and that denials reach the strategy as rejections."""

from __future__ import annotations

from framework import CONTRACT, Strategy, cents, contracts, dollars
from framework.brokers.simulated import SimulatedBroker
from framework.core.engine import Engine
from framework.core.events import QUOTE
from framework.live.risk import ACTIVE, HALTED, REDUCING, RiskGate, RiskLimits
from framework.model.orders import OrderStatus
from framework.model.portfolio import Portfolio

T = "KXA-26JAN01-T1"
T2 = "KXA-26JAN01-T2"
SEC = 1_000_000_000


class ListFeed:
    def __init__(self, chunks):
        self._chunks = chunks

    def subscribe(self, tickers):
        pass

    def chunks(self):
        yield from self._chunks

    def close(self):
        pass


def quotes(rows):
    cols = list(zip(*rows))
    return (QUOTE, tuple(list(c) for c in cols))


class Scripted(Strategy):
    """Runs ``script(self, book)`` on every book update; collects order updates."""

    def __init__(self, script):
        super().__init__()
        self.script = script
        self.updates = []

    def on_book(self, book):
        self.script(self, book)

    def on_order(self, order):
        self.updates.append((order.order_id, order.status, order.reason))


CASH = dollars(1000)


def run(script, gate, rows=None, cash=CASH):
    rows = rows or [(1 * SEC, T, cents(40), cents(55), contracts(100), contracts(100))]
    strat = Scripted(script)
    eng = Engine(strat, ListFeed([quotes(rows)]), SimulatedBroker(), Portfolio(cash), equity_interval=None,
                 risk=gate)
    eng.run()
    return strat, eng


def rejected(eng):
    return [(o.order_id, o.reason) for o in eng.order_log if o.status == OrderStatus.REJECTED]


def test_max_position_counts_open_orders_and_the_new_order():
    gate = RiskGate(max_position=contracts(10))

    def script(s, book):
        if s.now == 1 * SEC and not s.open_orders():
            s.buy(T, contracts(6), price=cents(30))  # rests
            s.buy(T, contracts(5), price=cents(30))  # 6 + 5 > 10: denied
            s.buy(T, contracts(4), price=cents(30))  # 6 + 4 = 10: fine

    strat, eng = run(script, gate)
    rej = rejected(eng)
    assert len(rej) == 1 and rej[0][1].startswith("risk: max position")
    assert ("O2", OrderStatus.REJECTED, rej[0][1]) in strat.updates  # the strategy saw the reason


def test_reducing_orders_skip_exposure_limits_and_halted_denies_everything():
    gate = RiskGate(max_position=contracts(5))
    seen = []

    def script(s, book):
        if book.ts == 1 * SEC:
            s.buy(T, contracts(5), price=cents(60))  # crosses the 45c ask: fills 5
        elif book.ts == 2 * SEC:
            gate.reduce_only("test")
            seen.append(s.buy(T, contracts(1), price=cents(60)).status)  # adds: denied
            seen.append(s.sell(T, contracts(2), price=cents(39)).status)  # reduces: allowed (fills)
            gate.halt("kill switch")
            seen.append(s.sell(T, contracts(1), price=cents(39)).status)

    rows = [(1 * SEC, T, cents(40), cents(55), contracts(100), contracts(100)),
            (2 * SEC, T, cents(40), cents(55), contracts(100), contracts(100))]
    strat, eng = run(script, gate, rows)
    assert seen == [OrderStatus.REJECTED, OrderStatus.FILLED, OrderStatus.REJECTED]
    assert eng.portfolio.net(T) == contracts(3)
    assert gate.state == HALTED
    reasons = [r for _, r in rejected(eng)]
    assert "reducing only" in reasons[0] and "halted" in reasons[1]


def test_open_orders_rate_and_price_sanity():
    gate = RiskGate(max_open_orders=2, max_orders=3, rate_window=10 * SEC, max_price_deviation=cents(5))

    def script(s, book):
        if book.ts == 1 * SEC:
            s.buy(T, contracts(1), price=cents(30))
            s.buy(T, contracts(1), price=cents(31))
            s.buy(T, contracts(1), price=cents(32))  # third open order: denied
            s.buy(T, contracts(1), price=cents(51))  # ask 45 + 5 = 50 < 51: price sanity
            s.sell(T, contracts(1), price=cents(34))  # bid 40 - 5 = 35 > 34: price sanity
        elif book.ts == 2 * SEC:
            s.cancel_all()
            s.buy(T, contracts(1), price=cents(30))  # 3rd counted order within 10 s: fine
            s.buy(T, contracts(1), price=cents(30))  # 4th: rate limit

    rows = [(1 * SEC, T, cents(40), cents(55), contracts(100), contracts(100)),
            (2 * SEC, T, cents(40), cents(55), contracts(100), contracts(100))]
    _, eng = run(script, gate, rows)
    reasons = [r for _, r in rejected(eng)]
    assert [r.split(":")[1].strip() for r in reasons] == ["max open orders", "price sanity", "price sanity",
                                                          "order rate limit"]


def test_event_position_and_notional():
    gate = RiskGate(max_event_position=contracts(8), max_notional=dollars(10))

    def script(s, book):
        if book.ts == 1 * SEC and book.ticker == T:
            s.buy(T, contracts(5), price=cents(20))  # $1.00 at risk
            s.buy(T2, contracts(4), price=cents(20))  # same event: 9 > 8 denied
            s.buy(T2, contracts(3), price=cents(20))  # 8: ok
            s.buy(T2, contracts(0) + 1, price=cents(20))  # 8.01 > 8: denied

    rows = [(1 * SEC, T, cents(10), cents(70), contracts(100), contracts(100))]
    _, eng = run(script, gate, rows)
    reasons = [r for _, r in rejected(eng)]
    assert len(reasons) == 2 and all("max event position" in r for r in reasons)

    gate2 = RiskGate(max_notional=dollars(2))

    def script2(s, book):
        if book.ts == 1 * SEC:
            s.buy(T, contracts(5), price=cents(20))  # $1.00
            s.buy(T, contracts(5), price=cents(30))  # +$1.50 > $2: denied
            s.sell(T, contracts(2), price=cents(50))  # opens NO at 50c: +$1.00 > $2 total: denied
            s.buy(T, contracts(3), price=cents(30))  # +$0.90: fine

    _, eng2 = run(script2, gate2)
    assert [r.split(":")[1].strip() for _, r in rejected(eng2)] == ["max notional", "max notional"]


def test_daily_loss_switches_to_reducing():
    gate = RiskGate(RiskLimits(max_daily_loss=dollars(1)))
    states = []

    def script(s, book):
        if book.ts == 1 * SEC:
            s.buy(T, contracts(10), price=cents(45))  # takes the ask at 45
        elif book.ts == 2 * SEC:
            s.buy(T, contracts(1), price=cents(30))  # first check of the day later: equity known
            states.append(gate.state)
        elif book.ts == 3 * SEC:  # bid fell 40 -> 20: equity -$2 from the day's start
            o = s.buy(T, contracts(1), price=cents(10))
            states.append((gate.state, o.status))
            states.append(s.sell(T, contracts(5), price=cents(20)).status)

    rows = [(1 * SEC, T, cents(40), cents(55), contracts(100), contracts(100)),
            (2 * SEC, T, cents(40), cents(55), contracts(100), contracts(100)),
            (3 * SEC, T, cents(20), cents(75), contracts(100), contracts(100))]
    run(script, gate, rows)
    assert states[0] == ACTIVE
    assert states[1] == (REDUCING, OrderStatus.REJECTED)
    assert states[2] == OrderStatus.FILLED


def test_daily_loss_baseline_survives_a_restart():
    """The runner journals the day's first equity (on_new_day) and restores it (restore_day):
    a restart after a loss must not start the day's loss count from zero again."""
    saved = []
    first = RiskGate(RiskLimits(max_daily_loss=dollars(1)))
    first.on_new_day = lambda day, eq: saved.append((day, eq))

    def place(s, book):
        s.buy(T, contracts(1), price=cents(10))  # rests far below the market

    _, eng = run(place, first)
    assert saved == [(0, CASH)] and first.state == ACTIVE
    statuses = []

    def after_loss(s, book):
        statuses.append(s.buy(T, contracts(1), price=cents(10)).status)

    lost = CASH - dollars(2)  # the process died and came back $2 poorer the same day
    fresh = RiskGate(RiskLimits(max_daily_loss=dollars(1)))
    run(after_loss, fresh, cash=lost)
    assert fresh.state == ACTIVE and statuses == [OrderStatus.ACCEPTED]  # without the baseline: blind
    restored = RiskGate(RiskLimits(max_daily_loss=dollars(1)))
    restored.restore_day(*saved[0])
    run(after_loss, restored, cash=lost)
    assert restored.state == REDUCING and statuses[-1] == OrderStatus.REJECTED


def test_limits_validate():
    import pytest

    with pytest.raises(ValueError):
        RiskLimits(max_position=-1)
    with pytest.raises(ValueError):
        RiskLimits(on_daily_loss="panic")
    assert RiskGate().check.__self__.state == ACTIVE
    assert CONTRACT == 100
