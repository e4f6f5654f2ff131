"""Strategy logs carry simulated time and show by default; run.log; strategy errors say where."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from framework import run_backtest
from framework.core.strategy_errors import StrategyError, strategy_error
from framework.logs import LevelsFilter, SimTimeFilter, fmt_sim_time, use_clock

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"

SRC = textwrap.dedent('''
    from framework import Strategy

    class Chatty(Strategy):
        params = {"fail_at": 0, "fail_in": "on_book"}

        def on_start(self):
            self.n = 0
            self.log.info("started")
            if self.params["fail_in"] == "on_start":
                raise RuntimeError("boom at start")
            if self.params["fail_in"] == "on_timer":
                self.set_timer("tick", every="1min")

        def on_book(self, book):
            self.n += 1
            if self.n == 5:
                self.log.info("fifth book of %s", book.ticker)
            if self.params["fail_in"] == "on_book" and self.n == self.params["fail_at"]:
                self.lookup = {}["missing"]

        def on_timer(self, name):
            raise ValueError("timer went wrong")
''')


@pytest.fixture(scope="module")
def strat_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("s") / "chatty.py"
    path.write_text(SRC)
    return path


def kalshi(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "framework.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def _run(strat_file, out, *extra):
    return kalshi("backtest", "--strategy", f"{strat_file}:Chatty", "--catalog", str(SAMPLE),
                  "--end", "2026-11-20", "--out", str(out), *extra)


def test_strategy_log_lines_show_at_info_with_simulated_time(strat_file, tmp_path):
    proc = _run(strat_file, tmp_path / "run")
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if "strategy.Chatty" in ln]
    assert any(ln.endswith("started") for ln in lines), proc.stderr
    fifth = next(ln for ln in lines if "fifth book" in ln)
    assert fifth.startswith("2026-11-19 "), fifth  # the data's time, not today's wall clock
    log = (tmp_path / "run" / "run.log").read_text()
    assert "fifth book of" in log and "INFO strategy.Chatty" in log


def test_debug_shows_order_and_fill_flow_not_library_frames(tmp_path):
    proc = kalshi("--debug", "backtest", "--out", str(tmp_path / "d"))
    assert proc.returncode == 0, proc.stderr
    assert "DEBUG framework.core.engine: submit Order(" in proc.stderr
    assert "DEBUG framework.core.engine: fill Fill(" in proc.stderr
    assert "framework.core.engine: fill Fill(" in (tmp_path / "d" / "run.log").read_text()
    quiet = kalshi("backtest", "--out", str(tmp_path / "q"))
    assert "framework.core.engine" not in quiet.stderr
    assert "framework.core.engine" not in (tmp_path / "q" / "run.log").read_text()


def test_levels_filter_keeps_library_debug_out():
    f = LevelsFilter(strategy=logging.DEBUG, framework=logging.DEBUG)

    def rec(name, level):
        return logging.LogRecord(name, level, __file__, 1, "m", (), None)

    assert f.filter(rec("framework.core.engine", logging.DEBUG))
    assert f.filter(rec("strategy.X", logging.DEBUG))
    assert not f.filter(rec("websockets.client", logging.DEBUG))  # frame dumps stay out of --debug
    assert not f.filter(rec("urllib3.connectionpool", logging.INFO))
    assert f.filter(rec("websockets.client", logging.WARNING))


def test_sim_time_filter_uses_the_engine_clock():
    record = logging.LogRecord("strategy.X", logging.INFO, __file__, 1, "m", (), None)
    use_clock(lambda: 1_763_560_800_123_456_789)
    try:
        SimTimeFilter().filter(record)
    finally:
        use_clock(None)
    assert record.sim_time == "2025-11-19 14:00:00.123" == fmt_sim_time(1_763_560_800_123_456_789)


def test_strategy_error_cli_names_callback_ticker_time_and_keeps_partial_results(strat_file, tmp_path):
    out = tmp_path / "fail"
    proc = _run(strat_file, out, "--param", "fail_at=40")
    assert proc.returncode == 1
    err = [ln for ln in proc.stderr.splitlines() if ln.startswith("kalshi: error:")]
    assert len(err) == 1 and "Traceback" not in proc.stderr, proc.stderr
    msg = err[0]
    assert "KeyError: 'missing'" in msg and "in on_book" in msg and "ticker KXHIGHNY-" in msg
    assert "simulated time 2026-11-19" in msg and "--debug" in msg
    tb = (out / "error.txt").read_text()
    assert "Traceback" in tb and 'self.lookup = {}["missing"]' in tb
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["run"]["failed"] is True and "pnl" in metrics
    assert "KeyError" in (out / "run.log").read_text()


def test_strategy_error_python_api(strat_file):
    from framework.strategy_loader import load_strategy

    cls = load_strategy(f"{strat_file}:Chatty")
    with pytest.raises(StrategyError) as info:
        run_backtest(cls, SAMPLE, end="2026-11-20", params={"fail_at": 40})
    err = info.value
    assert err.callback == "on_book" and err.ticker.startswith("KXHIGHNY-") and err.ts > 0
    assert isinstance(err.__cause__, KeyError)
    assert err.partial is not None and err.partial.metrics["run"]["failed"] is True

    with pytest.raises(StrategyError, match=r"in on_start, simulated time") as info:
        run_backtest(cls, SAMPLE, end="2026-11-20", params={"fail_in": "on_start"})
    assert info.value.ticker is None
    with pytest.raises(StrategyError, match=r"ValueError: timer went wrong \(in on_timer, timer 'tick'"):
        run_backtest(cls, SAMPLE, end="2026-11-20", params={"fail_in": "on_timer"})


def test_framework_errors_are_not_blamed_on_the_strategy():
    class S:
        pass

    try:
        raise KeyError("inside the framework")
    except KeyError as exc:
        assert strategy_error(exc, S(), 0) is None
