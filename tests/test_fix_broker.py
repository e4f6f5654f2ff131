"""FixBroker order state machine, driven by hand-made reports (no sockets)."""

from __future__ import annotations

import pytest

from framework.kalshi.fix import EXCHANGE_UNAVAILABLE, FixBroker, FixConfig, OrderSnapshot, fix_side_price
from framework.kalshi.fix.codec import Message
from framework.kalshi.fix.session import NotLoggedOn, SendFailed
from framework.model.book import OrderBook
from framework.model.orders import Order, OrderStatus
from framework.units import DOLLAR, cents, contracts

T = "KXT-26JAN01-T50"
S = OrderStatus


class FakeSession:
    def __init__(self) -> None:
        self.sent: list[tuple[int, str, dict]] = []
        self.logged_on = True
        self.fail: Exception | None = None
        self.on_message = self.on_event = None

    def send(self, mt, body):
        if self.fail is not None:
            raise self.fail
        seq = len(self.sent) + 2
        self.sent.append((seq, mt, {t: v for t, v in body if v is not None}))
        return seq


class Sink:
    now = 123

    def __init__(self) -> None:
        self.updates, self.fills = [], []

    def order_update(self, o):
        self.updates.append((o.order_id, o.status))

    def fill(self, o, f):
        self.fills.append(f)


class Clock:
    t = 0.0

    def __call__(self):
        return self.t


@pytest.fixture
def env():
    sess, sink, clock = FakeSession(), Sink(), Clock()
    cfg = FixConfig(host="127.0.0.1", port=1, sender_comp_id="k", tls=False, ack_timeout_s=5, ioc_grace_s=1)
    b = FixBroker(cfg, None, session=sess, monotonic=clock)
    book = OrderBook(T)
    book.set_top(0, cents(45), cents(50), contracts(10), contracts(10))
    b.bind(sink, {T: book}, None)
    return b, sess, sink, clock


def order(side="yes", action="buy", qty=5, price=40, tif="gtc", oid="O1"):
    return Order(oid, T, side, action, contracts(qty), None if price is None else cents(price), tif)


def feed(b, mt="8", **tags):
    pairs = [(35, mt), (34, 99)] + [(int(k[1:]), str(v)) for k, v in tags.items()]
    b._on_message(Message(pairs))
    b.poll()


def er(b, o, et, st, exec_id=None, **tags):
    clid = tags.pop("clid", b._clid[o.order_id])
    feed(b, t11=clid, t37="X1", t17=exec_id or f"{et}{len(b._seen_exec)}", t150=et, t39=st, **tags)


@pytest.mark.parametrize("side,action,price,want", [
    ("yes", "buy", 40, ("1", 4000)), ("yes", "sell", 40, ("2", 4000)),
    ("no", "buy", 60, ("2", 4000)), ("no", "sell", 60, ("1", 4000))])
def test_side_and_price_mapping(env, side, action, price, want):
    b, sess, _, _ = env
    assert fix_side_price(side, action, cents(price)) == want
    b.submit(order(side, action, 3, price))
    _, mt, body = sess.sent[-1]
    assert mt == "D" and (body[54], body[44], body[38], body[40], body[59]) == (want[0], "40", "3", "2", "1")


def test_new_then_partial_then_filled_with_exchange_fee(env):
    b, _, sink, _ = env
    o = order(qty=5)
    b.submit(o)
    er(b, o, "0", "0")
    assert o.status == S.ACCEPTED
    er(b, o, "F", "1", t14="2.00", t151="3.00", t31="40", t32="2.00", t1057="N", t136=1, t137="0.0100", t139=4)
    assert o.status == S.PARTIALLY_FILLED and o.filled_qty == contracts(2)
    f = sink.fills[-1]
    assert (f.price, f.qty, f.fee, f.is_maker) == (cents(40), contracts(2), 100, True)
    er(b, o, "F", "2", t14="5.00", t151="0", t31="40", t32="3.00", t1057="Y")
    assert o.status == S.FILLED and sum(f.qty for f in sink.fills) == contracts(5)
    # no fee group: the FeeModel's 2026 rule for this fill (3 @ $0.40: $0.0504 -> $0.06)
    assert sink.fills[-1].fee == 600


