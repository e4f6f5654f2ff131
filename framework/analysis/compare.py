"""``kalshi compare``: the metrics of several run folders side by side."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .report import ReportError, _fmt

__all__ = ["COMPARE_KEYS", "compare_table", "load_metrics"]

COMPARE_KEYS = ["pnl", "realized_pnl", "settled_pnl", "unrealized_pnl", "fees", "return_on_capital", "sharpe",
                "sortino", "max_drawdown", "max_drawdown_pct", "max_drawdown_duration_s", "n_orders", "n_fills",
                "fill_ratio", "contracts_traded", "turnover", "edge_per_contract", "edge_per_contract_net",
                "win_rate", "n_markets_traded", "brier", "brier_market", "brier_skill", "log_loss", "n_events"]


def load_metrics(run_dir: str | Path) -> dict[str, Any]:
    """``metrics.json`` of a run folder; ``ReportError`` (one line) when it is not one."""
    p = Path(run_dir)
    f = p / "metrics.json"
    if not p.is_dir():
        raise ReportError(f"run folder not found: {p}")
    if not f.is_file():
        raise ReportError(f"{p} is not a run folder (no metrics.json); run `kalshi backtest --out {p}` first")
    try:
        return json.loads(f.read_text())
    except ValueError as exc:
        raise ReportError(f"{f}: not readable JSON ({exc})") from None


def compare_table(run_dirs: list[str | Path], keys: list[str] | None = None) -> str:
    """A text table: one row per metric, one column per run (named by folder)."""
    runs = [(Path(d).name or str(d), load_metrics(d)) for d in run_dirs]
    keys = keys or COMPARE_KEYS
    header = ["metric"] + [name for name, _ in runs]
    rows = [["strategy"] + [str(m.get("run", {}).get("strategy", "?")) for _, m in runs],
            ["params"] + [json.dumps(m.get("run", {}).get("params", {}), sort_keys=True) for _, m in runs]]
    for k in keys:
        if any(k in m for _, m in runs):
            rows.append([k] + [_fmt(k, m.get(k)) for _, m in runs])
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r))
             for r in [header] + rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
