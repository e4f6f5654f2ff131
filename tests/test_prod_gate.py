"""The prod gate goes by destination, not by name (framework.live.prodgate): each bypass the
outside tests found is refused without the opt-in, from the CLI, the TOML and the Python API."""

from __future__ import annotations

from pathlib import Path

import pytest

from framework.core.config import ConfigError
from framework.kalshi.envs import ENVIRONMENTS, SHARED_HOSTS, Environment, destination_kind
from framework.live import cli as live_cli
from framework.live.config import load_live_config
from framework.live.runner import PROD_FLAG, LiveRunner, Settings, resolve_settings

BASE = '[run]\nmode = "live"\nstrategy = "framework.live.examples:OneShot"\nmarkets = ["X-1"]\n'
LIMITS = '[risk]\nmax_position = 10\nmax_notional = "100"\nmax_daily_loss = "20"\n'
PROD_REST = "https://external-api.kalshi.com/trade-api/v2"
PROD_WS = "wss://external-api-ws.kalshi.com/trade-api/ws/v2"


def cfg(tmp_path, live: str, extra: str = "") -> Path:
    p = tmp_path / "c.toml"
    p.write_text(BASE + "[live]\n" + live + "\n" + extra)
    return p


@pytest.mark.parametrize("host", [
    "https://external-api.kalshi.com/trade-api/v2", "wss://external-api-ws.kalshi.com/trade-api/ws/v2",
    "https://api.elections.kalshi.com/trade-api/v2", "mm.fix.elections.kalshi.com", "fix.elections.kalshi.com",
    "marketdata.fix.elections.kalshi.com", "https://trading-api.kalshi.com/trade-api/v2", "HTTPS://API.ELECTIONS.KALSHI.COM."])
def test_every_documented_production_host_is_production(host):
    assert destination_kind(host) == "prod"


@pytest.mark.parametrize(("host", "kind"), [
    ("https://external-api.demo.kalshi.co/trade-api/v2", "demo"), ("fix.demo.kalshi.co", "demo"),
    ("https://demo-api.kalshi.co/trade-api/v2", "demo"), ("http://127.0.0.1:8765/trade-api/v2", "loopback"),
    ("localhost", "loopback"), ("::1", "loopback"), ("http://[::1]:80/x", "loopback"),
    ("10.0.0.7", "other"), ("https://kalshi.com.example.org/x", "other"), ("https://notkalshi.com/x", "other")])
def test_destination_kinds(host, kind):
    assert destination_kind(host) == kind


def test_known_environment_tables_agree_with_the_classifier():
    assert destination_kind(ENVIRONMENTS["prod"].rest_url) == destination_kind(ENVIRONMENTS["prod"].ws_url) == "prod"
    assert destination_kind(SHARED_HOSTS["prod"].rest_url) == "prod"
    for env in (ENVIRONMENTS["demo"], SHARED_HOSTS["demo"]):
        assert destination_kind(env.rest_url) == destination_kind(env.ws_url) == "demo"
    from framework.kalshi.fix.config import HOSTS

    assert destination_kind(HOSTS["prod"]) == "prod" and destination_kind(HOSTS["demo"]) == "demo"


@pytest.mark.parametrize(("name", "live"), [
    ("env demo, rest_url at prod", f'env = "demo"\nrest_url = "{PROD_REST}"'),
    ("env local, rest_url at prod", f'env = "local"\nrest_url = "{PROD_REST}"'),
    ("env local, ws_url at prod", f'env = "local"\nws_url = "{PROD_WS}"'),
    ("env demo, fix_host at prod", 'env = "demo"\nbroker = "fix"\nfix_host = "mm.fix.elections.kalshi.com"'),
    ("env demo, old prod FIX host", 'env = "demo"\nbroker = "fix"\nfix_host = "fix.elections.kalshi.com"'),
    ("env demo, rest_url at an unknown host", 'env = "demo"\nrest_url = "https://10.1.2.3/trade-api/v2"'),
])
def test_toml_bypasses_are_refused_without_the_opt_in(tmp_path, name, live):
    c = load_live_config(cfg(tmp_path, live))
    with pytest.raises(ConfigError, match=PROD_FLAG):
        resolve_settings(c)
    # with the opt-in, the prod rules apply in full: explicit [risk] limits
    with pytest.raises(ConfigError, match="max_position, max_notional, max_daily_loss"):
        resolve_settings(c, yes_really_trade_prod=True)
    c = load_live_config(cfg(tmp_path, live + "\nyes_really_trade_prod = true", LIMITS))
    assert resolve_settings(c).yes_really_trade_prod is True
    # paper sends no orders: not gated
    assert resolve_settings(load_live_config(cfg(tmp_path, live)), mode="paper").mode == "paper"


