"""Golden test of a candle backtest: backtests/candles.toml on the sample's 5-minute bars.

Regenerate after a deliberate change to the bar rule with
``KALSHI_UPDATE_GOLDEN=1 pytest tests/test_candles_backtest.py`` and say why in the commit.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pandas as pd

from framework import run_backtest
from framework.core.config import load_config
from framework.data.catalog import read_markets, read_table
from framework.data.resample import to_candles

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).parent / "golden" / "candles.json"
SAMPLE = ROOT / "data" / "sample"


def _run(**over):
    cfg = load_config(ROOT / "backtests" / "candles.toml")
    opts = {**cfg.model_options(), **over}
    return run_backtest(cfg.strategy, cfg.catalog, markets=cfg.markets, start=cfg.start, end=cfg.end,
                        params=cfg.params, starting_cash=cfg.starting_cash, **opts)


def _digest(df: pd.DataFrame) -> str:
    return hashlib.sha256(df.to_csv(index=False).encode()).hexdigest()


def test_golden_candle_backtest(tmp_path):
    result = _run()
    out = result.write(tmp_path / "candles")
    metrics = json.loads((out / "metrics.json").read_text())
    fidelity = json.loads((out / "fidelity.json").read_text())
    assert fidelity["fills_by_basis"]["bar"]["fills"] == len(result.fills)  # every fill by the bar rule
    assert fidelity["models"]["fills"] == "bar rule" and fidelity["models"]["bar_volume_share"] == "0.1"
    observed = {"metrics": metrics, "fidelity": fidelity, "fills_sha256": _digest(result.fills),
                "orders_sha256": _digest(result.orders), "n_fills": len(result.fills)}
    if os.environ.get("KALSHI_UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(observed, indent=2, sort_keys=True) + "\n")
    expected = json.loads(GOLDEN.read_text())
    assert observed == expected


def test_candle_backtest_fills_obey_the_bar_rule():
    """Independent of the golden numbers: every fill is at a bar end, after the order's bar, within
    the bar's traded range (+ spread for takers) and within 10% of its volume."""
    result = _run()
    fills, orders = result.fills, result.orders.set_index("order_id")
    assert len(fills) > 0
    bars = read_table(SAMPLE, "candles").set_index(["ticker", "ts"])
    used: dict = {}
    for f in fills.itertuples():
        b = bars.loc[(f.ticker, f.ts)]
        assert f.ts - pd.Timedelta(minutes=5) >= orders.loc[f.order_id, "ts"]
        yes_price = f.price if f.side == "yes" else 10_000 - f.price
        if f.is_maker:
            assert (b["low"] < yes_price) if (f.side == "yes") == (f.action == "buy") else (b["high"] > yes_price)
        else:
            assert abs(yes_price - b["open"]) == 100  # open +- 1 cent on the order's side
        used[(f.ticker, f.ts)] = used.get((f.ticker, f.ts), 0) + f.qty
    for key, qty in used.items():
        assert qty * 10 <= bars.loc[key, "volume"]
    # a stricter share never fills more
    assert _run(bar_volume_share="0.01").fills["qty"].sum() <= fills["qty"].sum()


def test_sample_candles_are_the_bars_of_its_quotes_and_trades():
    bars = to_candles(read_table(SAMPLE, "quotes"), read_table(SAMPLE, "trades"), 5, read_markets(SAMPLE))
    stored = read_table(SAMPLE, "candles")
    pd.testing.assert_frame_equal(stored.reset_index(drop=True), bars.reset_index(drop=True), check_dtype=False)
