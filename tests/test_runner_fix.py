"""`kalshi live` with ``broker = "fix"`` against the local exchange's FIX acceptor.

The live runner trades over FIX (orders on the FIX session, journal, REST reconciliation) and
its journal, cash and positions end equal to the exchange's; the FixBroker's ``before_send``
hook journals every intent before the NewOrderSingle is written; FIX unknown outcomes are
resolved through REST; the setup is refused without a FIX port on the local exchange.
"""

from __future__ import annotations

import threading

import pytest
from test_restart_faults import check_against_exchange

from framework.core.config import ConfigError
from framework.exchange.fix_acceptor import attach_fix_acceptor
from framework.kalshi.fix import FixBroker, FixConfig
from framework.live import cli as live_cli
from framework.live.config import load_live_config
from framework.live.killswitch import send_kill
from framework.live.runner import LiveRunner, resolve_settings
from framework.live.testing import RecordingSink, local_exchange, run_in_thread, wait_for, write_live_config
from framework.model.orders import Order, OrderStatus
from framework.units import cents, contracts

T = "KXLOCALTEMP-26JAN01-B1"
T2 = "KXLOCALRATE-26JAN02-B2"


@pytest.fixture
def fix_exch(tmp_path):
    ex, kid, priv = local_exchange(tmp_path / "ex")
    ex.step(3)
    acc = attach_fix_acceptor(ex, port=0, session="NR").start()
    yield ex, kid, priv, acc
    acc.stop()
    ex.stop()


def _settings(tmp_path, fix_exch, markets=(T,), **live):
    ex, kid, priv, acc = fix_exch
    table = {"broker": "fix", "fix_port": acc.port, "ws_fills": False}
    table.update(live)
    p = write_live_config(tmp_path / "live.toml", ex, kid, priv, markets=list(markets), live=table)
    return resolve_settings(load_live_config(p), out=str(tmp_path / "out"))


def test_live_run_over_fix_trades_and_matches_the_exchange(tmp_path, fix_exch):
    ex, kid, _, acc = fix_exch
    s = _settings(tmp_path, fix_exch, markets=(T, T2))
    assert s.broker == "fix" and s.fix_port == acc.port
    runner = LiveRunner(s, install_signals=False, echo=None)
    t, box = run_in_thread(runner)
    acct = ex.engine.account(kid)
    assert wait_for(lambda: len([o for o in acct.orders.values() if o.status == "resting"]) == 2
                    or not t.is_alive(), 20), box
    assert type(runner.engine.broker).__name__ == "JournaledFixBroker"
    reply = send_kill(s.state_dir, "test", timeout=30)
    t.join(30)
    assert "error" not in box, box.get("error")
    summary = reply["summary"]
    assert summary["cancelled_on_exit"] == 2 and summary["fills"] >= 2
    assert summary["broker"]["sent"] == 4  # one marketable + one resting buy per market, all over FIX
    j = check_against_exchange(ex, kid, s.state_dir, summary)
    # ClOrdID = client_order_id, a uuid (not the engine's O1, O2 ...)
    assert all(len(r.client_order_id) == 36 and r.sent_ns is not None for r in j.orders())
    kinds = [e[1] for e in j.events()]
    assert kinds.index("intent") < kinds.index("ack") and "cancel_all" in kinds and "fix_logon" in kinds
    next_out, _ = j.fix_seq(runner.engine.broker.config.session_key)
    assert next_out > 5  # mirrored from the session's store at stop
    j.close()
    assert (s.state_dir / "fix-seq.sqlite").exists()
    # a restart sends nothing new, finds nothing missing (NR: a fresh 141=Y logon)
    runner2 = LiveRunner(s, install_signals=False, echo=None,
                         stop_when=lambda: runner2.report is not None)
    summary2 = runner2.run()
    assert len(acct.orders) == 4 and summary2["reconciled_ok"]
    rep = runner2.report
    assert not rep.missing and not rep.adopted and not rep.position_mismatches
    j = check_against_exchange(ex, kid, s.state_dir, summary2)
    logons = [d for _, k, _, d in j.events("fix_logon")]
    assert len(logons) == 2 and all(d["next_out"] == 2 for d in logons)  # NR: both sides restart at 1


def test_intent_is_journaled_before_the_new_order_single(tmp_path, fix_exch):
    """The before_send hook runs with the order and its ClOrdID before anything is on the wire;
    if it fails, nothing is sent."""
    ex, kid, priv, acc = fix_exch
    from framework.kalshi.auth import KalshiSigner

    signer = KalshiSigner.from_key_file(kid, priv)
    cfg = FixConfig(host="127.0.0.1", port=acc.port, sender_comp_id=kid, tls=False)
    broker = FixBroker(cfg, signer)
    sink = RecordingSink()
    broker.bind(sink, {}, sink.portfolio)
    seen = []

    def hook(kind, order, clid, info):
        seen.append((kind, order.client_order_id if order else None, clid, info,
                     len(ex.engine.account(kid).orders)))
        if order is not None and order.order_id == "O2":
            raise OSError("disk full")

    broker.before_send = hook
    broker.start()
    try:
        o1 = Order("O1", T, "yes", "buy", contracts(1), cents(2), "gtc")
        broker.submit(o1)
        assert broker.poll_until(lambda: o1.status == OrderStatus.ACCEPTED, 10)
        assert seen[0][:3] == ("new", o1.client_order_id, o1.client_order_id) and seen[0][4] == 0
        assert seen[0][3] == {"price": cents(2), "tif": "gtc"}
        assert len(o1.client_order_id) == 36 and o1.client_order_id != "O1"
        (xo,) = ex.engine.account(kid).orders.values()
        assert xo.client_order_id == o1.client_order_id  # ClOrdID = our client order id
        o2 = Order("O2", T, "yes", "buy", contracts(1), cents(2), "gtc")
        broker.submit(o2)
        assert o2.status == OrderStatus.REJECTED and "could not record the intent" in o2.reason
        assert len(ex.engine.account(kid).orders) == 1  # nothing sent
        broker.cancel(o1)
        assert seen[-1][0] == "cancel" and seen[-1][1] == o1.client_order_id
        assert broker.poll_until(lambda: o1.status == OrderStatus.CANCELLED, 10)
    finally:
        broker.stop()


