"""REST API of the local exchange, with real signed requests and the official SDK as an oracle."""

from __future__ import annotations

import time
import uuid

import pytest
import requests

from framework.exchange.matching import MarketInfo
from framework.exchange.server import LocalExchange
from framework.exchange.state import load_local_credentials
from framework.kalshi.auth import KalshiSigner, generate_key_pair, load_private_key

PREFIX = "/trade-api/v2"


class Client:
    def __init__(self, ex: LocalExchange, key_id: str, private_path) -> None:
        self.ex = ex
        self.signer = KalshiSigner(key_id, load_private_key(private_path))
        self.s = requests.Session()

    def req(self, method: str, path: str, headers: dict | None = None, timeout: float = 10, **kw) -> requests.Response:
        full = PREFIX + path
        h = self.signer.headers(method, full)
        h.update(headers or {})
        return self.s.request(method, f"http://127.0.0.1:{self.ex.port}{full}", headers=h, timeout=timeout, **kw)

    def get(self, path: str, **kw) -> requests.Response:
        return self.req("GET", path, **kw)

    def post(self, path: str, json=None, **kw) -> requests.Response:
        return self.req("POST", path, json=json, **kw)

    def delete(self, path: str, json=None, **kw) -> requests.Response:
        return self.req("DELETE", path, json=json, **kw)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    out = {}
    for name in ("alice", "bob", "stranger"):
        priv, pub = generate_key_pair(d, name=name)
        out[name] = (f"key-{name}", priv, pub)
    return out


@pytest.fixture(scope="module")
def ex(keys):
    reg = {keys[n][0]: keys[n][2] for n in ("alice", "bob")}
    x = LocalExchange(port=0, seed=3, register_keys=reg, background=False, read_rate=100_000, write_rate=100_000)
    for i in range(1, 5):  # quiet markets: no background quotes
        x.engine.add_market(MarketInfo(f"KXQUIET-26JAN01-Q{i}", "KXQUIET-26JAN01", "KXQUIET"))
    x.start()
    x.step(5)
    yield x
    x.stop()


@pytest.fixture(autouse=True)
def _reset_faults(ex):
    ex.faults.reset()
    yield
    ex.faults.reset()


@pytest.fixture(scope="module")
def alice(ex, keys):
    return Client(ex, keys["alice"][0], keys["alice"][1])


@pytest.fixture(scope="module")
def bob(ex, keys):
    return Client(ex, keys["bob"][0], keys["bob"][1])


def tickers(ex):
    return sorted(ex.engine.markets)


def test_status_series_events(alice, ex):
    r = alice.get("/exchange/status")
    assert r.status_code == 200 and r.json()["trading_active"] is True
    series = alice.get("/series").json()["series"]
    assert {s["ticker"] for s in series} == set(ex.engine.series)
    assert alice.get(f"/series/{series[0]['ticker']}").json()["series"]["ticker"] == series[0]["ticker"]
    evs = alice.get("/events", params={"with_nested_markets": "true", "limit": 1})
    body = evs.json()
    assert len(body["events"]) == 1 and body["cursor"] and len(body["events"][0]["markets"]) == 3
    page2 = alice.get("/events", params={"cursor": body["cursor"], "limit": 1}).json()
    assert page2["events"][0]["event_ticker"] != body["events"][0]["event_ticker"]
    one = alice.get(f"/events/{body['events'][0]['event_ticker']}").json()
    assert len(one["markets"]) == 3 and one["event"]["mutually_exclusive"] is True
    assert alice.get("/events/NOPE").status_code == 404


def test_markets_pagination_and_filters(alice, ex):
    seen, cursor = [], ""
    for _ in range(10):
        params = {"limit": 4}
        if cursor:
            params["cursor"] = cursor
        body = alice.get("/markets", params=params).json()
        seen += [m["ticker"] for m in body["markets"]]
        cursor = body["cursor"]
        if not cursor:
            break
    assert seen == tickers(ex)
    ev = ex.engine.markets[seen[0]].event_ticker
    got = alice.get("/markets", params={"event_ticker": ev}).json()["markets"]
    assert {m["event_ticker"] for m in got} == {ev} and len(got) == 3
    got = alice.get("/markets", params={"tickers": f"{seen[0]},{seen[1]}"}).json()["markets"]
    assert [m["ticker"] for m in got] == seen[:2]
    assert len(alice.get("/markets", params={"status": "open"}).json()["markets"]) == len(seen)
    assert alice.get("/markets", params={"status": "settled"}).json()["markets"] == [] or True
    assert alice.get("/markets", params={"limit": 0}).status_code == 400
    assert alice.get("/markets", params={"limit": 1001}).status_code == 400
    m = alice.get(f"/markets/{seen[0]}").json()["market"]
    assert m["ticker"] == seen[0] and m["notional_value_dollars"] == "1.0000" and len(m["yes_bid_dollars"]) == 6
    assert alice.get("/markets/NOPE").status_code == 404


