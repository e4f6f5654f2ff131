"""One way to find keys for every command (framework.kalshi.keys): flags, [live], the documented
environment variables, the old names (deprecated), the local exchange's published key; errors
that name what was consulted; a warning for a key file others can read; and data/ + live/ free of
imports of the test exchange."""

from __future__ import annotations

import argparse
import ast
import json
import logging
import os
from pathlib import Path

import pytest

from framework.kalshi.errors import AuthError
from framework.kalshi.keys import KeyNotFound, resolve_credentials
from framework.live import cli as live_cli
from framework.live.config import load_live_config
from framework.live.runner import LiveRunner, resolve_settings
from framework.live.testing import write_live_config

REPO = Path(__file__).resolve().parent.parent
T = "KXLOCALTEMP-26JAN01-B1"
ALL_KEY_VARS = ("KALSHI_API_KEY_ID", "KALSHI_PRIVATE_KEY_PATH", "KALSHI_PRIVATE_KEY", "KALSHI_KEY_ID",
                "KALSHI_KEY_FILE", "KALSHI_PRIVATE_KEY_PASSPHRASE")


@pytest.fixture(autouse=True)
def _clean_env(tmp_path, monkeypatch):
    for v in ALL_KEY_VARS:
        monkeypatch.delenv(v, raising=False)
    monkeypatch.setenv("KALSHI_LOCAL_STATE_DIR", str(tmp_path / "no-local-exchange"))


def _config_without_key(tmp_path, ex, mode="live", **live):
    p = write_live_config(tmp_path / "live.toml", ex, "unused", "unused", markets=[T], mode=mode, live=live)
    text = "\n".join(ln for ln in p.read_text().splitlines() if not ln.startswith(("key_id", "key_file")))
    p.write_text(text + "\n")
    return p


def _signer_of(cfg_path, **kw):
    s = resolve_settings(load_live_config(cfg_path), **kw)
    return LiveRunner(s, install_signals=False, echo=None)._signer()


def test_live_reads_the_documented_environment_variables(tmp_path, exch, monkeypatch):
    """`kalshi doctor` passing with KALSHI_API_KEY_ID / KALSHI_PRIVATE_KEY_PATH means `kalshi live` finds them."""
    ex, kid, priv = exch
    cfg = _config_without_key(tmp_path, ex)
    monkeypatch.setenv("KALSHI_API_KEY_ID", kid)
    monkeypatch.setenv("KALSHI_PRIVATE_KEY_PATH", str(priv))
    assert _signer_of(cfg).key_id == kid
    # the PEM text itself works too
    monkeypatch.delenv("KALSHI_PRIVATE_KEY_PATH")
    monkeypatch.setenv("KALSHI_PRIVATE_KEY", Path(priv).read_text())
    assert _signer_of(cfg).key_id == kid


@pytest.mark.parametrize("command", ["live", "paper", "run"])
def test_mode_commands_take_key_flags(command):
    parser = argparse.ArgumentParser()
    live_cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args([command, "x.toml", "--key-id", "K", "--key-file", "k.pem"])
    assert (args.key_id, args.key_file) == ("K", "k.pem")


def test_paper_run_with_key_flags_against_the_local_exchange(tmp_path, exch, capsys):
    ex, kid, priv = exch
    cfg = _config_without_key(tmp_path, ex, mode="paper")
    rc = live_cli.main(["paper", str(cfg), "--key-id", kid, "--key-file", str(priv), "--duration", "1s",
                        "--out", str(tmp_path / "out")])
    assert rc == 0, capsys.readouterr().err
    assert "duration reached" in capsys.readouterr().out


def test_flags_win_over_config_and_environment(tmp_path, exch, monkeypatch):
    ex, kid, priv = exch
    cfg = write_live_config(tmp_path / "live.toml", ex, "config-key", "/nonexistent.pem", markets=[T])
    monkeypatch.setenv("KALSHI_API_KEY_ID", "env-key")
    assert _signer_of(cfg, key_id=kid, key_file=str(priv)).key_id == kid
    assert _signer_of(cfg, key_file=str(priv)).key_id == "config-key"  # the id from [live], the file from the flag


