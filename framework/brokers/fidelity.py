"""The fidelity record of a run: which fill models ran, what they assumed, and where it matters.

A simulated result is only as good as its fills. Every simulated fill is reported here with its
*basis*, the evidence its size rests on:

* ``"displayed"``: size the data showed at that price (L2 level or top-of-book size);
* ``"assumed"``: the data showed the price but no size, so ``unknown_size_contracts`` capped it;
* ``"print"``: a public trade strictly through a resting order's price, capped by its count;
* ``"queue"``: a print at a resting order's price, after the queue model's size ahead;
* ``"bar"``: a candle's bar rule (framework.data candles).

Components (the simulated broker, the bar-execution model, the run wrapper) report into one
``Fidelity`` with ``record_fill``, ``count`` and ``warn``; ``to_dict()`` is what a run folder's
``fidelity.json`` holds and ``summary()`` what the printed summary shows. Nothing here is on the
hot path: one dict update per fill.
"""

from __future__ import annotations

from typing import Any

__all__ = ["BASES", "Fidelity", "contracts_str", "summary_of"]

# fill bases in the order they are reported; an unknown basis is accepted and listed after these
BASES = ("displayed", "assumed", "print", "queue", "bar")
_OPTIMISTIC = {
    "assumed": "{pct} of contracts filled rested on an assumed size (the data showed no size there); "
               "see [broker] unknown_size_contracts",
    "bar": "{pct} of contracts filled rested on the bar rule (candle data has no book)",
}


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "0%"


class Fidelity:
    """Collects what a run's fill models assumed. One instance per run, shared by components."""

    def __init__(self) -> None:
        self.models: dict[str, Any] = {}
        self.fills: dict[str, list[int]] = {}  # basis -> [fills, qty in 0.01-contract units]
        self.counts: dict[str, int] = {}
        self.warnings: list[str] = []

    # ---- reporting (called by components) ------------------------------------------------------
    def model(self, name: str, value: Any) -> None:
        """Record which model (or assumption value) ran for ``name``, e.g. ``("queue_model", "trades")``."""
        self.models[name] = value

    def record_fill(self, basis: str, qty: int) -> None:
        """One fill of ``qty`` (0.01-contract units) whose size rests on ``basis`` (see module doc)."""
        rec = self.fills.get(basis)
        if rec is None:
            self.fills[basis] = [1, qty]
        else:
            rec[0] += 1
            rec[1] += qty

    def count(self, name: str, n: int = 1) -> None:
        """Add ``n`` to the event counter ``name`` (e.g. ``"crossed_book_skipped"``)."""
        self.counts[name] = self.counts.get(name, 0) + n

    def warn(self, text: str) -> None:
        """A plain-language warning about the result (each distinct text kept once)."""
        if text not in self.warnings:
            self.warnings.append(text)

    # ---- reading ---------------------------------------------------------------------------------
    def fill_qty(self, basis: str) -> int:
        rec = self.fills.get(basis)
        return 0 if rec is None else rec[1]

    def finish(self) -> None:
        """Add the warnings that follow from the totals (call once, at the end of the run)."""
        total = sum(q for _, q in self.fills.values())
        for basis, text in _OPTIMISTIC.items():
            qty = self.fill_qty(basis)
            if qty:
                self.warn(text.format(pct=_pct(qty, total)))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record (quantities in contracts as decimal strings, exact)."""
        order = [b for b in BASES if b in self.fills] + sorted(b for b in self.fills if b not in BASES)
        return {
            "models": dict(self.models),
            "fills_by_basis": {b: {"fills": self.fills[b][0], "contracts": contracts_str(self.fills[b][1])}
                               for b in order},
            "counts": dict(sorted(self.counts.items())),
            "warnings": list(self.warnings),
        }

    def summary(self) -> str:
        """A few human lines for the printed run summary."""
        return summary_of(self.to_dict())


def summary_of(record: dict[str, Any]) -> str:
    """The printed-summary lines of a ``Fidelity.to_dict()`` record (e.g. read from fidelity.json)."""
    models = record.get("models", {})
    lines = ["  Fill models: " + ", ".join(f"{k}={v}" for k, v in models.items())]
    fills = record.get("fills_by_basis", {})
    if fills:
        lines.append("  Fills by basis: " + ", ".join(
            f"{b} {rec['fills']:,} ({rec['contracts']} contracts)" for b, rec in fills.items()))
    shown = {k: v for k, v in record.get("counts", {}).items() if v}
    if shown:
        lines.append("  Counted: " + ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in shown.items()))
    lines.extend(f"  WARNING: {w}" for w in record.get("warnings", ()))
    return "\n".join(lines)


def contracts_str(qty: int) -> str:
    """0.01-contract units as an exact decimal string of contracts (``1050`` -> ``"10.5"``)."""
    whole, frac = divmod(qty, 100)
    return str(whole) if not frac else f"{whole}.{frac:02d}".rstrip("0")
