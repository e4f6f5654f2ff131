"""WebSocket v2 of the local exchange: handshake, snapshot/delta sequencing, faults, private fills."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from framework.exchange.matching import MarketInfo
from framework.exchange.server import WS_PATH, LocalExchange
from framework.kalshi.auth import KalshiSigner, generate_key_pair, load_private_key
from framework.units import cents, contracts

Q = "KXQUIET-26JAN01-Q1"


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("wskeys")
    out = {}
    for name in ("alice", "bob"):
        priv, pub = generate_key_pair(d, name=name)
        out[name] = (f"ws-{name}", priv, pub)
    return out


@pytest.fixture(scope="module")
def ex(keys):
    x = LocalExchange(port=0, seed=5, register_keys={k: p for k, _, p in keys.values()}, background=False,
                      ws_ping_interval=0.5)
    x.engine.add_market(MarketInfo(Q, "KXQUIET-26JAN01", "KXQUIET"))
    x.start()
    x.step(3)
    yield x
    x.stop()


@pytest.fixture(autouse=True)
def _reset(ex):
    ex.faults.reset()
    yield
    ex.faults.reset()


def signer(keys, who="alice"):
    kid, priv, _ = keys[who]
    return KalshiSigner(kid, load_private_key(priv))


def headers(keys, who="alice"):
    return signer(keys, who).headers("GET", WS_PATH)


async def recv(ws, timeout=5.0):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def recv_until(ws, pred, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("message not received in time")
        m = await recv(ws, left)
        if pred(m):
            return m


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


def test_origin_header_gets_cloudfront_403(ex, keys):
    async def go():
        with pytest.raises(InvalidStatus) as ei:
            async with connect(ex.ws_url, additional_headers=headers(keys), origin="https://example.com"):
                pass
        resp = ei.value.response
        assert resp.status_code == 403
        assert resp.headers["x-cache"] == "Error from cloudfront"
        async with connect(ex.ws_url, additional_headers=headers(keys)) as ws:
            await ws.send(json.dumps({"id": 1, "cmd": "list_subscriptions"}))
            assert (await recv(ws))["type"] == "ok"

    run(go())


def test_bad_auth_gets_401_and_reject_fault(ex, keys):
    async def go():
        bad = signer(keys).headers("GET", "/trade-api/v2/portfolio/balance")
        with pytest.raises(InvalidStatus) as ei:
            async with connect(ex.ws_url, additional_headers=bad):
                pass
        assert ei.value.response.status_code == 401
        with pytest.raises(InvalidStatus) as ei:
            async with connect(ex.ws_url):
                pass
        assert ei.value.response.status_code == 401
        ex.faults.reject_ws_upgrades(True)
        with pytest.raises(InvalidStatus) as ei:
            async with connect(ex.ws_url, additional_headers=headers(keys)):
                pass
        assert ei.value.response.status_code == 403

    run(go())


def test_snapshot_then_deltas_in_sequence(ex, keys):
    t = sorted(t for t in ex.engine.markets if t != Q)[0]

    async def go():
        async with connect(ex.ws_url, additional_headers=headers(keys)) as ws:
            await ws.send(json.dumps({"id": 1, "cmd": "subscribe",
                                      "params": {"channels": ["orderbook_delta"], "market_tickers": [t]}}))
            ack = await recv(ws)
            assert ack == {"id": 1, "type": "subscribed", "msg": {"channel": "orderbook_delta", "sid": 1}}
            snap = await recv(ws)
            assert snap["type"] == "orderbook_snapshot" and snap["seq"] == 1 and snap["sid"] == 1
            book = {"yes": {}, "no": {}}
            for side in ("yes", "no"):
                for p, s in snap["msg"].get(f"{side}_dollars_fp", []):
                    book[side][p] = float(s)
            await asyncio.to_thread(ex.step, 10)
            seqs = [1]
            deadline = time.monotonic() + 5
            while len(seqs) < 6 and time.monotonic() < deadline:
                m = await recv(ws)
                assert m["type"] == "orderbook_delta"
                seqs.append(m["seq"])
                d = m["msg"]
                assert set(d) >= {"market_ticker", "price_dollars", "delta_fp", "side", "ts_ms"}
                lvl = book[d["side"]]
                lvl[d["price_dollars"]] = round(lvl.get(d["price_dollars"], 0) + float(d["delta_fp"]), 2)
                if lvl[d["price_dollars"]] <= 0:
                    del lvl[d["price_dollars"]]
            assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) >= 6
            # drain the rest, then compare with the engine's book
            try:
                while True:
                    m = await recv(ws, 0.3)
                    seqs.append(m["seq"])
                    d = m["msg"]
                    lvl = book[d["side"]]
                    lvl[d["price_dollars"]] = round(lvl.get(d["price_dollars"], 0) + float(d["delta_fp"]), 2)
                    if lvl[d["price_dollars"]] <= 0:
                        del lvl[d["price_dollars"]]
            except TimeoutError:
                pass
            assert seqs == list(range(1, len(seqs) + 1))
            yes, no, _ = ex.engine.orderbook(t)
            assert {p: s for p, s in book["yes"].items()} == {f"{p / 10000:.4f}": s / 100 for p, s in yes}
            assert {p: s for p, s in book["no"].items()} == {f"{p / 10000:.4f}": s / 100 for p, s in no}

    run(go())


def test_seq_skip_fault_and_get_snapshot(ex, keys):
    async def go():
        async with connect(ex.ws_url, additional_headers=headers(keys)) as ws:
            await ws.send(json.dumps({"id": 1, "cmd": "subscribe",
                                      "params": {"channels": ["orderbook_delta"], "market_tickers": [Q]}}))
            await recv(ws)
            snap = await recv(ws)
            assert snap["seq"] == 1
            ex.faults.skip_ws_seq()
            await asyncio.to_thread(ex.engine.place_order, "ws-bob", Q, "yes", "buy", cents(10), contracts(1))
            m = await recv(ws)
            assert m["type"] == "orderbook_delta" and m["seq"] == 3  # gap: 2 was skipped
            await ws.send(json.dumps({"id": 2, "cmd": "update_subscription",
                                      "params": {"sids": [1], "action": "get_snapshot", "market_tickers": [Q]}}))
            s2 = await recv(ws)
            assert s2["type"] == "orderbook_snapshot" and s2["seq"] == 4
            assert s2["msg"]["yes_dollars_fp"][-1][0] == "0.1000"
            ex.faults.duplicate_ws()
            await asyncio.to_thread(ex.engine.place_order, "ws-bob", Q, "yes", "buy", cents(11), contracts(1))
            a, b = await recv(ws), await recv(ws)
            assert a == b and a["seq"] == 5

    run(go())


def test_commands_and_errors(ex, keys):
    t = sorted(ex.engine.markets)[0]

    async def go():
        async with connect(ex.ws_url, additional_headers=headers(keys)) as ws:
            await ws.send(json.dumps({"id": 1, "cmd": "subscribe", "params": {"channels": ["nope"]}}))
            assert (await recv(ws))["msg"]["code"] == 8
            await ws.send(json.dumps({"id": 2, "cmd": "subscribe", "params": {"channels": ["orderbook_delta"]}}))
            assert (await recv(ws))["msg"]["code"] == 14
            await ws.send(json.dumps({"id": 3, "cmd": "frobnicate"}))
            assert (await recv(ws))["msg"]["code"] == 5
            await ws.send(json.dumps({"id": 4, "cmd": "subscribe", "params": {"channels": ["trade", "ticker"]}}))
            acks = [await recv(ws), await recv(ws)]
            assert [a["msg"]["channel"] for a in acks] == ["trade", "ticker"]
            sids = [a["msg"]["sid"] for a in acks]
            await ws.send(json.dumps({"id": 5, "cmd": "list_subscriptions"}))
            lst = await recv_until(ws, lambda m: m.get("id") == 5)
            assert sorted(s["sid"] for s in lst["msg"]) == sorted(sids)
            await ws.send(json.dumps({"id": 6, "cmd": "update_subscription",
                                      "params": {"sids": sids, "action": "add_markets", "market_tickers": [t]}}))
            assert (await recv_until(ws, lambda m: m.get("id") == 6))["msg"]["code"] == 12
            await ws.send(json.dumps({"id": 7, "cmd": "subscribe",
                                      "params": {"channels": ["orderbook_delta"], "market_tickers": [t]}}))
            ob_sid = (await recv_until(ws, lambda m: m.get("id") == 7))["msg"]["sid"]
            await ws.send(json.dumps({"id": 8, "cmd": "update_subscription",
                                      "params": {"sid": ob_sid, "action": "add_markets", "market_tickers": [Q]}}))
            ok = await recv_until(ws, lambda m: m.get("id") == 8)
            assert ok["type"] == "ok" and ok["sid"] == ob_sid and sorted(ok["msg"]["market_tickers"]) == sorted([t, Q])
            await ws.send(json.dumps({"id": 9, "cmd": "unsubscribe", "params": {"sids": [sids[0]]}}))
            un = await recv_until(ws, lambda m: m.get("id") == 9)
            assert un["type"] == "unsubscribed" and un["sid"] == sids[0]
            await ws.send(json.dumps({"id": 10, "cmd": "unsubscribe", "params": {"sids": [999]}}))
            assert (await recv_until(ws, lambda m: m.get("id") == 10))["msg"]["code"] == 7

    run(go())


def test_fill_channel_only_to_owner_and_trades(ex, keys):
    async def go():
        async with connect(ex.ws_url, additional_headers=headers(keys, "alice")) as wa, \
                connect(ex.ws_url, additional_headers=headers(keys, "bob")) as wb:
            for ws in (wa, wb):
                await ws.send(json.dumps({"id": 1, "cmd": "subscribe", "params": {"channels": ["fill", "trade"],
                                                                                 "market_tickers": [Q]}}))
                await recv(ws)
                await recv(ws)
            await asyncio.to_thread(ex.engine.place_order, "local-noise", Q, "no", "buy", cents(50), contracts(3))
            await asyncio.to_thread(ex.engine.place_order, "ws-alice", Q, "yes", "buy", cents(50), contracts(3),
                                    client_order_id="alice-1")
            fill = await recv_until(wa, lambda m: m["type"] == "fill")
            assert fill["msg"]["client_order_id"] == "alice-1" and fill["msg"]["count_fp"] == "3.00"
            assert fill["msg"]["is_taker"] is True and fill["msg"]["yes_price_dollars"] == "0.5000"
            tr = await recv_until(wb, lambda m: m["type"] == "trade")
            assert tr["msg"]["yes_price_dollars"] == "0.5000" and tr["seq"] >= 1
            # bob must not see alice's fill: after the trade message nothing else is queued for him
            with pytest.raises(TimeoutError):
                await recv_until(wb, lambda m: m["type"] == "fill", timeout=0.5)

    run(go())


def test_drop_connections_and_ping(ex, keys):
    async def go():
        async with connect(ex.ws_url, additional_headers=headers(keys)) as ws:
            pong_waiter = await ws.ping()
            await asyncio.wait_for(pong_waiter, 5)
            n = await asyncio.to_thread(ex.drop_ws_connections)
            assert n >= 1
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 5)
        # reconnect with a fresh signature works
        async with connect(ex.ws_url, additional_headers=headers(keys)) as ws:
            await ws.send(json.dumps({"id": 1, "cmd": "list_subscriptions"}))
            assert (await recv(ws))["msg"] == []

    run(go())
