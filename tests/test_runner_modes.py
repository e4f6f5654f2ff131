"""Modes and safety rules: refusals, the prod flag, CLI registration, paper runs, the kill switch
(socket, kill file, SIGTERM), and `kalshi run --mode backtest`."""

from __future__ import annotations

import argparse
import os
import signal
import threading

import pytest
from helpers import make_catalog

from framework.core.config import ConfigError
from framework.live import cli as live_cli
from framework.live.config import load_live_config, risk_limits
from framework.live.killswitch import KILL_FILE, query_status, send_kill
from framework.live.runner import PROD_FLAG, LiveRunner, resolve_settings
from framework.live.testing import run_in_thread, wait_for, write_live_config
from framework.units import cents, contracts, dollars

T = "KXLOCALTEMP-26JAN01-B1"


def cfg_file(tmp_path, text: str):
    p = tmp_path / "c.toml"
    p.write_text(text)
    return p


BASE = '[run]\nmode = "live"\nstrategy = "framework.live.examples:OneShot"\nmarkets = ["X-1"]\n'


def test_prod_requires_the_flag_and_explicit_limits(tmp_path):
    cfg = load_live_config(cfg_file(tmp_path, BASE + '[live]\nenv = "prod"\n'))
    with pytest.raises(ConfigError, match=PROD_FLAG):
        resolve_settings(cfg)
    with pytest.raises(ConfigError, match="max_position, max_notional, max_daily_loss"):
        resolve_settings(cfg, yes_really_trade_prod=True)
    cfg = load_live_config(cfg_file(tmp_path, BASE + '[live]\nenv = "prod"\nyes_really_trade_prod = true\n'
                                    '[risk]\nmax_position = 10\nmax_notional = "100"\nmax_daily_loss = "20"\n'))
    s = resolve_settings(cfg)
    assert s.env.name == "prod" and s.broker == "rest"
    # paper on prod data sends no orders: no flag needed
    assert resolve_settings(load_live_config(cfg_file(tmp_path, BASE + '[live]\nenv = "prod"\n')),
                            mode="paper").broker == "simulated"


def test_inconsistent_setups_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="replay feed is for backtests"):
        resolve_settings(load_live_config(cfg_file(tmp_path, BASE + '[live]\nfeed = "replay"\n')))
    with pytest.raises(ConfigError, match="simulated broker"):
        resolve_settings(load_live_config(cfg_file(tmp_path, BASE)), mode="paper", broker="rest")
    with pytest.raises(ConfigError, match='mode = "paper"'):
        load_live_config(cfg_file(tmp_path, BASE + '[live]\nbroker = "simulated"\n'))
    with pytest.raises(ConfigError, match="cannot trade on a replay feed"):
        resolve_settings(load_live_config(cfg_file(tmp_path, BASE.replace('"live"', '"backtest"') +
                                                   'catalog = "."\n')), broker="fix")
    with pytest.raises(ConfigError, match="needs \\[run\\] markets"):
        resolve_settings(load_live_config(cfg_file(tmp_path, '[run]\nmode = "live"\n')))
    with pytest.raises(ConfigError, match="unknown key 'max_pos'"):
        load_live_config(cfg_file(tmp_path, BASE + "[risk]\nmax_pos = 1\n"))
    with pytest.raises(ConfigError, match="unknown section"):
        load_live_config(cfg_file(tmp_path, BASE + "[livee]\n"))


def test_risk_table_units():
    lim = risk_limits({"max_position": 5, "max_notional": "12.5", "max_daily_loss": 3,
                       "max_price_deviation_cents": 4, "max_orders_per_second": 2, "rate_window_s": 5})
    assert lim.max_position == contracts(5) and lim.max_notional == dollars("12.5")
    assert lim.max_daily_loss == dollars(3) and lim.max_price_deviation == cents(4)
    assert lim.max_orders == 10 and lim.rate_window == 5_000_000_000
    assert lim.max_open_orders == 50  # live default kept


def test_cli_registers_the_mode_commands():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    live_cli.add_parser(sub)
    for cmd, forced in (("run", None), ("paper", "paper"), ("live", "live")):
        args = parser.parse_args([cmd, "x.toml", "--env", "local", "--yes-really-trade-prod"])
        assert args.func is live_cli.cmd_run and args.forced_mode == forced and args.yes_prod
    args = parser.parse_args(["kill", "--state-dir", "s"])
    assert args.func is live_cli.cmd_kill
    assert parser.parse_args(["run", "x.toml", "--mode", "paper"]).mode == "paper"


