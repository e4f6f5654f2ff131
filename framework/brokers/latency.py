"""Latency models for the simulated exchange: order entry, responses and market data.

Three legs, each one FIFO channel with its own model:

* ``entry``: an order or cancel reaches the simulated exchange ``entry`` after the strategy sent
  it (matched against the book as it is then);
* ``response``: acks, cancels, rejections and fills reach the strategy ``response`` after the
  exchange produced them (``on_order``/``on_fill``, positions, cash and ``open_orders()`` follow
  the reports; a fill's ``ts`` stays the exchange time);
* ``market_data``: the strategy sees a book update or a print ``market_data`` after it happened
  (``on_book``/``on_trade`` get a copy of the book as it was then; ``self.book(t)`` returns that
  view), while the exchange matches against the book as it is.

On one leg a message never overtakes an earlier one (a TCP connection, a sequenced feed):
``arrival = max(sent + sample, previous arrival)``.

Each leg's model is one small class behind :class:`LatencyModel` (``sample() -> ns``):
:class:`ConstantLatency`, :class:`LogNormalLatency`, :class:`UniformLatency` and
:class:`EmpiricalLatency` (replays a measured profile, see ``kalshi latency``). Random models are
seeded from ``[broker] seed`` and the leg name, so runs repeat exactly.

Config (``[broker] latency``): ``"50ms"`` or an int of ns = entry latency only (the meaning it
always had); a table ``{entry = "20ms", response = "15ms", market_data = "5ms"}`` whose values
are durations or model strings: ``"lognormal:median=20ms,sigma=0.5"``,
``"uniform:low=10ms,high=30ms"``, ``"profile:PATH"`` (that leg of a profile file); or
``"profile:PATH"`` for every leg the profile has.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["LEGS", "PROFILE_VERSION", "Channel", "ConstantLatency", "DelayedReports", "EmpiricalLatency", "Latencies",
           "LatencyModel", "LogNormalLatency",
           "UniformLatency", "load_profile", "parse_latency"]

LEGS = ("entry", "response", "market_data")
PROFILE_VERSION = 1


def _ns(value: Any, what: str) -> int:
    """A duration >= 0: int ns or a string such as ``"50ms"``."""
    if isinstance(value, int) and not isinstance(value, bool):
        ns = value
    elif isinstance(value, str):
        import pandas as pd  # config parsing only, never on the hot path

        try:
            ns = int(pd.Timedelta(value.strip()).value)
        except (ValueError, TypeError):
            ns = -1
    else:
        ns = -1
    if ns < 0:
        where = f" {what}" if what else ""
        raise ValueError(f"latency{where} must be a duration >= 0 such as '50ms' or an int of ns, got {value!r}")
    return ns


class LatencyModel:
    """One leg's delay distribution. ``sample()`` returns the next delay in ns (>= 0)."""

    name = "model"

    def sample(self) -> int:  # pragma: no cover - interface
        raise NotImplementedError

    def describe(self) -> str:  # pragma: no cover - interface
        raise NotImplementedError


class ConstantLatency(LatencyModel):
    """Always ``ns``."""

    name = "constant"

    def __init__(self, ns: int) -> None:
        self.ns = ns

    def sample(self) -> int:
        return self.ns

    def describe(self) -> str:
        return f"{self.ns / 1e6:g}ms"


class LogNormalLatency(LatencyModel):
    """``median x exp(sigma x Z)``, ``Z`` standard normal: right-skewed, like network delays."""

    name = "lognormal"

    def __init__(self, median: int, sigma: float, rng: random.Random) -> None:
        if not (sigma >= 0 and math.isfinite(sigma)):
            raise ValueError(f"lognormal latency sigma must be a finite number >= 0, got {sigma!r}")
        self.median, self.sigma, self.rng = median, sigma, rng

    def sample(self) -> int:
        return int(self.median * math.exp(self.sigma * self.rng.gauss(0.0, 1.0)))

    def describe(self) -> str:
        return f"lognormal:median={self.median / 1e6:g}ms,sigma={self.sigma:g}"


class UniformLatency(LatencyModel):
    """Uniform integer ns in ``[low, high]``."""

    name = "uniform"

    def __init__(self, low: int, high: int, rng: random.Random) -> None:
        if high < low:
            raise ValueError(f"uniform latency needs low <= high, got low={low} high={high}")
        self.low, self.high, self.rng = low, high, rng

    def sample(self) -> int:
        return self.rng.randint(self.low, self.high)

    def describe(self) -> str:
        return f"uniform:low={self.low / 1e6:g}ms,high={self.high / 1e6:g}ms"


class EmpiricalLatency(LatencyModel):
    """Draws uniformly from measured ``samples`` (ns): replays a latency profile."""

    name = "empirical"

    def __init__(self, samples: list[int], rng: random.Random, source: str = "") -> None:
        if not samples:
            raise ValueError(f"latency profile {source or ''} has no samples for this leg".replace("  ", " "))
        self.samples, self.rng, self.source = list(samples), rng, source

    def sample(self) -> int:
        s = self.samples
        return s[self.rng.randrange(len(s))]

    def describe(self) -> str:
        return f"profile:{self.source} ({len(self.samples)} samples)"


class Channel:
    """One leg as a FIFO channel: ``arrival(now)`` = ``max(now + sample, last arrival)``."""

    __slots__ = ("model", "last")

    def __init__(self, model: LatencyModel) -> None:
        self.model = model
        self.last = 0

    def arrival(self, now: int) -> int:
        t = now + self.model.sample()
        if t < self.last:
            t = self.last  # no overtaking on one leg
        self.last = t
        return t


