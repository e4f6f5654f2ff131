"""Golden test: the bundled example's full backtest output on the sample catalog.

The expected numbers live in tests/golden/longshot_metrics.json. When a deliberate change to the
simulation model moves them, regenerate with:

    KALSHI_UPDATE_GOLDEN=1 pytest tests/test_golden_backtest.py

and explain the change in the commit message.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pandas as pd
import pytest

from framework import run_backtest
from framework.core.config import load_config

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).parent / "golden"
CONFIGS = ["longshot", "momentum"]


def _run(name: str):
    cfg = load_config(ROOT / "backtests" / f"{name}.toml")
    return run_backtest(cfg.strategy, cfg.catalog, markets=cfg.markets, start=cfg.start, end=cfg.end,
                        params=cfg.params, starting_cash=cfg.starting_cash, **cfg.model_options())


def _digest(df: pd.DataFrame) -> str:
    return hashlib.sha256(df.to_csv(index=False).encode()).hexdigest()


@pytest.mark.parametrize("name", CONFIGS)
def test_golden_backtest(name, tmp_path):
    result = _run(name)
    out = result.write(tmp_path / name)
    metrics = json.loads((out / "metrics.json").read_text())
    observed = {"metrics": metrics, "fills_sha256": _digest(result.fills),
                "orders_sha256": _digest(result.orders), "n_fills": len(result.fills)}
    path = GOLDEN / f"{name}.json"
    if os.environ.get("KALSHI_UPDATE_GOLDEN"):
        path.write_text(json.dumps(observed, indent=2, sort_keys=True) + "\n")
    expected = json.loads(path.read_text())
    assert observed["metrics"] == expected["metrics"]
    assert observed["n_fills"] == expected["n_fills"]
    assert observed["fills_sha256"] == expected["fills_sha256"]
    assert observed["orders_sha256"] == expected["orders_sha256"]


def test_golden_accounting_identity():
    """Independent of the golden numbers: cash, fees and settlement reconcile exactly."""
    result = _run("longshot")
    m = result.metrics
    fills = result.fills
    assert m["n_fills"] == len(fills)
    assert m["fees"] * 10_000 == int(fills["fee"].sum())
    # every position was settled, so PnL is the cash change
    assert m["open_positions"] == 0
    assert m["pnl"] == m["final_cash"] - m["starting_cash"]
    assert m["pnl"] == m["realized_pnl"] + m["settled_pnl"] - m["fees"]


def test_two_runs_write_identical_files(tmp_path):
    a = _run("momentum").write(tmp_path / "a")
    b = _run("momentum").write(tmp_path / "b")
    for name in ("metrics.json", "fills.parquet", "orders.parquet", "equity.parquet"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
