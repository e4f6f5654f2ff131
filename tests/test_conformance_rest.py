"""Conformance (issue 14, 1a): the REST client against the local exchange, every request it sends
and every response it receives validated with openapi-core against Kalshi's OpenAPI document.

The validator hangs on the client's ``requests.Session`` as a response hook, so every HTTP
exchange the client makes (retries and pagination included) is checked; nothing is sampled.
The spec's server is ``https://api.elections.kalshi.com/trade-api/v2``: its paths are relative
to ``/trade-api/v2``, which is the server URL used here.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import kalshi_spec
import pytest
import requests
from kalshi_spec import BASE_PATH

from framework.kalshi.auth import KalshiSigner, load_private_key
from framework.kalshi.errors import KalshiAPIError, KalshiNotFound
from framework.kalshi.rest import DEFAULT_PAGE_LIMIT, PAGE_LIMITS, KalshiRestClient, OrderRequest

openapi_core = pytest.importorskip("openapi_core", reason="openapi-core is a test dependency (pip install -e '.[test]')")
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse  # noqa: E402


@pytest.fixture(scope="module")
def oas():
    """Kalshi's OpenAPI document, served from ``/trade-api/v2`` (any host)."""
    spec = dict(kalshi_spec.openapi())
    spec["servers"] = [{"url": BASE_PATH}]
    return openapi_core.OpenAPI.from_dict(spec)


def _templates(spec: dict) -> list[tuple[re.Pattern[str], str]]:
    """(regex, template) for every spec path; literal paths first (``/orders/batched`` before
    ``/orders/{order_id}``)."""
    out = []
    for tpl in sorted(spec["paths"], key=lambda t: (t.count("{"), t)):
        rx = re.compile("^" + re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(tpl)) + "$")
        out.append((rx, tpl))
    return out


@dataclass
class Call:
    method: str
    template: str | None
    status: int
    query: dict[str, list[str]]
    body: object = None


@dataclass
class SpecRecorder:
    """Validates each (request, response) the session sees; keeps what was seen and what failed."""

    oas: object
    templates: list[tuple[re.Pattern[str], str]]
    calls: list[Call] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def hook(self, resp: requests.Response, *args, **kwargs) -> None:
        preq = resp.request
        url = urlsplit(preq.url)
        rel = url.path[len(BASE_PATH):] if url.path.startswith(BASE_PATH) else url.path
        tpl = next((t for rx, t in self.templates if rx.match(rel)), None)
        try:
            body = resp.json()
        except ValueError:
            body = None
        self.calls.append(Call(preq.method, tpl, resp.status_code, parse_qs(url.query, keep_blank_values=True), body))
        where = f"{preq.method} {url.path}{'?' + url.query if url.query else ''} -> {resp.status_code}"
        req = RequestsOpenAPIRequest(preq)
        for e in self.oas.iter_request_errors(req):
            self.errors.append(f"request {where}: {_explain(e)}")
        for e in self.oas.iter_response_errors(req, RequestsOpenAPIResponse(resp)):
            self.errors.append(f"response {where}: {_explain(e)}")

    def operations(self) -> set[tuple[str, str]]:
        return {(c.method, c.template) for c in self.calls if c.template}


def _explain(e: Exception) -> str:
    parts = [f"{type(e).__name__}: {e}"]
    for x in (e, e.__cause__):
        for se in getattr(x, "schema_errors", None) or ():
            parts.append(f"{'/'.join(map(str, se.absolute_path))}: {se.message}"[:300])
    return "; ".join(parts)[:1500]


@pytest.fixture
def recorded(exch, oas):
    """``(client, recorder, exchange)``: a signed client whose session validates every call."""
    ex, kid, priv = exch
    c, rec = _recording_client(ex, kid, priv, oas)
    yield c, rec, ex
    c.close()


def _recording_client(ex, kid, priv, oas) -> tuple[KalshiRestClient, SpecRecorder]:
    rec = SpecRecorder(oas, _templates(kalshi_spec.openapi()))
    s = requests.Session()
    s.hooks["response"].append(rec.hook)
    c = KalshiRestClient(ex.rest_url, KalshiSigner(kid, load_private_key(priv)), session=s, read_rate=100_000,
                         write_rate=100_000)
    return c, rec


