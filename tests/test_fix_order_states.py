"""FIX order states that must end (issue 14, item 3) and inbound sanity checks (item 6).

* an ``EXCHANGE_UNAVAILABLE`` reject carries ``37=NONE``: the placeholder is never stored as the
  exchange order id (it used to be, and ``GET /portfolio/orders/NONE`` was polled forever);
* a definitive reject is terminal: a later EXCHANGE_UNAVAILABLE for it changes nothing;
* an order the exchange never acknowledged and does not list under its client id was not placed;
  an acknowledged order the exchange no longer knows (it restarted: 404) is over, not UNKNOWN;
* an order that stays unresolved alerts after ``unresolved_alert_s`` and lifts its market's
  freeze (the runner sets that market REDUCING instead);
* ExecutionReports outside sane ranges are quarantined with an alert; nothing reaches the order
  or the portfolio.
"""

from __future__ import annotations

import pytest
from test_fix_broker import env, er, feed, order  # noqa: F401  (env is a fixture)

from framework.brokers.live.fix import JournaledFixBroker
from framework.exchange import LocalExchange
from framework.exchange.fix_acceptor import attach_fix_acceptor
from framework.kalshi.auth import KalshiSigner, generate_key_pair
from framework.kalshi.envs import Environment
from framework.kalshi.fix import EXCHANGE_UNAVAILABLE, FixConfig
from framework.kalshi.rest import KalshiRestClient
from framework.live.testing import RecordingSink
from framework.model.orders import Order, OrderStatus
from framework.units import cents, contracts

S = OrderStatus
T = "KXLOCALTEMP-26JAN01-B1"


# ------------------------------------------------------------------ state machine (no sockets)
def test_placeholder_order_id_of_exchange_unavailable_is_never_stored(env):  # noqa: F811
    b, sess, sink, clock = env
    o = order()
    b.submit(o)
    feed(b, t11=o.client_order_id, t37="NONE", t17="1;1", t150="8", t39="8", t58=EXCHANGE_UNAVAILABLE)
    assert o.status == S.UNKNOWN and o.exchange_order_id is None
    assert "NONE" not in b.by_exchange_id


def test_definitive_reject_is_terminal(env):  # noqa: F811
    b, sess, sink, clock = env
    o = order()
    b.submit(o)
    er(b, o, "8", "8", t58="INSUFFICIENT_BALANCE", t103="3")
    assert o.status == S.REJECTED
    feed(b, t11=o.client_order_id, t37="NONE", t17="2;2", t150="8", t39="8", t58=EXCHANGE_UNAVAILABLE)
    assert o.status == S.REJECTED and not b.frozen and not b.unknown_orders()


def test_unresolved_order_alerts_and_lifts_the_freeze_after_the_bound(env):  # noqa: F811
    b, sess, sink, clock = env
    b.config.unresolved_alert_s = 30
    alerts = []
    b.on_alert = lambda ticker, reason: alerts.append((ticker, reason))

    def unreachable(orders):
        raise ConnectionError("exchange unreachable")

    b.reconciler = unreachable
    o = order()
    b.submit(o)
    feed(b, t11=o.client_order_id, t37="NONE", t17="1;1", t150="8", t39="8", t58=EXCHANGE_UNAVAILABLE)
    clock.t = 29
    b.poll()
    assert o.status == S.UNKNOWN and o.ticker in b.frozen and not alerts
    clock.t = 31
    b.poll()
    assert alerts and alerts[0][0] == o.ticker and "unresolved" in alerts[0][1]
    assert o.ticker not in b.frozen and o.status == S.UNKNOWN  # still being reconciled
    clock.t = 100
    b.poll()
    assert len(alerts) == 1  # once per order


def test_not_found_unacknowledged_order_is_not_placed_acknowledged_one_is_over(env):  # noqa: F811
    b, sess, sink, clock = env
    never, gone = order(oid="O1"), order(oid="O2", price=41)
    b.submit(never)
    b.submit(gone)
    er(b, gone, "0", "0")
    assert gone.exchange_order_id == "X1"
    for o in (never, gone):
        b._mark_unknown(o, "test")
    b.reconcile([], [never, gone])
    assert never.status == S.REJECTED and "never placed" in never.reason
    assert gone.status == S.CANCELLED and "not on the exchange" in gone.reason
    assert not b.frozen


# ------------------------------------------------------------------ inbound sanity (item 6)
# a 1-contract buy of YES at 40c
BAD_REPORTS = {
    "CumQty 1,000 on a 1-contract order": dict(t14="1000", t32="1000", t31="40"),
    "LastPx 150c": dict(t14="1", t32="1", t31="150"),
    "LastPx -20c": dict(t14="1", t32="1", t31="-20"),
    "fill worse than the limit": dict(t14="1", t32="1", t31="45"),
    "fee of -$100": dict(t14="1", t32="1", t31="40", t136="1", t137="-100", t138="USD", t139="4"),
    "NaN quantity": dict(t14="NaN", t32="1", t31="40"),
    "infinite price": dict(t14="1", t32="1", t31="Infinity"),
    "absurd exponent": dict(t14="1e999999", t32="1", t31="40"),
    "absurd price exponent": dict(t14="1", t32="1", t31="4e999999"),
}