def test_cli_prod_refusal_is_one_clear_line(tmp_path, capsys):
    p = cfg_file(tmp_path, BASE + '[live]\nenv = "prod"\n')
    assert live_cli.main(["live", str(p)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kalshi: error: refusing to trade real money on prod") and PROD_FLAG in err


def test_run_mode_backtest_delegates_to_run_backtest(tmp_path, capsys):
    cat = make_catalog(tmp_path / "cat", quotes=[
        {"ts": 10, "ticker": "KXA-26JAN01-T1", "yes_bid": 40, "no_bid": 55, "yes_bid_size": 10, "no_bid_size": 10}])
    p = cfg_file(tmp_path, f'[run]\nmode = "live"\nstrategy = "framework.live.examples:OneShot"\n'
                           f'catalog = "{cat}"\n[live]\nenv = "local"\n')
    assert live_cli.main(["run", str(p), "--mode", "backtest", "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "fills.parquet").exists()
    assert "backtest framework.live.examples:OneShot" in capsys.readouterr().out


def _runner(tmp_path, exch, mode="live", **kw):
    ex, kid, priv = exch
    p = write_live_config(tmp_path / "live.toml", ex, kid, priv, markets=[T], mode=mode, **kw)
    s = resolve_settings(load_live_config(p), out=str(tmp_path / "out"))
    return s, LiveRunner(s, install_signals=False, echo=None)


def test_paper_mode_trades_live_data_with_simulated_fills(tmp_path, exch):
    ex, kid, _ = exch
    s, runner = _runner(tmp_path, exch, mode="paper", live={"duration": "1.5s"})
    summary = runner.run()
    assert summary["mode"] == "paper" and summary["reason"] == "duration reached"
    assert summary["fills"] >= 1 and summary["positions"][T] == "2.00"
    assert not ex.engine.account(kid).orders  # paper sends nothing to the exchange
    assert (tmp_path / "out" / "fills.parquet").exists()


def test_kill_switch_socket_cancels_everything_and_reports(tmp_path, exch):
    ex, kid, _ = exch
    s, runner = _runner(tmp_path, exch)
    t, box = run_in_thread(runner)
    assert wait_for(lambda: len([o for o in ex.engine.account(kid).orders.values() if o.status == "resting"]) == 1
                    or not t.is_alive(), 20)
    assert query_status(s.state_dir)["status"]["state"] == "running"
    reply = send_kill(s.state_dir, "test", timeout=30)
    t.join(30)
    assert "error" not in box, box.get("error")
    summary = reply["summary"]
    assert summary["reason"] == "kalshi kill: test" and summary["cancelled_on_exit"] == 1
    assert summary["risk"]["state"] == "HALTED"
    assert not [o for o in ex.engine.account(kid).orders.values() if o.status == "resting"]
    assert summary["cash_units"] == ex.engine.account(kid).cash
    assert not (s.state_dir / "control.sock").exists()


def test_kill_file_stops_the_run_and_blocks_the_next_start(tmp_path, exch):
    ex, kid, _ = exch
    s, runner = _runner(tmp_path, exch)
    t, box = run_in_thread(runner)
    assert wait_for(lambda: len(ex.engine.account(kid).orders) >= 2 or not t.is_alive(), 20)
    (s.state_dir / KILL_FILE).write_text("operator\n")
    t.join(30)
    assert not t.is_alive() and "error" not in box, box.get("error")
    assert box["summary"]["reason"] == "kill file: operator"
    with pytest.raises(RuntimeError, match="remove it"):
        LiveRunner(s, install_signals=False, echo=None).run()


def test_sigterm_stops_the_run_cleanly(tmp_path, exch):
    ex, kid, _ = exch
    s, runner = _runner(tmp_path, exch)
    runner.install_signals = True

    def pull():
        if wait_for(lambda: (query_status(s.state_dir) or {}).get("status", {}).get("state") == "running", 20):
            os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=pull, daemon=True).start()
    before = signal.getsignal(signal.SIGTERM)
    summary = runner.run()
    assert summary["reason"] == "SIGTERM"
    assert signal.getsignal(signal.SIGTERM) == before  # handlers restored


def test_daily_loss_baseline_is_journaled_and_restored(tmp_path, exch):
    import time

    from framework.live.journal import Journal

    ex, kid, _ = exch
    risk = {"max_daily_loss": "5"}
    cash_before = ex.engine.account(kid).cash
    s, runner = _runner(tmp_path, exch, risk=risk, live={"duration": "1.5s"})
    summary = runner.run()
    assert summary["fills"] >= 1
    day = time.time_ns() // (86_400 * 10**9)
    j = Journal(s.state_dir / "journal.sqlite")
    baseline = j.get("risk_day")
    j.close()
    assert baseline == {"day": day, "equity": cash_before}  # flat before the first order: equity = cash

    # a second process the same day, ~$10 under the journaled baseline (the position from run 1 is
    # marked at the bid), goes REDUCING at its first order
    s2 = tmp_path / "state2"
    j = Journal(s2 / "journal.sqlite")
    j.set("risk_day", {"day": day, "equity": ex.engine.account(kid).cash + dollars(10)})
    j.close()
    (tmp_path / "b").mkdir()
    s, runner = _runner(tmp_path / "b", exch, risk=risk, live={"duration": "1.5s", "state_dir": str(s2)})
    summary = runner.run()
    assert summary["fills"] == 0
    j = Journal(s2 / "journal.sqlite")
    states = [detail for _, _, _, detail in j.events("risk_state")]
    j.close()
    assert states[0]["state"] == "REDUCING" and states[0]["reason"].startswith("daily loss $")
