"""RestBroker against the in-process local exchange: order life cycle, unknown outcomes, 5xx,
409 on a known client id, duplicate and dropped-socket fills, amend/decrease, journaling."""

from __future__ import annotations

import pytest

from framework import CONTRACT, cents
from framework.brokers.live.rest import RestBroker
from framework.kalshi.auth import KalshiSigner
from framework.kalshi.rest import KalshiRestClient
from framework.live.journal import Journal
from framework.live.testing import RecordingSink, local_exchange, wait_for
from framework.model.orders import Order, OrderStatus

T = "KXLOCALTEMP-26JAN01-B1"


@pytest.fixture
def env(tmp_path):
    ex, kid, priv = local_exchange(tmp_path / "ex")
    ex.step(3)
    signer = KalshiSigner.from_key_file(kid, priv)
    client = KalshiRestClient(ex.rest_url, signer, timeout=(2.0, 1.0), max_retries=2, backoff_base=0.01)
    journal = Journal(tmp_path / "journal.sqlite")
    yield ex, kid, signer, client, journal
    journal.close()
    client.close()
    ex.stop()


def make(env, use_ws=False, **kw):
    ex, kid, signer, client, journal = env
    sink = RecordingSink()
    broker = RestBroker(client, journal=journal, session=1, ws_url=ex.ws_url if use_ws else None, signer=signer,
                        fill_poll_interval=0.2, order_poll_interval=0.3, **kw)
    broker.bind(sink, sink.books, sink.portfolio)
    broker.start()
    return broker, sink


_ids = iter(range(1, 10_000))


def order(action="buy", qty=2, price=None, side="yes", tif="gtc", **kw) -> Order:
    n = next(_ids)
    return Order(f"O{n}", T, side, action, qty * CONTRACT, price, tif, **kw)


def settle(broker, pred, timeout=10.0):
    assert wait_for(pred, timeout, between=broker.poll), "condition not reached before the deadline"


def exchange_orders(ex, kid, coid=None):
    acct = ex.engine.account(kid)
    return [o for o in acct.orders.values() if coid is None or o.client_order_id == coid]


def assert_books_agree(ex, kid, sink):
    acct = ex.engine.account(kid)
    assert sink.portfolio.cash == acct.cash
    ours = {t: p.yes - p.no for t, p in sink.portfolio.positions.items() if p.yes or p.no}
    theirs = {t: p.qty for t, p in acct.positions.items() if p.qty}
    assert ours == theirs


def test_limit_rests_then_cancel(env):
    ex, kid, *_ , journal = env
    broker, sink = make(env)
    try:
        bid = ex.engine.top(T)["yes_bid"]
        o = order(price=bid - cents(5))
        broker.submit(o)
        row = journal.order(o.client_order_id)
        assert row is not None and row.status == OrderStatus.PENDING and row.exchange_order_id is None  # intent first
        settle(broker, lambda: o.status == OrderStatus.ACCEPTED)
        assert o.exchange_order_id and journal.order(o.client_order_id).exchange_order_id == o.exchange_order_id
        broker.cancel(o)
        settle(broker, lambda: o.status == OrderStatus.CANCELLED)
        assert o.reason == "cancelled by strategy"
        assert exchange_orders(ex, kid, o.client_order_id)[0].status == "canceled"
        assert journal.order(o.client_order_id).status == OrderStatus.CANCELLED
    finally:
        broker.stop()


def test_marketable_goes_out_as_capped_limit_and_fills_with_exchange_fees(env):
    ex, kid, *_ , journal = env
    broker, sink = make(env)
    try:
        sink.set_book(ex, T)
        ask = ex.engine.top(T)["yes_ask"]
        o = order(qty=1)
        broker.submit(o)
        settle(broker, lambda: o.status == OrderStatus.FILLED)
        (xo,) = exchange_orders(ex, kid, o.client_order_id)
        assert xo.tif == "fill_or_kill"  # buy_max_cost makes Kalshi treat it as FOK
        assert xo.yes_price == ask and sink.fills[0].price == ask
        assert sink.fills[0].fee == ex.engine.account(kid).fills[0].fee > 0
        assert_books_agree(ex, kid, sink)
        assert len(journal.fills()) == 1 and journal.load_portfolio().cash == sink.portfolio.cash
    finally:
        broker.stop()


def test_marketable_without_book_is_cancelled_locally(env):
    broker, sink = make(env)
    try:
        o = order()
        broker.submit(o)
        assert o.status == OrderStatus.CANCELLED and o.reason == "no liquidity on the opposite side"
    finally:
        broker.stop()


def test_timeout_on_create_is_resolved_by_client_id_never_doubled(env):
    ex, kid, *_ , journal = env
    broker, sink = make(env)
    try:
        sink.set_book(ex, T)
        ex.faults.order_timeout(1)
        o = order(qty=1)
        broker.submit(o)
        settle(broker, lambda: o.status == OrderStatus.FILLED)
        assert (o.order_id, OrderStatus.UNKNOWN, o.reason) not in sink.updates
        assert any(s == OrderStatus.UNKNOWN for _, s, _ in sink.updates)
        assert len(exchange_orders(ex, kid, o.client_order_id)) == 1
        assert len(exchange_orders(ex, kid)) == 1
        assert broker.stats["resent"] == 0
        assert [e[1] for e in journal.events() if e[2] == o.client_order_id][:3] == ["intent", "unknown", "ack"]
        assert_books_agree(ex, kid, sink)
    finally:
        broker.stop()