@pytest.mark.parametrize("case", sorted(BAD_REPORTS))
def test_implausible_execution_report_is_quarantined(env, case):  # noqa: F811
    b, sess, sink, clock = env
    alerts = []
    b.on_alert = lambda ticker, reason: alerts.append((ticker, reason))
    o = order(qty=1)
    b.submit(o)
    er(b, o, "0", "0")
    er(b, o, "F", "2", **BAD_REPORTS[case])
    assert o.filled_qty == 0 and o.fee == 0 and not sink.fills  # the portfolio never saw it
    assert o.status == S.ACCEPTED
    assert len(b.quarantined) == 1 and alerts and alerts[0][0] == T.replace("KXLOCALTEMP-26JAN01-B1", o.ticker)
    # a sane report afterwards still applies
    er(b, o, "F", "2", t14="1", t32="1", t31="40", t136="1", t137="0.01", t138="USD", t139="4")
    assert o.status == S.FILLED and o.filled_qty == contracts(1) and len(sink.fills) == 1


# ------------------------------------------------------------------ against the local exchange
def _exchange(tmp_path, port=0, seed=1):
    priv, pub = generate_key_pair(tmp_path / "keys", name="k") if not (tmp_path / "keys").exists() else (
        tmp_path / "keys" / "k_private.pem", tmp_path / "keys" / "k_public.pem")
    ex = LocalExchange(port=port, seed=seed, register_keys={"k": pub}, background=False).start()
    ex.step(3)
    return ex, priv


def _broker(ex, priv, fix_port, **cfg):
    signer = KalshiSigner.from_key_file("k", priv)
    rest = KalshiRestClient(Environment("local", ex.rest_url, ex.ws_url), signer)
    cfg.setdefault("ack_timeout_s", 2.0)
    config = FixConfig(host="127.0.0.1", port=fix_port, sender_comp_id="k", tls=False, reconnect_min_s=0.05,
                       reconnect_max_s=0.2, **cfg)
    b = JournaledFixBroker(config, signer, client=rest, reconcile_interval_s=0.2)
    sink = RecordingSink()
    b.bind(sink, {}, sink.portfolio)
    return b.start(), rest


@pytest.mark.parametrize("applied", [False, True])
def test_exchange_unavailable_resolves_by_client_id(tmp_path, applied):
    """Old code: 37=NONE stored, GET /portfolio/orders/NONE (404) retried every 2 s forever."""
    ex, priv = _exchange(tmp_path)
    acc = attach_fix_acceptor(ex, port=0, session="NR").start()
    b, rest = _broker(ex, priv, acc.port)
    try:
        acc.faults.exchange_unavailable(1, applied=applied)
        o = Order("O1", T, "yes", "buy", contracts(1), cents(2), "gtc")
        b.submit(o)
        assert b.poll_until(lambda: o.status != S.PENDING, 10)
        assert b.poll_until(lambda: o.status != S.UNKNOWN, 10), o.reason
        placed = [x for x in ex.engine.account("k").orders.values() if x.client_order_id == o.client_order_id]
        if applied:
            assert o.status == S.ACCEPTED and o.exchange_order_id == placed[0].order_id
        else:
            assert not placed and o.status == S.REJECTED and "never placed" in o.reason
        assert not b.frozen and o.exchange_order_id != "NONE"
    finally:
        b.stop()
        rest.close()
        acc.stop()
        ex.stop()


def test_orders_resolve_after_the_exchange_restarts(tmp_path):
    """The exchange restarts and forgets its orders: the resting order's id now answers 404.
    Old code: the 404 was retried forever and the order stayed UNKNOWN, its market frozen."""
    ex, priv = _exchange(tmp_path)
    acc = attach_fix_acceptor(ex, port=0, session="NR").start()
    rest_port, fix_port = ex.port, acc.port
    b, rest = _broker(ex, priv, fix_port)
    ex2 = acc2 = None
    try:
        o = Order("O1", T, "yes", "buy", contracts(1), cents(2), "gtc")
        b.submit(o)
        assert b.poll_until(lambda: o.status == S.ACCEPTED, 10)
        acc.stop()
        ex.stop()
        assert b.poll_until(lambda: o.status == S.UNKNOWN, 10)  # NR session lost
        ex2, _ = _exchange(tmp_path, port=rest_port, seed=2)
        acc2 = attach_fix_acceptor(ex2, port=fix_port, session="NR").start()
        assert b.poll_until(lambda: o.status != S.UNKNOWN, 20), o.reason
        assert o.status == S.CANCELLED and "not on the exchange" in o.reason
        assert not b.frozen
    finally:
        b.stop()
        rest.close()
        for x in (acc2, ex2):
            if x is not None:
                x.stop()


def test_alert_sets_only_that_market_reducing(tmp_path):
    """LiveRunner.market_alert (what brokers call): the market goes REDUCING, others trade on."""
    from types import SimpleNamespace

    from framework.live.risk import RiskGate
    from framework.live.runner import LiveRunner
    from framework.model.portfolio import Portfolio

    runner = LiveRunner.__new__(LiveRunner)  # only the alert path: no settings, no threads
    runner.alerts, runner.journal, runner.echo = [], None, lambda _m: None
    runner.gate = RiskGate()
    runner.market_alert(T, "order O1 unresolved for 61 s")
    eng = SimpleNamespace(portfolio=Portfolio(10**9), open={}, books={}, now=0, market_info={})
    buy = Order("O2", T, "yes", "buy", contracts(1), cents(40), "gtc")
    other = Order("O3", "KXOTHER-26JAN01-B1", "yes", "buy", contracts(1), cents(40), "gtc")
    assert "reducing only in " + T in runner.gate.check(buy, eng)
    assert runner.gate.check(other, eng) is None
    eng.portfolio.apply_fill(T, "yes", "buy", cents(40), contracts(2), 0)
    sell = Order("O4", T, "yes", "sell", contracts(1), cents(40), "gtc")
    assert runner.gate.check(sell, eng) is None  # shrinking the position is allowed
    assert runner.gate.summary()["reducing_markets"] == {T: "order O1 unresolved for 61 s"}