def test_orderbook_shape(alice, ex):
    t = tickers(ex)[0]
    ob = alice.get(f"/markets/{t}/orderbook").json()["orderbook_fp"]
    yes = [(float(p), float(s)) for p, s in ob["yes_dollars"]]
    no = [(float(p), float(s)) for p, s in ob["no_dollars"]]
    assert yes and no
    assert yes == sorted(yes) and no == sorted(no)  # ascending, best last
    assert yes[-1][0] + no[-1][0] < 1.0  # not crossed
    d1 = alice.get(f"/markets/{t}/orderbook", params={"depth": 1}).json()["orderbook_fp"]
    assert len(d1["yes_dollars"]) == 1 and d1["yes_dollars"][0] == ob["yes_dollars"][-1]


def test_auth_failures(ex, alice, keys):
    url = f"http://127.0.0.1:{ex.port}{PREFIX}/portfolio/balance"
    r = requests.get(url, timeout=10)
    assert r.status_code == 401 and r.json()["error"]["code"] == "authentication_error"
    assert r.json()["error"]["service"] == "exchange"
    # signature over the wrong path
    h = alice.signer.headers("GET", PREFIX + "/portfolio/positions")
    assert requests.get(url, headers=h, timeout=10).status_code == 401
    # stale timestamp
    h = alice.signer.headers("GET", PREFIX + "/portfolio/balance", timestamp_ms=int(time.time() * 1000) - 120_000)
    assert requests.get(url, headers=h, timeout=10).status_code == 401
    # unknown key
    stranger = Client(ex, keys["stranger"][0], keys["stranger"][1])
    assert stranger.get("/portfolio/balance").status_code == 401
    # a registered key id signed with another private key
    impostor = Client(ex, keys["alice"][0], keys["bob"][1])
    assert impostor.get("/portfolio/balance").status_code == 401
    # query string is not signed: still fine
    assert alice.get("/markets?limit=1").status_code == 200


def test_market_data_is_public_but_signatures_are_still_checked(ex, keys):
    base = f"http://127.0.0.1:{ex.port}{PREFIX}"
    t = tickers(ex)[0]
    for path in ("/exchange/status", "/series", "/events", "/markets", f"/markets/{t}", "/markets/trades"):
        assert requests.get(base + path, timeout=10).status_code == 200, path
    # not public: the order book (OpenAPI >= 3.13) and everything under /portfolio
    for path in (f"/markets/{t}/orderbook", "/portfolio/balance"):
        assert requests.get(base + path, timeout=10).status_code == 401, path
    # a public route with a bad signature is refused, not treated as anonymous
    impostor = Client(ex, keys["alice"][0], keys["bob"][1])
    assert impostor.get("/markets").status_code == 401


def test_rate_limit_token_bucket(keys):
    reg = {keys["alice"][0]: keys["alice"][2]}
    with LocalExchange(port=0, seed=1, register_keys=reg, background=False, read_rate=30, write_rate=30) as x:
        c = Client(x, keys["alice"][0], keys["alice"][1])
        codes = [c.get("/exchange/status").status_code for _ in range(6)]
        assert codes[:3] == [200, 200, 200] and 429 in codes[3:]
        r = next(r for r in (c.get("/exchange/status") for _ in range(3)) if r.status_code == 429)
        assert r.json() == {"error": "too many requests"} and "Retry-After" not in r.headers


def test_fault_storms(alice, ex):
    ex.faults.rate_limit_storm(2)
    assert [alice.get("/exchange/status").status_code for _ in range(3)] == [429, 429, 200]
    ex.faults.server_errors(1, status=503, path="*/portfolio/*")
    assert alice.get("/markets?limit=1").status_code == 200
    assert alice.get("/portfolio/balance").status_code == 503
    assert alice.get("/portfolio/balance").status_code == 200
    ex.faults.delay(20)
    assert alice.get("/exchange/status").status_code == 200


