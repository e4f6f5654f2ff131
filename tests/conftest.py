"""Fixtures shared by the live-path tests."""

from __future__ import annotations

import pytest

from framework.live.testing import local_exchange


@pytest.fixture
def exch(tmp_path):
    """A local exchange on an ephemeral port with a registered key: ``(exchange, key_id, key_file)``.
    Its market makers have run three ticks, so books are populated."""
    ex, kid, priv = local_exchange(tmp_path / "ex")
    ex.step(3)
    yield ex, kid, priv
    ex.stop()
