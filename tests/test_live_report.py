"""Paper (and live) run folders get a report.html, as backtests do."""

from __future__ import annotations

from framework.live import cli as live_cli
from framework.live.testing import write_live_config


def test_paper_run_writes_report(tmp_path, exch, capsys):
    ex, kid, priv = exch
    cfg = write_live_config(tmp_path / "p.toml", ex, kid, priv, markets=["KXLOCALTEMP-26JAN01-B1"], mode="paper",
                            live={"duration": "2s"})
    assert live_cli.main(["paper", str(cfg), "--out", str(tmp_path / "out")]) == 0
    page = (tmp_path / "out" / "report.html").read_text()
    assert "<img" in page and "data:image/png;base64," in page
    assert "report: " in capsys.readouterr().out
    assert live_cli.main(["paper", str(cfg), "--out", str(tmp_path / "o2"), "--no-report"]) == 0
    assert not (tmp_path / "o2" / "report.html").exists()
