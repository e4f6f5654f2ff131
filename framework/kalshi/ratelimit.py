"""Client-side token buckets matching Kalshi's 2026 rate limits.

Kalshi meters **read** requests (GETs) and **write** requests (create, amend, decrease,
cancel, batch...) in two independent token buckets per account. Each request costs
``DEFAULT_COST`` (10) tokens unless the exchange says otherwise; batch calls cost per item.
The exchange answers over-budget requests with 429 and no ``Retry-After`` header, so the
client paces itself with the buckets below.

Tiers (tokens per second, read / write):

=========  =====  =====
basic        200    100
advanced     300    300
premier     1000   1000
paragon     2000   2000
prime       4000   4000
=========  =====  =====

A bucket holds ``capacity`` tokens (default: one second of budget) and refills continuously.
:meth:`TokenBucket.acquire` reserves tokens at once (the balance may go negative) and sleeps
for the deficit, so concurrent callers are served in arrival order and the long-run rate is
never exceeded. The clock and sleep functions are injectable for deterministic tests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["DEFAULT_COST", "TIERS", "RateLimiter", "TokenBucket"]

DEFAULT_COST = 10

#: tier -> (read tokens/s, write tokens/s)
TIERS: dict[str, tuple[float, float]] = {
    "basic": (200, 100),
    "advanced": (300, 300),
    "premier": (1000, 1000),
    "paragon": (2000, 2000),
    "prime": (4000, 4000),
}


class TokenBucket:
    """A thread-safe token bucket: ``rate`` tokens/s, at most ``capacity`` stored."""

    def __init__(
        self,
        rate: float,
        capacity: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if rate <= 0:
            raise ValueError(f"rate must be > 0 tokens/s, got {rate!r}")
        self.rate = float(rate)
        self.capacity = float(capacity if capacity is not None else rate)
        if self.capacity <= 0:
            raise ValueError(f"capacity must be > 0 tokens, got {capacity!r}")
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = self.capacity
        self._last = clock()

    def _refill(self) -> None:
        now = self._clock()
        elapsed = now - self._last
        if elapsed > 0:
            self._tokens = min(self.capacity, self._tokens + elapsed * self.rate)
            self._last = now

    @property
    def tokens(self) -> float:
        """Tokens available now (negative while reservations are pending)."""
        with self._lock:
            self._refill()
            return self._tokens

    def reserve(self, cost: float) -> float:
        """Take ``cost`` tokens now and return how many seconds the caller must wait."""
        if cost < 0:
            raise ValueError(f"cost must be >= 0, got {cost!r}")
        with self._lock:
            self._refill()
            self._tokens -= cost
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def try_acquire(self, cost: float) -> bool:
        """Take ``cost`` tokens if they are available now; never waits."""
        with self._lock:
            self._refill()
            if self._tokens >= cost:
                self._tokens -= cost
                return True
            return False

    def acquire(self, cost: float = DEFAULT_COST) -> float:
        """Block until ``cost`` tokens are granted; returns the seconds waited."""
        wait = self.reserve(cost)
        if wait > 0:
            self._sleep(wait)
        return wait

    def drain(self) -> None:
        """Empty the bucket (e.g. after the exchange answered 429)."""
        with self._lock:
            self._refill()
            self._tokens = min(self._tokens, 0.0)


class RateLimiter:
    """Separate read and write :class:`TokenBucket` for one account tier."""

    def __init__(
        self,
        tier: str = "basic",
        *,
        read_rate: float | None = None,
        write_rate: float | None = None,
        read_capacity: float | None = None,
        write_capacity: float | None = None,
        default_cost: float = DEFAULT_COST,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        key = str(tier).strip().lower()
        if key not in TIERS:
            raise ValueError(f"unknown Kalshi rate-limit tier {tier!r}; valid: {', '.join(TIERS)}")
        r, w = TIERS[key]
        self.tier = key
        self.default_cost = default_cost
        self.read = TokenBucket(read_rate or r, read_capacity, clock=clock, sleep=sleep)
        self.write = TokenBucket(write_rate or w, write_capacity, clock=clock, sleep=sleep)

    def acquire_read(self, cost: float | None = None, items: int = 1) -> float:
        return self.read.acquire((self.default_cost if cost is None else cost) * max(1, items))

    def acquire_write(self, cost: float | None = None, items: int = 1) -> float:
        return self.write.acquire((self.default_cost if cost is None else cost) * max(1, items))

    def __repr__(self) -> str:
        return f"RateLimiter(tier={self.tier!r}, read={self.read.rate:g}/s, write={self.write.rate:g}/s)"
