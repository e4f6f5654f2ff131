"""kalshi doctor against the local exchange: passes, names the 403 cause, reports bad keys."""

from __future__ import annotations

import argparse

import pytest
from test_live_helpers import start_exchange

from framework.doctor import add_parser, clock_skew
from framework.kalshi.auth import generate_key_pair


@pytest.fixture(scope="module")
def ex(tmp_path_factory):
    x = start_exchange(tmp_path_factory.mktemp("doc-ex"), seed=2)
    yield x
    x.stop()


@pytest.fixture(autouse=True)
def _env(ex, monkeypatch):
    monkeypatch.setenv("KALSHI_LOCAL_STATE_DIR", str(ex.state_dir))
    for v in ("KALSHI_API_KEY_ID", "KALSHI_PRIVATE_KEY_PATH", "KALSHI_PRIVATE_KEY"):
        monkeypatch.delenv(v, raising=False)
    ex.faults.reset()
    yield
    ex.faults.reset()


def doctor(ex, *extra):
    p = argparse.ArgumentParser()
    add_parser(p.add_subparsers())
    a = p.parse_args(["doctor", "--env", "local", "--port", str(ex.port), "--timeout", "5", *extra])
    return a.func(a)


def lines(out):
    return {ln.split("]", 1)[1].split(":", 1)[0].strip(): ln for ln in out.splitlines() if ln.startswith("[")}


def test_doctor_passes_on_the_local_exchange(ex, capsys):
    assert doctor(ex) == 0
    out = lines(capsys.readouterr().out)
    for name in ("key", "exchange", "clock", "rest-auth", "ws"):
        assert out[name].startswith("[ok"), out[name]
    assert "403" in out["ws-origin"] and "Origin" in out["ws-origin"]
    assert out["fix"].startswith("[skip")


def test_doctor_names_a_refused_websocket(ex, capsys):
    ex.faults.reject_ws_upgrades(True)
    assert doctor(ex) == 1
    out = lines(capsys.readouterr().out)
    assert out["ws"].startswith("[FAIL") and "403" in out["ws"] and "REST polling" in out["ws"]
    assert "not the Origin header" in out["ws"]  # refused with and without Origin: something else is in the way
    assert out["rest-auth"].startswith("[ok")


def test_doctor_reports_missing_key_file(ex, tmp_path, capsys):
    assert doctor(ex, "--key-id", "x", "--key-file", str(tmp_path / "nope.pem")) == 1
    out = lines(capsys.readouterr().out)
    assert out["key"].startswith("[FAIL") and "not found" in out["key"] and "->" in out["key"]


def test_doctor_reports_refused_credentials(ex, tmp_path, capsys):
    priv, _ = generate_key_pair(tmp_path, "stranger")
    assert doctor(ex, "--key-id", "unknown-key", "--key-file", str(priv)) == 1
    out = lines(capsys.readouterr().out)
    assert out["key"].startswith("[ok")
    assert out["rest-auth"].startswith("[FAIL") and "401" in out["rest-auth"]
    assert out["ws"].startswith("[FAIL") and "401" in out["ws"]


def test_doctor_fix_logon(ex, capsys):
    try:
        from framework.exchange.fix_acceptor import attach_fix_acceptor
    except ImportError:
        pytest.skip("no FIX acceptor")
    acc = attach_fix_acceptor(ex, port=0, session="NR").start()
    try:
        rc = doctor(ex, "--fix-host", "127.0.0.1", "--fix-port", str(acc.port))
    finally:
        acc.stop()
    out = lines(capsys.readouterr().out)
    assert rc == 0, out
    assert out["fix"].startswith("[ok")


def test_clock_skew_from_date_header():
    # server says 12:00:00 (true time within [0, 1) s later); we sent at ..:03.0 and got it at ..:03.2
    from datetime import UTC, datetime
    from email.utils import format_datetime

    date = format_datetime(datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC), usegmt=True)
    t = datetime(2026, 1, 1, 12, 0, 3, tzinfo=UTC).timestamp()
    assert clock_skew(date, t, t + 0.2) == pytest.approx(2.6)
    assert clock_skew(None, t, t) is None
    assert clock_skew("garbage", t, t) is None