def test_new_folded_into_first_trade_and_no_price_is_yes_price(env):
    b, _, sink, _ = env
    o = order("no", "buy", 2, 60)
    b.submit(o)
    er(b, o, "F", "2", t14="2", t151="0", t31="42", t32="2", t1057="Y")  # LastPx is the YES price
    assert o.status == S.FILLED
    assert sink.fills[-1].price == DOLLAR - cents(42) and not sink.fills[-1].is_maker  # NO at 58, within 60


def test_duplicate_exec_id_and_resent_report_do_not_double_count(env):
    b, _, sink, _ = env
    o = order(qty=5, price=45)  # fills at 40-42 are within the limit
    b.submit(o)
    er(b, o, "F", "1", exec_id="4;7", t14="2", t151="3", t31="40", t32="2")
    er(b, o, "F", "1", exec_id="4;7", t14="2", t151="3", t31="40", t32="2")  # same ExecID
    er(b, o, "F", "1", exec_id="9;9", t14="2", t151="3", t31="40", t32="2")  # new id, same CumQty
    assert len(sink.fills) == 1 and o.filled_qty == contracts(2)
    # a missed report is recovered from CumQty/AvgPx on the next one
    er(b, o, "F", "2", exec_id="5;1", t14="5", t151="0", t6="41.2", t31="42", t32="1")
    assert o.filled_qty == contracts(5) and sink.fills[-1].qty == contracts(3)
    assert o.avg_price_num == cents("41.2") * contracts(5)


def test_ioc_remainder_without_cancel_report(env):
    b, _, _, clock = env
    o = order(qty=5, tif="ioc")
    b.submit(o)
    er(b, o, "F", "1", t14="2", t151="3", t31="40", t32="2")
    assert o.status == S.PARTIALLY_FILLED
    clock.t += 1.0
    b.poll()
    assert o.status == S.CANCELLED and "no cancel report" in o.reason
    o2 = order(qty=5, tif="ioc", oid="O2")
    b.submit(o2)
    er(b, o2, "F", "1", t14="2", t151="0", t31="40", t32="2")
    assert o2.status == S.CANCELLED


def test_marketable_order_goes_as_ioc_limit_at_visible_price(env):
    b, sess, _, _ = env
    b.submit(order("yes", "buy", 1, None))
    assert sess.sent[-1][2][44] == "50" and sess.sent[-1][2][59] == "3"  # YES ask = 1 - NO bid
    b.submit(order("no", "buy", 1, None, oid="O2"))
    assert sess.sent[-1][2][54] == "2" and sess.sent[-1][2][44] == "45"  # NO ask 55 = YES bid 45
    b.books.clear()
    o = order("yes", "buy", 1, None, oid="O3")
    b.submit(o)
    assert o.status == S.CANCELLED


def test_cancel_and_expire(env):
    b, sess, _, _ = env
    o = order()
    b.submit(o)
    er(b, o, "0", "0")
    b.cancel(o)
    _, mt, body = sess.sent[-1]
    assert mt == "F" and body[41] == b._clid[o.order_id] and body[54] == "1" and 38 not in body
    er(b, o, "4", "4", clid=body[11])
    assert o.status == S.CANCELLED
    o2 = order(oid="O2")
    b.submit(o2)
    er(b, o2, "C", "C")
    assert o2.status == S.EXPIRED


