"""RestBroker: exchange payloads outside sane ranges are quarantined (issue 14, item 6).

A REST/WebSocket fill with a count beyond the order, a price outside (0, $1), a price worse
than the limit or a negative fee is refused with a log line and an alert (the live runner then
sets the market REDUCING); the portfolio never absorbs it. A payload the models cannot read
(``KalshiParseError``) alerts too, for every market when the market is unknown.
"""

from __future__ import annotations

import dataclasses

import pytest
from test_rest_broker import env, make, order, settle  # noqa: F401  (env is a fixture)

from framework import cents
from framework.kalshi.errors import KalshiParseError
from framework.kalshi.models import Fill as KFill
from framework.model.orders import OrderStatus
from framework.units import DOLLAR, contracts

T = "KXLOCALTEMP-26JAN01-B1"


def _resting(env, broker, qty=1):  # noqa: F811
    ex = env[0]
    o = order(qty=qty, price=ex.engine.top(T)["yes_bid"] - cents(5))
    broker.submit(o)
    settle(broker, lambda: o.status == OrderStatus.ACCEPTED)
    return o


def _fill(o, **kw):
    base = dict(fill_id="f-bad", order_id=o.exchange_order_id, ticker=T, count=contracts(1), yes_price=o.price,
                created_time=1, side="yes", action="buy", fee=0, client_order_id=o.client_order_id)
    base.update(kw)
    return KFill(**base)


BAD = {
    "count 1,000 on a 1-contract order": dict(count=contracts(1000)),
    "price 150c": dict(yes_price=cents(150)),
    "price -20c": dict(yes_price=-cents(20)),
    "worse than the limit": dict(yes_price=None),  # filled in below: limit + 5c
    "fee of -$100": dict(fee=-100 * DOLLAR),
    "zero count": dict(count=0),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_implausible_rest_fill_is_quarantined(env, case):  # noqa: F811
    broker, sink = make(env)
    alerts = []
    broker.on_alert = lambda ticker, reason: alerts.append((ticker, reason))
    try:
        o = _resting(env, broker)
        kw = dict(BAD[case])
        if case == "worse than the limit":
            kw["yes_price"] = o.price + cents(5)
        cash = sink.portfolio.cash
        assert broker.apply_fill(_fill(o, **kw), "ws") is False
        assert o.filled_qty == 0 and not sink.fills and sink.portfolio.cash == cash
        assert alerts and alerts[0][0] == T and len(broker.quarantined) == 1
        assert env[4].events("quarantined")  # journaled
        # a plausible fill still counts
        assert broker.apply_fill(_fill(o, fill_id="f-good"), "ws") is True
        assert o.filled_qty == contracts(1)
    finally:
        broker.stop()


def test_unreadable_payload_alerts(env):  # noqa: F811
    broker, sink = make(env)
    alerts = []
    broker.on_alert = lambda ticker, reason: alerts.append((ticker, reason))

    class Broken:
        def __getattr__(self, name):
            return getattr(real, name)

        def iter_fills(self, **kw):
            raise KalshiParseError("Fill", "count_fp")

    real = broker.client
    broker.client = Broken()
    try:
        broker._poll_fills()
        settle(broker, lambda: bool(alerts))
        assert alerts[0][0] is None and "count_fp" in alerts[0][1]
    finally:
        broker.client = real
        broker.stop()


def test_exchange_order_state_beyond_the_order_is_quarantined(env):  # noqa: F811
    broker, sink = make(env)
    alerts = []
    broker.on_alert = lambda ticker, reason: alerts.append((ticker, reason))
    try:
        o = _resting(env, broker)
        k = broker.client.get_order(o.exchange_order_id)
        bad = dataclasses.replace(k, remaining_count=contracts(1000))
        broker._dispatch(("order", o.client_order_id, bad, [], "state"))
        assert o.qty == contracts(1) and alerts and alerts[0][0] == T
    finally:
        broker.stop()