def test_no_key_error_names_every_source_consulted(tmp_path, exch, capsys):
    ex, _, _ = exch
    cfg = _config_without_key(tmp_path, ex, mode="paper")
    rc = live_cli.main(["paper", str(cfg), "--env", "demo", "--duration", "1s"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1
    for consulted in ("--key-id / --key-file", f"[live] key_id / key_file in {cfg}", "$KALSHI_API_KEY_ID",
                      "$KALSHI_PRIVATE_KEY_PATH", "$KALSHI_PRIVATE_KEY", "$KALSHI_KEY_ID"):
        assert consulted in err, consulted
    assert "local exchange" not in err  # not consulted for demo
    # env local also names the local exchange's key file, and how to get one
    with pytest.raises(AuthError, match="local-key.json .*kalshi exchange"):
        _signer_of(cfg)


def test_half_a_key_is_an_error_that_never_shows_the_key(tmp_path, keypair_pem):
    pem = keypair_pem
    with pytest.raises(KeyNotFound) as e:
        resolve_credentials("demo", environ={"KALSHI_PRIVATE_KEY": pem})
    msg = str(e.value)
    assert "no Kalshi API key id" in msg and "$KALSHI_PRIVATE_KEY" in msg
    assert "PRIVATE KEY-----" not in msg and pem.splitlines()[1] not in msg
    with pytest.raises(KeyNotFound, match="no private key found for env demo for key id K .from --key-id"):
        resolve_credentials("demo", key_id="K", environ={})


@pytest.fixture
def keypair_pem(tmp_path):
    from framework.kalshi.auth import generate_key_pair

    priv, _ = generate_key_pair(tmp_path / "kp")
    return priv.read_text()


def test_old_variable_names_still_work_with_a_deprecation_warning(tmp_path, exch, monkeypatch, caplog):
    ex, kid, priv = exch
    cfg = _config_without_key(tmp_path, ex)
    monkeypatch.setenv("KALSHI_KEY_ID", kid)
    monkeypatch.setenv("KALSHI_KEY_FILE", str(priv))
    with caplog.at_level(logging.WARNING, logger="framework.kalshi.keys"):
        assert _signer_of(cfg).key_id == kid
    text = caplog.text
    assert "$KALSHI_KEY_ID is deprecated: set $KALSHI_API_KEY_ID" in text
    assert "$KALSHI_KEY_FILE is deprecated: set $KALSHI_PRIVATE_KEY_PATH" in text
    # the new names win over the old ones
    monkeypatch.setenv("KALSHI_API_KEY_ID", "new-id")
    assert resolve_credentials("demo").key_id == "new-id"


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_key_file_readable_by_others_gets_a_warning(tmp_path, keypair_pem, caplog):
    key = tmp_path / "k.pem"
    key.write_text(keypair_pem)
    key.chmod(0o600)
    assert resolve_credentials("demo", key_id="K", key_file=key).warnings == ()
    key.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="framework.kalshi.keys"):
        creds = resolve_credentials("demo", key_id="K", key_file=key)
    assert creds.warnings and "readable by others (mode 0644)" in creds.warnings[0]
    assert f"chmod 600 {key}" in caplog.text
    assert "PRIVATE KEY" not in caplog.text


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_doctor_warns_about_a_key_file_readable_by_others(tmp_path, exch, capsys):
    from framework.doctor import add_parser

    ex, kid, priv = exch
    Path(priv).chmod(0o644)
    p = argparse.ArgumentParser()
    add_parser(p.add_subparsers())
    a = p.parse_args(["doctor", "--env", "local", "--port", str(ex.port), "--timeout", "5", "--no-fix",
                      "--key-id", kid, "--key-file", str(priv)])
    assert a.func(a) == 0  # a warning, not a failure
    key_line = next(ln for ln in capsys.readouterr().out.splitlines() if "] key:" in ln)
    assert key_line.startswith("[warn") and "chmod 600" in key_line


def test_local_env_finds_the_published_local_key_last(tmp_path, keypair_pem, monkeypatch):
    state = tmp_path / "local-state"
    state.mkdir()
    (state / "k.pem").write_text(keypair_pem)
    (state / "k.pem").chmod(0o600)
    (state / "local-key.json").write_text(json.dumps({"key_id": "local-id", "private_key_path": str(state / "k.pem")}))
    monkeypatch.setenv("KALSHI_LOCAL_STATE_DIR", str(state))
    creds = resolve_credentials("local")
    assert creds.key_id == "local-id" and "local exchange" in creds.source
    assert resolve_credentials("demo", required=False) is None  # only env local looks there
    monkeypatch.setenv("KALSHI_API_KEY_ID", "env-id")
    with pytest.raises(KeyNotFound, match="no private key"):  # half a key is not completed from the local one
        resolve_credentials("local")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    pkg = ".".join(path.relative_to(REPO).with_suffix("").parts[:-1])
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = pkg.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            out.add(base)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def test_data_and_live_do_not_import_the_test_exchange():
    offenders = []
    for sub in ("data", "live"):
        for f in sorted((REPO / "framework" / sub).rglob("*.py")):
            if f.name == "testing.py":  # framework.live.testing is the test helper that starts one
                continue
            bad = [m for m in _imports(f) if m == "framework.exchange" or m.startswith("framework.exchange.")]
            if bad:
                offenders.append(f"{f.relative_to(REPO)}: {', '.join(sorted(bad))}")
    assert not offenders, offenders


def test_fix_check_finds_the_key_through_the_resolver(tmp_path, exch, monkeypatch, capsys):
    from framework.exchange.fix_acceptor import attach_fix_acceptor
    from framework.kalshi import fix_check

    ex, kid, priv = exch
    acc = attach_fix_acceptor(ex, port=0, session="NR").start()
    try:
        monkeypatch.setenv("KALSHI_API_KEY_ID", kid)
        monkeypatch.setenv("KALSHI_PRIVATE_KEY_PATH", str(priv))
        rc = fix_check.main(["fix-check", "--host", "127.0.0.1", "--port", str(acc.port), "--target-comp-id",
                             "KalshiNR", "--no-tls", "--timeout", "5"])
    finally:
        acc.stop()
    out = capsys.readouterr().out
    assert rc == 0, out
    assert f"loaded RSA key for {kid}" in out
