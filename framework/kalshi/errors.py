"""Exceptions raised by the Kalshi client code.

Hierarchy::

    KalshiError
    ├── AuthError                 key file / key material problems (local, before any request)
    ├── KalshiParseError          a response lacked a required field or had a bad value
    ├── KalshiPaginationError     the server repeated a cursor
    ├── KalshiConnectionError     the request never reached the server (safe to retry)
    ├── UnknownOutcome            a write may or may not have been executed: reconcile!
    └── KalshiAPIError            the server answered with an error status
        ├── KalshiAuthError       401
        ├── KalshiPermissionDenied 403
        ├── KalshiNotFound        404
        ├── KalshiConflict        409
        ├── KalshiRateLimited     429
        ├── KalshiUnavailable     5xx
        └── KalshiOrderRejected   2xx create answer without an ``order`` object

Text of these exceptions never contains request headers, signatures or key material.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = [
    "AuthError",
    "KalshiAPIError",
    "KalshiAuthError",
    "KalshiConflict",
    "KalshiConnectionError",
    "KalshiError",
    "KalshiNotFound",
    "KalshiOrderRejected",
    "KalshiPaginationError",
    "KalshiParseError",
    "KalshiPermissionDenied",
    "KalshiRateLimited",
    "KalshiUnavailable",
    "UnknownOutcome",
    "api_error_from_response",
    "parse_error_body",
]


class KalshiError(Exception):
    """Base class of every error raised by ``framework.kalshi``."""


class AuthError(KalshiError):
    """The API key could not be loaded or used (missing file, wrong format, bad passphrase...)."""


class KalshiParseError(KalshiError, ValueError):
    """A Kalshi JSON object could not be parsed into a framework record."""

    def __init__(self, object_type: str, field: str, problem: str = "missing required field"):
        self.object_type = object_type
        self.field = field
        self.problem = problem
        super().__init__(f"{object_type}: {problem} {field!r}")


class KalshiPaginationError(KalshiError):
    """The server sent a cursor that was already used (would loop forever)."""


class KalshiConnectionError(KalshiError):
    """The request could not be delivered (connection refused, connect timeout).

    For writes this is raised only when the request certainly did not reach the server, so it
    is safe to send again. For reads it is raised after the retries are used up.
    """


class UnknownOutcome(KalshiError):
    """A write (create/cancel/amend/decrease/batch) was sent but its result is unknown.

    Raised on a read timeout, a connection reset after sending, or a 5xx answer to a write.
    The order may or may not exist. Do not resend blindly: list the ticker's orders
    (``iter_orders(ticker=..., min_ts=...)``) and match ``client_order_id``; for a cancel, read
    the order (``get_order(order_id)``).
    """

    def __init__(
        self,
        operation: str,
        reason: str,
        *,
        client_order_id: str | None = None,
        client_order_ids: tuple[str, ...] = (),
        order_id: str | None = None,
        order_ids: tuple[str, ...] = (),
        status: int | None = None,
    ):
        self.operation = operation
        self.reason = reason
        self.client_order_id = (
            client_order_id
            if client_order_id is not None
            else (client_order_ids[0] if client_order_ids else None)
        )
        self.client_order_ids = tuple(client_order_ids) or (
            (client_order_id,) if client_order_id is not None else ()
        )
        self.order_id = order_id if order_id is not None else (order_ids[0] if order_ids else None)
        self.order_ids = tuple(order_ids) or ((order_id,) if order_id is not None else ())
        self.status = status
        ids = []
        if self.client_order_ids:
            ids.append("client_order_id=" + ",".join(self.client_order_ids))
        if self.order_ids:
            ids.append("order_id=" + ",".join(self.order_ids))
        where = f" ({'; '.join(ids)})" if ids else ""
        super().__init__(
            f"outcome of {operation}{where} is unknown: {reason}; reconcile by listing orders "
            "before sending again"
        )


class KalshiAPIError(KalshiError):
    """The exchange answered with an error status (or an error body).

    ``status`` is the HTTP status, ``code``/``message``/``details`` come from the body (any of
    the three shapes Kalshi uses), ``method``/``path`` say which request failed.
    """

    def __init__(
        self,
        status: int,
        code: str | None = None,
        message: str | None = None,
        details: str | None = None,
        *,
        method: str | None = None,
        path: str | None = None,
    ):
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.method = method
        self.path = path
        parts = [f"HTTP {status}"]
        if method and path:
            parts.append(f"{method} {path}")
        text = ": ".join(parts)
        if code:
            text += f" [{code}]"
        if message:
            text += f" {message}"
        if details:
            text += f" ({details})"
        super().__init__(text)


class KalshiAuthError(KalshiAPIError):
    """401: the signature, timestamp or key id was refused.

    Common causes: the query string was signed, the timestamp was in seconds instead of
    milliseconds, the path lacked ``/trade-api/v2``, a demo key was used on production (or the
    reverse), or the clock is off.
    """


class KalshiPermissionDenied(KalshiAPIError):
    """403: the key lacks the scope, or the account/tier may not do this."""


class KalshiNotFound(KalshiAPIError):
    """404: unknown ticker, order id, ..."""


class KalshiConflict(KalshiAPIError):
    """409: conflict (probably a duplicate ``client_order_id``)."""


class KalshiRateLimited(KalshiAPIError):
    """429: too many requests. Reads are retried with backoff before this is raised."""


class KalshiUnavailable(KalshiAPIError):
    """5xx: the exchange is unavailable. Reads are retried before this is raised."""


class KalshiOrderRejected(KalshiAPIError):
    """A 2xx answer to an order create that carried no ``order`` object: treat as rejected."""


def _text(x: Any) -> str | None:
    if x is None:
        return None
    if isinstance(x, str):
        return x
    try:
        return json.dumps(x, default=str)
    except (TypeError, ValueError):  # pragma: no cover - defensive
        return str(x)


def parse_error_body(body: Any) -> tuple[str | None, str | None, str | None]:
    """Return ``(code, message, details)`` from any of Kalshi's three error body shapes.

    * ``{"error": {"code": ..., "message": ..., "details": ...}}``
    * ``{"code": ..., "message": ..., "details": ...}`` (the OpenAPI schema)
    * ``{"error": "too many requests"}`` (429)
    """
    if isinstance(body, (bytes, bytearray)):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str):
        s = body.strip()
        if not s:
            return None, None, None
        try:
            body = json.loads(s)
        except ValueError:
            return None, s[:200], None
    if not isinstance(body, dict):
        return None, _text(body), None
    err = body.get("error")
    if isinstance(err, dict):
        return _text(err.get("code")), _text(err.get("message")), _text(err.get("details"))
    if isinstance(err, str) and not any(k in body for k in ("code", "message")):
        return None, err, None
    code, message, details = body.get("code"), body.get("message"), body.get("details")
    if message is None and isinstance(err, str):
        message = err
    return _text(code), _text(message), _text(details)


_BY_STATUS: dict[int, type[KalshiAPIError]] = {
    401: KalshiAuthError,
    403: KalshiPermissionDenied,
    404: KalshiNotFound,
    409: KalshiConflict,
    429: KalshiRateLimited,
}


def api_error_from_response(
    status: int, body: Any, *, method: str | None = None, path: str | None = None
) -> KalshiAPIError:
    """Build the right :class:`KalshiAPIError` subclass for an HTTP status and body."""
    code, message, details = parse_error_body(body)
    cls = _BY_STATUS.get(status)
    if cls is None:
        cls = KalshiUnavailable if status >= 500 else KalshiAPIError
    return cls(status, code, message, details, method=method, path=path)
