"""REST API of the local exchange: Kalshi's ``/trade-api/v2`` routes over the matching engine.

:class:`RestApp.handle` takes a parsed :class:`HttpRequest` and returns an :class:`HttpResponse`;
the transport (``server.py``) applies delays and withheld responses.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from framework.kalshi.auth import verify_request
from framework.units import CENT, DOLLAR, UnitError, parse_contracts, parse_dollars

from .kalshi_json import d4, fp, rfc3339
from .matching import ExchangeError, Order
from .validate import BOOL, INT, STR, SUBACCOUNT, Field, InvalidRequest, check_body, check_query, enum, limit

if TYPE_CHECKING:
    from .server import LocalExchange

__all__ = ["HttpRequest", "HttpResponse", "RestApp", "TokenBucket"]

REST_PREFIX = "/trade-api/v2"
PRICE_FIELDS = ("yes_price", "no_price", "yes_price_dollars", "no_price_dollars")
EXACTLY_ONE_PRICE = "exactly one of yes_price, no_price, yes_price_dollars, or no_price_dollars should be provided"


@dataclass
class HttpRequest:
    method: str
    target: str  # raw request target (path + query)
    headers: dict[str, str]  # lower-case names
    body: bytes = b""

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def query(self) -> dict[str, list[str]]:
        q = self.target.split("?", 1)[1] if "?" in self.target else ""
        return parse_qs(q, keep_blank_values=True)


@dataclass
class HttpResponse:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    withhold: bool = False  # fault: the request was executed but no response is sent

    @classmethod
    def json(cls, status: int, obj: Any) -> HttpResponse:
        return cls(status, json.dumps(obj).encode(), {"Content-Type": "application/json"})


def error_response(status: int, code: str, message: str, details: str = "") -> HttpResponse:
    err: dict[str, Any] = {"code": code, "message": message, "service": "exchange"}
    if details:
        err["details"] = details
    return HttpResponse.json(status, {"error": err})


class TokenBucket:
    """Refills ``rate`` tokens per second up to ``capacity``; thread-safe."""

    def __init__(self, rate: float, capacity: float | None = None) -> None:
        self.rate = float(rate)
        self.capacity = float(capacity if capacity is not None else rate)
        self.tokens = self.capacity
        self.t = time.monotonic()
        self.lock = threading.Lock()

    def take(self, cost: float) -> bool:
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.t) * self.rate)
            self.t = now
            if self.tokens >= cost:
                self.tokens -= cost
                return True
            return False


class BadRequest(ExchangeError):
    def __init__(self, details: str, code: str = "invalid_parameters", message: str = "invalid parameters") -> None:
        super().__init__(400, code, message, details)


def _encode_cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, kind: type) -> Any:
    """The last key a page ended on; 400 unless it is one this endpoint issues (a ``kind``)."""
    try:
        pad = "=" * (-len(cursor) % 4)
        last = json.loads(base64.urlsafe_b64decode(cursor + pad))
    except (ValueError, binascii.Error, RecursionError):
        raise BadRequest("invalid cursor: pass back the cursor of the previous page unchanged") from None
    if type(last) is not kind:  # a cursor of another endpoint, or made up: comparing would fail
        raise BadRequest("invalid cursor: pass back the cursor of the previous page unchanged")
    return last


def _item_error(code: str, message: str, details: str) -> dict[str, str]:
    """A batch item's ``error`` (Kalshi's ErrorResponse; an empty ``details`` is left out)."""
    err = {"code": code, "message": message, "service": "exchange"}
    if details:
        err["details"] = details
    return err


def _primary_subaccount_only(req: HttpRequest, body: Any) -> None:
    """The local exchange keeps one (primary) subaccount per key: any other number is refused
    (what Kalshi answers for a subaccount that was never created is not documented)."""
    subs = [v for v in req.query.get("subaccount", [])[-1:] if v]
    if isinstance(body, dict):
        subs.append(body.get("subaccount"))
        for o in body.get("orders") or () if isinstance(body.get("orders"), list) else ():
            if isinstance(o, dict):
                subs.append(o.get("subaccount"))
    for v in subs:
        if v is not None and int(v) != 0:
            raise InvalidRequest(f"subaccount {int(v)} does not exist: the local exchange has only the primary "
                                 "subaccount 0")


Handler = Callable[["RestApp", HttpRequest, str, dict[str, Any]], HttpResponse]
Rules = dict[str, Field]
_routes: list[tuple[str, re.Pattern[str], str, Handler, Rules, Rules | None]] = []

# --------------------------------------------------------------------------- request rules
# Hand-written from Kalshi's documented parameters (see validate.py); checked before a handler
# runs, so a request that breaks the schema gets a 400 and never reaches the matching engine.
TS = INT  # Unix seconds (int64)
SIDE = enum("yes", "no")
ACTION = enum("buy", "sell")
CENTS = Field("int", 1, 99)
FP = Field("str", nullable=True)  # fixed-point count string ("10.00"); null reads as absent
CREATE_ORDER: Rules = {
    "ticker": STR.req(), "client_order_id": STR, "side": SIDE.req(), "action": ACTION.req(),
    "count": Field("int", 1), "count_fp": FP, "yes_price": CENTS, "no_price": CENTS,
    "yes_price_dollars": STR, "no_price_dollars": STR, "expiration_ts": INT,
    "time_in_force": enum("fill_or_kill", "good_till_canceled", "immediate_or_cancel"),
    "buy_max_cost": INT, "post_only": BOOL, "reduce_only": BOOL, "sell_position_floor": INT,
    "self_trade_prevention_type": enum("taker_at_cross", "maker"), "order_group_id": STR,
    "cancel_order_on_pause": BOOL, "subaccount": SUBACCOUNT,
}
BATCH_CREATE: Rules = {"orders": Field("array", required=True, items=Field("object", fields=CREATE_ORDER))}
BATCH_CANCEL: Rules = {
    "ids": Field("array", items=STR),
    "orders": Field("array", items=Field("object", fields={"order_id": STR.req(), "subaccount": SUBACCOUNT})),
}
AMEND_ORDER: Rules = {
    "subaccount": SUBACCOUNT, "ticker": STR.req(), "side": SIDE.req(), "action": ACTION.req(),
    "client_order_id": STR, "updated_client_order_id": STR, "yes_price": CENTS, "no_price": CENTS,
    "yes_price_dollars": STR, "no_price_dollars": STR, "count": Field("int", 1), "count_fp": FP,
}
DECREASE_ORDER: Rules = {
    "subaccount": SUBACCOUNT, "reduce_by": Field("int", 1), "reduce_by_fp": FP,
    "reduce_to": Field("int", 0), "reduce_to_fp": FP,
}
PAGE = {"cursor": STR}


_AUTH_HEADERS = ("kalshi-access-key", "kalshi-access-timestamp", "kalshi-access-signature")


def route(method: str, pattern: str, kind: str = "read", query: Rules | None = None,
          body: Rules | None = None) -> Callable[[Handler], Handler]:
    """Register a handler. ``kind``: ``"public"`` (market data: answered without signature
    headers, as on Kalshi; the order book is not public: OpenAPI >= 3.13 marks it
    authenticated), ``"read"`` (signed reads) or ``"write"`` (signed order writes).
    ``query`` / ``body``: the rules the request must meet (validate.py), else 400."""
    rx = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern) + "$")

    def deco(fn: Handler) -> Handler:
        _routes.append((method, rx, kind, fn, dict(query or {}), body))
        return fn

    return deco


class RestApp:
    def __init__(self, exchange: LocalExchange) -> None:
        self.ex = exchange
        self.engine = exchange.engine
        self.ser = exchange.serializer
        self.buckets: dict[tuple[str, str], TokenBucket] = {}
        self._bucket_lock = threading.Lock()

    # ------------------------------------------------------------------ plumbing
    def _bucket(self, key_id: str, kind: str) -> TokenBucket:
        with self._bucket_lock:
            b = self.buckets.get((key_id, kind))
            if b is None:
                rate = self.ex.write_rate if kind == "write" else self.ex.read_rate
                b = self.buckets[(key_id, kind)] = TokenBucket(rate)
            return b

    def authenticate(self, method: str, path: str, headers: dict[str, str]) -> str | HttpResponse:
        """Returns the key id or a 401 response."""
        key_id = headers.get("kalshi-access-key", "")
        ts = headers.get("kalshi-access-timestamp", "")
        sig = headers.get("kalshi-access-signature", "")
        if not key_id or not ts or not sig:
            return error_response(401, "authentication_error", "missing authentication headers",
                                  "KALSHI-ACCESS-KEY, KALSHI-ACCESS-TIMESTAMP and KALSHI-ACCESS-SIGNATURE are required")
        pub = self.ex.public_keys.get(key_id)
        if pub is None:
            return error_response(401, "authentication_error", "unknown api key", f"key id {key_id!r} is not registered")
        if not (ts.isascii() and ts.isdigit()):  # "²".isdigit() is True but int("²") fails
            return error_response(401, "authentication_error", "invalid timestamp", "KALSHI-ACCESS-TIMESTAMP must be Unix milliseconds")
        skew = abs(int(time.time() * 1000) - int(ts))
        if skew > self.ex.auth_window_s * 1000:
            return error_response(401, "authentication_error", "timestamp outside the allowed window",
                                  f"timestamp is {skew} ms away from the server clock (allowed {self.ex.auth_window_s} s)")
        if not verify_request(pub, ts, method, path, sig):
            return error_response(401, "authentication_error", "invalid signature",
                                  "signature does not verify (sign timestamp + METHOD + path without query, RSA-PSS SHA-256)")
        return key_id

    def handle(self, req: HttpRequest) -> HttpResponse:
        faults = self.ex.faults
        path = req.path
        if path == "/_faults" and req.method == "POST":
            return self._faults(req)
        if faults.take_rate_limit():
            return HttpResponse.json(429, {"error": "too many requests"})
        status = faults.take_error(path)
        if status is not None:
            return error_response(status, "internal_server_error", "internal server error", "injected fault")
        if not path.startswith(REST_PREFIX + "/") and path != REST_PREFIX:
            return error_response(404, "not_found", "not found", f"no route {path}")
        sub = path[len(REST_PREFIX):] or "/"
        match = None
        allowed = False
        for method, rx, kind, fn, qrules, brules in _routes:
            mo = rx.match(sub)
            if mo:
                allowed = True
                if method == req.method:
                    match = (kind, fn, mo.groupdict(), qrules, brules)
                    break
        if match is None:
            if allowed:
                return error_response(405, "method_not_allowed", "method not allowed", f"{req.method} {path}")
            return error_response(404, "not_found", "not found", f"no route {path}")
        kind, fn, params, qrules, brules = match
        if kind == "public" and not any(h in req.headers for h in _AUTH_HEADERS):
            key_id = ""  # Kalshi's market data is public; signed requests are still verified below
        else:
            auth = self.authenticate(req.method, path, req.headers)
            if isinstance(auth, HttpResponse):
                return auth
            key_id = auth
        body: Any = None
        if req.body:
            try:
                body = json.loads(req.body)
            except ValueError:
                return error_response(400, "invalid_parameters", "invalid parameters", "body is not valid JSON")
        params["_body"] = body
        try:
            check_query(req.query, qrules)
            if brules is not None:
                check_body(body, brules)
            _primary_subaccount_only(req, body)
        except InvalidRequest as e:
            return error_response(400, "invalid_parameters", "invalid parameters", str(e))
        cost = 10 * self._items(body) if kind == "write" else 10
        # public routes count as reads; unsigned ones share the anonymous ("") key's budget
        if not self._bucket(key_id, "write" if kind == "write" else "read").take(cost):
            return HttpResponse.json(429, {"error": "too many requests"})
        if key_id:
            self.engine.account(key_id)
        try:
            self.engine.expire_orders()
            resp = fn(self, req, key_id, params)
        except ExchangeError as e:
            return error_response(e.status, e.code, e.message, e.details)
        except UnitError as e:
            return error_response(400, "invalid_parameters", "invalid parameters", str(e))
        if kind == "write" and fn is not RestApp.h_get_order and faults.take_order_timeout():
            resp.withhold = True
        return resp

    @staticmethod
    def _items(body: Any) -> int:
        if isinstance(body, dict):
            for k in ("orders", "ids"):
                if isinstance(body.get(k), list):
                    return max(1, len(body[k]))
        return 1

    def _faults(self, req: HttpRequest) -> HttpResponse:
        try:
            spec = json.loads(req.body or b"{}")
            if spec.get("action") == "drop_ws":
                self.ex.drop_ws_connections()
            elif spec.get("action") == "settle":
                self.ex.settle(spec["ticker"], spec["result"], spec.get("value"))
            else:
                self.ex.faults.apply(spec)
        except (ValueError, KeyError, ExchangeError) as e:
            return error_response(400, "invalid_parameters", "invalid fault spec", str(e))
        return HttpResponse.json(200, {"ok": True})

    # ------------------------------------------------------------------ query helpers
    @staticmethod
    def q1(req: HttpRequest, name: str, default: str | None = None) -> str | None:
        v = req.query.get(name)
        return v[-1] if v else default

    def qint(self, req: HttpRequest, name: str, default: int | None = None, lo: int | None = None, hi: int | None = None) -> int | None:
        v = self.q1(req, name)
        if v is None or v == "":
            return default
        try:
            x = int(v)
        except ValueError:
            raise BadRequest(f"{name} must be an integer") from None
        if (lo is not None and x < lo) or (hi is not None and x > hi):
            raise BadRequest(f"{name} must be between {lo} and {hi}")
        return x

    def page(self, items: list[Any], key: Callable[[Any], Any], req: HttpRequest, max_limit: int, default_limit: int,
             desc: bool = False, kind: type = str) -> tuple[list[Any], str]:
        """Keyset pagination: ``items`` sorted by ``key`` (descending if ``desc``); ``kind`` is the
        type of the key (a cursor holding anything else is refused with a 400)."""
        limit = self.qint(req, "limit", default_limit, 1, max_limit)
        assert limit is not None
        cursor = self.q1(req, "cursor")
        items = sorted(items, key=key, reverse=desc)
        if cursor:
            last = _decode_cursor(cursor, kind)
            items = [x for x in items if (key(x) < last if desc else key(x) > last)]
        out = items[:limit]
        next_cursor = _encode_cursor(key(out[-1])) if len(items) > limit else ""
        return out, next_cursor

    # ------------------------------------------------------------------ exchange
    @route("GET", "/exchange/status", "public")
    def h_status(self, req: HttpRequest, key: str, p: dict[str, Any]) -> HttpResponse:
        return HttpResponse.json(200, {"exchange_active": True, "trading_active": self.engine.trading_active,
                                       "exchange_estimated_resume_time": None})

    @route("GET", "/exchange/user_data_timestamp")
    def h_user_ts(self, req: HttpRequest, key: str, p: dict[str, Any]) -> HttpResponse:
        return HttpResponse.json(200, {"as_of_time": rfc3339(self.engine.clock())})

    # ------------------------------------------------------------------ series / events / markets
    @route("GET", "/series", "public", query={"category": STR, "tags": STR, "include_product_metadata": BOOL,
                                                "include_volume": BOOL, "min_updated_ts": TS})
    def h_series_list(self, req: HttpRequest, key: str, p: dict[str, Any]) -> HttpResponse:
        cat = self.q1(req, "category")
        with self.engine.lock:
            out = [self.ser.series(s) for s in sorted(self.engine.series.values(), key=lambda s: s.ticker)
                   if not cat or s.category == cat]
        return HttpResponse.json(200, {"series": out})

    # registered before /series/{ticker}: the first matching route wins
    @route("GET", "/series/fee_changes", "public", query={"series_ticker": STR, "show_historical": BOOL})
    def h_series_fee_changes(self, req: HttpRequest, key: str, p: dict[str, Any]) -> HttpResponse:
        series = self.q1(req, "series_ticker")
        historical = (self.q1(req, "show_historical") or "false").lower() == "true"
        with self.engine.lock:
            now = self.engine.clock()
            out = [{"id": c.change_id, "series_ticker": c.series_ticker, "fee_type": c.fee_type,
                    "fee_multiplier": float(c.fee_multiplier), "scheduled_ts": rfc3339(c.scheduled_ms)}
                   for c in self.engine.fee_changes
                   if (not series or c.series_ticker == series) and (historical or c.scheduled_ms > now)]
        return HttpResponse.json(200, {"series_fee_change_arr": out})

    @route("GET", "/series/{ticker}", "public", query={"include_volume": BOOL})
    def h_series(self, req: HttpRequest, key: str, p: dict[str, Any]) -> HttpResponse:
        s = self.engine.series.get(p["ticker"])
        if s is None:
            raise ExchangeError(404, "not_found", "series not found", p["ticker"])
        return HttpResponse.json(200, {"series": self.ser.series(s)})

    @staticmethod
    def _status_ok(internal: str, wanted: str | None) -> bool:
        if not wanted:
            return True
        words = {"open": "active", "closed": "closed", "settled": "settled", "unopened": "initialized", "paused": "inactive"}
        allowed = {words.get(w.strip(), "?") for w in wanted.split(",")}
        return internal in allowed

    @route("GET", "/events", "public", query={**PAGE, "limit": limit(200), "with_nested_markets": BOOL,
        "with_milestones": BOOL, "status": enum("unopened", "open", "closed", "settled"), "series_ticker": STR,
        "min_close_ts": TS, "min_updated_ts": TS})
    def h_events(self, req: HttpRequest, key: str, p: dict[str, Any]) -> HttpResponse:
        status = self.q1(req, "status")
        if status and any(w.strip() not in ("unopened", "open", "closed", "settled") for w in status.split(",")):
            raise BadRequest("status must be one of unopened, open, closed, settled")
        series = self.q1(req, "series_ticker")
        nested = (self.q1(req, "with_nested_markets") or "").lower() == "true"
        with self.engine.lock:
            evs = []
            for e in self.engine.events.values():
                if series and e.series_ticker != series:
                    continue
                if status:
                    sts = {self.engine.markets[t].status for t in e.markets if t in self.engine.markets}
                    ev_status = "active" if "active" in sts else ("closed" if "closed" in sts else "settled")
                    if not self._status_ok(ev_status, status):
                        continue
                evs.append(e)
            page, cursor = self.page(evs, lambda e: e.event_ticker, req, 200, 200)
            out = [self.ser.event(e, with_markets=nested) for e in page]
        return HttpResponse.json(200, {"events": out, "cursor": cursor, "milestones": []})

    @route("GET", "/events/{ticker}", "public", query={"with_nested_markets": BOOL})
    def h_event(self, req: HttpRequest, key: str, p: dict[str, Any]) -> HttpResponse:
        nested = (self.q1(req, "with_nested_markets") or "").lower() == "true"
        with self.engine.lock:
            e = self.engine.events.get(p["ticker"])
            if e is None:
                raise ExchangeError(404, "not_found", "event not found", p["ticker"])
            markets = [self.ser.market(self.engine.markets[t]) for t in e.markets if t in self.engine.markets]
            ev = self.ser.event(e, with_markets=nested)
        return HttpResponse.json(200, {"event": ev, "markets": markets})

    @route("GET", "/markets", "public", query={**PAGE, "limit": limit(1000), "event_ticker": STR, "series_ticker": STR,
        "min_created_ts": TS, "max_created_ts": TS, "min_updated_ts": TS, "max_close_ts": TS, "min_close_ts": TS,
        "min_settled_ts": TS, "max_settled_ts": TS, "tickers": STR, "mve_filter": enum("only", "exclude"),
        "status": enum("unopened", "open", "paused", "closed", "settled")})
    def h_markets(self, req: HttpRequest, key: str, p: dict[str, Any]) -> HttpResponse:
        status = self.q1(req, "status")
        if status and any(w.strip() not in ("unopened", "open", "paused", "closed", "settled") for w in status.split(",")):
            raise BadRequest("status must be one of unopened, open, paused, closed, settled")
        event = self.q1(req, "event_ticker")
        series = self.q1(req, "series_ticker")
        tickers: set[str] = set()
        for v in req.query.get("tickers", []):
            tickers.update(t for t in v.split(",") if t)
        with self.engine.lock:
            ms = [m for m in self.engine.markets.values()
                  if (not event or m.event_ticker == event) and (not series or m.series_ticker == series)
                  and (not tickers or m.ticker in tickers) and self._status_ok(m.status, status)]
            page, cursor = self.page(ms, lambda m: m.ticker, req, 1000, 100)
            out = [self.ser.market(m) for m in page]
        return HttpResponse.json(200, {"markets": out, "cursor": cursor})

    @route("GET", "/markets/trades", "public", query={**PAGE, "limit": limit(1000), "ticker": STR, "min_ts": TS,
                                                         "max_ts": TS})
    def h_trades(self, req: HttpRequest, key: str, p: dict[str, Any]) -> HttpResponse:
        ticker = self.q1(req, "ticker")
        min_ts = self.qint(req, "min_ts")
        max_ts = self.qint(req, "max_ts")
        with self.engine.lock:
            ts = [t for t in self.engine.trades if (not ticker or t.ticker == ticker)
                  and (min_ts is None or t.ts_ms >= min_ts * 1000) and (max_ts is None or t.ts_ms <= max_ts * 1000)]
        page, cursor = self.page(ts, lambda t: t.seq, req, 1000, 100, desc=True, kind=int)
        return HttpResponse.json(200, {"trades": [self.ser.trade(t) for t in page], "cursor": cursor})

    @route("GET", "/markets/{ticker}", "public")
    def h_market(self, req: HttpRequest, key: str, p: dict[str, Any]) -> HttpResponse:
        with self.engine.lock:
            return HttpResponse.json(200, {"market": self.ser.market(self.engine.market(p["ticker"]))})

    @route("GET", "/markets/{ticker}/orderbook", query={"depth": Field("int", 0, 100)})
    def h_orderbook(self, req: HttpRequest, key: str, p: dict[str, Any]) -> HttpResponse:
        depth = self.qint(req, "depth", 0, 0, 100) or 0
        return HttpResponse.json(200, self.ser.orderbook(p["ticker"], depth))

    @route("GET", "/series/{series}/markets/{ticker}/candlesticks", "public", query={
    "start_ts": TS.req(), "end_ts": TS.req(), "period_interval": enum(1, 60, 1440).req(),
    "include_latest_before_start": BOOL})
    def h_candles(self, req: HttpRequest, key: str, p: dict[str, Any]) -> HttpResponse:
        period = self.qint(req, "period_interval", 1)
        if period not in (1, 60, 1440):
            raise BadRequest("period_interval must be 1, 60 or 1440")
        now_s = self.engine.clock() // 1000
        start = self.qint(req, "start_ts", now_s - 86_400)
        end = self.qint(req, "end_ts", now_s)
        assert start is not None and end is not None
        span = period * 60
        with self.engine.lock:
            m = self.engine.market(p["ticker"])
            trades = [t for t in self.engine.trades if t.ticker == m.ticker and start * 1000 <= t.ts_ms <= end * 1000 + 999]
            top = self.engine.top(m.ticker)
            oi = m.open_interest
        buckets: dict[int, list[Any]] = {}
        for t in trades:
            s = t.ts_ms // 1000
            end_ts = -(-s // span) * span if s % span else s
            buckets.setdefault(end_ts, []).append(t)
        candles = []
        prev: int | None = None
        for end_ts in sorted(buckets):
            ts_ = buckets[end_ts]
            prices = [t.yes_price for t in ts_]
            vol = sum(t.qty for t in ts_)
            mean = sum(t.yes_price * t.qty for t in ts_) // max(1, vol)
            ohlc = {"open": prices[0], "low": min(prices), "high": max(prices), "close": prices[-1]}
            price = {f"{k}_dollars": d4(v) for k, v in ohlc.items()}
            price.update(mean_dollars=d4(mean), min_dollars=d4(min(prices)), max_dollars=d4(max(prices)))
            if prev is not None:  # the first candle has no previous price: omitted (the spec has no null here)
                price["previous_dollars"] = d4(prev)
            for k, v in ohlc.items():
                price[k] = v // CENT
            yb = top["yes_bid"] or 0
            ya = top["yes_ask"] if top["yes_ask"] is not None else DOLLAR
            yes_bid = {"open": yb // CENT, "low": yb // CENT, "high": yb // CENT, "close": yb // CENT}
            yes_ask = {"open": ya // CENT, "low": ya // CENT, "high": ya // CENT, "close": ya // CENT}
            for dct, v in ((yes_bid, yb), (yes_ask, ya)):
                dct.update({f"{k}_dollars": d4(v) for k in ("open", "low", "high", "close")})
            candles.append({"end_period_ts": end_ts, "yes_bid": yes_bid, "yes_ask": yes_ask, "price": price,
                            "volume_fp": fp(vol), "volume": vol // 100, "open_interest_fp": fp(oi), "open_interest": oi // 100})
            prev = prices[-1]
        return HttpResponse.json(200, {"ticker": m.ticker, "candlesticks": candles})

    # ------------------------------------------------------------------ portfolio
    @route("GET", "/portfolio/balance", query={"subaccount": SUBACCOUNT})
    def h_balance(self, req: HttpRequest, key: str, p: dict[str, Any]) -> HttpResponse:
        with self.engine.lock:
            acct = self.engine.account(key)
            avail = acct.available
            value = 0
            for t, pos in acct.positions.items():
                m = self.engine.markets.get(t)
                if pos.qty and m is not None and m.status != "settled":
                    mark = m.last_price if m.last_price is not None else DOLLAR // 2
                    if pos.qty < 0:
                        mark = DOLLAR - mark
                    value += abs(pos.qty) * mark // 100
        return HttpResponse.json(200, {"balance": avail // CENT, "balance_dollars": d4(avail),
                                       "portfolio_value": value // CENT, "updated_ts": int(time.time())})

    @route("GET", "/portfolio/positions", query={**PAGE, "limit": limit(1000), "count_filter": STR, "ticker": STR,
                                              "event_ticker": STR, "subaccount": SUBACCOUNT})
    def h_positions(self, req: HttpRequest, key: str, p: dict[str, Any]) -> HttpResponse:
        ticker = self.q1(req, "ticker")
        event = self.q1(req, "event_ticker")
        with self.engine.lock:
            acct = self.engine.account(key)
            tickers = [t for t, pos in acct.positions.items()
                       if (pos.qty or pos.total_traded) and (not ticker or t == ticker)
                       and (not event or self.engine.markets[t].event_ticker == event)]
            page, cursor = self.page(tickers, lambda t: t, req, 1000, 100)
            mps = [self.ser.market_position(key, t) for t in page]
            by_event: dict[str, list[str]] = {}
            for t in page:
                by_event.setdefault(self.engine.markets[t].event_ticker, []).append(t)
            eps = [self.ser.event_position(key, e, ts) for e, ts in sorted(by_event.items())]
        return HttpResponse.json(200, {"market_positions": mps, "event_positions": eps, "cursor": cursor})

    @route("GET", "/portfolio/fills", query={**PAGE, "limit": limit(200), "ticker": STR, "order_id": STR, "min_ts": TS,
                                          "max_ts": TS, "subaccount": SUBACCOUNT})
    def h_fills(self, req: HttpRequest, key: str, p: dict[str, Any]) -> HttpResponse:
        ticker = self.q1(req, "ticker")
        order_id = self.q1(req, "order_id")
        min_ts = self.qint(req, "min_ts")
        max_ts = self.qint(req, "max_ts")
        with self.engine.lock:
            fs = [f for f in self.engine.account(key).fills if (not ticker or f.ticker == ticker)
                  and (not order_id or f.order_id == order_id) and (min_ts is None or f.ts_ms >= min_ts * 1000)
                  and (max_ts is None or f.ts_ms <= max_ts * 1000)]
        page, cursor = self.page(fs, lambda f: f.seq, req, 200, 100, desc=True, kind=int)
        return HttpResponse.json(200, {"fills": [self.ser.fill(f) for f in page], "cursor": cursor})

    @route("GET", "/portfolio/settlements", query={**PAGE, "limit": limit(200), "ticker": STR, "event_ticker": STR,
                                                "min_ts": TS, "max_ts": TS, "subaccount": SUBACCOUNT})
    def h_settlements(self, req: HttpRequest, key: str, p: dict[str, Any]) -> HttpResponse:
        ticker = self.q1(req, "ticker")
        event = self.q1(req, "event_ticker")
        with self.engine.lock:
            ss = [s for s in self.engine.account(key).settlements
                  if (not ticker or s.ticker == ticker) and (not event or s.event_ticker == event)]
        page, cursor = self.page(ss, lambda s: s.seq, req, 200, 100, desc=True, kind=int)
        return HttpResponse.json(200, {"settlements": [self.ser.settlement(s) for s in page], "cursor": cursor})

    @route("GET", "/portfolio/orders", query={**PAGE, "limit": limit(200), "ticker": STR, "event_ticker": STR,
                                           "min_ts": TS, "max_ts": TS, "status": STR, "subaccount": SUBACCOUNT})
    def h_orders(self, req: HttpRequest, key: str, p: dict[str, Any]) -> HttpResponse:
        ticker = self.q1(req, "ticker")
        status = self.q1(req, "status")
        if status and status not in ("resting", "canceled", "executed"):
            raise BadRequest("status must be one of resting, canceled, executed")
        events = {e for v in req.query.get("event_ticker", []) for e in v.split(",") if e}
        min_ts = self.qint(req, "min_ts")
        max_ts = self.qint(req, "max_ts")
        with self.engine.lock:
            os_ = [o for o in self.engine.account(key).orders.values()
                   if (not ticker or o.ticker == ticker) and (not status or o.status == status)
                   and (not events or self.engine.markets[o.ticker].event_ticker in events)
                   and (min_ts is None or o.created_ms >= min_ts * 1000) and (max_ts is None or o.created_ms <= max_ts * 1000)]
            page, cursor = self.page(os_, lambda o: o.seq, req, 200, 100, desc=True, kind=int)
            out = [self.ser.order(o) for o in page]
        return HttpResponse.json(200, {"orders": out, "cursor": cursor})

    @route("GET", "/portfolio/orders/{order_id}")
    def h_get_order(self, req: HttpRequest, key: str, p: dict[str, Any]) -> HttpResponse:
        with self.engine.lock:
            return HttpResponse.json(200, {"order": self.ser.order(self.engine.get_order(key, p["order_id"]))})

    # ------------------------------------------------------------------ order writes
    @staticmethod
    def _body(p: dict[str, Any]) -> dict[str, Any]:
        b = p.get("_body")
        if not isinstance(b, dict):
            raise BadRequest("request body must be a JSON object")
        return b

    @staticmethod
    def _count(b: dict[str, Any], name: str = "count", required: bool = True) -> int | None:
        legacy, fixed = b.get(name), b.get(f"{name}_fp")
        qty = None
        if legacy is not None:
            if not isinstance(legacy, int) or isinstance(legacy, bool) or legacy < 0:
                raise BadRequest(f"{name} must be a non-negative integer", "invalid_order", "invalid order")
            qty = legacy * 100
        if fixed is not None:
            q2 = parse_contracts(str(fixed))
            if qty is not None and q2 != qty:
                raise BadRequest(f"{name} and {name}_fp disagree", "invalid_order", "invalid order")
            qty = q2
        if qty is None and required:
            raise BadRequest(f"{name} or {name}_fp is required", "invalid_order", "invalid order")
        return qty

    @staticmethod
    def _price(b: dict[str, Any]) -> tuple[str, int]:
        """The one price field: returns ``(side_of_price, units)``."""
        given = [f for f in PRICE_FIELDS if b.get(f) is not None]
        if len(given) != 1:
            raise BadRequest(EXACTLY_ONE_PRICE, "invalid_order", "invalid order")
        f = given[0]
        v = b[f]
        if f.endswith("_dollars"):
            units = parse_dollars(str(v))
        else:
            if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= 99:
                raise BadRequest(f"{f} must be an integer number of cents between 1 and 99", "invalid_price", "invalid price")
            units = v * CENT
        return ("yes" if f.startswith("yes") else "no"), units

    def _create(self, key: str, b: dict[str, Any]) -> Order:
        if b.get("type") not in (None, "limit"):
            raise BadRequest("market orders are no longer supported; send a limit order with time_in_force "
                             "immediate_or_cancel or fill_or_kill", "invalid_order", "invalid order")
        for f in ("ticker", "side", "action"):
            if not b.get(f):
                raise BadRequest(f"{f} is required", "invalid_order", "invalid order")
        side, action = b["side"], b["action"]
        if side not in ("yes", "no") or action not in ("buy", "sell"):
            raise BadRequest("side must be yes|no and action buy|sell", "invalid_order", "invalid order")
        qty = self._count(b)
        assert qty is not None
        price_side, price = self._price(b)
        if price_side != side:
            price = DOLLAR - price
        tif = b.get("time_in_force") or "good_till_canceled"
        if b.get("expiration_ts") is not None and tif == "immediate_or_cancel":
            raise BadRequest("expiration_ts cannot be used with immediate_or_cancel", "invalid_order", "invalid order")
        reduce_only = bool(b.get("reduce_only")) or b.get("sell_position_floor") == 0
        bmc = b.get("buy_max_cost")
        return self.engine.place_order(
            key, str(b["ticker"]), side, action, price, qty,
            client_order_id=str(b.get("client_order_id") or ""),
            tif=tif,
            post_only=bool(b.get("post_only")),
            reduce_only=reduce_only,
            stp=b.get("self_trade_prevention_type") or "taker_at_cross",
            expiration_ts=b.get("expiration_ts"),
            buy_max_cost=int(bmc) * CENT if bmc is not None else None,
        )

    @route("POST", "/portfolio/orders", "write", body=CREATE_ORDER)
    def h_create(self, req: HttpRequest, key: str, p: dict[str, Any]) -> HttpResponse:
        o = self._create(key, self._body(p))
        with self.engine.lock:
            return HttpResponse.json(201, {"order": self.ser.order(o)})

    @route("POST", "/portfolio/orders/batched", "write", body=BATCH_CREATE)
    def h_batch_create(self, req: HttpRequest, key: str, p: dict[str, Any]) -> HttpResponse:
        b = self._body(p)
        orders = b.get("orders")
        if not isinstance(orders, list) or not orders:
            raise BadRequest("orders must be a non-empty list")
        out = []
        for ob in orders:  # each item carries its order or its error; an absent one is omitted, not null
            coid = ob.get("client_order_id") if isinstance(ob, dict) else None
            item: dict[str, Any] = {"client_order_id": coid} if coid is not None else {}
            try:
                if not isinstance(ob, dict):
                    raise BadRequest("each order must be an object")
                o = self._create(key, ob)
                with self.engine.lock:
                    item["order"] = self.ser.order(o)
            except ExchangeError as e:
                item["error"] = _item_error(e.code, e.message, e.details)
            except UnitError as e:
                item["error"] = _item_error("invalid_order", "invalid order", str(e))
            out.append(item)
        return HttpResponse.json(201, {"orders": out})

    @route("DELETE", "/portfolio/orders/batched", "write", body=BATCH_CANCEL)
    def h_batch_cancel(self, req: HttpRequest, key: str, p: dict[str, Any]) -> HttpResponse:
        b = self._body(p)
        ids: list[str] = []
        if isinstance(b.get("orders"), list):
            ids = [str(x.get("order_id", "")) if isinstance(x, dict) else str(x) for x in b["orders"]]
        elif isinstance(b.get("ids"), list):
            ids = [str(x) for x in b["ids"]]
        else:
            raise BadRequest("orders (list of {order_id}) is required")
        out = []
        for oid in ids:
            try:
                o, reduced = self.engine.cancel_order(key, oid)
                with self.engine.lock:
                    out.append({"order_id": oid, "order": self.ser.order(o), "reduced_by_fp": fp(reduced),
                                "reduced_by": reduced // 100})
            except ExchangeError as e:
                out.append({"order_id": oid, "reduced_by_fp": "0.00", "reduced_by": 0,
                            "error": _item_error(e.code, e.message, e.details)})
        return HttpResponse.json(200, {"orders": out})

    @route("DELETE", "/portfolio/orders/{order_id}", "write", query={"subaccount": SUBACCOUNT})
    def h_cancel(self, req: HttpRequest, key: str, p: dict[str, Any]) -> HttpResponse:
        o, reduced = self.engine.cancel_order(key, p["order_id"])
        with self.engine.lock:
            return HttpResponse.json(200, {"order": self.ser.order(o), "reduced_by_fp": fp(reduced), "reduced_by": reduced // 100})

    @route("POST", "/portfolio/orders/{order_id}/amend", "write", body=AMEND_ORDER)
    def h_amend(self, req: HttpRequest, key: str, p: dict[str, Any]) -> HttpResponse:
        b = self._body(p)
        for f in ("ticker", "side", "action"):
            if not b.get(f):
                raise BadRequest(f"{f} is required", "invalid_order", "invalid order")
        side = b["side"]
        price_side, price = self._price(b)
        if price_side != side:
            price = DOLLAR - price
        order = self.engine.get_order(key, p["order_id"])
        if b["ticker"] != order.ticker:
            raise BadRequest("ticker does not match the order", "invalid_order", "invalid order")
        count = self._count(b, required=False)
        if count is None:
            count = order.filled + order.remaining
        old, new = self.engine.amend_order(key, p["order_id"], side=side, action=b["action"], price=price, count=count,
                                           updated_client_order_id=b.get("updated_client_order_id"))
        with self.engine.lock:
            return HttpResponse.json(200, {"old_order": self.ser.order(old), "order": self.ser.order(new)})

    @route("POST", "/portfolio/orders/{order_id}/decrease", "write", body=DECREASE_ORDER)
    def h_decrease(self, req: HttpRequest, key: str, p: dict[str, Any]) -> HttpResponse:
        b = self._body(p)
        by = self._count(b, "reduce_by", required=False)
        to = self._count(b, "reduce_to", required=False)
        o = self.engine.decrease_order(key, p["order_id"], reduce_by=by, reduce_to=to)
        with self.engine.lock:
            return HttpResponse.json(200, {"order": self.ser.order(o)})

    @route("GET", "/portfolio/orders/{order_id}/queue_position")
    def h_queue(self, req: HttpRequest, key: str, p: dict[str, Any]) -> HttpResponse:
        with self.engine.lock:
            o = self.engine.get_order(key, p["order_id"])
            ahead = 0
            if o.status == "resting":
                for r in self.engine.books[o.ticker].ladder(o.leg).levels.get(o.price, ()):
                    if r is o:
                        break
                    ahead += r.remaining
        return HttpResponse.json(200, {"queue_position_fp": fp(ahead), "queue_position": ahead // 100})
