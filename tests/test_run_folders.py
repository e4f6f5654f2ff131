"""Paper and live runs of one config keep separate run folders and state (issue: paper wrote over
the live run's folder and state summary)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from framework.live.cli import cmd_kill
from framework.live.config import load_live_config
from framework.live.runner import resolve_settings, run_folders

ROOT = Path(__file__).resolve().parent.parent


def _cfg(tmp_path, live_extra: str = "", run_extra: str = 'out = "runs/x"'):
    p = tmp_path / "cfg.toml"
    p.write_text(f'''
[run]
mode = "live"
strategy = "framework.live.examples:QuoteJoiner"
markets = ["KXLOCALTEMP-26JAN01-B1"]
{run_extra}

[live]
env = "local"
{live_extra}
''')
    return load_live_config(p)


def test_bundled_local_live_config_paper_and_live_do_not_share_folders():
    cfg = load_live_config(ROOT / "backtests" / "local_live.toml")
    live = resolve_settings(cfg, mode="live")
    paper = resolve_settings(cfg, mode="paper")
    assert live.state_dir != paper.state_dir and live.out != paper.out
    assert paper.out.name == "local_live-paper" and paper.state_dir == paper.out / "state"
    assert not str(paper.state_dir).startswith(str(live.out) + "/")


@pytest.mark.parametrize("live_extra, run_extra, live_sd, paper_sd", [
    ("", 'out = "runs/x"', "runs/x/state", "runs/x-paper/state"),
    ('state_dir = "runs/x/st"', 'out = "runs/x"', "runs/x/st", "runs/x-paper/st"),
    ('state_dir = "/var/tmp/kstate"', 'out = "runs/x"', "/var/tmp/kstate", "/var/tmp/kstate-paper"),
    ("", "", "runs/cfg/state", "runs/cfg-paper/state"),
])
def test_run_folders_rules(tmp_path, live_extra, run_extra, live_sd, paper_sd):
    cfg = _cfg(tmp_path, live_extra, run_extra)
    _, sd_live = run_folders(cfg, "live")
    _, sd_paper = run_folders(cfg, "paper")
    assert sd_live.as_posix().endswith(live_sd) and sd_paper.as_posix().endswith(paper_sd)


def test_explicit_folders_are_used_as_given(tmp_path):
    cfg = _cfg(tmp_path)
    out, sd = run_folders(cfg, "paper", out=tmp_path / "o", state_dir=tmp_path / "s")
    assert (out, sd) == (tmp_path / "o", tmp_path / "s")
    out, sd = run_folders(cfg, "paper", out=tmp_path / "o")
    assert sd == tmp_path / "o" / "state"


def test_kill_paper_finds_the_paper_state_dir(tmp_path, monkeypatch):
    cfg_path = tmp_path / "cfg.toml"
    _cfg(tmp_path)
    seen = []
    monkeypatch.setattr("framework.live.killswitch.send_kill", lambda sd, reason, timeout: seen.append(sd) or {})
    for paper in (False, True):
        cmd_kill(argparse.Namespace(state_dir=None, config=str(cfg_path), out=None, paper=paper, reason="",
                                    timeout=1.0))
    assert seen[0].as_posix().endswith("runs/x/state") and seen[1].as_posix().endswith("runs/x-paper/state")
