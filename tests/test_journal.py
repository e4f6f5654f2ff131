"""The SQLite journal: intent before ack, fills once, portfolio round trip, atomic writes."""

from __future__ import annotations

import sqlite3

import pytest

from framework.live.journal import Journal
from framework.model.orders import Fill, Order, OrderStatus
from framework.model.portfolio import Portfolio


def _order(coid="c1"):
    return Order("O1", "KXA-1", "yes", "buy", 300, 4500, client_order_id=coid)


def test_intent_ack_fill_and_reload(tmp_path):
    j = Journal(tmp_path / "j.sqlite")
    assert j.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    session = j.new_session()
    o = _order()
    j.record_intent(o, session, 4500, "gtc")
    row = j.order("c1")
    assert row.status == OrderStatus.PENDING and row.sent_ns is None and row.exchange_order_id is None
    with pytest.raises(sqlite3.IntegrityError):
        j.record_intent(o, session, 4500, "gtc")  # a client id is never reused
    o.exchange_order_id, o.status = "X1", OrderStatus.ACCEPTED
    j.update_order(o, "ack", acked=True)
    pf = Portfolio(1_000_000)
    f = Fill("KXA-1", "yes", "buy", 4500, 100, 200, 5, "O1", False)
    pf.apply_fill(*f[:6])
    o.filled_qty, o.status = 100, OrderStatus.PARTIALLY_FILLED
    assert j.record_fill("F1", f, o, pf, "ws", exchange_ts_ns=7)
    assert not j.record_fill("F1", f, o, pf, "rest")  # duplicate report: ignored
    j.close()

    j = Journal(tmp_path / "j.sqlite")
    assert j.new_session() == 2
    (row,) = j.orders(active_only=True)
    assert (row.exchange_order_id, row.status, row.filled_qty, row.acked_ns is not None) == \
        ("X1", OrderStatus.PARTIALLY_FILLED, 100, True)
    back = j.load_portfolio()
    assert back.cash == pf.cash and back.net("KXA-1") == 100 and back.positions["KXA-1"].yes_cost == 4500
    assert j.get("last_fill_ts") == 7 and j.fill_ids() == {"F1"}
    restored = row.to_order("O1/s1")
    assert restored.client_order_id == "c1" and restored.filled_qty == 100
    kinds = [k for _, k, _, _ in j.events()]
    assert kinds[:3] == ["session_start", "intent", "ack"]
    j.close()


def test_writes_are_atomic(tmp_path):
    j = Journal(tmp_path / "j.sqlite")
    with pytest.raises(sqlite3.Error):
        j._tx([("INSERT INTO state(key, value) VALUES ('a', '1')", ()), ("INSERT INTO nope VALUES (1)", ())])
    assert j.get("a") is None  # the first statement was rolled back with the second


def test_fix_sequence_numbers_and_feed_cursors(tmp_path):
    j = Journal(tmp_path / "j.sqlite")
    assert j.fix_seq("S") == (1, 1)
    j.set_fix_seq("S", 10, 7)
    j.set_cursor("ws", "KXA-1", {"seq": 42})
    j.close()
    j = Journal(tmp_path / "j.sqlite")
    assert j.fix_seq("S") == (10, 7) and j.cursor("ws", "KXA-1") == {"seq": 42}