def test_5xx_on_create_is_checked_then_resent_once(env):
    ex, kid, *_ = env
    broker, sink = make(env)
    try:
        bid = ex.engine.top(T)["yes_bid"]
        ex.faults.server_errors(1, status=503, path="*/portfolio/orders")
        o = order(price=bid - cents(3))
        broker.submit(o)
        settle(broker, lambda: o.status == OrderStatus.ACCEPTED)
        assert broker.stats["resent"] == 1
        assert len(exchange_orders(ex, kid)) == 1
    finally:
        broker.stop()


def test_known_client_id_409_adopts_the_existing_order(env):
    ex, kid, *_ = env
    broker, sink = make(env)
    try:
        bid = ex.engine.top(T)["yes_bid"]
        ex.engine.place_order(kid, T, "yes", "buy", bid - cents(4), 100, client_order_id="already-there")
        o = Order("O-dup", T, "yes", "buy", 100, bid - cents(4), client_order_id="already-there")
        broker.submit(o)
        settle(broker, lambda: o.status == OrderStatus.ACCEPTED)
        assert len(exchange_orders(ex, kid, "already-there")) == 1
    finally:
        broker.stop()


def test_rejection_reaches_the_strategy(env):
    ex, kid, *_ = env
    broker, sink = make(env)
    try:
        o = Order("O-bad", "KXNOPE-1", "yes", "buy", 100, cents(50))
        broker.submit(o)
        settle(broker, lambda: o.status == OrderStatus.REJECTED)
        assert "rejected by the exchange" in o.reason
    finally:
        broker.stop()


def test_ws_fills_duplicates_and_dropped_socket(env):
    ex, kid, *_ , journal = env
    broker, sink = make(env, use_ws=True)
    try:
        settle(broker, lambda: broker.ws_up)
        ex.faults.duplicate_ws(5)
        top = ex.engine.top(T)
        bid = top["yes_bid"] + cents(1)  # alone at the best bid: the next seller fills us
        assert bid < top["yes_ask"]
        o = order(qty=3, price=bid)
        broker.submit(o)
        settle(broker, lambda: o.status == OrderStatus.ACCEPTED)
        # someone sells into our bid: a fill we only learn about from the socket or the poll
        ex.engine.account("other")
        ex.engine.place_order("other", T, "yes", "sell", bid, 100, tif="immediate_or_cancel")
        settle(broker, lambda: o.filled_qty == 100)
        ex.drop_ws_connections()
        ex.engine.place_order("other", T, "yes", "sell", bid, 200, tif="immediate_or_cancel")
        settle(broker, lambda: o.status == OrderStatus.FILLED)
        settle(broker, lambda: broker.ws_up)  # reconnected
        assert len(sink.fills) == 2 and sum(f.qty for f in sink.fills) == 300
        assert broker.duplicate_fills >= 1
        assert_books_agree(ex, kid, sink)
        assert len(journal.fills()) == 2
    finally:
        broker.stop()


def test_decrease_and_amend(env):
    ex, kid, *_ = env
    broker, sink = make(env)
    try:
        bid = ex.engine.top(T)["yes_bid"]
        o = order(qty=5, price=bid - cents(5))
        broker.submit(o)
        settle(broker, lambda: o.status == OrderStatus.ACCEPTED)
        broker.replace(o, qty=3 * CONTRACT)
        settle(broker, lambda: o.qty == 3 * CONTRACT)
        assert exchange_orders(ex, kid, o.client_order_id)[0].remaining == 300
        broker.replace(o, price=bid - cents(6))
        settle(broker, lambda: exchange_orders(ex, kid)[0].price == bid - cents(6))
        broker.cancel_all()
        settle(broker, lambda: o.status == OrderStatus.CANCELLED)
    finally:
        broker.stop()


def test_cancel_timeout_and_5xx_are_checked_by_reading_the_order(env):
    ex, kid, *_ = env
    broker, sink = make(env)
    try:
        bid = ex.engine.top(T)["yes_bid"]
        a, b = order(price=bid - cents(5)), order(price=bid - cents(6))
        broker.submit(a)
        broker.submit(b)
        settle(broker, lambda: a.status == b.status == OrderStatus.ACCEPTED)
        ex.faults.order_timeout(1)  # the cancel executes, its answer is lost
        broker.cancel(a)
        settle(broker, lambda: a.status == OrderStatus.CANCELLED)
        ex.faults.server_errors(1, status=500, path="*/portfolio/orders/*")  # the cancel never executes
        broker.cancel(b)
        settle(broker, lambda: b.status == OrderStatus.CANCELLED)
        assert [o.status for o in exchange_orders(ex, kid)] == ["canceled", "canceled"]
    finally:
        broker.stop()