def _drive(c: KalshiRestClient, ex) -> dict[str, int]:
    """Call every operation the client offers, with realistic arguments; returns calls per method."""
    ms = list(c.iter_markets())
    t = ms[0].ticker
    m = ex.engine.markets[t]
    ran: dict[str, int] = {}

    def run(name: str, fn) -> object:
        ran[name] = ran.get(name, 0) + 1
        return fn()

    run("iter_markets", lambda: list(c.iter_markets(status="open", event_ticker=m.event_ticker, mve_filter=None)))
    run("get_exchange_status", c.get_exchange_status)
    run("get_series", lambda: c.get_series(m.series_ticker))
    from framework.exchange.matching import SeriesFeeChange  # a future change: today's fees stay as they are

    ex.engine.add_fee_change(SeriesFeeChange("fc-1", m.series_ticker, "quadratic_with_maker_fees", "2",
                                             ex.engine.clock() + 86_400_000))
    assert run("get_series_fee_changes", lambda: c.get_series_fee_changes(m.series_ticker, show_historical=False))
    run("list_series", c.list_series)
    run("iter_events", lambda: list(c.iter_events(status="open", with_nested_markets=True)))
    run("get_event", lambda: c.get_event(m.event_ticker, with_nested_markets=True))
    run("get_market", lambda: c.get_market(t))
    run("get_orderbook", lambda: c.get_orderbook(t, depth=5))
    run("get_json", lambda: c.get_json("/exchange/user_data_timestamp"))
    rest = run("create_order", lambda: c.create_order(t, "yes", "buy", 200, 100, post_only=True))
    # a marketable IOC, so there are fills, trades, positions and candles to read
    top = ex.engine.top(t)
    ask = top["yes_ask"] or 9900
    run("create_order", lambda: c.create_order(OrderRequest(t, "yes", "buy", 100, ask, "immediate_or_cancel")))
    run("get_balance", c.get_balance)
    run("iter_positions", lambda: list(c.iter_positions(ticker=t, count_filter="position", subaccount=0)))
    run("iter_orders", lambda: list(c.iter_orders(ticker=t, status="resting", min_ts=0, max_ts=int(time.time()) + 60)))
    run("get_order", lambda: c.get_order(rest.order_id))
    run("iter_fills", lambda: list(c.iter_fills(ticker=t, min_ts=0, subaccount=0)))
    run("iter_trades", lambda: list(c.iter_trades(ticker=t, min_ts=0, max_ts=int(time.time()) + 60)))
    run("get_candlesticks", lambda: c.get_candlesticks(m.series_ticker, t, 0, int(time.time()) + 60, 1))
    run("amend_order", lambda: c.amend_order(rest.order_id, ticker=t, side="yes", action="buy", price=200, count=300))
    run("decrease_order", lambda: c.decrease_order(rest.order_id, reduce_by=100))
    run("cancel_order", lambda: c.cancel_order(rest.order_id))
    made = run("batch_create_orders", lambda: c.batch_create_orders(
        [OrderRequest(t, "no", "buy", 100, 100), OrderRequest(t, "yes", "buy", 100, 150, buy_max_cost=None)]))
    run("batch_cancel_orders", lambda: c.batch_cancel_orders([r.order.order_id for r in made if r.order] + ["unknown"]))
    with pytest.raises(KalshiNotFound):  # an error answer is validated too (404 shape)
        run("get_order", lambda: c.get_order("unknown-order"))
    ex.settle(t, "yes")
    run("iter_settlements", lambda: list(c.iter_settlements(ticker=t)))
    return ran


# methods that are plumbing, not exchange operations
_NOT_OPERATIONS = {"close"}


def test_every_client_operation_conforms_to_the_openapi_spec(recorded):
    c, rec, ex = recorded
    ran = _drive(c, ex)
    offered = {n for n in dir(KalshiRestClient) if not n.startswith("_") and callable(getattr(KalshiRestClient, n))}
    assert offered - _NOT_OPERATIONS - set(ran) == set(), "client operations not driven by this test"
    assert not rec.errors, "\n".join(rec.errors)
    ops = rec.operations()
    # every call matched a documented operation
    assert all(call.template for call in rec.calls), [c_.method for c_ in rec.calls if not c_.template]
    assert len(ops) >= 20, sorted(ops)
    print(f"\nconformance: {len(ops)} operations, {len(rec.calls)} HTTP exchanges validated (requests and responses)")


def test_every_limit_the_client_sends_is_within_the_endpoints_maximum(recorded):
    c, rec, ex = recorded
    _drive(c, ex)
    sent = [(call.template, int(call.query["limit"][-1])) for call in rec.calls if "limit" in call.query]
    assert {tpl for tpl, _ in sent} >= {"/markets", "/events", "/markets/trades", "/portfolio/positions",
                                        "/portfolio/orders", "/portfolio/fills", "/portfolio/settlements"}
    for tpl, limit in sent:
        most = kalshi_spec.limit_maximum(tpl)
        assert most is not None and 1 <= limit <= most, (tpl, limit, most)


def test_page_limit_table_matches_the_spec():
    """PAGE_LIMITS holds each endpoint's documented maximum (the largest page it accepts)."""
    spec = kalshi_spec.openapi()
    for path, most in PAGE_LIMITS.items():
        assert kalshi_spec.limit_maximum(path) == most, path
    # the fallback for an endpoint not in the table is accepted by every endpoint that pages
    for path, ops in spec["paths"].items():
        if "get" in ops and kalshi_spec.parameter(spec, path, "get", "limit") is not None:
            assert DEFAULT_PAGE_LIMIT <= kalshi_spec.limit_maximum(path), path


