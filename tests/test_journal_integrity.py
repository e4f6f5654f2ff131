"""Journal integrity at open: a damaged journal is refused with a message that says how to
recover, never started as a silent first run (which would forget orders, fills and cash, and
let a first-run-only strategy trade again)."""

from __future__ import annotations

import sqlite3

import pytest

from framework.live import cli as live_cli
from framework.live.config import load_live_config
from framework.live.journal import SCHEMA_VERSION, Journal, JournalError
from framework.live.runner import LiveRunner, resolve_settings
from framework.live.testing import write_live_config
from framework.model.orders import Order
from framework.model.portfolio import Portfolio

T = "KXLOCALTEMP-26JAN01-B1"


def used_journal(path) -> None:
    """A journal as a live run leaves it: a session, an order, cash."""
    j = Journal(path)
    session = j.new_session()
    o = Order("o1", T, "yes", "buy", 100, 4000, "gtc", ts=1, client_order_id="c1")
    j.record_intent(o, session, 4000, "gtc")
    j.save_portfolio(Portfolio(10_000 * 10_000), "reconciled", {})
    j.close()


def damage(path, *sql: str) -> None:
    db = sqlite3.connect(path)
    for stmt in sql:
        db.execute(stmt)
    db.commit()
    db.close()


def assert_recovery_hint(msg: str, path) -> None:
    assert f"journal {path} is damaged" in msg
    assert "will not start" in msg and "restore" in msg and f"mv {path} {path}.damaged" in msg


def test_healthy_journals_open_and_a_new_one_is_created(tmp_path):
    p = tmp_path / "j.sqlite"
    used_journal(p)
    j = Journal(p)
    assert j.get("schema_version") == SCHEMA_VERSION and j.get("session") == 1 and j.order("c1") is not None
    j.close()
    # a run killed after its session started but before reconciliation wrote cash: a genuine first run
    p2 = tmp_path / "fresh.sqlite"
    j = Journal(p2)
    j.new_session()
    j.close()
    assert Journal(p2).load_portfolio() is None


def test_zero_byte_journal_is_refused(tmp_path):
    p = tmp_path / "j.sqlite"
    p.write_bytes(b"")
    with pytest.raises(JournalError, match=r"empty \(0 bytes\)") as e:
        Journal(p)
    assert_recovery_hint(str(e.value), p)
    assert p.stat().st_size == 0  # left as found, for inspection


@pytest.mark.parametrize(("sql", "problem"), [
    ("DROP TABLE orders", "required table.s. missing: orders"),
    ("DELETE FROM state", "no schema_version row"),
])
def test_dropped_orders_table_or_emptied_state_is_refused(tmp_path, sql, problem):
    p = tmp_path / "j.sqlite"
    used_journal(p)
    damage(p, sql)
    with pytest.raises(JournalError, match=problem) as e:
        Journal(p)
    assert_recovery_hint(str(e.value), p)
    db = sqlite3.connect(p)  # not silently recreated or refilled
    assert not db.execute("SELECT 1 FROM sqlite_master WHERE name='orders'").fetchone() if "DROP" in sql else \
        not db.execute("SELECT 1 FROM state").fetchone()
    db.close()


def test_state_without_cash_but_with_orders_is_refused(tmp_path):
    p = tmp_path / "j.sqlite"
    used_journal(p)
    damage(p, "DELETE FROM state WHERE key IN ('cash', 'fees', 'starting_cash')")
    with pytest.raises(JournalError, match="holds 1 orders but no cash row"):
        Journal(p)
    used_journal(tmp_path / "k.sqlite")
    damage(tmp_path / "k.sqlite", "DELETE FROM state WHERE key = 'session'")
    with pytest.raises(JournalError, match="no session row"):
        Journal(tmp_path / "k.sqlite")


def test_newer_schema_and_garbage_and_corruption_are_refused(tmp_path):
    p = tmp_path / "j.sqlite"
    used_journal(p)
    damage(p, "UPDATE state SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(JournalError, match="newer version of the framework .schema 99; this one reads 1.") as e:
        Journal(p)
    assert "upgrade" in str(e.value)
    g = tmp_path / "garbage.sqlite"
    g.write_bytes(b"this is not a database, just text " * 200)
    with pytest.raises(JournalError, match="SQLite reports file is not a database"):
        Journal(g)
    # a page overwritten in the middle of the file: integrity_check (or the read itself) catches it
    c = tmp_path / "corrupt.sqlite"
    j = Journal(c)
    s = j.new_session()
    for i in range(400):
        j.record_intent(Order(f"o{i}", T, "yes", "buy", 100, 4000, "gtc", ts=i, client_order_id=f"c{i}"), s, 4000,
                        "gtc")
    j.save_portfolio(Portfolio(1), "reconciled", {})
    j.close()
    data = bytearray(c.read_bytes())
    page = 4096
    assert len(data) > 6 * page
    data[3 * page:3 * page + 200] = b"\xff" * 200
    c.write_bytes(bytes(data))
    with pytest.raises(JournalError, match="integrity_check failed|SQLite reports") as e:
        Journal(c)
    assert_recovery_hint(str(e.value), c)


# ---- end to end: the live command refuses to start, nothing reaches the exchange ---------------------


def _config(tmp_path, ex, kid, priv):
    return write_live_config(tmp_path / "live.toml", ex, kid, priv, markets=[T], live={"duration": "1s"})


def _run_once(tmp_path, cfg):
    s = resolve_settings(load_live_config(cfg), out=str(tmp_path / "out"))
    return s, LiveRunner(s, install_signals=False, echo=None).run()


@pytest.mark.parametrize("case", ["zero-byte", "dropped orders", "emptied state"])
def test_live_command_refuses_a_damaged_journal(tmp_path, exch, capsys, case):
    ex, kid, priv = exch
    cfg = _config(tmp_path, ex, kid, priv)
    s, summary = _run_once(tmp_path, cfg)  # OneShot places its orders on the first run only
    placed = len(ex.engine.account(kid).orders)
    assert placed >= 1 and summary["orders"] == placed
    path = s.state_dir / "journal.sqlite"
    if case == "zero-byte":
        for extra in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            extra.unlink(missing_ok=True)
        path.write_bytes(b"")
    elif case == "dropped orders":
        damage(path, "DROP TABLE orders")
    else:
        damage(path, "DELETE FROM state")
    rc = live_cli.main(["live", str(cfg), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1, err
    assert err.startswith(f"kalshi: error: journal {path} is damaged") and "To recover" in err
    assert len(ex.engine.account(kid).orders) == placed  # no silent first run: OneShot did not trade again
