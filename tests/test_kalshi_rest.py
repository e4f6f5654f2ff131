"""Tests for the Kalshi REST client, models, rate limiter and environments (loopback stub only)."""

from __future__ import annotations

import random
import socket
from decimal import Decimal

import pytest
from kalshi_stub import Drop, Hang, KalshiStub

from framework.kalshi.auth import KalshiSigner, generate_key_pair, load_private_key
from framework.kalshi.envs import ENVIRONMENTS, resolve_env
from framework.kalshi.errors import (
    KalshiAPIError,
    KalshiAuthError,
    KalshiConnectionError,
    KalshiNotFound,
    KalshiOrderRejected,
    KalshiPaginationError,
    KalshiParseError,
    KalshiRateLimited,
    KalshiUnavailable,
    UnknownOutcome,
    parse_error_body,
)
from framework.kalshi.models import (
    Balance,
    Candle,
    Fill,
    Market,
    Order,
    OrderbookLevels,
    Position,
    Settlement,
    Trade,
    parse_time_ns,
)
from framework.kalshi.ratelimit import TIERS, RateLimiter, TokenBucket
from framework.kalshi.rest import KalshiRestClient, OrderRequest, format_count, format_price

KEY_ID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
T0 = "2026-03-01T12:00:00.123456Z"
T0_NS = 1772366400123456000


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    priv, _pub = generate_key_pair(tmp_path_factory.mktemp("k"))
    return load_private_key(priv)


@pytest.fixture
def stub(keys):
    with KalshiStub(public_key=keys.public_key()) as s:
        yield s


class Sleeps(list):
    def __call__(self, seconds):
        self.append(seconds)


@pytest.fixture
def sleeps():
    return Sleeps()


@pytest.fixture
def limiter_clock():
    return FakeClock()


@pytest.fixture
def client(stub, keys, sleeps, limiter_clock):
    c = KalshiRestClient(
        stub.base_url,
        KalshiSigner(KEY_ID, keys),
        rate_limiter=RateLimiter("prime", clock=limiter_clock, sleep=limiter_clock.sleep),
        max_retries=3,
        rng=random.Random(7),
        sleep=sleeps,
        timeout=(1.0, 2.0),
    )
    yield c
    c.close()


def market_json(ticker="KXA-26MAR01-T1", **over):
    d = {
        "ticker": ticker,
        "event_ticker": "KXA-26MAR01",
        "market_type": "binary",
        "status": "active",
        "yes_sub_title": "Yes",
        "no_sub_title": "No",
        "created_time": T0,
        "open_time": T0,
        "close_time": "2026-03-02T00:00:00Z",
        "latest_expiration_time": "2026-03-09T00:00:00Z",
        "settlement_timer_seconds": 3600,
        "yes_bid_dollars": "0.4200",
        "yes_ask_dollars": "0.4300",
        "no_bid_dollars": "0.5700",
        "no_ask_dollars": "0.5800",
        "yes_bid_size_fp": "13.00",
        "yes_ask_size_fp": "4.50",
        "last_price_dollars": "0.4250",
        "volume_fp": "1234.56",
        "volume_24h_fp": "100.00",
        "open_interest_fp": "77.01",
        "notional_value_dollars": "1.0000",
        "liquidity_dollars": "0.0000",
        "result": "",
        "can_close_early": True,
        "price_level_structure": "linear_cent",
        "price_ranges": [{"start": "0.0100", "end": "0.9900", "step": "0.0100"}],
        "some_future_field": {"ignored": True},
    }
    d.update(over)
    return d


# ----------------------------------------------------------------------------- environments


def test_environments():
    assert ENVIRONMENTS["prod"].rest_url == "https://external-api.kalshi.com/trade-api/v2"
    assert ENVIRONMENTS["demo"].ws_url == "wss://external-api-ws.demo.kalshi.co/trade-api/ws/v2"
    assert ENVIRONMENTS["local"].rest_url == "http://127.0.0.1:8765/trade-api/v2"
    assert resolve_env("local", port=9999).ws_url == "ws://127.0.0.1:9999/trade-api/ws/v2"
    assert resolve_env("PROD", base_url="http://x/trade-api/v2/").rest_url == "http://x/trade-api/v2"
    with pytest.raises(ValueError) as ei:
        resolve_env("staging")
    assert all(n in str(ei.value) for n in ("prod", "demo", "local"))
    assert KalshiRestClient("demo").base_url == ENVIRONMENTS["demo"].rest_url


# ----------------------------------------------------------------------------- pagination