@dataclass
class Latencies:
    """The three legs; ``None`` = no delay on that leg (the zero-cost path)."""

    entry: Channel | None = None
    response: Channel | None = None
    market_data: Channel | None = None

    def describe(self) -> dict[str, str]:
        return {leg: (getattr(self, leg).model.describe() if getattr(self, leg) else "0") for leg in LEGS}

    @property
    def constant_entry_ns(self) -> int:
        """The entry latency when it is a constant (0 when off), else -1."""
        ch = self.entry
        if ch is None:
            return 0
        return ch.model.ns if isinstance(ch.model, ConstantLatency) else -1


def load_profile(path: str | Path) -> dict[str, list[int]]:
    """``{leg: samples ns}`` from a profile file written by ``kalshi latency``."""
    p = Path(path)
    try:
        doc = json.loads(p.read_text())
    except FileNotFoundError:
        raise ValueError(f"latency profile {p} not found; write one with `kalshi latency RUN_DIR --out {p}`") \
            from None
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"latency profile {p} is not readable JSON ({e})") from None
    legs = doc.get("legs") if isinstance(doc, dict) else None
    if not isinstance(legs, dict) or doc.get("version") != PROFILE_VERSION:
        raise ValueError(f"latency profile {p} is not a version-{PROFILE_VERSION} profile from `kalshi latency`")
    out: dict[str, list[int]] = {}
    for leg, body in legs.items():
        samples = body.get("samples") if isinstance(body, dict) else None
        if leg not in LEGS or not isinstance(samples, list) or not all(
                isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in samples):
            raise ValueError(f"latency profile {p}: leg {leg!r} must be one of {', '.join(LEGS)} with a list "
                             "of int ns samples >= 0")
        if samples:
            out[leg] = samples
    return out


def _model(spec: Any, leg: str, rng: random.Random, what: str | None = None) -> LatencyModel | None:
    if isinstance(spec, str) and ":" in spec:
        kind, _, rest = spec.partition(":")
        kind = kind.strip().lower()
        if kind == "profile":
            samples = load_profile(rest.strip()).get(leg)
            if samples is None:
                raise ValueError(f"latency profile {rest.strip()} has no {leg} samples; give {leg} separately")
            return EmpiricalLatency(samples, rng, rest.strip())
        try:
            args = dict(kv.split("=", 1) for kv in rest.split(",") if kv.strip())
        except ValueError:
            args = None
        if args is None:
            raise ValueError(f"latency {leg} {spec!r}: parameters must be name=value, comma-separated")
        args = {k.strip(): v.strip() for k, v in args.items()}
        try:
            if kind == "lognormal" and set(args) == {"median", "sigma"}:
                return LogNormalLatency(_ns(args["median"], f"{leg} median"), float(args["sigma"]), rng)
            if kind == "uniform" and set(args) == {"low", "high"}:
                return UniformLatency(_ns(args["low"], f"{leg} low"), _ns(args["high"], f"{leg} high"), rng)
        except (TypeError, ValueError) as e:
            raise ValueError(f"latency {leg} {spec!r}: {e}") from None
        raise ValueError(f"latency {leg} {spec!r}: expected 'lognormal:median=20ms,sigma=0.5', "
                         "'uniform:low=10ms,high=30ms', 'profile:PATH' or a duration such as '20ms'")
    ns = _ns(spec, leg if what is None else what)
    return ConstantLatency(ns) if ns else None


def parse_latency(value: Any, seed: int = 0) -> Latencies:
    """The ``[broker] latency`` setting as :class:`Latencies` (see the module docstring)."""
    def rng(leg: str) -> random.Random:
        return random.Random(f"latency:{seed}:{leg}")  # str seeds are stable across runs and platforms

    if isinstance(value, dict):
        unknown = sorted(set(value) - set(LEGS))
        if unknown:
            raise ValueError(f"latency has unknown leg(s) {', '.join(unknown)}; legs: {', '.join(LEGS)}")
        specs = dict(value)
    elif isinstance(value, str) and value.strip().lower().startswith("profile:"):
        path = value.strip()[len("profile:"):].strip()
        specs = {leg: f"profile:{path}" for leg in load_profile(path)}
    else:  # a plain duration: order/cancel (entry) latency, as before there were legs
        m = _model(value, "entry", rng("entry"), what="")
        return Latencies(entry=Channel(m) if m is not None else None)
    models = {leg: _model(spec, leg, rng(leg)) for leg, spec in specs.items()}
    return Latencies(**{leg: Channel(m) for leg, m in models.items() if m is not None})


class DelayedReports:
    """Wraps a broker's event sink so order updates and fills reach the engine (and so the
    strategy, its positions and cash) after the ``response`` leg; the rest passes through.
    ``flush()`` delivers what is still in flight (the end of a run: every fill that happened at
    the exchange is in the results)."""

    __slots__ = ("sink", "channel", "_pending", "_next")

    def __init__(self, sink: Any, channel: Channel) -> None:
        self.sink = sink
        self.channel = channel
        self._pending: dict[int, tuple[Any, tuple]] = {}
        self._next = 0

    @property
    def now(self) -> int:
        return self.sink.now

    def call_at(self, ts: int, fn: Any, arg: Any) -> None:
        self.sink.call_at(ts, fn, arg)

    def _later(self, fn: Any, args: tuple) -> None:
        key = self._next
        self._next += 1
        self._pending[key] = (fn, args)
        self.sink.call_at(self.channel.arrival(self.sink.now), self._deliver, key)

    def _deliver(self, key: int) -> None:
        item = self._pending.pop(key, None)
        if item is not None:
            item[0](*item[1])

    def order_update(self, order: Any) -> None:
        self._later(self.sink.order_update, (order,))

    def fill(self, order: Any, fill: Any) -> None:
        self._later(self.sink.fill, (order, fill))

    def flush(self) -> None:
        for key in sorted(self._pending):
            self._deliver(key)
