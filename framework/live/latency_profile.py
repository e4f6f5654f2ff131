"""A latency profile measured from a paper/live run's journal (``kalshi latency RUN_DIR``).

The journal (framework.live.journal, SQLite) keeps, per order, ``intent_ns`` (the strategy's
submit, wall clock) and ``acked_ns`` (when the broker learned the exchange's answer), and per fill
``ts`` (the exchange's execution time) and ``recorded_ns`` (when the fill was journaled). From
them, per leg:

* ``response`` = ``recorded_ns - ts`` of each fill: exchange event -> strategy (includes the clock
  difference between the exchange and this machine, and the exchange's ms rounding);
* ``entry`` = ``(acked_ns - intent_ns) - median(response)`` of each acked order, at least 0: the
  round trip the strategy saw, less the typical way back. Without fills: half the round trip.
* ``market_data`` is not in the journal: a profile has no such leg (set it separately).

Negative samples (clock skew) are dropped and counted. The profile (JSON) keeps per leg the count,
quantiles and up to ``MAX_SAMPLES`` samples (evenly spaced order statistics when there are more);
``[broker] latency = "profile:PATH"`` replays them (framework.brokers.latency.EmpiricalLatency).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from ..brokers.latency import PROFILE_VERSION

__all__ = ["MAX_SAMPLES", "ProfileError", "build_profile", "find_journal", "write_profile"]

MAX_SAMPLES = 5000
_QUANTILES = (0.5, 0.9, 0.99)


class ProfileError(ValueError):
    """No journal, an unreadable one, or nothing to measure in it."""


def find_journal(run_dir: str | Path) -> Path:
    """The journal of a run folder (``<run>/state/journal.sqlite`` or ``<run>/journal.sqlite``),
    or the journal file itself."""
    p = Path(run_dir)
    for cand in (p, p / "state" / "journal.sqlite", p / "journal.sqlite"):
        if cand.is_file():
            return cand
    raise ProfileError(f"no journal in {p} (looked for {p / 'state' / 'journal.sqlite'} and "
                       f"{p / 'journal.sqlite'}); pass a paper/live run folder or its journal.sqlite")


def _quantile(sorted_ns: list[int], q: float) -> int:
    """Nearest-rank quantile (a sample, never interpolated)."""
    i = min(len(sorted_ns) - 1, max(0, int(-(-q * len(sorted_ns) // 1)) - 1))
    return sorted_ns[i]


def _leg(samples: list[int]) -> dict[str, Any]:
    s = sorted(samples)
    n = len(s)
    kept = s if n <= MAX_SAMPLES else [s[(i * (n - 1)) // (MAX_SAMPLES - 1)] for i in range(MAX_SAMPLES)]
    return {"n": n, **{f"p{round(q * 100)}": _quantile(s, q) for q in _QUANTILES}, "min": s[0], "max": s[-1],
            "samples": kept}


def build_profile(journal: str | Path) -> dict[str, Any]:
    """The profile dict of one journal (see the module docstring)."""
    path = Path(journal)
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            fills = db.execute("SELECT recorded_ns - ts FROM fills WHERE ts > 0").fetchall()
            orders = db.execute("SELECT acked_ns - intent_ns FROM orders WHERE acked_ns IS NOT NULL "
                                "AND intent_ns IS NOT NULL").fetchall()
        finally:
            db.close()
    except sqlite3.Error as e:
        raise ProfileError(f"cannot read journal {path}: {e}") from None
    response = [int(r[0]) for r in fills if r[0] is not None and r[0] >= 0]
    rtt = [int(r[0]) for r in orders if r[0] is not None and r[0] >= 0]
    dropped = (len(fills) - len(response)) + (len(orders) - len(rtt))
    if not response and not rtt:
        raise ProfileError(f"journal {path} has no acked orders and no fills to measure latency from")
    legs: dict[str, Any] = {}
    if response:
        legs["response"] = _leg(response)
    if rtt:
        back = legs["response"]["p50"] if response else None
        legs["entry"] = _leg([max(0, x - back) if back is not None else x // 2 for x in rtt])
    return {"version": PROFILE_VERSION, "source": str(path), "legs": legs, "negative_samples_dropped": dropped,
            "method": {"response": "fills.recorded_ns - fills.ts",
                       "entry": "orders.acked_ns - orders.intent_ns - median(response)"
                                if response else "(orders.acked_ns - orders.intent_ns) / 2"}}


def write_profile(profile: dict[str, Any], out: str | Path) -> Path:
    p = Path(out)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.tmp")
    tmp.write_text(json.dumps(profile, indent=1, sort_keys=True) + "\n")
    tmp.replace(p)
    return p