def test_markets_paginate_three_pages(client, stub):
    pages = {
        None: {"markets": [market_json("M1"), market_json("M2")], "cursor": "c1"},
        "c1": {"markets": None, "cursor": "c2"},  # null list coerced
        "c2": {"markets": [market_json("M3")], "cursor": ""},
    }
    stub.route("GET", "/markets", lambda r: (200, pages[(r.query.get("cursor") or [None])[0]]))
    got = list(client.iter_markets(status="open", tickers=["M1", "M2", "M3"]))
    assert [m.ticker for m in got] == ["M1", "M2", "M3"]
    calls = stub.calls("GET", "/markets")
    assert len(calls) == 3
    assert [c.query.get("cursor") for c in calls] == [None, ["c1"], ["c2"]]
    for c in calls:
        assert c.query["mve_filter"] == ["exclude"] and c.query["status"] == ["open"]
        assert c.query["limit"] == ["1000"] and c.query["tickers"] == ["M1,M2,M3"]
    list(client.iter_markets(mve_filter=None))
    assert "mve_filter" not in stub.calls("GET", "/markets")[-1].query


def test_repeated_cursor_guard(client, stub):
    stub.route("GET", "/markets/trades", (200, {"trades": [], "cursor": "same"}))
    with pytest.raises(KalshiPaginationError, match="same"):
        list(client.iter_trades(ticker="X"))
    assert len(stub.calls("GET", "/markets/trades")) == 2


# ----------------------------------------------------------------------------- retries


def test_429_then_success_is_retried(client, stub, sleeps, limiter_clock):
    stub.route("GET", "/exchange/status", (429, {"error": "too many requests"}), (200, {"trading_active": True}))
    assert client.get_exchange_status() == {"trading_active": True}
    assert len(stub.calls("GET", "/exchange/status")) == 2
    assert len(sleeps) == 1 and 0 <= sleeps[0] <= client.backoff_base
    # the 429 emptied our read bucket, so the retry also waited for 10 tokens at 4000/s
    assert limiter_clock.slept == [pytest.approx(10 / 4000)]


def test_503_then_success_is_retried(client, stub, sleeps):
    stub.route("GET", "/portfolio/balance", (503, {}), (200, {"balance": 12345, "portfolio_value": 500}))
    bal = client.get_balance()
    assert bal.balance == 1234500 and bal.portfolio_value == 50000
    assert len(stub.calls("GET", "/portfolio/balance")) == 2 and len(sleeps) == 1


def test_persistent_5xx_gives_unavailable(client, stub, sleeps):
    stub.route("GET", "/markets/KX1", (500, {"error": {"code": "internal", "message": "boom"}}))
    with pytest.raises(KalshiUnavailable) as ei:
        client.get_market("KX1")
    assert ei.value.status == 500 and ei.value.code == "internal"
    assert len(stub.calls("GET", "/markets/KX1")) == client.max_retries + 1 == 4
    assert len(sleeps) == 3
    # full jitter, capped exponential: each delay within [0, base * 2**i]
    for i, s in enumerate(sleeps):
        assert 0 <= s <= min(client.backoff_cap, client.backoff_base * 2**i)


def test_persistent_429_gives_rate_limited(client, stub):
    stub.route("GET", "/exchange/status", (429, {"error": "too many requests"}))
    with pytest.raises(KalshiRateLimited) as ei:
        client.get_exchange_status()
    assert ei.value.message == "too many requests"


def test_backoff_is_seeded(stub, keys):
    def run():
        s = Sleeps()
        c = KalshiRestClient(stub.base_url, KalshiSigner(KEY_ID, keys), tier="prime", max_retries=2,
                             rng=random.Random(42), sleep=s)
        with pytest.raises(KalshiUnavailable):
            c.get_exchange_status()
        return list(s)

    stub.route("GET", "/exchange/status", (502, {}))
    assert run() == run()


def test_404_not_retried(client, stub, sleeps):
    with pytest.raises(KalshiNotFound):
        client.get_market("NOPE")
    assert len(stub.calls("GET", "/markets/NOPE")) == 1 and not sleeps


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_connection_refused(keys, sleeps):
    c = KalshiRestClient(f"http://127.0.0.1:{_closed_port()}/trade-api/v2", KalshiSigner(KEY_ID, keys),
                         max_retries=2, sleep=sleeps, rng=random.Random(1))
    with pytest.raises(KalshiConnectionError):
        c.get_exchange_status()
    assert len(sleeps) == 2  # reads are retried
    with pytest.raises(KalshiConnectionError, match="not sent"):
        c.create_order("KXA", "yes", "buy", 100, 5000)  # never reached a server: safe, not unknown


# ----------------------------------------------------------------------------- auth


def test_bad_signature_gives_401(stub, tmp_path, sleeps):
    other = load_private_key(generate_key_pair(tmp_path)[0])
    c = KalshiRestClient(stub.base_url, KalshiSigner(KEY_ID, other), sleep=sleeps)
    stub.route("GET", "/portfolio/balance", (200, {"balance": 1}))
    with pytest.raises(KalshiAuthError) as ei:
        c.get_balance()
    assert ei.value.status == 401 and "invalid signature" in str(ei.value)
    assert len(stub.calls()) == 1 and not sleeps
    unsigned = KalshiRestClient(stub.base_url, None, sleep=sleeps)
    with pytest.raises(KalshiAuthError):
        unsigned.get_balance()