def test_unknown_outcome_over_fix_is_resolved_through_rest(tmp_path, fix_exch):
    """Reports withheld: the order goes UNKNOWN, its market freezes, the REST reconciler finds it by
    client id (with its fill), nothing is sent twice; the journal records it all."""
    ex, kid, _, acc = fix_exch
    s = _settings(tmp_path, fix_exch, write_timeout=0.5)
    acc.faults.withhold_reports(2)  # the marketable order's New and Trade reports
    runner = LiveRunner(s, install_signals=False, echo=None)
    t, box = run_in_thread(runner)
    acct = ex.engine.account(kid)
    assert wait_for(lambda: runner.engine is not None and runner.engine.broker.stats.get("reconciled", 0) >= 1
                    or not t.is_alive(), 20), box
    assert wait_for(lambda: len([o for o in acct.orders.values() if o.status == "resting"]) == 1
                    or not t.is_alive(), 20), box
    reply = send_kill(s.state_dir, "test", timeout=30)
    t.join(30)
    assert "error" not in box, box.get("error")
    j = check_against_exchange(ex, kid, s.state_dir, reply["summary"])
    assert j.events("unknown") and len(acct.orders) == 2 and j.fills()
    assert runner.engine.broker.stats["reconciled"] >= 1 and not runner.engine.broker.frozen


def test_fix_on_the_local_exchange_needs_the_fix_port(tmp_path, fix_exch, capsys):
    ex, kid, priv, _ = fix_exch
    p = write_live_config(tmp_path / "live.toml", ex, kid, priv, markets=[T], live={"broker": "fix"})
    with pytest.raises(ConfigError, match="--fix-port"):
        resolve_settings(load_live_config(p))
    assert resolve_settings(load_live_config(p), fix_port=9878).fix_port == 9878
    with pytest.raises(ConfigError, match="fix_session"):
        resolve_settings(load_live_config(write_live_config(
            tmp_path / "b.toml", ex, kid, priv, markets=[T], live={"broker": "fix", "fix_session": "XX"})),
            fix_port=1)
    assert live_cli.main(["live", str(p)]) == 2
    assert "--fix-port" in capsys.readouterr().err


def test_unknown_order_lookup_runs_off_the_engine_thread(tmp_path, fix_exch):
    """The REST lookup of an UNKNOWN order runs on a worker thread: while it is stuck, poll()
    (the engine thread: market data, the kill switch) keeps returning; its answer is applied by
    a later poll()."""
    from framework.brokers.live.fix import JournaledFixBroker
    from framework.kalshi.auth import KalshiSigner
    from framework.kalshi.envs import Environment
    from framework.kalshi.rest import KalshiRestClient

    ex, kid, priv, acc = fix_exch
    signer = KalshiSigner.from_key_file(kid, priv)
    rest = KalshiRestClient(Environment("local", ex.rest_url, ex.ws_url), signer)
    entered, release = threading.Event(), threading.Event()

    class StuckClient:  # the first order listing hangs until the test releases it
        def __getattr__(self, name):
            return getattr(rest, name)

        def iter_orders(self, **kw):
            entered.set()
            release.wait(20)
            return rest.iter_orders(**kw)

    cfg = FixConfig(host="127.0.0.1", port=acc.port, sender_comp_id=kid, tls=False, ack_timeout_s=0.3)
    broker = JournaledFixBroker(cfg, signer, client=StuckClient())
    sink = RecordingSink()
    broker.bind(sink, {}, sink.portfolio)
    broker.start()
    try:
        acc.faults.withhold_reports(1)  # the order's New report never comes
        o = Order("O1", T, "yes", "buy", contracts(1), cents(2), "gtc")
        broker.submit(o)
        assert broker.poll_until(lambda: o.status == OrderStatus.UNKNOWN, 10)
        assert broker.poll_until(entered.is_set, 10)  # the lookup started ...
        for _ in range(5):
            broker.poll()  # ... and the engine thread is not waiting for it
        assert o.status == OrderStatus.UNKNOWN and not release.is_set() and T in broker.frozen
        release.set()
        assert broker.poll_until(lambda: o.status == OrderStatus.ACCEPTED, 10)
        assert broker.stats["reconciled"] == 1 and not broker.frozen
        assert o.exchange_order_id == next(iter(ex.engine.account(kid).orders))
    finally:
        release.set()
        broker.stop()
    rest.close()
