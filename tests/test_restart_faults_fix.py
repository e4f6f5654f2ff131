"""The kill -9 fault matrix of ``tests/test_restart_faults.py``, with ``broker = "fix"``.

The runner (``python -m framework.live.cli live CONFIG``, orders over the local exchange's FIX
acceptor) dies after an order intent is journaled but before the NewOrderSingle is written,
after the exchange answered but before the answer is journaled, and after a fill is journaled
(then a fill happens while it is down). After each restart positions and cash equal the
exchange's, no client order id is on the exchange twice, every exchange order is journaled, and
the restarted run stops cleanly. On an RT session the restart resumes the sequence numbers
from ``<state_dir>/fix-seq.sqlite``; NR sessions restart them at 1 (141=Y), as Kalshi requires.
"""

from __future__ import annotations

import os
import signal

import pytest
from test_restart_faults import check_against_exchange, restart_and_kill, start, wait_exit

from framework.exchange.fix_acceptor import attach_fix_acceptor
from framework.live.journal import Journal
from framework.live.testing import local_exchange, wait_for, write_live_config
from framework.model.orders import OrderStatus

T = "KXLOCALTEMP-26JAN01-B1"
T2 = "KXLOCALRATE-26JAN02-B2"


def _setup(tmp_path, session: str = "NR"):
    ex, kid, priv = local_exchange(tmp_path / "ex")
    ex.step(3)
    acc = attach_fix_acceptor(ex, port=0, session=session).start()
    cfg = write_live_config(tmp_path / "live.toml", ex, kid, priv, markets=[T, T2],
                            params={"qty": 2, "below_cents": 10},
                            live={"broker": "fix", "fix_port": acc.port, "fix_session": session})
    return ex, acc, kid, cfg, tmp_path / "state"


@pytest.fixture
def setup(tmp_path):
    ex, acc, kid, cfg, state = _setup(tmp_path)
    yield ex, acc, kid, cfg, state
    acc.stop()
    ex.stop()


@pytest.fixture
def setup_rt(tmp_path):
    ex, acc, kid, cfg, state = _setup(tmp_path, "RT")
    yield ex, acc, kid, cfg, state
    acc.stop()
    ex.stop()


def _logons(state):
    j = Journal(state / "journal.sqlite")
    try:
        return [d for _, _, _, d in j.events("fix_logon")]
    finally:
        j.close()


def test_fix_kill9_after_intent_before_send(setup, tmp_path):
    ex, acc, kid, cfg, state = setup
    proc = start(cfg, tmp_path, KALSHI_LIVE_CRASH_AT="after_intent")
    assert wait_exit(proc) == -signal.SIGKILL
    j = Journal(state / "journal.sqlite")
    intents = j.orders()
    assert len(intents) == 1 and intents[0].exchange_order_id is None and intents[0].sent_ns is None
    j.close()
    assert not ex.engine.account(kid).orders  # no NewOrderSingle reached the exchange
    summary = restart_and_kill(cfg, tmp_path, state)
    j = check_against_exchange(ex, kid, state, summary)
    (row,) = j.orders()
    assert row.status == OrderStatus.REJECTED and row.reason.startswith("missing")
    assert j.events("reconciled")[-1][3]["missing"] == [row.client_order_id]


def test_fix_kill9_after_the_exchange_answered_before_it_is_journaled(setup, tmp_path):
    ex, acc, kid, cfg, state = setup
    proc = start(cfg, tmp_path, KALSHI_LIVE_PAUSE_AT="after_send")
    paused = tmp_path / "hooks" / "after_send.paused"
    try:
        assert wait_for(lambda: paused.exists() or proc.poll() is not None, 30), "runner never paused"
        assert int(paused.read_text()) == proc.pid
    finally:
        os.kill(proc.pid, signal.SIGKILL)
    assert wait_exit(proc) == -signal.SIGKILL
    acct = ex.engine.account(kid)
    first = next(o for o in acct.orders.values() if o.tif == "immediate_or_cancel")
    assert first.filled == 200  # placed and filled (it was marketable) ...
    j = Journal(state / "journal.sqlite")
    row = j.order(first.client_order_id)
    assert row is not None and row.acked_ns is None and row.exchange_order_id is None  # ... answer never journaled
    assert not j.fills()
    j.close()
    n_orders = len(acct.orders)
    summary = restart_and_kill(cfg, tmp_path, state)
    j = check_against_exchange(ex, kid, state, summary)
    assert len(acct.orders) == n_orders  # found by client id: nothing sent again
    final = j.order(first.client_order_id)
    assert final.status == OrderStatus.FILLED and final.exchange_order_id == first.order_id
    rec = j.events("reconciled")[-1][3]
    assert rec["fills_recovered"] >= 1 and first.client_order_id in [r["client_order_id"] for r in rec["resolved"]]
    assert not rec["missing"] and not rec["adopted"]


def test_fix_kill9_after_fill_then_fill_while_down(setup, tmp_path):
    ex, acc, kid, cfg, state = setup
    acc.faults.duplicate_reports(4, poss_dup=False)  # the same ExecIDs under new sequence numbers
    proc = start(cfg, tmp_path, KALSHI_LIVE_CRASH_AT="after_fill:2")
    assert wait_exit(proc) == -signal.SIGKILL
    acct = ex.engine.account(kid)
    # while the runner is down, a seller hits one of our resting bids
    resting = [o for o in acct.orders.values() if o.status == "resting"]
    assert resting  # both markets' orders went out before the second fill
    if resting:
        o = resting[0]
        ex.engine.account("other")
        yes_bids, _, _ = ex.engine.orderbook(o.ticker)
        ahead = sum(size for price, size in yes_bids if price > o.price)
        ex.engine.place_order("other", o.ticker, "yes", "sell", o.price, ahead + 100, tif="immediate_or_cancel")
        assert o.filled == 100
    summary = restart_and_kill(cfg, tmp_path, state)
    j = check_against_exchange(ex, kid, state, summary)
    if resting:
        assert j.events("reconciled")[-1][3]["fills_recovered"] >= 1
        assert j.order(resting[0].client_order_id).filled_qty == 100
    logons = _logons(state)
    assert len(logons) == 2 and all(d["reset"] and d["next_out"] == 2 for d in logons)  # NR: 141=Y each time


def test_fix_rt_restart_resumes_sequence_numbers(setup_rt, tmp_path):
    ex, acc, kid, cfg, state = setup_rt
    proc = start(cfg, tmp_path, KALSHI_LIVE_CRASH_AT="after_fill:2")
    assert wait_exit(proc) == -signal.SIGKILL
    sent_before, _ = acc.seq_state(kid)  # what the acceptor sent us before the crash
    _, expected_from_us = acc.seq_state(kid)
    assert expected_from_us > 3
    summary = restart_and_kill(cfg, tmp_path, state)
    check_against_exchange(ex, kid, state, summary)
    logons = _logons(state)
    assert len(logons) == 2 and not any(d["reset"] for d in logons)
    # the second logon went out under the number after the last message of the killed run
    assert logons[1]["next_out"] == expected_from_us + 1
    assert acc.seq_state(kid)[0] > sent_before
