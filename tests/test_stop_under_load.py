"""Stopping a live run under load (issue 14, item 4).

Old behaviour: at 800 orders/s over REST a run stopped by ``--duration`` exited 0 with 1,136
orders still resting: cancels waited behind queued creates and the 10 s wait ran out. Now
cancels and mass cancels go ahead of queued creates, queued creates are not sent once the run
stops, the stop waits (bounded, ``stop_timeout``) until the exchange shows none of the run's
orders resting, and ``kalshi live`` exits 3 with the list when some remain.
"""

from __future__ import annotations

import signal

from test_rest_broker import env, make, order, settle  # noqa: F401  (env is a fixture)
from test_restart_faults import start, wait_exit

from benchmarks.stop_under_load import run_once
from framework import cents
from framework.brokers.live.rest import BATCH_CANCEL_MAX, RestBroker
from framework.live.journal import Journal
from framework.live.killswitch import query_status, send_kill
from framework.live.testing import RecordingSink, local_exchange, wait_for, write_live_config
from framework.model.orders import OrderStatus

T = "KXLOCALTEMP-26JAN01-B1"


def _idle_broker(env):  # noqa: F811
    """A RestBroker whose worker is not running yet: commands stay queued."""
    ex, kid, signer, client, journal = env
    sink = RecordingSink()
    b = RestBroker(client, journal=journal, session=1, order_poll_interval=0.3, fill_poll_interval=0.3)
    b.bind(sink, sink.books, sink.portfolio)
    return b


def test_cancels_go_ahead_of_queued_creates(env):  # noqa: F811
    b = _idle_broker(env)
    resting = order(price=cents(1))
    resting.exchange_order_id, resting.status = "X-resting", OrderStatus.ACCEPTED
    b._register(resting)
    for _ in range(50):
        b.submit(order(price=cents(1)))
    b.cancel_all()
    first = b._cmds.get_nowait()[2]
    assert first[0] == "batch_cancel" and first[1] == [(resting.client_order_id, "X-resting")]


def test_batch_cancels_hold_at_most_20_orders(env):  # noqa: F811
    b = _idle_broker(env)
    for i in range(45):
        o = order(price=cents(1))
        o.exchange_order_id, o.status = f"X{i}", OrderStatus.ACCEPTED
        b._register(o)
    b.cancel_all()
    sizes = [len(b._cmds.get_nowait()[2][1]) for _ in range(3)]
    assert sizes == [20, 20, 5] and BATCH_CANCEL_MAX == 20  # Kalshi: "up to 20 orders at once"


def test_halt_drops_queued_creates(env):  # noqa: F811
    ex, kid, *_ = env
    b = _idle_broker(env)
    orders = [order(price=cents(1)) for _ in range(20)]
    for o in orders:
        b.submit(o)
    b.halt("test stop")
    b.start()
    try:
        settle(b, lambda: all(o.status == OrderStatus.REJECTED for o in orders))
        assert all("not sent: test stop" in o.reason for o in orders)
        assert not ex.engine.account(kid).orders  # nothing went out
    finally:
        b.stop()


def test_stop_under_load_leaves_nothing_resting(tmp_path):
    """200 orders/s against a 10 ms exchange (one sender manages ~100/s): creates queue up.
    Old code: hundreds left resting after the stop (227 at 100/s in the benchmark)."""
    r = run_once(200, 2.0, "rest", tmp_path, latency_ms=10)
    assert r["submitted"] > r["reached_exchange"] > 0  # the load really queued
    assert r["resting_after_stop"] == 0 and r["reported_resting"] == 0


def test_stop_that_cannot_clear_the_exchange_exits_3_with_the_list(tmp_path):
    ex, kid, priv = local_exchange(tmp_path / "ex")
    try:
        ex.step(3)
        cfg = write_live_config(tmp_path / "live.toml", ex, kid, priv, markets=[T],
                                params={"qty": 1, "below_cents": 10}, live={"stop_timeout": 2, "ws_fills": False})
        state = tmp_path / "state"
        proc = start(cfg, tmp_path)
        acct = ex.engine.account(kid)
        assert wait_for(lambda: any(o.status == "resting" for o in acct.orders.values()) or proc.poll() is not None, 30)
        assert wait_for(lambda: (query_status(state) or {}).get("status", {}).get("state") == "running", 30)
        ex.faults.server_errors(10**6, 503, "*/portfolio/orders/*")  # every cancel fails
        reply = send_kill(state, "test", timeout=60)
        rc = wait_exit(proc, 60)
        log = sorted(tmp_path.glob("runner-*.log"))[-1].read_text()
        resting = sorted(o.client_order_id for o in acct.orders.values() if o.status == "resting")
        assert rc == 3 and rc != -signal.SIGKILL, log
        assert reply["summary"]["resting_on_exchange"] == resting and resting
        assert "still rest on the exchange" in log and resting[0] in log
        j = Journal(state / "journal.sqlite")
        assert j.events("stop_cancel")
        j.close()
    finally:
        ex.faults.reset()
        ex.stop()
