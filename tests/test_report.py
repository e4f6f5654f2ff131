"""report.html, `kalshi report` and `kalshi compare` (the browser check is test_report_browser.py)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from framework.analysis.compare import compare_table
from framework.analysis.figures import thin
from framework.analysis.report import build_report
from framework.cli import main

ROOT = Path(__file__).resolve().parent.parent


def _images(page: str) -> list[str]:
    return re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", page)


def test_backtest_writes_a_self_contained_report(report_dir, capsys):
    page = (report_dir / "report.html").read_text()
    imgs = _images(page)
    assert len(imgs) == 7  # equity+drawdown, exposure, 3 price paths, PnL by event, calibration
    import base64

    assert all(base64.b64decode(i)[:8] == b"\x89PNG\r\n\x1a\n" for i in imgs)
    # nothing loaded from elsewhere: every src/href is a data: URI
    assert re.findall(r"(?:src|href)=['\"](?!data:)", page) == []
    for heading in ("Equity and drawdown", "Exposure by market", "Fills on the price path", "PnL by event",
                    "Calibration", "Metrics", "Markets", "Events", "Configuration", "Models used", "Warnings"):
        assert f"<h2>{heading}</h2>" in page, heading
    assert "LongshotFade" in page and "max_yes_cents = 15" in page  # the config file's text
    from framework.units import fmt_money

    pnl = fmt_money(round(json.loads((report_dir / "metrics.json").read_text())["pnl"] * 10_000))
    assert f"<div class='k'>PnL</div><div class='v'>{pnl}</div>" in page  # the PnL card


def test_backtest_prints_the_report_path(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["backtest", "--out", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert f"report: {out}/report.html" in text
    assert "  unrealized (bid - cost)" in text
    assert main(["backtest", "--out", str(tmp_path / "q"), "--no-progress", "--no-report"]) == 0
    assert not (tmp_path / "q" / "report.html").exists()


def test_report_shows_fidelity_and_warnings_and_rebuilds(report_dir, tmp_path, capsys):
    run = tmp_path / "copy"
    shutil.copytree(report_dir, run)
    (run / "report.html").unlink()
    (run / "fidelity.json").write_text(json.dumps({"fill_model": "TopOfBookFill", "queue": "none"}))
    (run / "warnings.json").write_text(json.dumps(["warning: framework.data: 3 rows <dropped>"]))
    assert main(["report", str(run)]) == 0
    assert f"wrote {run}/report.html" in capsys.readouterr().out
    page = (run / "report.html").read_text()
    assert "TopOfBookFill" in page and "fidelity.json" in page
    assert "3 rows &lt;dropped&gt;" in page  # escaped


def test_report_without_catalog_or_exact_path_still_renders(report_dir, tmp_path):
    run = tmp_path / "old"
    shutil.copytree(report_dir, run)
    (run / "equity_path.parquet").unlink()
    (run / "run.json").write_text(json.dumps({"catalog": str(tmp_path / "gone")}))
    page = build_report(run)
    assert "sampled equity" in page
    assert "price paths not drawn: the catalog is unknown or gone" in page
    assert len(_images(page)) == 7


def test_report_of_a_folder_that_is_not_a_run_is_one_line(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kalshi: error:") and "no metrics.json" in err and err.count("\n") == 1
    assert main(["report", str(tmp_path / "nope")]) == 2
    assert "run folder not found" in capsys.readouterr().err


def test_compare_side_by_side(report_dir, tmp_path, capsys):
    other = tmp_path / "momentum"
    assert main(["backtest", str(ROOT / "backtests" / "momentum.toml"), "--out", str(other), "--no-progress", "--no-report"]) == 0
    capsys.readouterr()
    assert main(["compare", str(report_dir), str(other)]) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert lines[0].split() == ["metric", "longshot", "momentum"]
    row = {ln.split()[0]: ln.split()[1:] for ln in lines[2:]}
    ma = json.loads((report_dir / "metrics.json").read_text())
    mb = json.loads((other / "metrics.json").read_text())
    from framework.units import fmt_money

    assert row["pnl"] == [fmt_money(round(ma["pnl"] * 10_000)), fmt_money(round(mb["pnl"] * 10_000))]
    assert row["n_fills"] == [f"{ma['n_fills']:,}", f"{mb['n_fills']:,}"]
    assert row["strategy"] == ["strategies.longshot:LongshotFade", "strategies.momentum:Momentum"]
    assert "sharpe" in row and "brier_skill" in row
    assert compare_table([report_dir], ["pnl"]).splitlines()[-1].split() == ["pnl", row["pnl"][0]]


def test_compare_unknown_dir_is_one_line(report_dir, tmp_path, capsys):
    assert main(["compare", str(report_dir), str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err == f"kalshi: error: run folder not found: {tmp_path / 'missing'}\n"


def test_thin_keeps_extremes():
    ts = list(range(100_000))
    ys = [0] * 100_000
    ys[12_345] = 7
    ys[54_321] = -9
    t, y = thin(ts, ys, max_points=400)
    assert len(t) <= 800 and max(y) == 7 and min(y) == -9 and t[0] == 0 and t[-1] == 99_999
    assert thin([1, 2], [3, 4]) == ([1, 2], [3, 4])


@pytest.mark.parametrize("module", ["framework", "framework.core.engine", "framework.backtest"])
def test_matplotlib_is_not_imported(module):
    code = f"import sys, {module}; print('matplotlib' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"