def test_cancel_reject_keeps_status_and_records_reason(env):
    b, sess, _, _ = env
    o = order()
    b.submit(o)
    er(b, o, "0", "0")
    b.cancel(o)
    feed(b, "9", t11=sess.sent[-1][2][11], t41=b._clid[o.order_id], t37="X1", t39="0", t434=1, t102=0,
         t58="TOO_LATE_TO_CANCEL")
    assert o.status == S.ACCEPTED and "TOO_LATE" in o.reason


def test_replace(env):
    b, sess, _, _ = env
    o = order(qty=5, price=40)
    b.submit(o)
    er(b, o, "0", "0")
    b.replace(o, price=cents(42), qty=contracts(7))
    _, mt, body = sess.sent[-1]
    assert mt == "G" and body[38] == "7" and body[44] == "42"
    er(b, o, "5", "0", clid=body[11], t44="42", t14="0", t151="7")
    assert (o.price, o.qty, o.status) == (cents(42), contracts(7), S.ACCEPTED)
    assert b._clid[o.order_id] == body[11]


def test_rejects(env):
    b, sess, _, _ = env
    o1, o2, o3 = order(oid="O1"), order(oid="O2"), order(oid="O3")
    b.submit(o1)
    er(b, o1, "8", "8", t103=3, t58="INSUFFICIENT_BALANCE")
    assert o1.status == S.REJECTED and "INSUFFICIENT_BALANCE" in o1.reason
    b.submit(o2)
    feed(b, "j", t45=sess.sent[-1][0], t372="D", t380=8, t58="rate limit exceeded")
    assert o2.status == S.REJECTED and "rate limit" in o2.reason
    b.submit(o3)
    feed(b, "3", t45=sess.sent[-1][0], t373=5, t58="bad value")
    assert o3.status == S.REJECTED and "session reject" in o3.reason


def test_unknown_outcomes_freeze_the_market_until_reconciled(env):
    b, sess, _, clock = env
    o = order()
    b.submit(o)
    er(b, o, "8", "8", t58=EXCHANGE_UNAVAILABLE)
    assert o.status == S.UNKNOWN and T in b.frozen
    o2 = order(oid="O2")
    n = len(sess.sent)
    b.submit(o2)
    assert o2.status == S.REJECTED and "frozen" in o2.reason and len(sess.sent) == n
    er(b, o, "0", "0")  # an authoritative report settles it
    assert o.status == S.ACCEPTED and T not in b.frozen
    # timeout
    o3 = order(oid="O3")
    b.submit(o3)
    clock.t += 5
    b.poll()
    assert o3.status == S.UNKNOWN and T in b.frozen
    b.reconcile([OrderSnapshot(o3.client_order_id, S.PARTIALLY_FILLED, contracts(1), cents(40), 100)], [o3])
    assert o3.status == S.PARTIALLY_FILLED and o3.filled_qty == contracts(1) and T not in b.frozen
    # send failure (may have been sent) vs not logged on (certainly not sent)
    sess.fail = SendFailed("boom")
    o4 = order(oid="O4")
    b.submit(o4)
    assert o4.status == S.UNKNOWN
    b.reconcile([], [o4])
    assert o4.status == S.REJECTED and T not in b.frozen
    sess.fail = NotLoggedOn("down")
    o5 = order(oid="O5")
    b.submit(o5)
    assert o5.status == S.REJECTED


def test_disconnect_without_retransmission_marks_live_orders_unknown(env):
    b, _, _, _ = env
    o = order()
    b.submit(o)
    er(b, o, "0", "0")
    b._on_event("disconnected", {"reason": "x"})
    b.poll()
    assert o.status == S.UNKNOWN and T in b.frozen


def test_local_checks(env):
    b, _, _, _ = env
    o = order(price=None)
    o.price = cents(40.5)  # sub-cent needs 21005 dollars mode
    b.submit(o)
    assert o.status == S.REJECTED and "finer than a cent" in o.reason
    o2 = order(oid="O2")
    o2.reduce_only = True
    b.submit(o2)
    assert o2.status == S.REJECTED and "IOC" in o2.reason
