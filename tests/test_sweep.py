"""Parameter sweeps: grid expansion, splits, failures as rows, the same table locally and on Dask."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from framework import run_backtest
from framework.sweep import parse_grid, plan_sweep, run_sweep
from strategies.longshot import LongshotFade

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "backtests" / "longshot.toml"
GRID = {"max_yes_cents": ["10", "20"], "clip": ["1", "5"]}


def _comparable(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=[c for c in df.columns if c.endswith("run_dir")])


def test_parse_grid_and_errors():
    assert parse_grid(["qty=1,2", "broker.queue_model=none,trades"]) == {
        "qty": ["1", "2"], "broker.queue_model": ["none", "trades"]}
    for bad in (["qty"], ["qty="], ["=1,2"], ["qty=1,,2"], []):
        with pytest.raises(ValueError):
            parse_grid(bad)
    with pytest.raises(ValueError, match="twice"):
        parse_grid(["qty=1", "qty=2"])


def test_plan_rejects_unknown_names(tmp_path):
    with pytest.raises(ValueError, match="no parameter 'nope'.*clip"):
        plan_sweep(CONFIG, {"nope": ["1"]}, tmp_path)
    with pytest.raises(ValueError, match="unknown \\[broker\\] option 'nope'"):
        plan_sweep(CONFIG, {"broker.nope": ["1"]}, tmp_path)


def test_each_row_equals_a_plain_backtest_with_those_params(tmp_path):
    table = run_sweep(CONFIG, GRID, tmp_path / "sw", workers=1)
    assert list(table["combination"]) == [0, 1, 2, 3]
    assert list(zip(table["max_yes_cents"], table["clip"])) == [("10", "1"), ("10", "5"), ("20", "1"), ("20", "5")]
    assert table["error"].isna().all()
    for _, row in table.iterrows():
        direct = run_backtest(LongshotFade, ROOT / "data" / "sample", starting_cash="1000",
                              params={"max_yes_cents": int(row["max_yes_cents"]), "clip": int(row["clip"]),
                                      "max_position": 20})
        assert row["pnl"] == direct.metrics["pnl"] and row["n_fills"] == direct.metrics["n_fills"]
        assert (Path(row["run_dir"]) / "metrics.json").is_file()
        assert (Path(row["run_dir"]) / "run.json").is_file()  # kalshi report RUN_DIR can build its page
    assert len(set(table["pnl"])) > 1  # the grid really changed the runs


def test_processes_give_the_same_table_as_one_process(tmp_path):
    one = run_sweep(CONFIG, GRID, tmp_path / "a", workers=1)
    two = run_sweep(CONFIG, GRID, tmp_path / "b", workers=2)
    pd.testing.assert_frame_equal(_comparable(one), _comparable(two))


def test_split_by_event_and_time(tmp_path):
    table = run_sweep(CONFIG, {"clip": ["1", "5"]}, tmp_path / "s", workers=1, split_by="event", train=0.7)
    assert {"train_pnl", "test_pnl", "train_n_fills", "test_n_fills"} <= set(table.columns)
    assert (table["train_n_fills"] > 0).all() and (table["test_n_fills"] > 0).all()
    tasks = plan_sweep(CONFIG, {"clip": ["1"]}, tmp_path / "p", split_by="event", train=0.7)
    train, test = tasks
    assert train.split == "train" and test.split == "test"
    assert set(train.markets).isdisjoint(test.markets) and train.markets and test.markets
    tasks = plan_sweep(CONFIG, {"clip": ["1"]}, tmp_path / "p", split_by="time", train="0.5")
    assert tasks[0].end == tasks[1].start and tasks[0].start < tasks[0].end < tasks[1].end
    with pytest.raises(ValueError, match="strictly between"):
        plan_sweep(CONFIG, {"clip": ["1"]}, tmp_path / "p", split_by="time", train=1)


def test_failing_combination_is_a_row_and_the_sweep_goes_on(tmp_path):
    strat = tmp_path / "fragile.py"
    strat.write_text(textwrap.dedent('''
        from framework import Strategy

        class Fragile(Strategy):
            params = {"explode": 0}

            def on_book(self, book):
                if self.params["explode"]:
                    raise RuntimeError("combination broke")
    '''))
    cfg = tmp_path / "fragile.toml"
    cfg.write_text(f'[run]\nstrategy = "fragile:Fragile"\ncatalog = "{(ROOT / "data" / "sample").as_posix()}"\n'
                   'end = "2026-11-20"\n')
    table = run_sweep(cfg, {"explode": ["0", "1"]}, tmp_path / "f", workers=2)
    assert table.loc[0, "error"] is None or pd.isna(table.loc[0, "error"])
    assert "combination broke" in table.loc[1, "error"] and "on_book" in table.loc[1, "error"]
    proc = subprocess.run([sys.executable, "-m", "framework.cli", "sweep", str(cfg), "--grid", "explode=0,1",
                           "--out", str(tmp_path / "cli"), "--workers", "1"], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert proc.returncode == 1
    assert "combination 1 failed" in proc.stderr and "1 of 2 combination(s) ran" in proc.stdout
    assert (tmp_path / "cli" / "sweep.parquet").is_file() and (tmp_path / "cli" / "sweep.csv").is_file()


def test_cli_sweep_prints_top_and_writes_tables(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "framework.cli", "sweep", str(CONFIG), "--grid", "clip=1,5",
                           "--out", str(tmp_path / "o"), "--workers", "2", "--top", "1"],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "top 1 by pnl" in proc.stdout and "INFO strategy" not in proc.stderr
    table = pd.read_parquet(tmp_path / "o" / "sweep.parquet")
    assert len(table) == 2 and isinstance(table.loc[0, "pnl"], Decimal)
    assert "settled" in (Path(table.loc[0, "run_dir"]) / "run.log").read_text()  # strategy lines go here


def test_local_cluster_gives_the_same_table(tmp_path):
    import distributed  # a test dependency (pyproject [test]); the optional extra for users is [distributed]

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  host="127.0.0.1") as cluster:
        dask = run_sweep(CONFIG, GRID, tmp_path / "d", scheduler=cluster.scheduler_address)
    local = run_sweep(CONFIG, GRID, tmp_path / "l", workers=2)
    pd.testing.assert_frame_equal(_comparable(dask), _comparable(local))
