"""Kalshi Trade API v2 REST client (``requests.Session`` based).

* Every request is signed when a :class:`~framework.kalshi.auth.KalshiSigner` is given (the
  signed path includes ``/trade-api/v2`` and excludes the query string).
* Reads (GET) are paced by the read token bucket and retried on 429, 5xx and connection
  errors with capped exponential backoff and full jitter.
* Writes (create, cancel, amend, decrease, batch) are paced by the write bucket and are
  **never retried**. The contract:

  - 4xx -> :class:`KalshiAPIError` subclass at once (429 -> :class:`KalshiRateLimited`): the
    write was not executed;
  - connection refused / connect timeout -> :class:`KalshiConnectionError`: never reached
    the server, safe to send again;
  - read timeout, connection reset after sending, 5xx, unreadable 2xx body ->
    :class:`UnknownOutcome` carrying the ``client_order_id`` (or ``order_id``): the order may
    or may not exist; reconcile with :meth:`KalshiRestClient.iter_orders` before resending;
  - a 2xx create answer without an ``order`` object -> :class:`KalshiOrderRejected`.

* Orders go out with fixed-point fields only (``count_fp``, ``yes_price_dollars`` /
  ``no_price_dollars``); ``type=market`` is never sent. Framework units in, framework units
  out (prices/money in $0.0001, sizes in 0.01 contract).
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from ..units import CENT, CONTRACT, DOLLAR
from .auth import HEADER_SIGNATURE, KalshiSigner
from .envs import Environment, resolve_env
from .errors import (
    KalshiAPIError,
    KalshiConnectionError,
    KalshiError,
    KalshiOrderRejected,
    KalshiPaginationError,
    KalshiParseError,
    KalshiRateLimited,
    KalshiUnavailable,
    UnknownOutcome,
    api_error_from_response,
)
from .models import (
    AmendResult,
    Balance,
    BatchCancelResult,
    BatchCreateResult,
    CancelResult,
    Candle,
    Fill,
    Market,
    Order,
    OrderbookLevels,
    Position,
    Settlement,
    Trade,
    _scaled,
)
from .ratelimit import DEFAULT_COST, RateLimiter

__all__ = [
    "DEFAULT_PAGE_LIMIT",
    "DEFAULT_TIMEOUT",
    "PAGE_LIMITS",
    "TIME_IN_FORCE",
    "KalshiRestClient",
    "OrderRequest",
    "format_count",
    "format_price",
]

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = (3.05, 10.0)  # (connect, read) seconds
TIME_IN_FORCE = ("good_till_canceled", "immediate_or_cancel", "fill_or_kill")
# Largest page each list endpoint accepts (its ``limit`` maximum in Kalshi's OpenAPI document;
# the exchange answers 400 above it). tests/test_conformance_rest.py checks this table against the
# spec. An endpoint missing here gets the documented default page size, which every endpoint accepts.
PAGE_LIMITS: dict[str, int] = {
    "/markets": 1000,
    "/markets/trades": 1000,
    "/portfolio/positions": 1000,
    "/historical/markets": 1000,
    "/historical/trades": 1000,
    "/events": 200,
    "/portfolio/orders": 200,
    "/portfolio/fills": 200,
    "/portfolio/settlements": 200,
    "/historical/fills": 200,
    "/historical/orders": 200,
}
DEFAULT_PAGE_LIMIT = 100


def format_price(units: int) -> str:
    """Price units -> Kalshi ``*_dollars`` string with 4 decimals (``5600`` -> ``"0.5600"``)."""
    if isinstance(units, bool) or not isinstance(units, int):
        raise TypeError(f"price must be an int in $0.0001 units, got {units!r}")
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(units), DOLLAR)
    return f"{sign}{whole}.{frac:04d}"


def format_count(units: int) -> str:
    """Quantity units -> Kalshi ``*_fp`` string with 2 decimals (``150`` -> ``"1.50"``)."""
    if isinstance(units, bool) or not isinstance(units, int):
        raise TypeError(f"count must be an int in 0.01-contract units, got {units!r}")
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(units), CONTRACT)
    return f"{sign}{whole}.{frac:02d}"


@dataclass(frozen=True)
class OrderRequest:
    """A V1 limit order in framework units.

    ``side`` is the leg (``yes``/``no``), ``action`` ``buy``/``sell``; ``price`` is the limit on
    that leg in $0.0001 (0 < price < $1), ``count`` in 0.01 contract. ``buy_max_cost`` is money
    units and must be a whole number of cents (Kalshi takes cents; it implies fill-or-kill).
    ``client_order_id`` defaults to a fresh uuid4.
    """

    ticker: str
    side: str
    action: str
    count: int
    price: int
    time_in_force: str = "good_till_canceled"
    client_order_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    post_only: bool = False
    reduce_only: bool = False
    buy_max_cost: int | None = None
    expiration_ts: int | None = None  # Unix seconds (good-till-time with good_till_canceled)
    self_trade_prevention_type: str | None = None
    order_group_id: str | None = None
    cancel_order_on_pause: bool | None = None
    subaccount: int | None = None

    def __post_init__(self) -> None:
        if self.client_order_id is None:
            object.__setattr__(self, "client_order_id", str(uuid.uuid4()))
        if self.side not in ("yes", "no"):
            raise ValueError(f"side must be 'yes' or 'no', got {self.side!r}")
        if self.action not in ("buy", "sell"):
            raise ValueError(f"action must be 'buy' or 'sell', got {self.action!r}")
        if self.time_in_force not in TIME_IN_FORCE:
            raise ValueError(f"time_in_force must be one of {TIME_IN_FORCE}, got {self.time_in_force!r}")
        if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count <= 0:
            raise ValueError(f"count must be a positive int in 0.01-contract units, got {self.count!r}")
        if isinstance(self.price, bool) or not isinstance(self.price, int) or not 0 < self.price < DOLLAR:
            raise ValueError(
                f"price must be an int in $0.0001 units strictly between 0 and {DOLLAR}, got {self.price!r}"
            )
        if self.buy_max_cost is not None and (self.buy_max_cost <= 0 or self.buy_max_cost % CENT):
            raise ValueError(
                f"buy_max_cost must be a positive whole number of cents in $0.0001 units, got {self.buy_max_cost!r}"
            )
        if not self.ticker:
            raise ValueError("ticker is required")

    def to_json(self) -> dict[str, Any]:
        """The ``POST /portfolio/orders`` body (fixed-point fields only)."""
        body: dict[str, Any] = {
            "ticker": self.ticker,
            "side": self.side,
            "action": self.action,
            "count_fp": format_count(self.count),
            f"{self.side}_price_dollars": format_price(self.price),
            "time_in_force": self.time_in_force,
            "client_order_id": self.client_order_id,
        }
        if self.post_only:
            body["post_only"] = True
        if self.reduce_only:
            body["reduce_only"] = True
        if self.buy_max_cost is not None:
            body["buy_max_cost"] = self.buy_max_cost // CENT
        if self.expiration_ts is not None:
            body["expiration_ts"] = int(self.expiration_ts)
        if self.self_trade_prevention_type is not None:
            body["self_trade_prevention_type"] = self.self_trade_prevention_type
        if self.order_group_id is not None:
            body["order_group_id"] = self.order_group_id
        if self.cancel_order_on_pause is not None:
            body["cancel_order_on_pause"] = bool(self.cancel_order_on_pause)
        if self.subaccount is not None:
            body["subaccount"] = int(self.subaccount)
        return body


def _is_not_sent(exc: BaseException) -> bool:
    """True when a requests exception proves the request never reached the server."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    seen = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, (NewConnectionError, ConnectTimeoutError)):
            return True
        reason = getattr(e, "reason", None)
        if isinstance(reason, BaseException):
            e = reason
            continue
        nxt = e.args[0] if e.args and isinstance(e.args[0], BaseException) else None
        e = nxt or e.__cause__ or e.__context__
    return False


