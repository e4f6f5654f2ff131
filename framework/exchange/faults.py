"""Fault injection for the local exchange, switchable at runtime.

Use it through ``LocalExchange.faults`` (or ``POST /_faults`` on loopback)::

    ex.faults.delay(250)                      # every HTTP response 250 ms late
    ex.faults.rate_limit_storm(5)             # the next 5 requests get 429
    ex.faults.server_errors(3, status=503, path="/trade-api/v2/portfolio/*")
    ex.faults.skip_ws_seq()                   # the next sequenced WS message jumps a seq
    ex.faults.duplicate_ws()                  # the next WS data message is sent twice
    ex.faults.order_timeout()                 # next order write is placed, response withheld
    ex.faults.reject_ws_upgrades(True)        # every WS upgrade gets CloudFront's 403
    ex.drop_ws_connections()                  # close every WS connection now
    ex.faults.reset()

Counters are consumed by the requests/messages they affect; everything is thread-safe.
"""

from __future__ import annotations

import fnmatch
import threading
from dataclasses import dataclass, field

__all__ = ["Faults"]


@dataclass
class _ErrorRule:
    remaining: int
    status: int
    pattern: str


@dataclass
class Faults:
    delay_ms: int = 0
    rate_limit_remaining: int = 0
    errors: list[_ErrorRule] = field(default_factory=list)
    ws_skip_remaining: int = 0
    ws_duplicate_remaining: int = 0
    order_timeout_remaining: int = 0
    ws_reject_always: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # ------------------------------------------------------------------ switches
    def delay(self, ms: int) -> None:
        """Delay every HTTP response by ``ms`` milliseconds (0 turns it off)."""
        with self._lock:
            self.delay_ms = max(0, int(ms))

    def rate_limit_storm(self, n: int) -> None:
        """Answer the next ``n`` HTTP requests with 429 ``{"error":"too many requests"}``."""
        with self._lock:
            self.rate_limit_remaining = max(0, int(n))

    def server_errors(self, n: int, status: int = 500, path: str = "*") -> None:
        """Answer the next ``n`` HTTP requests whose path matches the glob ``path`` with ``status``."""
        if not 500 <= int(status) <= 599:
            raise ValueError("status must be a 5xx code")
        with self._lock:
            self.errors.append(_ErrorRule(int(n), int(status), path))

    def skip_ws_seq(self, n: int = 1) -> None:
        """Make the next ``n`` sequenced WS messages skip one ``seq`` number each."""
        with self._lock:
            self.ws_skip_remaining += int(n)

    def duplicate_ws(self, n: int = 1) -> None:
        """Send each of the next ``n`` WS data messages twice."""
        with self._lock:
            self.ws_duplicate_remaining += int(n)

    def order_timeout(self, n: int = 1) -> None:
        """The next ``n`` order writes (create/amend/decrease/cancel/batch) are executed, but the
        HTTP response is withheld until the client gives up and closes the connection."""
        with self._lock:
            self.order_timeout_remaining += int(n)

    def reject_ws_upgrades(self, on: bool = True) -> None:
        """Answer every WS upgrade with CloudFront's ``403 Forbidden``."""
        with self._lock:
            self.ws_reject_always = bool(on)

    def reset(self) -> None:
        with self._lock:
            self.delay_ms = 0
            self.rate_limit_remaining = 0
            self.errors.clear()
            self.ws_skip_remaining = 0
            self.ws_duplicate_remaining = 0
            self.order_timeout_remaining = 0
            self.ws_reject_always = False

    # ------------------------------------------------------------------ consumers (server side)
    def take_rate_limit(self) -> bool:
        with self._lock:
            if self.rate_limit_remaining > 0:
                self.rate_limit_remaining -= 1
                return True
            return False

    def take_error(self, path: str) -> int | None:
        with self._lock:
            for rule in self.errors:
                if rule.remaining > 0 and fnmatch.fnmatchcase(path, rule.pattern):
                    rule.remaining -= 1
                    status = rule.status
                    self.errors = [r for r in self.errors if r.remaining > 0]
                    return status
            return None

    def take_ws_skip(self) -> bool:
        with self._lock:
            if self.ws_skip_remaining > 0:
                self.ws_skip_remaining -= 1
                return True
            return False

    def take_ws_duplicate(self) -> bool:
        with self._lock:
            if self.ws_duplicate_remaining > 0:
                self.ws_duplicate_remaining -= 1
                return True
            return False

    def take_order_timeout(self) -> bool:
        with self._lock:
            if self.order_timeout_remaining > 0:
                self.order_timeout_remaining -= 1
                return True
            return False

    def apply(self, spec: dict) -> None:
        """Apply a JSON fault spec (``POST /_faults``): ``{"action": name, ...args}``."""
        action = spec.get("action")
        if action == "delay":
            self.delay(int(spec.get("ms", 0)))
        elif action == "rate_limit_storm":
            self.rate_limit_storm(int(spec.get("n", 1)))
        elif action == "server_errors":
            self.server_errors(int(spec.get("n", 1)), int(spec.get("status", 500)), str(spec.get("path", "*")))
        elif action == "skip_ws_seq":
            self.skip_ws_seq(int(spec.get("n", 1)))
        elif action == "duplicate_ws":
            self.duplicate_ws(int(spec.get("n", 1)))
        elif action == "order_timeout":
            self.order_timeout(int(spec.get("n", 1)))
        elif action == "reject_ws_upgrades":
            self.reject_ws_upgrades(bool(spec.get("on", True)))
        elif action == "reset":
            self.reset()
        else:
            raise ValueError(f"unknown fault action {action!r}")
