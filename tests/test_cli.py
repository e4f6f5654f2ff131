"""The `kalshi` command: the default example, configs, overrides and one-line errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def kalshi(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "framework.cli", *args], cwd=cwd or ROOT,
                          capture_output=True, text=True, timeout=120)


def assert_one_line_error(proc: subprocess.CompletedProcess, *fragments: str) -> None:
    assert proc.returncode != 0
    err = proc.stderr.strip()
    assert "Traceback" not in proc.stderr
    assert err.startswith("kalshi: error: "), err
    assert len(err.splitlines()) == 1, err
    for f in fragments:
        assert f in err, (f, err)


def test_default_backtest_runs_bundled_example(tmp_path):
    proc = kalshi("backtest", "--out", str(tmp_path / "run"), cwd=tmp_path)  # works from any folder
    assert proc.returncode == 0, proc.stderr
    assert "PnL" in proc.stdout and "events/s" in proc.stdout
    for name in ("metrics.json", "fills.parquet", "orders.parquet", "equity.parquet"):
        assert (tmp_path / "run" / name).is_file(), name
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["n_fills"] > 0
    assert "$" in proc.stdout  # human units in the summary


def test_config_with_param_override(tmp_path):
    out = tmp_path / "m"
    proc = kalshi("backtest", "backtests/momentum.toml", "--param", "qty=3", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["run"]["params"]["qty"] == 3


def test_strategy_and_catalog_flags_without_config(tmp_path):
    proc = kalshi("backtest", "--strategy", "strategies.longshot:LongshotFade", "--catalog", "data/sample",
                  "--out", str(tmp_path / "x"))
    assert proc.returncode == 0, proc.stderr


def test_missing_catalog():
    assert_one_line_error(kalshi("backtest", "--catalog", "/nonexistent/catalog"), "catalog not found")


def test_missing_config():
    assert_one_line_error(kalshi("backtest", "nope.toml"), "config file not found")


def test_bad_config_key(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[run]\nstrategy = "strategies.longshot:LongshotFade"\ncatalgo = "x"\n')
    assert_one_line_error(kalshi("backtest", str(cfg)), "unknown key 'catalgo'", "catalog")


def test_bad_param(tmp_path):
    assert_one_line_error(kalshi("backtest", "--param", "nosuch=1"), "no parameter(s) nosuch")
    assert_one_line_error(kalshi("backtest", "--param", "clip=abc"), "'abc'")


@pytest.mark.parametrize("spec, fragment", [
    ("strategies.nosuch:X", "cannot import strategy module"),
    ("strategies.longshot:Nope", "has no class 'Nope'"),
    ("strategies.longshot", "module:Class"),
])
def test_unknown_strategy(spec, fragment):
    assert_one_line_error(kalshi("backtest", "--strategy", spec), fragment)


def test_corrupt_parquet(tmp_path):
    cat = tmp_path / "cat"
    shutil.copytree(ROOT / "data" / "sample", cat)
    victim = sorted((cat / "quotes").rglob("*.parquet"))[0]
    victim.write_bytes(b"PAR1 this is not parquet at all")
    shutil.rmtree(cat / "book")  # make the replay use quotes
    assert_one_line_error(kalshi("backtest", "--catalog", str(cat)), "Parquet", victim.name)


def test_non_backtest_mode_is_refused(tmp_path):
    cfg = tmp_path / "live.toml"
    cfg.write_text('[run]\nmode = "live"\nstrategy = "strategies.longshot:LongshotFade"\n'
                   f'catalog = "{ROOT / "data" / "sample"}"\n')
    assert_one_line_error(kalshi("backtest", str(cfg)), "mode is 'live'")


def test_risk_limits_apply_in_backtests(tmp_path):
    cfg = tmp_path / "risk.toml"
    cfg.write_text('[run]\nstrategy = "strategies.longshot:LongshotFade"\n'
                   f'catalog = "{ROOT / "data" / "sample"}"\n[risk]\nmax_position = 5\n')
    out = tmp_path / "out"
    proc = kalshi("backtest", str(cfg), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    import pandas as pd

    orders = pd.read_parquet(out / "orders.parquet")
    denied = orders[orders["status"] == "rejected"]
    assert len(denied) > 0
    assert denied["reason"].str.startswith("risk: max position").all()
    fills = pd.read_parquet(out / "fills.parquet")
    assert (fills.groupby("ticker")["qty"].sum() <= 500).all()  # never above 5 contracts per market


def test_run_mode_backtest_matches_backtest_command(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert kalshi("backtest", "backtests/longshot.toml", "--out", str(a)).returncode == 0
    proc = kalshi("run", "backtests/longshot.toml", "--mode", "backtest", "--out", str(b))
    assert proc.returncode == 0, proc.stderr
    assert (a / "metrics.json").read_text() == (b / "metrics.json").read_text()