def _coerce_list(x: Any) -> list:
    return list(x) if isinstance(x, (list, tuple)) else []


def _clean_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in (params or {}).items():
        if v is None:
            continue
        if isinstance(v, bool):
            v = "true" if v else "false"
        elif isinstance(v, (list, tuple, set, frozenset)):
            v = ",".join(str(i) for i in v)
        out[k] = v
    return out


class KalshiRestClient:
    """Client for Kalshi's Trade API v2 (or the local exchange).

    ``env_or_base_url`` is an :class:`Environment`, a name (``prod``, ``demo``, ``local``) or a
    base URL ending in ``/trade-api/v2``. ``tier`` picks the rate-limit budget;
    ``read_rate``/``write_rate`` (tokens/s) override it. ``timeout`` is ``(connect, read)``
    seconds or one number for the read timeout. ``rng``/``sleep`` are injectable for tests.
    ``costs`` maps operation names (``get``, ``create_order``, ``cancel_order``,
    ``batch_create_item``, ``batch_cancel_item``, ...) to token costs (default 10).
    """

    def __init__(
        self,
        env_or_base_url: Environment | str = "prod",
        signer: KalshiSigner | None = None,
        *,
        read_rate: float | None = None,
        write_rate: float | None = None,
        tier: str = "basic",
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        max_retries: int = 4,
        session: requests.Session | None = None,
        rate_limiter: RateLimiter | None = None,
        backoff_base: float = 0.25,
        backoff_cap: float = 8.0,
        rng: random.Random | None = None,
        sleep: Callable[[float], None] = time.sleep,
        costs: Mapping[str, float] | None = None,
    ):
        if isinstance(env_or_base_url, Environment):
            self.env = env_or_base_url
        elif isinstance(env_or_base_url, str) and "://" in env_or_base_url:
            self.env = Environment("custom", env_or_base_url.rstrip("/"), "")
        else:
            self.env = resolve_env(env_or_base_url)
        self.base_url = self.env.rest_url.rstrip("/")
        self._base_path = urlsplit(self.base_url).path.rstrip("/")
        self.signer = signer
        if isinstance(timeout, (int, float)):
            timeout = (DEFAULT_TIMEOUT[0], float(timeout))
        self.timeout = tuple(timeout)
        self.max_retries = max(0, int(max_retries))
        self.session = session or requests.Session()
        self.limiter = rate_limiter or RateLimiter(
            tier, read_rate=read_rate, write_rate=write_rate, sleep=sleep
        )
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._rng = rng or random.Random()
        self._sleep = sleep
        self.costs = dict(costs or {})

    def __repr__(self) -> str:
        return f"KalshiRestClient({self.base_url!r}, signer={self.signer!r})"

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> KalshiRestClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ plumbing

    def _cost(self, op: str) -> float:
        return self.costs.get(op, DEFAULT_COST)

    def _backoff(self, attempt: int) -> float:
        return self._rng.uniform(0, min(self.backoff_cap, self.backoff_base * (2**attempt)))

    def _send(self, method: str, endpoint: str, params: dict | None, body: Any) -> requests.Response:
        path = self._base_path + endpoint
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body, separators=(",", ":"))
        if self.signer is not None:
            headers.update(self.signer.headers(method, path))
        return self.session.request(
            method, self.base_url + endpoint, params=params, data=data, headers=headers, timeout=self.timeout
        )

    @staticmethod
    def _json(resp: requests.Response) -> Any:
        text = resp.text
        if not text.strip():
            return {}
        return json.loads(text, parse_float=Decimal)

    def _get(self, endpoint: str, params: Mapping[str, Any] | None = None, *, op: str = "get") -> Any:
        """GET with pacing and retries; returns the decoded JSON body."""
        params = _clean_params(params)
        last: BaseException | None = None
        for attempt in range(self.max_retries + 1):
            if attempt:
                delay = self._backoff(attempt - 1)
                log.debug("retrying GET %s in %.3fs (attempt %d)", endpoint, delay, attempt + 1)
                self._sleep(delay)
            self.limiter.acquire_read(self._cost(op))
            try:
                resp = self._send("GET", endpoint, params, None)
            except requests.RequestException as e:
                log.debug("GET %s failed: %s", endpoint, type(e).__name__)
                last = KalshiConnectionError(f"GET {self._base_path + endpoint}: {type(e).__name__}")
                continue
            log.debug("GET %s -> %d", endpoint, resp.status_code)
            if resp.status_code == 429 or resp.status_code >= 500:
                if resp.status_code == 429:
                    self.limiter.read.drain()
                last = _api_error(resp, method="GET", path=self._base_path + endpoint)
                continue
            if resp.status_code >= 400:
                raise _api_error(resp, method="GET", path=self._base_path + endpoint)
            try:
                return self._json(resp)
            except ValueError:
                last = KalshiError(f"GET {self._base_path + endpoint}: response body is not JSON")
                continue
        assert last is not None
        if isinstance(last, (KalshiRateLimited, KalshiUnavailable)):
            log.warning(
                "GET %s gave up after %d attempts: HTTP %d", endpoint, self.max_retries + 1, last.status
            )
        raise last

    def _write(
        self,
        method: str,
        endpoint: str,
        body: Any,
        *,
        op: str,
        items: int = 1,
        params: Mapping[str, Any] | None = None,
        client_order_ids: Iterable[str] = (),
        order_ids: Iterable[str] = (),
    ) -> Any:
        """One attempt, never retried; see the module docstring for the error contract."""
        coids = tuple(c for c in client_order_ids if c)
        oids = tuple(o for o in order_ids if o)
        self.limiter.acquire_write(self._cost(op), items)
        path = self._base_path + endpoint

        def unknown(reason: str, status: int | None = None) -> UnknownOutcome:
            return UnknownOutcome(op, reason, client_order_ids=coids, order_ids=oids, status=status)

        try:
            resp = self._send(method, endpoint, _clean_params(params) or None, body)
        except requests.RequestException as e:
            if _is_not_sent(e):
                raise KalshiConnectionError(
                    f"{method} {path}: could not connect ({type(e).__name__}); the request was not "
                    "sent and may be sent again"
                ) from None
            kind = "timed out waiting for the answer" if isinstance(e, requests.Timeout) else type(e).__name__
            log.warning("%s %s: outcome unknown (%s)", method, path, kind)
            raise unknown(kind) from None
        log.debug("%s %s -> %d", method, endpoint, resp.status_code)
        if resp.status_code >= 500:
            err = _api_error(resp, method=method, path=path)
            raise unknown(
                f"server answered HTTP {resp.status_code} ({err.message or 'no message'})", resp.status_code
            )
        if resp.status_code >= 400:
            if resp.status_code == 429:
                self.limiter.write.drain()
            raise _api_error(resp, method=method, path=path)
        try:
            return self._json(resp)
        except ValueError:
            raise unknown(f"HTTP {resp.status_code} with a body that is not JSON", resp.status_code) from None

    def _paginate(
        self, endpoint: str, key: str, params: Mapping[str, Any] | None, parse: Callable[[Any], Any]
    ) -> Iterator[Any]:
        params = dict(params or {})
        most = PAGE_LIMITS.get(endpoint, DEFAULT_PAGE_LIMIT)
        asked = params.get("limit")
        # a caller's larger limit is capped, not sent: the exchange would refuse the whole request
        params["limit"] = most if asked is None else max(1, min(int(asked), most))
        seen: set[str] = set()
        cursor = params.pop("cursor", None)
        while True:
            if cursor:
                params["cursor"] = cursor
            body = self._get(endpoint, params)
            if not isinstance(body, Mapping):
                raise KalshiParseError(f"GET {endpoint} response", key, "expected an object with")
            for row in _coerce_list(body.get(key)):
                yield parse(row)
            cursor = body.get("cursor") or body.get("next_cursor")
            if not cursor:
                return
            if cursor in seen:
                raise KalshiPaginationError(
                    f"GET {self._base_path + endpoint}: the server repeated cursor {cursor!r}; stopping "
                    "to avoid an endless loop"
                )
            seen.add(cursor)

    def get_json(self, endpoint: str, **params: Any) -> Any:
        """Raw signed GET of ``endpoint`` (relative to ``/trade-api/v2``), with retries."""
        return self._get(endpoint if endpoint.startswith("/") else "/" + endpoint, params)

    # ------------------------------------------------------------------ exchange & catalog

    def get_exchange_status(self) -> dict:
        """``{exchange_active, trading_active, exchange_estimated_resume_time}``."""
        return dict(self._get("/exchange/status"))

    def get_series(self, ticker: str) -> dict:
        body = self._get(f"/series/{quote(ticker, safe='')}")
        return dict(body.get("series") or {})

    def get_series_fee_changes(self, series_ticker: str | None = None, *, show_historical: bool = True) -> list[dict]:
        """``GET /series/fee_changes``: ``[{id, series_ticker, fee_type, fee_multiplier, scheduled_ts}]``
        (past changes too with ``show_historical``)."""
        params = {"series_ticker": series_ticker, "show_historical": "true" if show_historical else None}
        body = self._get("/series/fee_changes", {k: v for k, v in params.items() if v is not None})
        return [dict(c) for c in _coerce_list(body.get("series_fee_change_arr"))]

    def list_series(self, **filters: Any) -> list[dict]:
        """``GET /series`` (filters: ``category``, ``tags``, ``include_volume``, ...)."""
        return [dict(s) for s in _coerce_list(self._get("/series", filters).get("series"))]

    def iter_events(self, **filters: Any) -> Iterator[dict]:
        """``GET /events`` paginated (filters: ``status``, ``series_ticker``, ``with_nested_markets`` ...)."""
        return self._paginate("/events", "events", filters, dict)

    def get_event(self, ticker: str, *, with_nested_markets: bool = False) -> dict:
        """``{"event": {...}, "markets": [Market, ...]}`` (markets parsed, nested or top-level)."""
        body = self._get(
            f"/events/{quote(ticker, safe='')}", {"with_nested_markets": with_nested_markets or None}
        )
        event = dict(body.get("event") or {})
        rows = _coerce_list(body.get("markets")) or _coerce_list(event.get("markets"))
        return {"event": event, "markets": [Market.from_json(m) for m in rows]}

    def iter_markets(self, *, mve_filter: str | None = "exclude", **filters: Any) -> Iterator[Market]:
        """``GET /markets`` paginated. Combos are excluded unless ``mve_filter`` says otherwise
        (``"only"``, or ``None`` to send no filter). ``tickers`` may be a list."""
        params = dict(filters)
        if mve_filter:
            params["mve_filter"] = mve_filter
        return self._paginate("/markets", "markets", params, Market.from_json)

    def get_market(self, ticker: str) -> Market:
        body = self._get(f"/markets/{quote(ticker, safe='')}")
        if not isinstance(body, Mapping) or not isinstance(body.get("market"), Mapping):
            raise KalshiParseError("GET /markets/{ticker} response", "market")
        return Market.from_json(body["market"])

    def get_orderbook(self, ticker: str, depth: int | None = None) -> OrderbookLevels:
        """Bids on both legs, ascending (best last); see :class:`OrderbookLevels`."""
        body = self._get(f"/markets/{quote(ticker, safe='')}/orderbook", {"depth": depth or None})
        return OrderbookLevels.from_json(body, ticker=ticker)

    def iter_trades(
        self, ticker: str | None = None, min_ts: int | None = None, max_ts: int | None = None, **filters: Any
    ) -> Iterator[Trade]:
        """Public trades; ``min_ts``/``max_ts`` are Unix **seconds**."""
        params = {"ticker": ticker, "min_ts": min_ts, "max_ts": max_ts, **filters}
        return self._paginate("/markets/trades", "trades", params, Trade.from_json)

    def get_candlesticks(
        self, series: str, ticker: str, start_ts: int, end_ts: int, period_interval: int
    ) -> list[Candle]:
        """Candles between Unix-second ``start_ts`` and ``end_ts``; interval 1, 60 or 1440 minutes."""
        body = self._get(
            f"/series/{quote(series, safe='')}/markets/{quote(ticker, safe='')}/candlesticks",
            {"start_ts": int(start_ts), "end_ts": int(end_ts), "period_interval": int(period_interval)},
        )
        return [Candle.from_json(c) for c in _coerce_list(body.get("candlesticks"))]

    # ------------------------------------------------------------------ portfolio reads

    def get_balance(self) -> Balance:
        return Balance.from_json(self._get("/portfolio/balance"))

    def iter_positions(
        self,
        ticker: str | None = None,
        event_ticker: str | None = None,
        count_filter: str | None = None,
        subaccount: int | None = None,
    ) -> Iterator[Position]:
        """Market positions (``market_positions``), paginated."""
        params = {
            "ticker": ticker,
            "event_ticker": event_ticker,
            "count_filter": count_filter,
            "subaccount": subaccount,
        }
        return self._paginate("/portfolio/positions", "market_positions", params, Position.from_json)

    def iter_orders(
        self,
        ticker: str | None = None,
        event_ticker: str | None = None,
        status: str | None = None,
        min_ts: int | None = None,
        max_ts: int | None = None,
        subaccount: int | None = None,
    ) -> Iterator[Order]:
        params = {
            "ticker": ticker,
            "event_ticker": event_ticker,
            "status": status,
            "min_ts": min_ts,
            "max_ts": max_ts,
            "subaccount": subaccount,
        }
        return self._paginate("/portfolio/orders", "orders", params, Order.from_json)

    def get_order(self, order_id: str) -> Order:
        body = self._get(f"/portfolio/orders/{quote(order_id, safe='')}", op="get_order")
        if not isinstance(body, Mapping) or not isinstance(body.get("order"), Mapping):
            raise KalshiParseError("GET /portfolio/orders/{id} response", "order")
        return Order.from_json(body["order"])

    def iter_fills(
        self,
        ticker: str | None = None,
        order_id: str | None = None,
        min_ts: int | None = None,
        max_ts: int | None = None,
        subaccount: int | None = None,
    ) -> Iterator[Fill]:
        params = {
            "ticker": ticker,
            "order_id": order_id,
            "min_ts": min_ts,
            "max_ts": max_ts,
            "subaccount": subaccount,
        }
        return self._paginate("/portfolio/fills", "fills", params, Fill.from_json)

    def iter_settlements(
        self,
        ticker: str | None = None,
        event_ticker: str | None = None,
        min_ts: int | None = None,
        max_ts: int | None = None,
    ) -> Iterator[Settlement]:
        params = {"ticker": ticker, "event_ticker": event_ticker, "min_ts": min_ts, "max_ts": max_ts}
        return self._paginate("/portfolio/settlements", "settlements", params, Settlement.from_json)

    # ------------------------------------------------------------------ order writes

    def create_order(
        self,
        ticker: str | OrderRequest,
        side: str | None = None,
        action: str | None = None,
        count: int | None = None,
        price: int | None = None,
        **kwargs: Any,
    ) -> Order:
        """Place a limit order (see :class:`OrderRequest` for the arguments).

        Pass an :class:`OrderRequest`, or its fields. Returns the exchange's :class:`Order`.
        Raises :class:`UnknownOutcome` (with ``client_order_id``) when the result is unknown.
        """
        req = (
            ticker
            if isinstance(ticker, OrderRequest)
            else OrderRequest(ticker, side, action, count, price, **kwargs)
        )
        body = self._write(
            "POST",
            "/portfolio/orders",
            req.to_json(),
            op="create_order",
            client_order_ids=(req.client_order_id,),
        )
        order = body.get("order") if isinstance(body, Mapping) else None
        if not isinstance(order, Mapping):
            raise KalshiOrderRejected(
                201,
                None,
                "the exchange answered without an order object; treat the order as rejected",
                method="POST",
                path=self._base_path + "/portfolio/orders",
            )
        return Order.from_json(order)

    def cancel_order(self, order_id: str, *, subaccount: int | None = None) -> CancelResult:
        """Cancel (reduce to zero). ``reduced_by == 0`` means it had already filled."""
        body = self._write(
            "DELETE",
            f"/portfolio/orders/{quote(order_id, safe='')}",
            None,
            op="cancel_order",
            params={"subaccount": subaccount},
            order_ids=(order_id,),
        )
        return _cancel_result(order_id, body if isinstance(body, Mapping) else {})

    def amend_order(
        self,
        order_id: str,
        *,
        ticker: str,
        side: str,
        action: str,
        price: int,
        count: int,
        client_order_id: str | None = None,
        updated_client_order_id: str | None = None,
        subaccount: int | None = None,
    ) -> AmendResult:
        """Change price and/or size. ``count`` = filled + desired remaining (0.01-contract units).

        Only a size decrease keeps queue priority. ``updated_client_order_id`` defaults to a
        new uuid4.
        """
        check = OrderRequest(ticker, side, action, count, price)  # validates the fields
        body: dict[str, Any] = {
            "ticker": check.ticker,
            "side": check.side,
            "action": check.action,
            f"{side}_price_dollars": format_price(price),
            "count_fp": format_count(count),
            "updated_client_order_id": updated_client_order_id or str(uuid.uuid4()),
        }
        if client_order_id:
            body["client_order_id"] = client_order_id
        if subaccount is not None:
            body["subaccount"] = int(subaccount)
        res = self._write(
            "POST",
            f"/portfolio/orders/{quote(order_id, safe='')}/amend",
            body,
            op="amend_order",
            order_ids=(order_id,),
            client_order_ids=(body["updated_client_order_id"],),
        )
        if not isinstance(res, Mapping) or not isinstance(res.get("order"), Mapping):
            raise KalshiParseError("amend response", "order")
        old = res.get("old_order")
        return AmendResult(
            Order.from_json(old) if isinstance(old, Mapping) else None, Order.from_json(res["order"])
        )

    def decrease_order(
        self,
        order_id: str,
        *,
        reduce_by: int | None = None,
        reduce_to: int | None = None,
        subaccount: int | None = None,
    ) -> Order:
        """Reduce the remaining size by ``reduce_by`` or to ``reduce_to`` (exactly one; 0.01-contract units)."""
        if (reduce_by is None) == (reduce_to is None):
            raise ValueError("give exactly one of reduce_by or reduce_to")
        body: dict[str, Any] = (
            {"reduce_by_fp": format_count(reduce_by)}
            if reduce_by is not None
            else {"reduce_to_fp": format_count(reduce_to)}
        )
        if subaccount is not None:
            body["subaccount"] = int(subaccount)
        res = self._write(
            "POST",
            f"/portfolio/orders/{quote(order_id, safe='')}/decrease",
            body,
            op="decrease_order",
            order_ids=(order_id,),
        )
        if not isinstance(res, Mapping) or not isinstance(res.get("order"), Mapping):
            raise KalshiParseError("decrease response", "order")
        return Order.from_json(res["order"])

    def batch_create_orders(
        self, orders: Iterable[OrderRequest | Mapping[str, Any]]
    ) -> list[BatchCreateResult]:
        """Create several orders in one request (billed per item). Items are
        :class:`OrderRequest` or dicts of its fields. Results keep the input order."""
        reqs = [o if isinstance(o, OrderRequest) else OrderRequest(**o) for o in orders]
        if not reqs:
            return []
        body = self._write(
            "POST",
            "/portfolio/orders/batched",
            {"orders": [r.to_json() for r in reqs]},
            op="batch_create_item",
            items=len(reqs),
            client_order_ids=[r.client_order_id for r in reqs],
        )
        rows = _coerce_list(body.get("orders") if isinstance(body, Mapping) else None)
        out = []
        for i, row in enumerate(rows):
            row = row if isinstance(row, Mapping) else {}
            coid = row.get("client_order_id") or (reqs[i].client_order_id if i < len(reqs) else None)
            order = row.get("order")
            err = row.get("error")
            api_err = None
            if not isinstance(order, Mapping):
                order = None
                api_err = api_error_from_response(
                    400, {"error": err} if err is not None else {"message": "no order"}
                )
            out.append(BatchCreateResult(coid, Order.from_json(order) if order else None, api_err))
        return out

    def batch_cancel_orders(
        self, order_ids: Iterable[str], *, subaccount: int | None = None
    ) -> list[BatchCancelResult]:
        """Cancel several orders in one request (billed per item)."""
        ids = [str(i) for i in order_ids]
        if not ids:
            return []
        body: dict[str, Any] = {"orders": [{"order_id": i} for i in ids]}
        if subaccount is not None:
            body["subaccount"] = int(subaccount)
        res = self._write(
            "DELETE", "/portfolio/orders/batched", body, op="batch_cancel_item", items=len(ids), order_ids=ids
        )
        out = []
        for i, row in enumerate(_coerce_list(res.get("orders") if isinstance(res, Mapping) else None)):
            row = row if isinstance(row, Mapping) else {}
            oid = str(row.get("order_id") or (ids[i] if i < len(ids) else ""))
            cr = _cancel_result(oid, row)
            err = row.get("error")
            api_err = api_error_from_response(400, {"error": err}) if err else None
            out.append(BatchCancelResult(oid, cr.order, cr.reduced_by, api_err))
        return out


def _api_error(resp: requests.Response, *, method: str, path: str) -> KalshiAPIError:
    """Error from a response; the body is scrubbed of our own signature in case it is echoed."""
    text = resp.text
    req = getattr(resp, "request", None)
    sig = req.headers.get(HEADER_SIGNATURE) if req is not None else None
    if sig:
        text = text.replace(sig, "[redacted]")
    return api_error_from_response(resp.status_code, text, method=method, path=path)


def _cancel_result(order_id: str, body: Mapping) -> CancelResult:
    order = body.get("order")
    red = body.get("reduced_by_fp", body.get("reduced_by"))
    reduced = None
    if red is not None and red != "":
        reduced = _scaled(red, CONTRACT, "CancelResult", "reduced_by_fp")
    return CancelResult(order_id, Order.from_json(order) if isinstance(order, Mapping) else None, reduced)
