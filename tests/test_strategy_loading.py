"""Strategies load from the config's folder and from file paths; dollars and parameters as in TOML."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from framework import run_backtest
from framework.strategy_loader import StrategyLoadError, load_strategy
from strategies.longshot import LongshotFade

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"

STRATEGY_SRC = textwrap.dedent('''
    from framework import Strategy

    class Quiet(Strategy):
        params = {"qty": 1}

        def on_start(self):
            self.started = True
''')


def kalshi(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "framework.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def project(tmp_path):
    """A user's project folder: a config with its strategy module beside it (not on sys.path)."""
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "my_quiet_strategy.py").write_text(STRATEGY_SRC)
    (proj / "run.toml").write_text(textwrap.dedent(f'''
        [run]
        strategy = "my_quiet_strategy:Quiet"
        catalog = "{SAMPLE.as_posix()}"
        end = "2026-11-20"
    '''))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    return proj, elsewhere


def test_config_strategy_found_next_to_config_from_another_directory(project):
    proj, elsewhere = project
    proc = kalshi("backtest", str(proj / "run.toml"), "--out", str(elsewhere / "out"), cwd=elsewhere)
    assert proc.returncode == 0, proc.stderr
    assert (elsewhere / "out" / "metrics.json").is_file()


def test_strategy_from_file_path(project):
    proj, elsewhere = project
    proc = kalshi("backtest", "--strategy", "../proj/my_quiet_strategy.py:Quiet", "--catalog", str(SAMPLE),
                  "--end", "2026-11-20", "--out", str(elsewhere / "o2"), cwd=elsewhere)
    assert proc.returncode == 0, proc.stderr
    proc = kalshi("backtest", "--strategy", "./my_quiet_strategy.py:Quiet", "--catalog", str(SAMPLE),
                  "--end", "2026-11-20", "--out", str(elsewhere / "o3"), cwd=proj)
    assert proc.returncode == 0, proc.stderr


def test_load_strategy_search_dirs_and_messages(project):
    proj, _ = project
    cls = load_strategy("my_quiet_strategy:Quiet", search_dirs=[proj])
    assert cls.__name__ == "Quiet"
    assert load_strategy(str(proj / "my_quiet_strategy.py") + ":Quiet").__name__ == "Quiet"
    with pytest.raises(StrategyLoadError, match="cannot import strategy module 'no_such_module'"):
        load_strategy("no_such_module:X")
    with pytest.raises(StrategyLoadError, match="not found"):
        load_strategy("./missing_file.py:X")
    with pytest.raises(StrategyLoadError, match="has no class 'Nope'.*Quiet"):
        load_strategy(str(proj / "my_quiet_strategy.py") + ":Nope")
    with pytest.raises(StrategyLoadError, match="not of the form"):
        load_strategy("just_a_module")


def test_strategy_module_with_broken_import_says_so(tmp_path):
    (tmp_path / "broken_strat.py").write_text("import not_installed_anywhere_xyz\n")
    with pytest.raises(StrategyLoadError, match="failed to import.*not_installed_anywhere_xyz"):
        load_strategy("broken_strat:X", search_dirs=[tmp_path])


def test_run_backtest_starting_cash_string_is_dollars():
    res = run_backtest(LongshotFade, SAMPLE, end="2026-11-20", starting_cash="1000")
    assert res.metrics["starting_cash"] == Decimal("1000")
    res_units = run_backtest(LongshotFade, SAMPLE, end="2026-11-20", starting_cash=10_000_000)
    assert res_units.metrics["starting_cash"] == res.metrics["starting_cash"]
    with pytest.raises(ValueError, match="starting_cash"):
        run_backtest(LongshotFade, SAMPLE, starting_cash=1000.5)


def test_bad_param_names_the_parameter(tmp_path):
    proc = kalshi("backtest", "--param", "clip=five", "--out", str(tmp_path / "x"), cwd=ROOT)
    assert proc.returncode == 2
    err = proc.stderr.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert "'clip'" in err and "five" in err


def test_metrics_record_strategy_name(project):
    proj, elsewhere = project
    kalshi("backtest", str(proj / "run.toml"), "--out", str(elsewhere / "o4"), cwd=elsewhere)
    metrics = json.loads((elsewhere / "o4" / "metrics.json").read_text())
    assert metrics["run"]["strategy"].endswith(":Quiet")
