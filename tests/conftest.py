"""Fixtures shared by several test modules (the live path, the run report)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# the repository root on the path, so tests can import benchmarks/ as plain `pytest` runs them in CI
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from framework.live.testing import local_exchange  # noqa: E402


@pytest.fixture
def exch(tmp_path):
    """A local exchange on an ephemeral port with a registered key: ``(exchange, key_id, key_file)``.
    Its market makers have run three ticks, so books are populated."""
    ex, kid, priv = local_exchange(tmp_path / "ex")
    ex.step(3)
    yield ex, kid, priv
    ex.stop()


@pytest.fixture(scope="session")
def report_dir(tmp_path_factory):
    """A run folder of the bundled example written by `kalshi backtest` (with report.html)."""
    from framework.cli import main

    out = tmp_path_factory.mktemp("run") / "longshot"
    assert main(["backtest", "--out", str(out), "--no-progress"]) == 0
    return out