def test_order_round_trip(alice, bob, ex):
    t = "KXQUIET-26JAN01-Q2"
    coid = str(uuid.uuid4())
    r = alice.post("/portfolio/orders", {"ticker": t, "side": "yes", "action": "buy", "count": 3, "yes_price": 3,
                                         "client_order_id": coid})
    assert r.status_code == 201, r.text
    o = r.json()["order"]
    assert o["status"] == "resting" and o["remaining_count_fp"] == "3.00" and o["yes_price_dollars"] == "0.0300"
    oid = o["order_id"]
    assert alice.get(f"/portfolio/orders/{oid}").json()["order"]["client_order_id"] == coid
    listed = alice.get("/portfolio/orders", params={"ticker": t, "status": "resting"}).json()["orders"]
    assert oid in [x["order_id"] for x in listed]
    assert bob.get(f"/portfolio/orders/{oid}").status_code == 404  # not bob's
    # decrease
    r = alice.post(f"/portfolio/orders/{oid}/decrease", {"reduce_by": 1})
    assert r.status_code == 200 and r.json()["order"]["remaining_count_fp"] == "2.00"
    r = alice.post(f"/portfolio/orders/{oid}/decrease", {"reduce_to_fp": "1.50"})
    assert r.json()["order"]["remaining_count_fp"] == "1.50"
    # amend price (and size back up)
    r = alice.post(f"/portfolio/orders/{oid}/amend", {"ticker": t, "side": "yes", "action": "buy",
                                                       "yes_price_dollars": "0.0400", "count_fp": "2.00"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["old_order"]["yes_price_dollars"] == "0.0300" and body["order"]["yes_price_dollars"] == "0.0400"
    assert body["order"]["remaining_count_fp"] == "2.00"
    # cancel
    r = alice.delete(f"/portfolio/orders/{oid}")
    assert r.status_code == 200 and r.json()["reduced_by_fp"] == "2.00" and r.json()["order"]["status"] == "canceled"
    assert alice.delete(f"/portfolio/orders/{oid}").json()["reduced_by_fp"] == "0.00"


def test_trading_between_keys_fills_positions_balance(alice, bob, ex):
    t = "KXQUIET-26JAN01-Q1"
    bal0 = alice.get("/portfolio/balance").json()["balance"]
    r = alice.post("/portfolio/orders", {"ticker": t, "side": "no", "action": "buy", "count_fp": "4.00",
                                         "no_price_dollars": "0.9800", "post_only": True})
    assert r.status_code == 201, r.text
    oid = r.json()["order"]["order_id"]
    r = bob.post("/portfolio/orders", {"ticker": t, "side": "yes", "action": "buy", "count": 4, "yes_price": 2,
                                       "time_in_force": "immediate_or_cancel"})
    assert r.status_code == 201 and r.json()["order"]["status"] == "executed", r.text
    fills = alice.get("/portfolio/fills", params={"order_id": oid}).json()["fills"]
    assert len(fills) == 1 and fills[0]["count_fp"] == "4.00" and fills[0]["is_taker"] is False
    assert fills[0]["yes_price_dollars"] == "0.0200" and fills[0]["side"] == "no"
    pos = alice.get("/portfolio/positions", params={"ticker": t}).json()["market_positions"]
    assert pos[0]["position_fp"] == "-4.00"
    assert alice.get("/portfolio/balance").json()["balance"] == bal0 - 392
    trades = alice.get("/markets/trades", params={"ticker": t, "limit": 1}).json()
    assert trades["trades"][0]["taker_outcome_side"] == "yes"
    candles = alice.get(f"/series/{ex.engine.markets[t].series_ticker}/markets/{t}/candlesticks",
                        params={"period_interval": 1, "start_ts": 0,
                                    "end_ts": int(time.time()) + 60}).json()
    assert candles["ticker"] == t and candles["candlesticks"][-1]["price"]["close_dollars"] == "0.0200"
    # settlement: NO wins, alice gets $4
    ex.settle(t, "no")
    s = alice.get("/portfolio/settlements", params={"ticker": t}).json()["settlements"]
    assert s[0]["market_result"] == "no" and s[0]["revenue"] == 400 and s[0]["no_count_fp"] == "4.00"
    assert alice.get("/portfolio/balance").json()["balance"] == bal0 - 392 + 400
    m = alice.get(f"/markets/{t}").json()["market"]
    assert m["result"] == "no"
    r = bob.post("/portfolio/orders", {"ticker": t, "side": "yes", "action": "buy", "count": 1, "yes_price": 2})
    assert r.status_code == 400


def test_trades_pagination(alice, ex):
    ex.step(20)
    first = alice.get("/markets/trades", params={"limit": 2}).json()
    assert len(first["trades"]) == 2 and first["cursor"]
    second = alice.get("/markets/trades", params={"limit": 2, "cursor": first["cursor"]}).json()
    ids1 = {t["trade_id"] for t in first["trades"]}
    assert not ids1 & {t["trade_id"] for t in second["trades"]}


def test_create_order_errors(alice, ex):
    t = "KXQUIET-26JAN01-Q3"
    base = {"ticker": t, "side": "yes", "action": "buy", "count": 1}
    r = alice.post("/portfolio/orders", {**base, "yes_price": 10, "no_price": 90})
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"] == "invalid_order" and err["service"] == "exchange"
    assert err["details"] == "exactly one of yes_price, no_price, yes_price_dollars, or no_price_dollars should be provided"
    assert alice.post("/portfolio/orders", base).status_code == 400
    assert alice.post("/portfolio/orders", {**base, "yes_price": 10, "type": "market"}).status_code == 400
    assert alice.post("/portfolio/orders", {**base, "yes_price": 100}).status_code == 400
    assert alice.post("/portfolio/orders", {**base, "ticker": "NOPE", "yes_price": 10}).status_code == 404
    assert alice.post("/portfolio/orders", {**base, "count": 1, "count_fp": "2.00", "yes_price": 10}).status_code == 400
    coid = str(uuid.uuid4())
    assert alice.post("/portfolio/orders", {**base, "yes_price": 1, "client_order_id": coid}).status_code == 201
    assert alice.post("/portfolio/orders", {**base, "yes_price": 1, "client_order_id": coid}).status_code == 409
    r = alice.post("/portfolio/orders", {**base, "count": 10**7, "yes_price": 50})
    assert r.status_code == 400 and r.json()["error"]["code"] == "insufficient_balance"


def test_batched_create_and_cancel(alice, ex):
    t = "KXQUIET-26JAN01-Q3"
    r = alice.post("/portfolio/orders/batched", {"orders": [
        {"ticker": t, "side": "yes", "action": "buy", "count": 1, "yes_price": 1, "client_order_id": "b1"},
        {"ticker": t, "side": "yes", "action": "buy", "count": 1, "client_order_id": "b2"},
    ]})
    assert r.status_code == 201
    out = r.json()["orders"]
    assert out[0]["order"]["status"] == "resting" and "error" not in out[0]  # absent: omitted, not null
    assert "order" not in out[1] and out[1]["error"]["code"] == "invalid_order"
    oid = out[0]["order"]["order_id"]
    r = alice.delete("/portfolio/orders/batched", {"orders": [{"order_id": oid}, {"order_id": "nope"}]})
    assert r.status_code == 200
    res = r.json()["orders"]
    assert res[0]["reduced_by_fp"] == "1.00" and res[1]["error"]["code"] == "not_found"


def test_order_write_timeout_is_placed(alice, ex):
    t = "KXQUIET-26JAN01-Q4"
    coid = str(uuid.uuid4())
    ex.faults.order_timeout()
    with pytest.raises(requests.exceptions.ReadTimeout):
        alice.post("/portfolio/orders", {"ticker": t, "side": "yes", "action": "buy", "count": 1, "yes_price": 1,
                                         "client_order_id": coid}, timeout=0.5)
    alice.s.close()
    listed = alice.get("/portfolio/orders", params={"ticker": t}).json()["orders"]
    assert coid in [o["client_order_id"] for o in listed]


def test_generated_local_key(tmp_path):
    with LocalExchange(port=0, seed=2, state_dir=tmp_path, background=False) as x:
        key_id, priv = load_local_credentials(tmp_path)
        assert key_id == x.key_id
        c = Client(x, key_id, priv)
        assert c.get("/portfolio/balance").json()["balance"] == 1_000_000
    with LocalExchange(port=0, seed=2, state_dir=tmp_path, background=False) as y:
        assert y.key_id == key_id  # reused


def test_official_sdk(ex, keys):
    kalshi = pytest.importorskip("kalshi_python_sync")
    from kalshi_python_sync.api.market_api import MarketApi
    from kalshi_python_sync.api.orders_api import OrdersApi

    cfg = kalshi.Configuration(host=ex.rest_url)
    cfg.api_key_id = keys["alice"][0]
    cfg.private_key_pem = keys["alice"][1].read_text()
    client = kalshi.KalshiClient(cfg)
    markets = MarketApi(client).get_markets(limit=100, status="open")
    assert {m.ticker for m in markets.markets} <= set(ex.engine.markets) and markets.markets
    t = markets.markets[0].ticker
    ob = MarketApi(client).get_market_orderbook(t)
    assert ob.orderbook.yes_dollars is not None
    orders = OrdersApi(client)
    created = orders.create_order(ticker=t, side="yes", action="buy", count=1, yes_price=1,
                                  client_order_id=str(uuid.uuid4()))
    assert created.order.status == "resting"
    canceled = orders.cancel_order(created.order.order_id)
    assert canceled.order.status == "canceled"
    assert orders.get_orders(ticker=t).orders


def test_sdk_models_deserialize(alice, ex):
    pytest.importorskip("kalshi_python_sync")
    from kalshi_python_sync import models as M

    t = tickers(ex)[0]
    alice.post("/portfolio/orders", {"ticker": t, "side": "yes", "action": "buy", "count": 1, "yes_price": 99,
                                     "time_in_force": "immediate_or_cancel"})
    checks = [
        (M.GetMarketsResponse, "/markets"),
        (M.GetMarketResponse, f"/markets/{t}"),
        (M.GetMarketOrderbookResponse, f"/markets/{t}/orderbook"),
        (M.GetEventsResponse, "/events?with_nested_markets=true"),
        (M.GetEventResponse, f"/events/{ex.engine.markets[t].event_ticker}"),
        (M.GetSeriesListResponse, "/series"),
        (M.GetTradesResponse, "/markets/trades"),
        (M.GetBalanceResponse, "/portfolio/balance"),
        (M.GetPositionsResponse, "/portfolio/positions"),
        (M.GetFillsResponse, "/portfolio/fills"),
        (M.GetOrdersResponse, "/portfolio/orders"),
        (M.GetSettlementsResponse, "/portfolio/settlements"),
        (M.ExchangeStatus, "/exchange/status"),
        (M.GetMarketCandlesticksResponse,
         f"/series/{ex.engine.markets[t].series_ticker}/markets/{t}/candlesticks?period_interval=1&start_ts=0&end_ts=9999999999"),
    ]
    for model, path in checks:
        body = alice.get(path).json()
        assert model.from_dict(body) is not None, path


def test_background_traders_and_catalog(tmp_path, keys):
    import pyarrow as pa
    import pyarrow.parquet as pq

    d = tmp_path / "cat" / "markets" / "series=KXCAT"
    d.mkdir(parents=True)
    pq.write_table(pa.table({
        "ticker": ["KXCAT-26JAN01-A", "KXCAT-26JAN01-B"], "event_ticker": ["KXCAT-26JAN01"] * 2,
        "series_ticker": ["KXCAT"] * 2, "open_ts": [1_767_225_600] * 2, "close_ts": [1_767_312_000] * 2,
        "settle_ts": [None, None], "result": ["", ""], "title": ["A", "B"],
    }), d / "part-0.parquet")
    reg = {keys["alice"][0]: keys["alice"][2]}
    with LocalExchange(port=0, seed=4, markets_from=tmp_path / "cat", register_keys=reg, tick=0.01) as x:
        assert sorted(x.engine.markets) == ["KXCAT-26JAN01-A", "KXCAT-26JAN01-B"]
        c = Client(x, keys["alice"][0], keys["alice"][1])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not c.get("/markets/trades").json()["trades"]:
            time.sleep(0.05)
        assert c.get("/markets/trades").json()["trades"]
        # admin fault endpoint
        r = requests.post(f"http://127.0.0.1:{x.port}/_faults", json={"action": "rate_limit_storm", "n": 1}, timeout=5)
        assert r.status_code == 200
        assert c.get("/exchange/status").status_code == 429
        r = requests.post(f"http://127.0.0.1:{x.port}/_faults",
                          json={"action": "settle", "ticker": "KXCAT-26JAN01-A", "result": "yes"}, timeout=5)
        assert r.status_code == 200 and x.engine.markets["KXCAT-26JAN01-A"].status == "settled"
