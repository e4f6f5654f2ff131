"""Backtest results: metrics computed once at the end (``analysis.metrics``), tables as pandas
DataFrames, the run folder.

Money in ``metrics`` is ``Decimal`` dollars (exact to $0.0001); ``metrics.json`` writes them as
JSON numbers with the same digits. Nothing time- or machine-dependent goes into the files, so
two runs of the same backtest write byte-identical output.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from ..model.orders import Settlement
from ..units import CONTRACT, DOLLAR, fmt_contracts, fmt_money
from .columns import frame, order_columns
from .metrics import analyse, compute_metrics
from .pnl import MARKET_COLUMNS

__all__ = ["Result", "compute_metrics"]  # compute_metrics: re-exported from analysis.metrics

_FILL_COLUMNS = ["ts", "ticker", "side", "action", "price", "qty", "fee", "order_id", "is_maker"]
_ORDER_COLUMNS = ["order_id", "ticker", "side", "action", "qty", "price", "tif", "post_only",
                  "reduce_only", "status", "filled_qty", "fee", "ts", "updated_ts", "reason"]


def _json_default(o: Any) -> Any:
    if isinstance(o, Decimal):
        return float(o)  # shortest repr of a <=15-digit decimal prints the same digits
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


@dataclass
class Result:
    """What ``run_backtest`` returns. DataFrames use framework units (ints) and ns timestamps.

    ``settlements``: one row per settled market (``ticker, result, ts, payout, position``);
    ``markets`` / ``events``: per-market and per-event PnL tables (``analysis.pnl``);
    ``equity_path``: equity at every change (the exact path the drawdown is computed on);
    ``predictions``: ``self.predict`` calls with the market mid then and the outcome."""

    metrics: dict[str, Any]
    fills: Any  # pandas.DataFrame
    orders: Any
    equity: Any
    records: Any
    positions: dict[str, int] = field(default_factory=dict)
    out_dir: Path | None = None
    fidelity: dict[str, Any] | None = None  # what the fill models assumed (fidelity.json)
    settlements: Any = None
    markets: Any = None
    events: Any = None
    equity_path: Any = None
    predictions: Any = None

    @classmethod
    def from_engine(cls, engine, run_info: dict[str, Any] | None = None, probes=None) -> Result:
        import pandas as pd

        # column-wise construction, each column typed once (analysis.columns): no per-row dicts
        # nor per-cell inference (1 M orders would cost seconds and GBs)
        ocols = order_columns(engine.order_log, _ORDER_COLUMNS)
        an = analyse(engine, run_info, probes, ocols)
        # no fills: the row-built frame's object columns, as before the column-wise build (empty
        # lists would make float64 columns: a 'double' ticker in fills.parquet)
        fills = frame(an.fill_columns, _FILL_COLUMNS) if engine.fills else pd.DataFrame([], columns=_FILL_COLUMNS)
        orders = frame(ocols, _ORDER_COLUMNS)
        equity = pd.DataFrame(engine.equity, columns=["ts", "cash", "open_value"])
        equity["equity"] = equity["cash"] + equity["open_value"]
        records = pd.DataFrame(engine.records, columns=["ts", "name", "value"])
        settlements = pd.DataFrame(engine.settlements, columns=list(Settlement._fields))
        # np.array copies (an array('q') through its buffer, no per-point boxing)
        path = pd.DataFrame({"ts": np.array(engine.equity_path.ts, dtype=np.int64),
                             "equity": np.array(engine.equity_path.equity, dtype=np.int64)})
        markets = pd.DataFrame(an.markets, columns=MARKET_COLUMNS)
        events = pd.DataFrame(an.events)
        predictions = pd.DataFrame(an.predictions, columns=["ts", "ticker", "p", "mid", "outcome"])
        predictions["mid"] = predictions["mid"].astype("Int64")
        for df in (fills, orders, equity, records, settlements, path, predictions):
            for col in ("ts", "updated_ts"):
                if col in df.columns:
                    df[col] = pd.to_datetime(df[col].astype("int64"), unit="ns", utc=True)
        positions = {t: p.yes - p.no for t, p in sorted(engine.portfolio.positions.items())}
        # a simulated broker's fidelity record (framework.brokers.fidelity); live brokers have none
        finish = getattr(engine.broker, "finish", None)
        fidelity = finish().to_dict() if finish is not None else None
        return cls(an.metrics, fills, orders, equity, records, positions, fidelity=fidelity,
                   settlements=settlements, markets=markets, events=events, equity_path=path,
                   predictions=predictions)

    def write(self, out_dir: str | Path) -> Path:
        """Write ``metrics.json``, ``fills.parquet``, ``orders.parquet``, ``equity.parquet``,
        ``equity_path.parquet``, ``settlements.parquet``, ``markets.parquet``, ``events.parquet``
        (and ``records.parquet`` / ``predictions.parquet`` when the strategy recorded / predicted)."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.json").write_text(json.dumps(self.metrics, indent=2, sort_keys=True,
                                                     default=_json_default) + "\n")
        self.fills.to_parquet(out / "fills.parquet", index=False)
        self.orders.to_parquet(out / "orders.parquet", index=False)
        self.equity.to_parquet(out / "equity.parquet", index=False)
        if self.fidelity is not None:
            (out / "fidelity.json").write_text(json.dumps(self.fidelity, indent=2) + "\n")
        for name in ("equity_path", "settlements", "markets", "events"):
            df = getattr(self, name)
            if df is not None:
                df.to_parquet(out / f"{name}.parquet", index=False)
        if self.predictions is not None and len(self.predictions):
            self.predictions.to_parquet(out / "predictions.parquet", index=False)
        if getattr(self, "data_warnings", None):  # framework.data.checks.DataWarnings of the run
            self.data_warnings.write(out)
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
            ("  unrealized (bid - cost)", money("unrealized_pnl")),
            ("  fees", "-" + money("fees") if m["fees"] else money("fees")),
            ("Open positions: value at bid", money("open_value")),
            ("                cost", money("open_cost")),
            ("Starting cash", money("starting_cash")),
            ("Final cash", money("final_cash")),
            ("Return on capital", _pct(m.get("return_on_capital"))),
            ("Sharpe / Sortino (daily)", f"{_ratio(m.get('sharpe'))} / {_ratio(m.get('sortino'))}"),
            ("Max drawdown", money("max_drawdown")),
            ("Orders / fills", f"{m['n_orders']:,} / {m['n_fills']:,}"),
            ("Contracts traded", fmt_contracts(int(m["contracts_traded"] * CONTRACT))),
            ("Market events", f"{m['n_events']:,}"),
        ]
        if m.get("win_rate") is not None:
            rows.append(("Markets won / traded", f"{m['n_markets_won']} / {m['n_markets_traded']}"))
        if "brier" in m:
            rows.append(("Brier score", f"{m['brier']:.4f} ({m['n_predictions']} predictions)"))
        if m.get("brier_skill") is not None:
            rows.append(("Brier skill vs market", f"{m['brier_skill']:+.4f}"))
        width = max(len(k) for k, _ in rows)
        text = "\n".join(f"  {k:<{width}}  {v:>16}" for k, v in rows)
        if self.fidelity is not None:
            from ..brokers.fidelity import summary_of

            text += "\n" + summary_of(self.fidelity)
        return text


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x * 100:+.2f} %"


def _ratio(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}"