def test_signature_covers_prefix_not_query(client, stub):
    # the stub verifies over the bare path incl. /trade-api/v2; a query-signing client would 401
    stub.route("GET", "/markets/KXQ/orderbook", (200, {"orderbook_fp": {"yes_dollars": [], "no_dollars": []}}))
    client.get_orderbook("KXQ", depth=5)
    (call,) = stub.calls("GET", "/markets/KXQ/orderbook")
    assert call.query == {"depth": ["5"]}
    assert call.headers["KALSHI-ACCESS-KEY"] == KEY_ID


# ----------------------------------------------------------------------------- writes


def test_write_timeout_is_unknown_outcome_and_sent_once(stub, keys, sleeps):
    c = KalshiRestClient(stub.base_url, KalshiSigner(KEY_ID, keys), timeout=(1.0, 0.3), sleep=sleeps)
    stub.route("POST", "/portfolio/orders", Hang(3.0, 201, {"order": {}}))
    with pytest.raises(UnknownOutcome) as ei:
        c.create_order("KXA", "yes", "buy", 100, 5600, client_order_id="my-coid-1")
    assert ei.value.client_order_id == "my-coid-1" and "my-coid-1" in str(ei.value)
    assert len(stub.calls("POST", "/portfolio/orders")) == 1
    assert not sleeps


def test_write_connection_reset_is_unknown_outcome(client, stub, sleeps):
    stub.route("POST", "/portfolio/orders/batched", Drop())
    with pytest.raises(UnknownOutcome) as ei:
        client.batch_create_orders([OrderRequest("KXA", "yes", "buy", 100, 5000, client_order_id=c) for c in "ab"])
    assert ei.value.client_order_ids == ("a", "b")
    assert len(stub.calls("POST", "/portfolio/orders/batched")) == 1 and not sleeps
    # a read hitting the same fault is retried
    stub.route("GET", "/exchange/status", Drop(), (200, {"exchange_active": True}))
    assert client.get_exchange_status() == {"exchange_active": True}
    assert len(stub.calls("GET", "/exchange/status")) == 2 and len(sleeps) == 1


def test_write_5xx_is_unknown_outcome_not_retried(client, stub):
    stub.route("POST", "/portfolio/orders", (503, {"error": "unavailable"}))
    with pytest.raises(UnknownOutcome) as ei:
        client.create_order(OrderRequest("KXA", "no", "buy", 250, 3100, client_order_id="c-2"))
    assert ei.value.status == 503 and ei.value.client_order_id == "c-2"
    assert len(stub.calls("POST", "/portfolio/orders")) == 1
    stub.route("DELETE", "/portfolio/orders/ord-9", (500, {}))
    with pytest.raises(UnknownOutcome) as ei:
        client.cancel_order("ord-9")
    assert ei.value.order_id == "ord-9" and len(stub.calls("DELETE")) == 1


def test_write_4xx_and_429_raise_at_once(client, stub):
    stub.route(
        "POST",
        "/portfolio/orders",
        (400, {"error": {"code": "invalid_order", "message": "invalid order", "details": "exactly one price"}}),
        (429, {"error": "too many requests"}),
    )
    with pytest.raises(KalshiAPIError) as ei:
        client.create_order("KXA", "yes", "buy", 100, 5600)
    assert type(ei.value) is KalshiAPIError
    assert (ei.value.status, ei.value.code, ei.value.details) == (400, "invalid_order", "exactly one price")
    with pytest.raises(KalshiRateLimited):
        client.create_order("KXA", "yes", "buy", 100, 5600)
    assert len(stub.calls("POST", "/portfolio/orders")) == 2


def test_create_without_order_is_rejection(client, stub):
    stub.route("POST", "/portfolio/orders", (201, {}))
    with pytest.raises(KalshiOrderRejected):
        client.create_order("KXA", "yes", "buy", 100, 5600)


