"""Conformance (issue 14, 1b): every WebSocket message type the local exchange sends validates
against the payload schemas of Kalshi's AsyncAPI document (``components/schemas/*Payload``),
with formats (``uuid``, ``date-time``) checked.

One connection subscribes to every channel the exchange serves, issues every command (and
some bad ones), and trading on the exchange makes it send snapshots, deltas (its own, with
``client_order_id``), trades, tickers and fills. Every message received is validated.
"""

from __future__ import annotations

import asyncio
import json
import time

import kalshi_spec
import pytest
from websockets.asyncio.client import connect

from framework.exchange.server import WS_PATH
from framework.kalshi.auth import KalshiSigner, load_private_key
from framework.kalshi.rest import KalshiRestClient, OrderRequest

jsonschema = pytest.importorskip("jsonschema", reason="jsonschema comes with openapi-core (a test dependency)")

# the message types the local exchange sends (its channels: orderbook_delta, trade, ticker, fill)
EXPECTED = {"subscribed", "unsubscribed", "ok", "error", "orderbook_snapshot", "orderbook_delta", "trade",
            "ticker", "fill"}


def payload_validators() -> dict[str, jsonschema.protocols.Validator]:
    """``{schema name: validator}`` for every ``*Payload`` schema, refs resolved in the document."""
    doc = kalshi_spec.asyncapi()
    comps = doc["components"]
    cls = jsonschema.Draft202012Validator
    out = {}
    for name in comps["schemas"]:
        if name.endswith("Payload"):
            out[name] = cls({"$ref": f"#/components/schemas/{name}", "components": comps},
                            format_checker=cls.FORMAT_CHECKER)
    return out


def schema_for(msg: dict, names: dict[str, str]) -> str | None:
    """The payload schema a received message must meet, by its ``type`` (``ok`` answers to
    list_subscriptions carry a list)."""
    typ = msg.get("type")
    if typ == "ok" and isinstance(msg.get("msg"), list):
        return "listSubscriptionsResponsePayload"
    return names.get(typ)


def type_to_schema(doc: dict) -> dict[str, str]:
    """Message ``type`` -> payload schema name, read from each schema's ``type`` const."""
    out = {}
    for name, sch in doc["components"]["schemas"].items():
        const = sch.get("properties", {}).get("type", {}).get("const") if name.endswith("Payload") else None
        if const and not (const == "ok" and name.startswith("list")):
            out[const] = name
    return out


async def _session(ex, kid, priv, t1: str, t2: str) -> list[dict]:
    signer = KalshiSigner(kid, load_private_key(priv))
    client = KalshiRestClient(ex.rest_url, signer, read_rate=100_000, write_rate=100_000)
    got: list[dict] = []
    async with connect(ex.ws_url, additional_headers=signer.headers("GET", WS_PATH)) as ws:

        async def send(cmd: dict) -> None:
            await ws.send(json.dumps(cmd))

        async def drain(seconds: float) -> None:
            end = time.monotonic() + seconds
            while (left := end - time.monotonic()) > 0:
                try:
                    got.append(json.loads(await asyncio.wait_for(ws.recv(), left)))
                except TimeoutError:
                    return

        await send({"id": 1, "cmd": "subscribe", "params": {"channels": ["orderbook_delta"], "market_tickers": [t1]}})
        await send({"id": 2, "cmd": "subscribe", "params": {"channels": ["trade", "fill"]}})
        await send({"id": 3, "cmd": "subscribe", "params": {"channels": ["ticker"], "send_initial_snapshot": True}})
        await drain(0.5)
        book_sid = next(m["msg"]["sid"] for m in got if m.get("type") == "subscribed"
                        and m["msg"]["channel"] == "orderbook_delta")
        ticker_sid = next(m["msg"]["sid"] for m in got if m.get("type") == "subscribed" and m["msg"]["channel"] == "ticker")
        await send({"id": 4, "cmd": "list_subscriptions"})
        await send({"id": 5, "cmd": "update_subscription",
                    "params": {"sids": [book_sid], "market_tickers": [t2], "action": "add_markets"}})
        await send({"id": 6, "cmd": "update_subscription",
                    "params": {"sids": [book_sid], "market_tickers": [t1], "action": "get_snapshot"}})
        # bad commands get errors
        await send({"id": 7, "cmd": "no_such_command"})
        await send({"id": 8, "cmd": "subscribe", "params": {"channels": ["no_such_channel"]}})
        await send({"id": 9, "cmd": "unsubscribe", "params": {"sids": [9999]}})
        await drain(0.5)
        # trading: a resting order of ours (a delta carrying our client_order_id), a crossing IOC
        # (a trade, our fill, ticker updates), then the market makers' churn
        top = ex.engine.top(t1)
        bid, ask = top["yes_bid"] or 100, top["yes_ask"] or 9900
        await asyncio.to_thread(client.create_order, OrderRequest(t1, "yes", "buy", 100, max(100, bid - 100)))
        await asyncio.to_thread(client.create_order, OrderRequest(t1, "yes", "buy", 100, ask, "immediate_or_cancel"))
        await asyncio.to_thread(ex.step, 3)
        await drain(1.0)
        await send({"id": 10, "cmd": "update_subscription",
                    "params": {"sids": [book_sid], "market_tickers": [t2], "action": "delete_markets"}})
        await send({"id": 11, "cmd": "unsubscribe", "params": {"sids": [ticker_sid]}})
        await drain(0.5)
    client.close()
    return got


def test_every_ws_message_type_validates_against_the_asyncapi_payload_schemas(exch):
    ex, kid, priv = exch
    doc = kalshi_spec.asyncapi()
    validators = payload_validators()
    names = type_to_schema(doc)
    t1, t2 = sorted(t for t in ex.engine.markets if ex.engine.top(t)["yes_ask"] is not None)[:2]
    msgs = asyncio.run(_session(ex, kid, priv, t1, t2))
    errors, seen = [], {}
    for m in msgs:
        name = schema_for(m, names)
        if name is None:
            errors.append(f"no payload schema for message type {m.get('type')!r}: {m}")
            continue
        seen[m["type"]] = seen.get(m["type"], 0) + 1
        for e in validators[name].iter_errors(m):
            errors.append(f"{name}: {'/'.join(map(str, e.absolute_path))}: {e.message} in {json.dumps(m)[:300]}")
    assert not errors, "\n".join(errors[:30])
    assert set(seen) >= EXPECTED, f"message types not seen: {EXPECTED - set(seen)}"
    own = [m for m in msgs if m["type"] == "orderbook_delta" and "client_order_id" in m["msg"]]
    assert own, "no delta caused by our own order (client_order_id) was seen"
    snap = next(m for m in msgs if m["type"] == "orderbook_snapshot")
    assert snap["msg"]["market_id"] and all(isinstance(p, str) and isinstance(s, str)
                                            for side in ("yes_dollars_fp", "no_dollars_fp")
                                            for p, s in snap["msg"].get(side, []))
    print(f"\nconformance: {len(seen)} WS message types, {sum(seen.values())} messages validated: {seen}")


def test_the_ws_validators_catch_a_violation():
    """The harness can fail: a delta without market_id, with a number where a string goes."""
    validators = payload_validators()
    bad = {"type": "orderbook_delta", "sid": 1, "seq": 2,
           "msg": {"market_ticker": "KX-1", "price_dollars": 0.5, "delta_fp": "1.00", "side": "yes"}}
    problems = {e.message for e in validators["orderbookDeltaPayload"].iter_errors(bad)}
    assert any("market_id" in p for p in problems) and any("string" in p for p in problems), problems