def test_the_recorder_catches_a_violation(recorded):
    """The harness can fail: a request beyond the documented maximum and an invalid response are caught."""
    c, rec, ex = recorded
    with pytest.raises(KalshiAPIError):  # the old client's page size: the exchange refuses it, and so does the spec
        c.get_json("/portfolio/orders", limit=1000)
    assert any("request GET" in e and "limit" in e for e in rec.errors), rec.errors
    rec.errors.clear()
    bad = requests.Response()
    bad.status_code, bad._content = 200, b'{"balance": "not an integer"}'
    bad.headers["Content-Type"] = "application/json"
    bad.request = requests.Request("GET", f"{ex.rest_url}/portfolio/balance").prepare()
    rec.hook(bad)
    assert any(e.startswith("response GET") for e in rec.errors), rec.errors


def test_official_sdk_models_read_every_answer(recorded):
    """Kalshi's own SDK (kalshi-python-sync) deserializes every 2xx body the client received."""
    models = pytest.importorskip("kalshi_python_sync.models")
    c, rec, ex = recorded
    _drive(c, ex)
    spec = kalshi_spec.openapi()
    checked = set()
    for call in rec.calls:
        if not 200 <= call.status < 300 or call.template is None:
            continue
        op_id = spec["paths"][call.template][call.method.lower()]["operationId"]
        model = getattr(models, f"{op_id}Response", None) or getattr(models, op_id.removeprefix("Get"), None)
        assert model is not None, f"no SDK model for {op_id}"
        assert model.from_dict(call.body) is not None, (op_id, call.body)
        checked.add(op_id)
    assert len(checked) >= 20, sorted(checked)


@pytest.fixture
def modern_recorded(tmp_path, oas):
    """Like ``recorded``, on an exchange without the legacy fields (current shapes: status ``finalized``)."""
    from framework.live.testing import local_exchange

    ex, kid, priv = local_exchange(tmp_path / "ex", legacy_fields=False)
    ex.step(3)
    c, rec = _recording_client(ex, kid, priv, oas)
    yield c, rec, ex
    c.close()
    ex.stop()


def test_void_and_scalar_markets_conform_and_say_what_they_paid(modern_recorded):
    """A market finalized as void and one as scalar (held YES and NO) read back as the spec allows:
    ``Market.result`` has no ``void`` (a void market reads ``""``, finalized), a scalar market
    carries its ``settlement_value_dollars``, and the settlement records say ``void``/``scalar``
    with the YES payout in cents."""
    c, rec, ex = modern_recorded
    s_t, v_t = sorted(ex.engine.markets)[:2]
    for t, side in ((s_t, "yes"), (v_t, "no")):
        ask = ex.engine.top(t)["yes_ask" if side == "yes" else "yes_bid"]
        price = ask if side == "yes" else 10_000 - ask
        c.create_order(OrderRequest(t, side, "buy", 300, price, "immediate_or_cancel"))
    ex.settle(s_t, "scalar", 3750)
    ex.settle(v_t, "void")
    scalar, void = c.get_market(s_t), c.get_market(v_t)
    listed = {m.ticker: m for m in c.iter_markets(tickers=f"{s_t},{v_t}", mve_filter=None)}
    assert scalar.status == void.status == "finalized" and listed[v_t].status == "finalized"
    assert scalar.result == "scalar" and scalar.settlement_value == 3750 and scalar.settlement_ts is not None
    assert void.result == "" and listed[v_t].result == "" and void.settlement_value is None
    rows = {r["ticker"]: r for r in c.get_json("/portfolio/settlements")["settlements"]}
    assert rows[s_t]["market_result"] == "scalar" and rows[s_t]["value"] == 37  # cents, rounded down
    assert rows[v_t]["market_result"] == "void" and rows[v_t]["value"] is None
    assert rec.errors == []


def test_void_result_can_be_served_as_the_word(tmp_path):
    """``void_result="void"`` emulates older API versions that sent the word (not spec-valid now)."""
    from framework.live.testing import local_exchange

    ex, kid, priv = local_exchange(tmp_path / "ex", void_result="void")
    try:
        t = sorted(ex.engine.markets)[0]
        ex.settle(t, "void")
        c = KalshiRestClient(ex.rest_url, KalshiSigner(kid, load_private_key(priv)))
        assert c.get_market(t).result == "void"
        c.close()
        with pytest.raises(ValueError, match="void_result"):
            local_exchange(tmp_path / "ex2", void_result="VOID")
    finally:
        ex.stop()