def test_cli_bypass_is_one_line_exit_2(tmp_path, capsys):
    p = cfg(tmp_path, f'env = "local"\nrest_url = "{PROD_REST}"')
    assert live_cli.main(["live", str(p)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and PROD_FLAG in err and f"REST {PROD_REST} is a Kalshi production host" in err
    # and --env demo on the command line does not help either
    p = cfg(tmp_path, 'broker = "fix"\nfix_host = "mm.fix.elections.kalshi.com"')
    assert live_cli.main(["live", str(p), "--env", "demo"]) == 2
    assert "FIX mm.fix.elections.kalshi.com is a Kalshi production host" in capsys.readouterr().err


def test_demo_and_local_destinations_need_no_opt_in(tmp_path):
    assert resolve_settings(load_live_config(cfg(tmp_path, 'env = "demo"\nbroker = "fix"'))).env.name == "demo"
    assert resolve_settings(load_live_config(cfg(tmp_path, 'env = "local"\nbroker = "fix"\nfix_port = 9'))).broker == "fix"


def _settings(tmp_path, env: Environment, **kw) -> Settings:
    c = load_live_config(cfg(tmp_path, 'env = "local"'))
    return Settings(c, "live", env, kw.pop("broker", "rest"), "rest", tmp_path / "state", tmp_path / "out",
                    markets=["X-1"], strategy="framework.live.examples:OneShot", **kw)


def test_live_runner_from_python_is_gated(tmp_path):
    with pytest.raises(ConfigError, match=PROD_FLAG):
        LiveRunner(_settings(tmp_path, ENVIRONMENTS["prod"]), install_signals=False, echo=None)
    # a local-named environment whose URLs are production
    with pytest.raises(ConfigError, match="is a Kalshi production host"):
        LiveRunner(_settings(tmp_path, Environment("local", PROD_REST, "ws://127.0.0.1:1/x")), install_signals=False)
    # a REST client pointed at production, handed in
    from framework.kalshi.rest import KalshiRestClient

    client = KalshiRestClient(PROD_REST)
    try:
        with pytest.raises(ConfigError, match="REST client .* is a Kalshi production host"):
            LiveRunner(_settings(tmp_path, ENVIRONMENTS["local"]), client=client, install_signals=False)
    finally:
        client.close()
    # FIX settings built by hand with a production host
    s = _settings(tmp_path, ENVIRONMENTS["demo"], broker="fix")
    s.cfg.live["fix_host"] = "mm.fix.elections.kalshi.com"
    with pytest.raises(ConfigError, match="FIX mm.fix.elections.kalshi.com"):
        LiveRunner(s, install_signals=False)
    # the opt-in (plus limits) lets it through; paper is never gated
    s = _settings(tmp_path, ENVIRONMENTS["prod"], yes_really_trade_prod=True)
    s.cfg.risk.update({"max_position": 1, "max_notional": "1", "max_daily_loss": "1"})
    LiveRunner(s, install_signals=False)
    paper = _settings(tmp_path, ENVIRONMENTS["prod"])
    paper.mode = "paper"
    LiveRunner(paper, install_signals=False)


def test_fix_check_order_to_a_non_loopback_host_needs_the_opt_in(capsys):
    from framework.kalshi import fix_check

    # refused before any connection or key lookup (the host is never contacted)
    rc = fix_check.main(["fix-check", "--host", "fix.demo.kalshi.co", "--port", "8228", "--target-comp-id",
                         "KalshiNR", "--order", "KXA-1"])
    err = capsys.readouterr().err
    assert rc == 2 and "--yes-really-trade-prod" in err and "fix.demo.kalshi.co" in err
    lines: list[str] = []
    assert fix_check.check(host="10.9.8.7", port=1, sender_comp_id="K", target_comp_id="KalshiNR", key_file="x",
                           order_ticker="KXA-1", out=lines.append) == 2
    assert "refusing to send an order to 10.9.8.7" in lines[0]


def test_fix_check_order_on_loopback_needs_no_opt_in(tmp_path, exch, capsys):
    from framework.exchange.fix_acceptor import attach_fix_acceptor
    from framework.kalshi import fix_check

    ex, kid, priv = exch
    ticker = sorted(ex.engine.markets)[0]
    acc = attach_fix_acceptor(ex, port=0, session="NR").start()
    try:
        rc = fix_check.main(["fix-check", "--host", "127.0.0.1", "--port", str(acc.port), "--sender-comp-id", kid,
                             "--target-comp-id", "KalshiNR", "--key-file", str(priv), "--no-tls", "--order", ticker,
                             "--timeout", "5"])
    finally:
        acc.stop()
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "[ok] order" in out and "[ok] cancel" in out
