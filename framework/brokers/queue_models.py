"""Queue-position models: when does a print *at* a resting order's price fill it?

A resting limit order waits behind the size other traders displayed at its price before it.
The data never says where in that queue our (simulated) order stands, so a model estimates
the size still ahead of it (``ahead``, in 0.01-contract units, never negative):

* ``NoQueue`` (``queue_model = "none"``): prints at the order's price never fill it: it stays at
  the back of the queue for ever (the most pessimistic choice).
* ``TradesQueue`` (``"trades"``, risk-averse): the order joins behind the displayed size; only
  prints at its price from the side that trades into it reduce ``ahead``; what a print has
  beyond ``ahead`` fills the order. Cancellations never move it up (hftbacktest's
  ``RiskAdverseQueueModel`` without its depth clamp).
* ``ProbQueue`` (``"power"`` and ``"log"``, hftbacktest's ``ProbQueueModel``): prints work as in
  ``"trades"``, and when the displayed size at the order's price *decreases* by more than the
  prints explain, the rest of the decrease (``chg``, cancellations) is split between the size in
  front of the order (``front = ahead``) and behind it (``back = previous size - front``)::

      p      = f(front) / (f(front) + f(back))      share of a cancellation in front of us
      ahead' = front - p * chg + min(back - (1 - p) * chg, 0)   (back cannot go below 0)
      ahead' = min(ahead', new displayed size), then rounded to a 0.01-contract unit

  with ``f(x) = x ** n`` (``"power"``, ``queue_power = n``, default 2) or ``f(x) = log(1 + x)``
  (``"log"``), ``x`` in contracts. The rounding is stochastic (up with probability equal to the fraction, from the
  run's seeded generator), so the expected advance is exact and the same seed gives the same
  fills. An increase of the displayed size joins behind the order and does not move it.

The broker calls ``join`` when an order starts resting, ``on_level`` with the displayed size at
its price on each book change of its market (``None`` when the data cannot show it), ``on_print``
for each print at its price that trades into its side (returning how much of the print reaches
the order) and ``leave`` when it stops resting. Sizes are ints in 0.01-contract units.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

__all__ = ["MODELS", "NoQueue", "ProbQueue", "QueueModel", "TradesQueue", "make_queue_model"]


class QueueModel:
    """Interface (and the ``"none"`` behaviour's defaults). One instance per run."""

    name = "none"
    uses_levels = False  # True when on_level must be called for every book change

    def join(self, order_id: str, ahead: int | None) -> None:
        """The order starts resting behind ``ahead`` displayed contracts (``None``: not visible)."""

    def on_level(self, order_id: str, size: int | None) -> None:
        """The market's book changed; ``size`` is now displayed at the order's price."""

    def on_print(self, order_id: str, qty: int) -> int:
        """A print of ``qty`` at the order's price traded into its side: the part that fills it."""
        return 0

    def leave(self, order_id: str) -> None:
        """The order stopped resting (filled, cancelled, expired)."""

    def ahead(self, order_id: str) -> int | None:
        """Estimated size still ahead of the order (``None`` = unknown or not tracked)."""
        return None

    def wants_level(self, order_id: str) -> bool:
        """Whether ``on_level`` matters for this order now (the broker skips the lookup if not)."""
        return self.uses_levels


NoQueue = QueueModel


class TradesQueue(QueueModel):
    """Risk-averse: only prints at the order's price move it up (see the module docstring)."""

    name = "trades"

    def __init__(self) -> None:
        self._ahead: dict[str, int | None] = {}

    def join(self, order_id: str, ahead: int | None) -> None:
        self._ahead[order_id] = ahead

    def wants_level(self, order_id: str) -> bool:
        # only to learn the size ahead once it becomes visible
        return order_id in self._ahead and self._ahead[order_id] is None

    def on_level(self, order_id: str, size: int | None) -> None:
        if order_id in self._ahead and self._ahead[order_id] is None:
            self._ahead[order_id] = size

    def on_print(self, order_id: str, qty: int) -> int:
        ahead = self._ahead.get(order_id)
        if ahead is None:
            return 0  # the size ahead was never visible: assume the back of the queue
        if qty <= ahead:
            self._ahead[order_id] = ahead - qty
            return 0
        self._ahead[order_id] = 0
        return qty - ahead

    def leave(self, order_id: str) -> None:
        self._ahead.pop(order_id, None)

    def ahead(self, order_id: str) -> int | None:
        return self._ahead.get(order_id)


class ProbQueue(QueueModel):
    """Cancellations at the order's level move it up by the share ``f(front)/(f(front)+f(back))``."""

    uses_levels = True

    def __init__(self, name: str, f: Callable[[float], float], seed: int = 0) -> None:
        self.name = name
        self.f = f
        self.rng = random.Random(seed)
        # order id -> [ahead (None until visible), last displayed size, prints since that size]
        self._state: dict[str, list] = {}

    def join(self, order_id: str, ahead: int | None) -> None:
        self._state[order_id] = [ahead, ahead, 0]

    def on_level(self, order_id: str, size: int | None) -> None:
        st = self._state.get(order_id)
        if st is None or size is None:
            return  # not tracked, or the data cannot show the level now: nothing learned
        front, prev, traded = st
        if front is None or prev is None:
            st[0], st[1], st[2] = size, size, 0
            return
        if size == prev:
            return
        chg = prev - size - traded  # the part of the decrease the prints do not explain
        st[1], st[2] = size, 0
        if chg <= 0:  # growth (new orders join behind us) or fully explained by prints
            st[0] = min(front, size)
            return
        back = max(prev - front, 0)
        ff, fb = self.f(front / 100), self.f(back / 100)  # f of contracts (matters for log)
        p = ff / (ff + fb) if ff + fb > 0 else 1.0
        est = front - p * chg + min(back - (1.0 - p) * chg, 0.0)
        if est <= 0:
            st[0] = 0
            return
        lo = math.floor(est)
        units = lo + (1 if self.rng.random() < est - lo else 0)  # stochastic rounding, seeded
        st[0] = min(units, size)

    def on_print(self, order_id: str, qty: int) -> int:
        st = self._state.get(order_id)
        if st is None or st[0] is None:
            return 0
        st[2] += qty
        ahead = st[0]
        if qty <= ahead:
            st[0] = ahead - qty
            return 0
        st[0] = 0
        return qty - ahead

    def leave(self, order_id: str) -> None:
        self._state.pop(order_id, None)

    def ahead(self, order_id: str) -> int | None:
        st = self._state.get(order_id)
        return None if st is None else st[0]


MODELS = ("none", "trades", "power", "log")


def make_queue_model(name: str, power: float = 2.0, seed: int = 0) -> QueueModel:
    """The queue model called ``name`` (one of ``MODELS``); ``power`` is n of ``"power"``."""
    if name == "none":
        return NoQueue()
    if name == "trades":
        return TradesQueue()
    if name == "power":
        n = float(power)
        if not n > 0 or math.isinf(n):
            raise ValueError(f"queue_power must be a positive number, got {power!r}")
        return ProbQueue("power", lambda x: float(x) ** n, seed)
    if name == "log":
        return ProbQueue("log", lambda x: math.log1p(x), seed)
    raise ValueError(f"queue_model must be one of {', '.join(map(repr, MODELS))}, got {name!r}")
