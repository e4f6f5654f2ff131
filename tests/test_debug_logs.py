"""--debug never logs the WebSocket signature header: websockets logs every handshake header at
DEBUG; framework.kalshi.auth redacts KALSHI-ACCESS-SIGNATURE on those loggers. Real handshakes
against the local exchange, with DEBUG logging on."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from pathlib import Path

from framework.doctor import _ws_attempt
from framework.kalshi.auth import KalshiSigner, load_private_key
from framework.live.testing import write_live_config

REPO = Path(__file__).resolve().parent.parent
T = "KXLOCALTEMP-26JAN01-B1"
BASE64_SIGNATURE = re.compile(r"[A-Za-z0-9+/]{300,}={0,2}")  # a 2048-bit RSA signature is 344 chars


def test_debug_logs_of_a_real_handshake_hold_no_signature(exch, caplog):
    ex, kid, priv = exch
    signer = KalshiSigner(kid, load_private_key(priv))
    caplog.set_level(logging.DEBUG)
    for name in ("websockets.client", "websockets.server"):
        caplog.set_level(logging.DEBUG, logger=name)
    ok, err, sent = _ws_attempt(ex.ws_url, signer, None, 5.0)  # the feed's own connect arguments
    assert ok, err
    signature = next(v for k, v in sent.items() if k.lower() == "kalshi-access-signature")
    assert len(signature) > 300
    text = caplog.text
    assert "> GET /trade-api/ws/v2" in text  # the handshake was logged at DEBUG ...
    assert "> KALSHI-ACCESS-SIGNATURE: <redacted>" in text  # ... with the header, not its value
    assert signature not in text and signature[:40] not in text
    assert not BASE64_SIGNATURE.search(text)
    for record in caplog.records:
        assert signature not in record.getMessage()


def test_kalshi_debug_paper_run_stderr_holds_no_signature(tmp_path, exch):
    ex, kid, priv = exch
    cfg = write_live_config(tmp_path / "live.toml", ex, kid, priv, markets=[T], mode="paper",
                            live={"feed": "ws", "duration": "2s"})
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run([sys.executable, "-m", "framework.live.cli", "--debug", "paper", str(cfg), "--out",
                          str(tmp_path / "out")], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-3000:]
    logged = out.stderr + out.stdout
    assert "KALSHI-ACCESS-SIGNATURE: <redacted>" in logged  # the handshake was dumped, redacted
    assert not BASE64_SIGNATURE.search(logged)
    for line in logged.splitlines():
        if "kalshi-access-signature" in line.lower():
            assert line.rstrip().endswith("<redacted>"), line