def test_create_order_payload_and_result(client, stub):
    order = {
        "order_id": "o-1", "client_order_id": "cid", "ticker": "KXA", "status": "resting",
        "side": "yes", "action": "buy", "outcome_side": "yes", "book_side": "bid",
        "yes_price_dollars": "0.5650", "no_price_dollars": "0.4350",
        "initial_count_fp": "10.50", "fill_count_fp": "0.00", "remaining_count_fp": "10.50",
        "taker_fees_dollars": "0.000000", "created_time": T0,
    }
    stub.route("POST", "/portfolio/orders", (201, {"order": order}))
    o = client.create_order("KXA", "yes", "buy", 1050, 5650, client_order_id="cid", post_only=True,
                            time_in_force="good_till_canceled")
    assert (o.order_id, o.yes_price, o.no_price, o.remaining_count, o.created_time) == ("o-1", 5650, 4350, 1050, T0_NS)
    (call,) = stub.calls("POST", "/portfolio/orders")
    assert call.body == {
        "ticker": "KXA", "side": "yes", "action": "buy", "count_fp": "10.50", "yes_price_dollars": "0.5650",
        "time_in_force": "good_till_canceled", "client_order_id": "cid", "post_only": True,
    }
    client.create_order("KXA", "no", "sell", 100, 100, time_in_force="immediate_or_cancel", reduce_only=True)
    body = stub.calls("POST", "/portfolio/orders")[-1].body
    assert body["no_price_dollars"] == "0.0100" and body["reduce_only"] is True
    assert len(body["client_order_id"]) == 36  # generated uuid4
    for b in (call.body, body):
        assert "type" not in b and "count" not in b and "yes_price" not in b and "no_price" not in b


