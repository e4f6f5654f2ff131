"""Conformance (issue 14, 1c): the client's models parse spec-generated samples of every response
they read, REST (through the REST client itself) and WebSocket (the payloads the feed parses).

Samples come from the spec's own response schemas with hypothesis-jsonschema (bounded:
``derandomize=True``, ``MAX_EXAMPLES`` per response). Two kinds:

* **valid** samples: the schema with the value formats the spec describes in prose made
  explicit (``FixedPointDollars`` "fixed-point decimal", ``FixedPointCount`` "2 decimals",
  RFC 3339 times, prices within $0-$1): every one must parse, record for record;
* **raw** samples: the schema as published (any string where a number string goes, any
  integer): each must parse or raise :class:`KalshiParseError` naming a field, nothing else.

The REST samples are served by a transport adapter mounted on the client's session, so the
client's own request/parse path runs; nothing leaves the process.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import kalshi_spec
import pytest
import requests

from framework.kalshi.errors import KalshiParseError
from framework.kalshi.models import Fill, OrderbookLevels, Trade
from framework.kalshi.rest import KalshiRestClient, OrderRequest

hypothesis_jsonschema = pytest.importorskip("hypothesis_jsonschema", reason="hypothesis-jsonschema is a test dependency")
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402

MAX_EXAMPLES = 4
_DROP = {"description", "example", "examples", "deprecated", "readOnly", "writeOnly", "discriminator", "xml",
         "externalDocs", "title", "default"}
PRICE = r"^0\.(0[1-9]|[1-9][0-9])00$"  # $0.01 .. $0.99, 4 decimals
COUNT = r"^[0-9]{1,4}\.00$"
SIGNED_COUNT = r"^-?[0-9]{1,4}\.00$"
TIME = r"^20[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?Z$"
# plain "type: string" fields whose descriptions say they hold dollars
DOLLAR_STRINGS = {"fee_cost", "yes_price_fixed", "no_price_fixed", "start", "end", "step"}
# Fields the models need that the spec marks optional. Fill.created_time: a fill without a time
# cannot be ordered or journaled, so Fill.from_json refuses it (KalshiParseError naming the
# field; the raw samples check that) rather than inventing one. Valid samples always carry it.
MODEL_REQUIRES = {"created_time"}
SIGNED = {"position_fp", "post_position_fp", "realized_pnl_dollars", "revenue_dollars"}


def to_json_schema(node: Any, doc: dict, *, valid: bool, name: str = "", depth: int = 0) -> Any:
    """An OpenAPI 3.0 / AsyncAPI schema fragment -> a self-contained JSON Schema for generation:
    ``$ref`` inlined, ``nullable`` as ``null`` alternatives, unknown properties not generated;
    with ``valid`` the prose-described formats become patterns and numbers are kept in range."""
    if isinstance(node, list):
        return [to_json_schema(n, doc, valid=valid, name=name, depth=depth) for n in node]
    if not isinstance(node, dict):
        return node
    if depth > 12:  # recursive schemas: stop descending
        return {}
    if "$ref" in node:
        ref = node["$ref"].lstrip("#/").split("/")
        target: Any = doc
        for part in ref:
            target = target[part]
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        if valid and ref[-1] in ("FixedPointDollars", "FixedPointCount"):
            signed = name in SIGNED
            pattern = PRICE if ref[-1] == "FixedPointDollars" else (SIGNED_COUNT if signed else COUNT)
            if ref[-1] == "FixedPointDollars" and signed:
                pattern = r"^-?" + PRICE[1:]
            merged = {"type": "string", "pattern": pattern, "nullable": merged.get("nullable", False)}
        return to_json_schema(merged, doc, valid=valid, name=name, depth=depth + 1)
    out: dict[str, Any] = {}
    for k, v in node.items():
        if k in _DROP or k.startswith("x-") or k == "nullable":
            continue
        if k == "properties":
            out[k] = {p: to_json_schema(s, doc, valid=valid, name=p, depth=depth + 1) for p, s in v.items()}
        elif k in ("items", "allOf", "anyOf", "oneOf", "not", "additionalProperties") and not isinstance(v, bool):
            out[k] = to_json_schema(v, doc, valid=valid, name=name, depth=depth + 1)
        elif k == "format":
            if v in ("date-time", "uuid"):
                out[k] = v
        else:
            out[k] = v
    if out.get("type") == "object" or "properties" in out:
        out.setdefault("additionalProperties", False)  # extra keys are ignored by the models; keep samples small
    if out.get("type") == "array" and "maxItems" not in out:
        out["maxItems"] = max(2, out.get("minItems", 0))  # two records show the parsing; more only cost time
    if valid:
        t = out.get("type")
        if "properties" in out:
            extra = [f for f in MODEL_REQUIRES if f in out["properties"] and f not in out.get("required", [])]
            if extra:
                out["required"] = [*out.get("required", []), *extra]
        if t == "string" and "enum" not in out and "pattern" not in out:
            out.setdefault("minLength", 1)  # ids and tickers are never empty
        if t == "string" and out.get("format") == "date-time":
            out.pop("format")
            out["pattern"] = TIME
        elif t == "string" and "enum" not in out and "pattern" not in out and (
                name.endswith("_dollars") or "_dollars_" in name or name in DOLLAR_STRINGS):
            out["pattern"] = r"^-?" + PRICE[1:] if name in SIGNED else PRICE
        elif t == "string" and "enum" not in out and "pattern" not in out and name.endswith("_fp"):
            out["pattern"] = SIGNED_COUNT if name in SIGNED else COUNT
        elif t == "integer":
            out["minimum"], out["maximum"] = max(out.get("minimum", 1), 1), min(out.get("maximum", 99), 99)
        elif t == "number":
            out["minimum"], out["maximum"] = 0, 1
    if node.get("nullable"):
        out = {"anyOf": [out, {"type": "null"}]}
    return out


class Canned(requests.adapters.BaseAdapter):
    """Answers the first request with ``body`` and later ones (next pages) with ``{}``."""

    def __init__(self) -> None:
        super().__init__()
        self.body: Any = None
        self.status = 200
        self.sent = 0

    def send(self, request, **kwargs) -> requests.Response:
        r = requests.Response()
        r.status_code = self.status
        r._content = json.dumps(self.body if self.sent == 0 else {}).encode()
        r.headers["Content-Type"] = "application/json"
        r.request, r.url = request, request.url
        self.sent += 1
        return r

    def close(self) -> None:
        pass


def _n(key: str) -> Callable[[dict], int]:
    return lambda body: len(body.get(key) or [])


def _event_markets(body: dict) -> int:
    return len(body.get("markets") or (body.get("event") or {}).get("markets") or [])


ORDER = OrderRequest("KX-T", "yes", "buy", 100, 5000, client_order_id="c1")
# (client call, spec path, method, status, records the client returns for a body)
READS: list[tuple[str, Callable[[KalshiRestClient], Any], str, str, str, Callable[[dict], int]]] = [
    ("iter_markets", lambda c: list(c.iter_markets()), "/markets", "get", "200", _n("markets")),
    ("get_market", lambda c: [c.get_market("KX-T")], "/markets/{ticker}", "get", "200", lambda b: 1),
    ("get_event", lambda c: c.get_event("KX-E")["markets"], "/events/{event_ticker}", "get", "200", _event_markets),
    ("get_orderbook", lambda c: [c.get_orderbook("KX-T")], "/markets/{ticker}/orderbook", "get", "200", lambda b: 1),
    ("iter_trades", lambda c: list(c.iter_trades()), "/markets/trades", "get", "200", _n("trades")),
    ("get_candlesticks", lambda c: c.get_candlesticks("KX", "KX-T", 0, 60, 1),
     "/series/{series_ticker}/markets/{ticker}/candlesticks", "get", "200", _n("candlesticks")),
    ("get_balance", lambda c: [c.get_balance()], "/portfolio/balance", "get", "200", lambda b: 1),
    ("iter_positions", lambda c: list(c.iter_positions()), "/portfolio/positions", "get", "200",
     _n("market_positions")),
    ("iter_orders", lambda c: list(c.iter_orders()), "/portfolio/orders", "get", "200", _n("orders")),
    ("get_order", lambda c: [c.get_order("o1")], "/portfolio/orders/{order_id}", "get", "200", lambda b: 1),
    ("iter_fills", lambda c: list(c.iter_fills()), "/portfolio/fills", "get", "200", _n("fills")),
    ("iter_settlements", lambda c: list(c.iter_settlements()), "/portfolio/settlements", "get", "200",
     _n("settlements")),
    ("create_order", lambda c: [c.create_order(ORDER)], "/portfolio/orders", "post", "201", lambda b: 1),
    ("cancel_order", lambda c: [c.cancel_order("o1")], "/portfolio/orders/{order_id}", "delete", "200", lambda b: 1),
    ("amend_order", lambda c: [c.amend_order("o1", ticker="KX-T", side="yes", action="buy", price=5000, count=100)],
     "/portfolio/orders/{order_id}/amend", "post", "200", lambda b: 1),
    ("decrease_order", lambda c: [c.decrease_order("o1", reduce_by=100)], "/portfolio/orders/{order_id}/decrease",
     "post", "200", lambda b: 1),
    ("batch_create_orders", lambda c: c.batch_create_orders([ORDER]), "/portfolio/orders/batched", "post", "201",
     _n("orders")),
    ("batch_cancel_orders", lambda c: c.batch_cancel_orders(["o1"]), "/portfolio/orders/batched", "delete", "200",
     _n("orders")),
]


def response_schema(spec: dict, path: str, method: str, status: str) -> dict:
    return spec["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]


def _settings():
    return settings(max_examples=MAX_EXAMPLES, derandomize=True, database=None, deadline=None,
                    phases=[Phase.generate], suppress_health_check=list(HealthCheck))


def _sample_test(schema: dict, check: Callable[[Any], None]) -> None:
    @_settings()
    @given(body=hypothesis_jsonschema.from_schema(schema))
    def run(body):
        check(body)

    run()


@pytest.mark.parametrize("valid", [True, False], ids=["valid-samples", "raw-samples"])
@pytest.mark.parametrize("name,call,path,method,status,count", READS, ids=[r[0] for r in READS])
def test_rest_models_parse_spec_generated_responses(name, call, path, method, status, count, valid):
    spec = kalshi_spec.openapi()
    schema = to_json_schema(response_schema(spec, path, method, status), spec, valid=valid)
    adapter = Canned()
    adapter.status = int(status)
    session = requests.Session()
    session.mount("http://spec.test/", adapter)
    client = KalshiRestClient("http://spec.test/trade-api/v2", session=session, max_retries=0,
                              read_rate=1e9, write_rate=1e9)

    def check(body):
        adapter.body, adapter.sent = body, 0
        if valid:
            got = call(client)
            assert len(got) == count(body), (name, body)
        else:
            try:
                call(client)
            except KalshiParseError as e:  # refused, naming what was wrong
                assert e.field and e.object_type, e

    _sample_test(schema, check)


WS_PARSERS = {
    "tradePayload": lambda msg: Trade.from_json(msg),
    "fillPayload": lambda msg: Fill.from_json(msg),
    "orderbookSnapshotPayload": lambda msg: OrderbookLevels.from_json(msg, ticker=msg["market_ticker"]),
}


@pytest.mark.parametrize("valid", [True, False], ids=["valid-samples", "raw-samples"])
@pytest.mark.parametrize("payload", sorted(WS_PARSERS))
def test_ws_payloads_parse(payload, valid):
    doc = kalshi_spec.asyncapi()
    schema = to_json_schema(copy.deepcopy(doc["components"]["schemas"][payload]), doc, valid=valid)
    parse = WS_PARSERS[payload]

    def check(env):
        if valid:
            assert parse(env["msg"]) is not None
        else:
            try:
                parse(env["msg"])
            except KalshiParseError as e:
                assert e.field, e

    _sample_test(schema, check)
