"""Backtest results: metrics computed once at the end, tables as pandas DataFrames, run folder.

Money in ``metrics`` is ``Decimal`` dollars (exact to $0.0001); ``metrics.json`` writes them as
JSON numbers with the same digits. Nothing time- or machine-dependent goes into the files, so
two runs of the same backtest write byte-identical output.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..model.orders import Fill
from ..units import CONTRACT, DOLLAR, fmt_contracts, fmt_money

__all__ = ["Result", "compute_metrics"]

_FILL_COLUMNS = ["ts", "ticker", "side", "action", "price", "qty", "fee", "order_id", "is_maker"]
_ORDER_COLUMNS = ["order_id", "ticker", "side", "action", "qty", "price", "tif", "post_only",
                  "reduce_only", "status", "filled_qty", "fee", "ts", "updated_ts", "reason"]


def _usd(units: int) -> Decimal:
    return Decimal(units) / DOLLAR


def _max_drawdown(equity: list[int]) -> int:
    peak = None
    worst = 0
    for v in equity:
        if peak is None or v > peak:
            peak = v
        elif peak - v > worst:
            worst = peak - v
    return worst


def compute_metrics(engine, run_info: dict[str, Any] | None = None) -> dict[str, Any]:
    """Summary numbers of a finished run (money as exact Decimal dollars)."""
    pf = engine.portfolio
    marks = engine.marks()  # book bids; the last print for markets without a book
    open_value = pf.open_value(marks)
    final_equity = pf.cash + open_value
    equity_curve = [c + v for _, c, v in engine.equity]
    orders = engine.order_log
    n_filled_orders = sum(1 for o in orders if o.filled_qty)
    traded = sum(f.qty for f in engine.fills)
    metrics: dict[str, Any] = {
        "pnl": _usd(final_equity - pf.starting_cash),
        "fees": _usd(pf.fees),
        "realized_pnl": _usd(pf.realized_pnl),
        "settled_pnl": _usd(pf.settled_pnl),
        "open_value": _usd(open_value),
        "starting_cash": _usd(pf.starting_cash),
        "final_cash": _usd(pf.cash),
        "final_equity": _usd(final_equity),
        "max_drawdown": _usd(_max_drawdown(equity_curve)),
        "n_orders": len(orders),
        "n_fills": len(engine.fills),
        "fill_ratio": round(n_filled_orders / len(orders), 6) if orders else 0.0,
        "contracts_traded": Decimal(traded) / CONTRACT,
        "n_events": engine.n_events,
        "n_settlements": sum(1 for s in engine.settlements if s.position),
        "open_positions": sum(1 for p in pf.positions.values() if p.yes or p.no),
    }
    metrics.update(_prediction_scores(engine))
    if run_info:
        metrics["run"] = run_info
    return metrics


def _prediction_scores(engine) -> dict[str, Any]:
    results = {s.ticker: s.result for s in engine.settlements}
    scored = [(p, 1.0 if results[t] == "yes" else 0.0) for _, t, p in engine.predictions if t in results]
    if not scored:
        return {}
    brier = sum((p - y) ** 2 for p, y in scored) / len(scored)
    eps = 1e-12
    logloss = -sum(y * math.log(max(p, eps)) + (1 - y) * math.log(max(1 - p, eps)) for p, y in scored) / len(scored)
    return {"n_predictions": len(scored), "brier": round(brier, 8), "log_loss": round(logloss, 8)}


def _json_default(o: Any) -> Any:
    if isinstance(o, Decimal):
        return float(o)  # shortest repr of a <=15-digit decimal prints the same digits
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


@dataclass
class Result:
    """What ``run_backtest`` returns. DataFrames use framework units (ints) and ns timestamps."""

    metrics: dict[str, Any]
    fills: Any  # pandas.DataFrame
    orders: Any
    equity: Any
    records: Any
    positions: dict[str, int] = field(default_factory=dict)
    out_dir: Path | None = None
    fidelity: dict[str, Any] | None = None  # what the fill models assumed (fidelity.json)

    @classmethod
    def from_engine(cls, engine, run_info: dict[str, Any] | None = None) -> Result:
        import pandas as pd

        # column-wise construction: no per-row dicts (1 M orders would cost seconds and GBs)
        fills = pd.DataFrame(engine.fills, columns=list(Fill._fields))[_FILL_COLUMNS]
        orders = pd.DataFrame({c: [getattr(o, c) for o in engine.order_log] for c in _ORDER_COLUMNS},
                              columns=_ORDER_COLUMNS)
        equity = pd.DataFrame(engine.equity, columns=["ts", "cash", "open_value"])
        equity["equity"] = equity["cash"] + equity["open_value"]
        records = pd.DataFrame(engine.records, columns=["ts", "name", "value"])
        for df in (fills, orders, equity, records):
            for col in ("ts", "updated_ts"):
                if col in df.columns:
                    df[col] = pd.to_datetime(df[col].astype("int64"), unit="ns", utc=True)
        positions = {t: p.yes - p.no for t, p in sorted(engine.portfolio.positions.items())}
        metrics = compute_metrics(engine, run_info)
        # a simulated broker's fidelity record (framework.brokers.fidelity); live brokers have none
        finish = getattr(engine.broker, "finish", None)
        fidelity = finish().to_dict() if finish is not None else None
        return cls(metrics, fills, orders, equity, records, positions, fidelity=fidelity)

    def write(self, out_dir: str | Path) -> Path:
        """Write ``metrics.json``, ``fills.parquet``, ``orders.parquet``, ``equity.parquet`` (and
        ``records.parquet`` when the strategy recorded anything)."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.json").write_text(json.dumps(self.metrics, indent=2, sort_keys=True,
                                                     default=_json_default) + "\n")
        self.fills.to_parquet(out / "fills.parquet", index=False)
        self.orders.to_parquet(out / "orders.parquet", index=False)
        self.equity.to_parquet(out / "equity.parquet", index=False)
        if self.fidelity is not None:
            (out / "fidelity.json").write_text(json.dumps(self.fidelity, indent=2) + "\n")
        if len(self.records):
            recs = self.records.copy()
            recs["value"] = recs["value"].astype(str)
            recs.to_parquet(out / "records.parquet", index=False)
        self.out_dir = out
        return out

    def summary(self) -> str:
        """A human-readable table of the main metrics."""
        m = self.metrics

        def money(key: str) -> str:
            return fmt_money(int(m[key] * DOLLAR))

        rows = [
            ("PnL", money("pnl")),
            ("  realized (trading)", money("realized_pnl")),
            ("  settled", money("settled_pnl")),
            ("  open positions at bid", money("open_value")),
            ("Fees", money("fees")),
            ("Starting cash", money("starting_cash")),
            ("Final cash", money("final_cash")),
            ("Max drawdown", money("max_drawdown")),
            ("Orders / fills", f"{m['n_orders']:,} / {m['n_fills']:,}"),
            ("Contracts traded", fmt_contracts(int(m["contracts_traded"] * CONTRACT))),
            ("Market events", f"{m['n_events']:,}"),
        ]
        if "brier" in m:
            rows.append(("Brier score", f"{m['brier']:.4f} ({m['n_predictions']} predictions)"))
        width = max(len(k) for k, _ in rows)
        text = "\n".join(f"  {k:<{width}}  {v:>16}" for k, v in rows)
        if self.fidelity is not None:
            from ..brokers.fidelity import summary_of

            text += "\n" + summary_of(self.fidelity)
        return text