def test_order_payloads_validate_against_official_sdk_models():
    from kalshi_python_sync.models import AmendOrderRequest, BatchCreateOrdersRequest, CreateOrderRequest

    reqs = [
        OrderRequest("KXA-1", "yes", "buy", 1000, 5600),
        OrderRequest("KXA-1", "no", "sell", 300, 9900, time_in_force="fill_or_kill", reduce_only=True),
        OrderRequest("KXA-1", "yes", "buy", 500, 9900, time_in_force="immediate_or_cancel", buy_max_cost=500_00,
                     post_only=True, expiration_ts=1_800_000_000, self_trade_prevention_type="taker_at_cross",
                     cancel_order_on_pause=True),
    ]
    for r in reqs:
        body = r.to_json()
        # SDK 3.2.0 predates count_fp (it requires the legacy integer count); everything else we
        # send must be a field the official model knows and must validate as-is.
        assert set(body) - {"count_fp", "subaccount"} <= set(CreateOrderRequest.model_fields)
        sdk_body = {**body, "count": r.count // 100}
        m = CreateOrderRequest.from_dict(sdk_body)
        assert m.ticker == "KXA-1" and m.client_order_id == r.client_order_id
        assert m.yes_price_dollars == body.get("yes_price_dollars") and m.no_price_dollars == body.get("no_price_dollars")
        assert m.time_in_force == r.time_in_force
    m = BatchCreateOrdersRequest.from_dict({"orders": [{**r.to_json(), "count": r.count // 100} for r in reqs]})
    assert len(m.orders) == 3
    assert reqs[2].to_json()["buy_max_cost"] == 500  # cents, as Kalshi wants
    # a bad payload is rejected by the oracle (so the check above can fail)
    with pytest.raises(ValueError):
        CreateOrderRequest.from_dict({**reqs[0].to_json(), "count": 10, "time_in_force": "day"})
    amend_keys = {"ticker", "side", "action", "yes_price_dollars", "client_order_id", "updated_client_order_id"}
    assert amend_keys <= set(AmendOrderRequest.model_fields)


def test_amend_decrease_cancel_batch(client, stub):
    o = {"order_id": "o-1", "ticker": "KXA", "status": "resting", "yes_price_dollars": "0.5000",
         "remaining_count_fp": "3.00"}
    stub.route("POST", "/portfolio/orders/o-1/amend", (200, {"old_order": o, "order": {**o, "yes_price_dollars": "0.5100"}}))
    res = client.amend_order("o-1", ticker="KXA", side="yes", action="buy", price=5100, count=300,
                             client_order_id="c1", updated_client_order_id="c2")
    assert res.old_order.yes_price == 5000 and res.order.yes_price == 5100
    assert stub.calls("POST", "/portfolio/orders/o-1/amend")[0].body == {
        "ticker": "KXA", "side": "yes", "action": "buy", "yes_price_dollars": "0.5100", "count_fp": "3.00",
        "updated_client_order_id": "c2", "client_order_id": "c1",
    }
    stub.route("POST", "/portfolio/orders/o-1/decrease", (200, {"order": {**o, "remaining_count_fp": "1.00"}}))
    assert client.decrease_order("o-1", reduce_by=200).remaining_count == 100
    assert stub.calls("POST", "/portfolio/orders/o-1/decrease")[0].body == {"reduce_by_fp": "2.00"}
    with pytest.raises(ValueError):
        client.decrease_order("o-1", reduce_by=1, reduce_to=1)
    stub.route("DELETE", "/portfolio/orders/o-1", (200, {"order": {**o, "status": "canceled"}, "reduced_by_fp": "0.00"}))
    cr = client.cancel_order("o-1")
    assert cr.reduced_by == 0 and cr.order.status == "canceled"
    stub.route("POST", "/portfolio/orders/batched", (201, {"orders": [
        {"client_order_id": "b1", "order": {**o, "order_id": "o-b1"}, "error": None},
        {"client_order_id": "b2", "order": None, "error": {"code": "invalid_price", "message": "bad price"}},
    ]}))
    out = client.batch_create_orders([
        OrderRequest("KXA", "yes", "buy", 100, 5000, client_order_id="b1"),
        {"ticker": "KXA", "side": "yes", "action": "buy", "count": 100, "price": 5000, "client_order_id": "b2"},
    ])
    assert out[0].order.order_id == "o-b1" and out[0].error is None
    assert out[1].order is None and out[1].error.code == "invalid_price"
    stub.route("DELETE", "/portfolio/orders/batched", (200, {"orders": [
        {"order_id": "x1", "order": {**o, "order_id": "x1"}, "reduced_by_fp": "3.00", "error": None},
        {"order_id": "x2", "order": None, "reduced_by_fp": None, "error": {"code": "not_found", "message": "no"}},
    ]}))
    cancels = client.batch_cancel_orders(["x1", "x2"])
    assert cancels[0].reduced_by == 300 and cancels[1].error.code == "not_found"
    assert stub.calls("DELETE", "/portfolio/orders/batched")[0].body == {"orders": [{"order_id": "x1"}, {"order_id": "x2"}]}


def test_batch_billed_per_item(stub, keys):
    clock = [0.0]
    lim = RateLimiter("basic", clock=lambda: clock[0], sleep=lambda s: clock.__setitem__(0, clock[0] + s))
    c = KalshiRestClient(stub.base_url, KalshiSigner(KEY_ID, keys), rate_limiter=lim)
    stub.route("DELETE", "/portfolio/orders/batched", (200, {"orders": []}))
    c.batch_cancel_orders(["a", "b", "c", "d"])
    assert lim.write.tokens == pytest.approx(100 - 40)
    stub.route("GET", "/exchange/status", (200, {}))
    c.get_exchange_status()
    assert lim.read.tokens == pytest.approx(200 - 10)


def test_order_request_validation():
    with pytest.raises(ValueError):
        OrderRequest("KXA", "yes", "buy", 100, 10_000)  # price must be < $1
    with pytest.raises(ValueError):
        OrderRequest("KXA", "yes", "buy", 0, 5000)
    with pytest.raises(ValueError):
        OrderRequest("KXA", "maybe", "buy", 100, 5000)
    with pytest.raises(ValueError):
        OrderRequest("KXA", "yes", "buy", 100, 5000, time_in_force="market")
    with pytest.raises(ValueError):
        OrderRequest("KXA", "yes", "buy", True, 5000)
    with pytest.raises(ValueError):
        OrderRequest("KXA", "yes", "buy", 100, 5000, buy_max_cost=150)  # not whole cents
    assert format_price(5) == "0.0005" and format_price(5600) == "0.5600" and format_count(1) == "0.01"
    assert format_count(123456) == "1234.56"


# ----------------------------------------------------------------------------- errors


def test_error_body_shapes():
    assert parse_error_body({"error": {"code": "invalid_order", "message": "m", "details": "d", "service": "x"}}) == (
        "invalid_order", "m", "d")
    assert parse_error_body({"code": "c", "message": "m", "details": "d"}) == ("c", "m", "d")
    assert parse_error_body({"error": "too many requests"}) == (None, "too many requests", None)
    assert parse_error_body("<html>bad gateway</html>") == (None, "<html>bad gateway</html>", None)
    assert parse_error_body("") == (None, None, None)


def test_echoed_signature_is_redacted(client, stub):
    stub.route("GET", "/markets/ECHO",
               lambda r: (400, {"error": {"code": "x", "message": r.headers["KALSHI-ACCESS-SIGNATURE"]}}))
    with pytest.raises(KalshiAPIError) as ei:
        client.get_market("ECHO")
    sig = stub.calls("GET", "/markets/ECHO")[0].headers["KALSHI-ACCESS-SIGNATURE"]
    assert sig not in str(ei.value) and sig not in repr(ei.value.args) and "[redacted]" in str(ei.value)


# ----------------------------------------------------------------------------- parsing


def test_market_new_and_legacy_formats():
    m = Market.from_json(market_json())
    assert (m.yes_bid, m.yes_ask, m.no_bid, m.no_ask, m.last_price) == (4200, 4300, 5700, 5800, 4250)
    assert (m.yes_bid_size, m.yes_ask_size, m.volume, m.open_interest) == (1300, 450, 123456, 7701)
    assert m.created_time == T0_NS and m.close_time == 1772409600 * 10**9
    assert m.price_ranges == ((100, 9900, 100),) and m.notional_value == 10_000 and m.can_close_early is True
    legacy = {"ticker": "OLD", "event_ticker": "E", "status": "active", "yes_bid": 42, "yes_ask": "43",
              "last_price": 41, "volume": 1000, "open_interest": "12", "close_time": "2024-01-01T00:00:00Z"}
    lm = Market.from_json(legacy)
    assert (lm.yes_bid, lm.yes_ask, lm.last_price, lm.volume, lm.open_interest) == (4200, 4300, 4100, 100000, 1200)
    # new wins over legacy; numbers-as-numbers accepted for fixed-point fields
    both = Market.from_json(market_json(yes_bid=10, yes_bid_dollars=Decimal("0.42"), volume_fp=3))
    assert both.yes_bid == 4200 and both.volume == 300
    assert Market.from_json(market_json(yes_bid_dollars=0.42)).yes_bid == 4200  # a float, exactly


def test_orderbook_formats_and_best_first():
    new = OrderbookLevels.from_json({"orderbook_fp": {
        "yes_dollars": [["0.4000", "25.00"], ["0.4200", "13.00"]],
        "no_dollars": [["0.5500", "10.00"], ["0.5700", "4.00"]]}})
    assert new.yes == ((4000, 2500), (4200, 1300)) and new.no == ((5500, 1000), (5700, 400))
    assert new.best_yes_bid() == (4200, 1300) and new.yes_best_first()[0] == (4200, 1300)
    assert new.best_yes_ask() == (4300, 400) and new.best_no_ask() == (5800, 1300)
    assert new.yes_asks_best_first() == ((4300, 400), (4500, 1000))
    legacy = OrderbookLevels.from_json({"orderbook": {"yes": [[42, 13], [40, 25]], "no": None}})
    assert legacy.yes == ((4000, 2500), (4200, 1300)) and legacy.no == () and legacy.best_yes_ask() is None
    bare = OrderbookLevels.from_json({"yes": [["40", "25"]], "no": [[57, 4]]})
    assert bare.yes == ((4000, 2500),) and bare.no == ((5700, 400),)
    sdk_shape = OrderbookLevels.from_json({"orderbook": {"yes_dollars": [["0.4050", "1.50"]], "no_dollars": []}})
    assert sdk_shape.yes == ((4050, 150),)
    assert OrderbookLevels.from_json({"orderbook_fp": {}}).yes == ()


def test_trade_formats():
    new = Trade.from_json({"trade_id": "t1", "ticker": "K", "count_fp": "2.50", "yes_price_dollars": "0.3300",
                           "no_price_dollars": "0.6700", "taker_outcome_side": "no", "taker_book_side": "ask",
                           "taker_side": "yes", "created_time": T0, "is_block_trade": False})
    assert (new.price, new.no_price, new.count, new.taker_outcome_side, new.taker_book_side) == (3300, 6700, 250, "no", "ask")
    assert new.created_time == T0_NS
    old = Trade.from_json({"trade_id": "t2", "ticker": "K", "count": 7, "yes_price": 33, "no_price": 67,
                           "taker_side": "yes", "created_time": "2024-05-01T00:00:00Z"})
    assert (old.price, old.count, old.taker_outcome_side, old.taker_book_side) == (3300, 700, "yes", "bid")
    ws = Trade.from_json({"trade_id": "t3", "market_ticker": "K", "count_fp": 1, "yes_price_dollars": "0.5",
                          "ts": 1700000000, "ts_ms": 1700000000123})
    assert ws.created_time == 1700000000123 * 10**6 and ws.ticker == "K" and ws.price == 5000


def test_fill_formats_and_fee_rounding():
    new = Fill.from_json({"fill_id": "f1", "trade_id": "f1", "order_id": "o1", "ticker": "K", "market_ticker": "K",
                          "side": "yes", "action": "sell", "outcome_side": "no", "book_side": "ask",
                          "count_fp": "3.00", "yes_price_dollars": "0.6100", "no_price_dollars": "0.3900",
                          "is_taker": True, "created_time": T0, "fee_cost": "0.010001", "ts": 1})
    assert (new.count, new.yes_price, new.outcome_side, new.book_side, new.is_taker) == (300, 6100, "no", "ask", True)
    assert new.fee == 101  # $0.010001 rounded UP to $0.0101
    assert new.created_time == T0_NS
    old = Fill.from_json({"trade_id": "f2", "order_id": "o2", "ticker": "K", "side": "no", "action": "buy",
                          "count": "5", "yes_price": 61, "no_price": 39, "is_taker": False, "ts": 1700000000})
    assert (old.fill_id, old.count, old.yes_price, old.no_price, old.outcome_side, old.book_side) == (
        "f2", 500, 6100, 3900, "no", "ask")
    assert old.created_time == 1700000000 * 10**9 and old.fee is None
    sell_no = Fill.from_json({"fill_id": "f3", "order_id": "o", "ticker": "K", "side": "no", "action": "sell",
                              "count_fp": "1.00", "yes_price_dollars": "0.5", "created_time": T0})
    assert sell_no.outcome_side == "yes" and sell_no.book_side == "bid"


def test_order_formats():
    old = Order.from_json({"order_id": "o", "ticker": "K", "status": "executed", "side": "yes", "action": "sell",
                           "yes_price": 55, "initial_count": 10, "fill_count": 10, "remaining_count": 0,
                           "taker_fees": 7, "taker_fill_cost": 550, "created_time": T0})
    assert (old.outcome_side, old.book_side, old.yes_price, old.no_price) == ("no", "ask", 5500, 4500)
    assert (old.initial_count, old.fill_count, old.remaining_count, old.taker_fees, old.taker_fill_cost) == (
        1000, 1000, 0, 700, 55000)
    new = Order.from_json({"order_id": "o", "ticker": "K", "status": "resting", "book_side": "bid",
                           "no_price_dollars": "0.4400", "fill_count_fp": "0.50", "maker_fees_dollars": "0.004375"})
    assert (new.outcome_side, new.yes_price, new.fill_count, new.maker_fees) == ("yes", 5600, 50, 44)


def test_position_settlement_balance_candle():
    p = Position.from_json({"ticker": "K", "position_fp": "-3.50", "realized_pnl_dollars": "-0.000050",
                            "fees_paid_dollars": "0.020000", "market_exposure_dollars": "1.2345",
                            "last_updated_ts": T0})
    assert (p.position, p.realized_pnl, p.fees_paid, p.market_exposure, p.last_updated) == (-350, -1, 200, 12345, T0_NS)
    assert Position.from_json({"ticker": "K", "position": -3, "realized_pnl": 25}).realized_pnl == 2500
    s = Settlement.from_json({"ticker": "K", "event_ticker": "E", "market_result": "yes", "yes_count_fp": "2.00",
                              "yes_total_cost_dollars": "0.9000", "revenue": 200, "settled_time": T0,
                              "fee_cost": "0.02", "value": 100})
    assert (s.yes_count, s.yes_total_cost, s.revenue, s.fee, s.value, s.settled_time) == (
        200, 9000, 20000, 200, 10000, T0_NS)
    b = Balance.from_json({"balance": 100, "balance_dollars": "1.0050", "portfolio_value": 0, "updated_ts": 1700000000})
    assert b.balance == 10050 and b.updated_ts == 1700000000 * 10**9
    c = Candle.from_json({"end_period_ts": 1700000060, "yes_bid": {"open_dollars": "0.40", "high_dollars": "0.45",
                          "low_dollars": "0.39", "close_dollars": "0.44"}, "price": {"open_dollars": None},
                          "volume_fp": "10.00", "open_interest_fp": "5.00"})
    assert c.yes_bid.high == 4500 and c.price.open is None and c.volume == 1000
    assert Candle.from_json({"end_period_ts": 1, "yes_ask": {"open": 40, "high": 41, "low": 39, "close": 40}}).yes_ask.high == 4100


def test_missing_required_field_names_type_and_field():
    bad = market_json()
    del bad["event_ticker"]
    with pytest.raises(KalshiParseError) as ei:
        Market.from_json(bad)
    assert ei.value.object_type == "Market" and ei.value.field == "event_ticker" and "Market" in str(ei.value)
    with pytest.raises(KalshiParseError, match="Fill.*count_fp"):
        Fill.from_json({"fill_id": "f", "order_id": "o", "ticker": "K", "yes_price_dollars": "0.5", "ts": 1})
    with pytest.raises(KalshiParseError, match="Trade.*created_time"):
        Trade.from_json({"trade_id": "t", "ticker": "K", "count_fp": "1", "yes_price_dollars": "0.5"})
    with pytest.raises(KalshiParseError, match="Order.*status"):
        Order.from_json({"order_id": "o", "ticker": "K"})
    with pytest.raises(KalshiParseError, match="precision"):
        Trade.from_json({"trade_id": "t", "ticker": "K", "count_fp": "1.001", "yes_price_dollars": "0.5", "ts": 1})
    with pytest.raises(KalshiParseError, match="not a number"):
        Market.from_json(market_json(yes_bid_dollars="abc"))


def test_client_parses_endpoints(client, stub):
    stub.route("GET", "/markets/trades", (200, {"trades": [
        {"trade_id": "t", "ticker": "K", "count": 2, "yes_price": 40, "taker_side": "no", "created_time": T0}],
        "cursor": None}))
    (t,) = list(client.iter_trades("K", min_ts=1, max_ts=2))
    assert t.price == 4000 and t.taker_outcome_side == "no"
    assert stub.calls("GET", "/markets/trades")[0].query["min_ts"] == ["1"]
    stub.route("GET", "/portfolio/fills", (200, {"fills": [
        {"fill_id": "f", "order_id": "o", "ticker": "K", "count_fp": "1.00", "yes_price_dollars": "0.4000",
         "outcome_side": "yes", "created_time": T0}], "cursor": ""}))
    assert [f.count for f in client.iter_fills(ticker="K")] == [100]
    stub.route("GET", "/portfolio/orders", (200, {"orders": [{"order_id": "o", "ticker": "K", "status": "resting"}]}))
    assert [o.order_id for o in client.iter_orders(status="resting")] == ["o"]
    stub.route("GET", "/portfolio/orders/o", (200, {"order": {"order_id": "o", "ticker": "K", "status": "canceled"}}))
    assert client.get_order("o").status == "canceled"
    stub.route("GET", "/portfolio/positions", (200, {"market_positions": [{"ticker": "K", "position_fp": "2.00"}],
                                                     "event_positions": [], "cursor": ""}))
    assert [p.position for p in client.iter_positions()] == [200]
    stub.route("GET", "/portfolio/settlements", (200, {"settlements": None, "cursor": ""}))
    assert list(client.iter_settlements()) == []
    stub.route("GET", "/series/S/markets/K/candlesticks", (200, {"ticker": "K", "candlesticks": [
        {"end_period_ts": 1700000060, "volume_fp": "1.00"}]}))
    (c,) = client.get_candlesticks("S", "K", 1700000000, 1700000060, 1)
    assert c.end_period_ts == 1700000060 * 10**9
    assert stub.calls("GET", "/series/S/markets/K/candlesticks")[0].query["period_interval"] == ["1"]
    stub.route("GET", "/events", (200, {"events": [{"event_ticker": "E"}], "cursor": ""}))
    assert [e["event_ticker"] for e in client.iter_events(status="open")] == ["E"]
    assert stub.calls("GET", "/events")[0].query["limit"] == ["200"]
    stub.route("GET", "/events/E", (200, {"event": {"event_ticker": "E", "markets": [market_json("M9")]}}))
    assert [m.ticker for m in client.get_event("E", with_nested_markets=True)["markets"]] == ["M9"]
    stub.route("GET", "/series/S", (200, {"series": {"ticker": "S"}}))
    assert client.get_series("S")["ticker"] == "S"
    stub.route("GET", "/series", (200, {"series": None}))
    assert client.list_series(category="Economics") == []


def test_parse_time_ns():
    assert parse_time_ns("2026-03-01T12:00:00.123456789Z") == T0_NS + 789
    assert parse_time_ns("2026-03-01T13:00:00+01:00") == T0_NS - 123456000
    assert parse_time_ns(1772366400) == parse_time_ns("1772366400") == T0_NS - 123456000
    assert parse_time_ns(1772366400123) == T0_NS - 456000
    assert parse_time_ns(5, "ms") == 5_000_000
    with pytest.raises(ValueError):
        parse_time_ns("yesterday")


# ----------------------------------------------------------------------------- rate limiting


class FakeClock:
    def __init__(self):
        self.t = 100.0
        self.slept = []

    def __call__(self):
        return self.t

    def sleep(self, s):
        self.slept.append(s)
        self.t += s


def test_token_bucket_math():
    clk = FakeClock()
    b = TokenBucket(100, clock=clk, sleep=clk.sleep)  # capacity = 1 s of budget
    for _ in range(10):
        assert b.acquire(10) == 0
    assert clk.slept == []
    waited = b.acquire(10)  # empty: must wait 10 tokens / 100 per s
    assert waited == pytest.approx(0.1) and clk.slept == [pytest.approx(0.1)]
    clk.t += 0.05
    assert b.try_acquire(10) is False and b.tokens == pytest.approx(5)
    clk.t += 10
    assert b.tokens == pytest.approx(100)  # capped at capacity
    assert b.acquire(250) == pytest.approx(1.5)  # over-capacity cost goes into debt, then waits


def test_rate_limiter_tiers_and_overrides():
    assert TIERS["basic"] == (200, 100) and TIERS["paragon"] == (2000, 2000) and TIERS["prime"] == (4000, 4000)
    clk = FakeClock()
    lim = RateLimiter("basic", clock=clk, sleep=clk.sleep)
    for _ in range(10):
        lim.acquire_write()
    assert clk.slept == []
    lim.acquire_write(items=2)  # batch of two: 20 tokens at 100/s
    assert clk.slept == [pytest.approx(0.2)]
    lim2 = RateLimiter("premier", read_rate=50, clock=clk, sleep=clk.sleep)
    assert lim2.read.rate == 50 and lim2.write.rate == 1000
    with pytest.raises(ValueError, match="basic"):
        RateLimiter("gold")


def test_token_bucket_threads():
    import threading

    clk = FakeClock()
    lock = threading.Lock()

    def sleep(s):
        with lock:
            clk.slept.append(s)

    b = TokenBucket(100, clock=clk, sleep=sleep)
    ts = [threading.Thread(target=lambda: [b.acquire(1) for _ in range(50)]) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert b.tokens == pytest.approx(-100)  # 200 reserved from 100: exact, no lost updates
    assert len(clk.slept) == 100
