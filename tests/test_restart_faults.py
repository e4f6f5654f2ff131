"""kill -9 the live runner at controlled points, restart it, and check against the exchange.

The runner runs in a subprocess (``python -m framework.live.cli live CONFIG``) against the
in-process local exchange. It dies (SIGKILL) after an order intent is journaled but before it is
sent, after the exchange answered but before the answer is journaled, and after a fill is
journaled. After each restart: positions and cash equal the exchange's exactly, no client order
id is on the exchange twice, every exchange order is in the journal, and the restarted run
stops cleanly through the kill switch.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from framework.live.journal import Journal
from framework.live.killswitch import query_status, send_kill
from framework.live.testing import local_exchange, start_live_process, wait_for, write_live_config
from framework.model.orders import ACTIVE_STATUSES, OrderStatus

REPO = Path(__file__).resolve().parent.parent
T = "KXLOCALTEMP-26JAN01-B1"
T2 = "KXLOCALRATE-26JAN02-B2"


@pytest.fixture
def setup(tmp_path):
    ex, kid, priv = local_exchange(tmp_path / "ex")
    ex.step(3)
    cfg = write_live_config(tmp_path / "live.toml", ex, kid, priv, markets=[T, T2],
                            params={"qty": 2, "below_cents": 10})
    yield ex, kid, cfg, tmp_path / "state"
    ex.stop()


def start(cfg: Path, tmp: Path, **env_extra: str) -> subprocess.Popen:
    return start_live_process(cfg, tmp, REPO, **env_extra)


def wait_exit(proc: subprocess.Popen, timeout: float = 30.0) -> int:
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
        raise AssertionError("runner did not exit before the deadline") from None


def restart_and_kill(cfg: Path, tmp: Path, state: Path, between=None) -> dict:
    proc = start(cfg, tmp)
    try:
        assert wait_for(lambda: (query_status(state) or {}).get("status", {}).get("state") == "running"
                        or proc.poll() is not None, 30), "restarted runner did not come up"
        assert proc.poll() is None, (tmp / "runner-1.log").read_text()
        if between is not None:
            between()
        reply = send_kill(state, "test done", timeout=30)
    finally:
        rc = wait_exit(proc)
    assert rc == 0, sorted(tmp.glob("runner-*.log"))[-1].read_text()
    assert reply["summary"] is not None
    return reply["summary"]


def check_against_exchange(ex, kid, state: Path, summary: dict) -> Journal:
    acct = ex.engine.account(kid)
    j = Journal(state / "journal.sqlite")
    pf = j.load_portfolio()
    # positions and cash equal the exchange's, to the contract and the $0.0001
    assert pf.cash == acct.cash == summary["cash_units"]
    ours = {t: p.yes - p.no for t, p in pf.positions.items() if p.yes or p.no}
    assert ours == {t: p.qty for t, p in acct.positions.items() if p.qty}
    # no order duplicated: every client id at most once on the exchange
    coids = [o.client_order_id for o in acct.orders.values()]
    assert len(coids) == len(set(coids))
    # none lost: every exchange order is journaled under its client id, with its exchange id
    rows = {r.client_order_id: r for r in j.orders()}
    for o in acct.orders.values():
        assert o.client_order_id in rows, f"exchange order {o.order_id} missing from the journal"
        assert rows[o.client_order_id].exchange_order_id == o.order_id
        assert "adopted" not in rows[o.client_order_id].flags
    # the kill switch left nothing open, here or there
    assert not [r for r in rows.values() if r.status in ACTIVE_STATUSES]
    assert not [o for o in acct.orders.values() if o.status == "resting"]
    # every journaled fill is an exchange fill, once
    assert sorted(f.fill_id for f in j.fills()) == sorted(f.fill_id for f in acct.fills)
    return j


def test_kill9_after_intent_before_send(setup, tmp_path):
    ex, kid, cfg, state = setup
    proc = start(cfg, tmp_path, KALSHI_LIVE_CRASH_AT="after_intent")
    assert wait_exit(proc) == -signal.SIGKILL
    j = Journal(state / "journal.sqlite")
    intents = j.orders()
    assert intents and all(r.exchange_order_id is None for r in intents)
    j.close()
    assert not ex.engine.account(kid).orders  # nothing reached the exchange
    summary = restart_and_kill(cfg, tmp_path, state)
    j = check_against_exchange(ex, kid, state, summary)
    rows = j.orders()
    assert all(r.status == OrderStatus.REJECTED and r.reason.startswith("missing") for r in rows)
    assert [e for e in j.events("reconciled")][-1][3]["missing"]


def test_kill9_after_send_before_ack_external_sigkill(setup, tmp_path):
    ex, kid, cfg, state = setup
    proc = start(cfg, tmp_path, KALSHI_LIVE_PAUSE_AT="after_send")
    paused = tmp_path / "hooks" / "after_send.paused"
    try:
        assert wait_for(lambda: paused.exists() or proc.poll() is not None, 30), "runner never paused"
        assert int(paused.read_text()) == proc.pid
    finally:
        os.kill(proc.pid, signal.SIGKILL)
    assert wait_exit(proc) == -signal.SIGKILL
    acct = ex.engine.account(kid)
    assert len(acct.orders) == 1  # placed (and filled: it was marketable) ...
    (xo,) = acct.orders.values()
    j = Journal(state / "journal.sqlite")
    first = j.order(xo.client_order_id)
    assert first is not None and first.acked_ns is None  # ... but its answer was never journaled
    fill_seen = bool(j.fills())  # the WS fill channel may have delivered the fill before the kill
    j.close()
    summary = restart_and_kill(cfg, tmp_path, state)
    j = check_against_exchange(ex, kid, state, summary)
    final = j.order(first.client_order_id)
    assert final.status == OrderStatus.FILLED and final.exchange_order_id == xo.order_id
    if not fill_seen:
        rec = j.events("reconciled")[-1][3]
        assert rec["fills_recovered"] >= 1 and rec["resolved"]


def test_kill9_after_fill_then_fill_while_down(setup, tmp_path):
    ex, kid, cfg, state = setup
    ex.faults.duplicate_ws(3)
    proc = start(cfg, tmp_path, KALSHI_LIVE_CRASH_AT="after_fill:2")
    assert wait_exit(proc) == -signal.SIGKILL
    acct = ex.engine.account(kid)
    # while the runner is down, a seller hits one of our resting bids
    resting = [o for o in acct.orders.values() if o.status == "resting"]
    if resting:
        o = resting[0]
        ex.engine.account("other")
        yes_bids, _, _ = ex.engine.orderbook(o.ticker)
        ahead = sum(size for price, size in yes_bids if price > o.price)  # sweep down to our bid
        ex.engine.place_order("other", o.ticker, "yes", "sell", o.price, ahead + 100, tif="immediate_or_cancel")
        assert o.filled == 100
    summary = restart_and_kill(cfg, tmp_path, state)
    j = check_against_exchange(ex, kid, state, summary)
    if resting:
        assert j.events("reconciled")[-1][3]["fills_recovered"] >= 1
    assert summary["cancelled_on_exit"] >= 0


def test_clean_run_kill_via_cli_then_restart_is_idempotent(setup, tmp_path):
    ex, kid, cfg, state = setup
    proc = start(cfg, tmp_path)
    try:
        assert wait_for(lambda: len(ex.engine.account(kid).orders) >= 4 or proc.poll() is not None, 30)
        assert wait_for(lambda: len([o for o in ex.engine.account(kid).orders.values()
                                     if o.status == "resting"]) >= 2, 10)
        out = subprocess.run([sys.executable, "-m", "framework.live.cli", "kill", str(cfg), "--reason", "cli"],
                             cwd=REPO, capture_output=True, text=True, timeout=60)
    finally:
        rc = wait_exit(proc)
    assert rc == 0 and out.returncode == 0, out.stdout + out.stderr
    assert "cancelled 2 open order(s)" in out.stdout
    acct = ex.engine.account(kid)
    n_orders = len(acct.orders)
    j = Journal(state / "journal.sqlite")
    summary = {"cash_units": j.load_portfolio().cash}
    j.close()
    check_against_exchange(ex, kid, state, summary)
    # a restart finds everything in order and sends nothing new
    summary = restart_and_kill(cfg, tmp_path, state)
    j = check_against_exchange(ex, kid, state, summary)
    assert len(acct.orders) == n_orders
    rec = j.events("reconciled")[-1][3]
    assert rec["ok"] and not rec["missing"] and not rec["adopted"] and not rec["position_mismatches"]
