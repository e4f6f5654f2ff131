"""The order journal: SQLite (stdlib, WAL), the source of truth when a live run restarts.

What is written, and when (each write is one transaction, so a crash leaves either all of it
or none of it):

* ``orders``: one row per order, keyed by ``client_order_id``. The row is written as an
  *intent* (status ``pending``, ``sent_ns`` NULL) **before** the request goes on the wire; the
  acknowledgement (exchange order id, status) and every later state change update it.
* ``fills``: one row per exchange fill (``fill_id`` is the primary key, so a duplicate report is
  detected by the insert); in the same transaction the order row, the market's position row and
  the cash are updated.
* ``positions`` / ``state``: the portfolio after the last journaled change (cash, starting cash,
  the last fill time, the risk gate state, the run's session counter).
* ``events``: an append-only log (acks, rejects, unknown outcomes, reconciliation findings,
  kill-switch use) for humans.
* ``fix_seq``: FIX sequence numbers (``session_key, next_out, next_in``), ready for a FIX broker
  that keeps them here; ``feed_cursors``: per-feed resume points (``feed, key, value``).

``synchronous=FULL`` in WAL mode: a committed transaction survives ``kill -9`` and power loss.

Opening an existing journal checks it first (:class:`JournalError` says what is wrong and how to
recover): not zero bytes, ``PRAGMA integrity_check`` ok, the required tables present (never
recreated silently), ``schema_version`` present and not newer than :data:`SCHEMA_VERSION`, a
``cash`` row whenever orders/fills/positions exist, a ``session`` row once a session started. A
damaged journal is never treated as a first run.
All access is from one thread (the engine's); the connection refuses other threads.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..model.orders import ACTIVE_STATUSES, Order
from ..model.portfolio import Portfolio, Position

__all__ = ["REQUIRED_TABLES", "SCHEMA_VERSION", "Journal", "JournalError", "JournalFill", "JournalOrder"]

SCHEMA_VERSION = 1
#: tables a journal that exists must already have (fix_seq and feed_cursors are created when missing)
REQUIRED_TABLES = ("orders", "fills", "positions", "state", "events")


class JournalError(RuntimeError):
    """An existing journal is damaged or unreadable: the run refuses to start on it.

    The message says what is wrong and how to recover; a damaged journal never starts a silent
    first run (which would forget open orders, fills and cash)."""

    def __init__(self, path: Path, problem: str, upgrade: bool = False) -> None:
        self.path = path
        self.problem = problem
        if upgrade:
            how = "run it with the framework version that wrote it, or upgrade this one"
        else:
            how = (f"restore {path} from a backup; or, to start over, move it aside (mv {path} {path}.damaged) "
                   "and start again: the new journal is seeded from the exchange (balance, positions) and "
                   "orders resting there are adopted; inspect the old file with `sqlite3 "
                   f"{path}.damaged .dump`")
        super().__init__(f"journal {path} is damaged: {problem}. The run will not start on it. To recover: {how}")


def _has_wal(path: Path) -> bool:
    """A non-empty write-ahead log next to ``path`` (its content is the journal's latest state)."""
    wal = path.with_name(path.name + "-wal")
    try:
        return wal.stat().st_size > 0
    except OSError:
        return False

_SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    client_order_id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL,
    session INTEGER NOT NULL,
    exchange_order_id TEXT,
    ticker TEXT NOT NULL, side TEXT NOT NULL, action TEXT NOT NULL,
    qty INTEGER NOT NULL, price INTEGER, sent_price INTEGER, tif TEXT NOT NULL,
    post_only INTEGER NOT NULL, reduce_only INTEGER NOT NULL,
    status TEXT NOT NULL, filled_qty INTEGER NOT NULL DEFAULT 0, fee INTEGER NOT NULL DEFAULT 0,
    avg_price_num INTEGER NOT NULL DEFAULT 0, reason TEXT,
    flags TEXT NOT NULL DEFAULT '',
    created_ns INTEGER NOT NULL, intent_ns INTEGER NOT NULL, sent_ns INTEGER, acked_ns INTEGER,
    updated_ns INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS orders_exchange_id ON orders(exchange_order_id);
CREATE INDEX IF NOT EXISTS orders_status ON orders(status);
CREATE TABLE IF NOT EXISTS fills (
    fill_id TEXT PRIMARY KEY,
    client_order_id TEXT, exchange_order_id TEXT,
    ticker TEXT NOT NULL, side TEXT NOT NULL, action TEXT NOT NULL,
    price INTEGER NOT NULL, qty INTEGER NOT NULL, fee INTEGER NOT NULL, is_maker INTEGER NOT NULL,
    ts INTEGER NOT NULL, recorded_ns INTEGER NOT NULL, source TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS positions (
    ticker TEXT PRIMARY KEY, yes INTEGER NOT NULL, no INTEGER NOT NULL,
    yes_cost INTEGER NOT NULL, no_cost INTEGER NOT NULL, realized INTEGER NOT NULL,
    settled INTEGER NOT NULL, fees INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, ts_ns INTEGER NOT NULL, kind TEXT NOT NULL,
    client_order_id TEXT, detail TEXT);
CREATE TABLE IF NOT EXISTS fix_seq (
    session_key TEXT PRIMARY KEY, next_out INTEGER NOT NULL, next_in INTEGER NOT NULL,
    updated_ns INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS feed_cursors (
    feed TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, updated_ns INTEGER NOT NULL,
    PRIMARY KEY (feed, key));
"""

_SCHEMA_TABLES = {line.split()[5] for line in _SCHEMA.splitlines() if line.startswith("CREATE TABLE")}
_TERMINAL_SQL = "('filled','cancelled','expired','rejected')"


@dataclass
class JournalOrder:
    client_order_id: str
    order_id: str
    session: int
    exchange_order_id: str | None
    ticker: str
    side: str
    action: str
    qty: int
    price: int | None
    sent_price: int | None
    tif: str
    post_only: bool
    reduce_only: bool
    status: str
    filled_qty: int
    fee: int
    avg_price_num: int
    reason: str | None
    flags: str
    created_ns: int
    intent_ns: int
    sent_ns: int | None
    acked_ns: int | None

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    def to_order(self, order_id: str | None = None) -> Order:
        o = Order(order_id or self.order_id, self.ticker, self.side, self.action, self.qty, self.price, self.tif,
                  self.post_only, self.reduce_only, self.created_ns, client_order_id=self.client_order_id)
        o.status = self.status
        o.filled_qty = self.filled_qty
        o.fee = self.fee
        o.avg_price_num = self.avg_price_num
        o.reason = self.reason
        o.exchange_order_id = self.exchange_order_id
        return o


@dataclass
class JournalFill:
    fill_id: str
    client_order_id: str | None
    exchange_order_id: str | None
    ticker: str
    side: str
    action: str
    price: int
    qty: int
    fee: int
    is_maker: bool
    ts: int
    source: str


class Journal:
    """One SQLite file per run state directory (see the module docstring)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        memory = str(path) == ":memory:"
        if not memory:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        existed = not memory and self.path.exists()
        if existed and self.path.stat().st_size == 0 and not _has_wal(self.path):
            raise JournalError(self.path, "the file is empty (0 bytes): it was truncated, or replaced by an "
                                          "empty file")
        try:
            self.db = sqlite3.connect(str(path), isolation_level=None)
        except sqlite3.Error as e:
            raise JournalError(self.path, f"SQLite cannot open it ({e})") from None
        try:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            complete = self._check_integrity() if existed else False
            if not complete:  # tables and the schema version in one transaction: both or neither
                self.db.executescript("BEGIN;" + _SCHEMA + "INSERT OR IGNORE INTO state(key, value) VALUES "
                                      f"('schema_version', '{SCHEMA_VERSION}');COMMIT;")
        except sqlite3.DatabaseError as e:
            self.db.close()
            raise JournalError(self.path, f"SQLite reports {e}") from None
        except JournalError:
            self.db.close()
            raise

    def _check_integrity(self) -> bool:
        """Refuse an existing journal that is damaged (see :class:`JournalError`), before anything
        (re)creates a table: a dropped table must not come back empty as if nothing had happened.
        Returns True when every table of the schema is there (nothing to create)."""
        db = self.db
        problems = [r[0] for r in db.execute("PRAGMA integrity_check").fetchall() if r[0] != "ok"]
        if problems:
            raise JournalError(self.path, "PRAGMA integrity_check failed: " + "; ".join(problems[:3]))
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not tables:
            raise JournalError(self.path, "it holds no tables at all (not a journal, or wiped)")
        missing = [t for t in REQUIRED_TABLES if t not in tables]
        if missing:
            raise JournalError(self.path, f"required table(s) missing: {', '.join(missing)}")
        state = dict(db.execute("SELECT key, value FROM state").fetchall())
        version = state.get("schema_version")
        if version is None:
            raise JournalError(self.path, "the state table has no schema_version row (the table was emptied or "
                                          "damaged)")
        try:
            version = int(json.loads(version))
        except (ValueError, TypeError):
            raise JournalError(self.path, f"schema_version {version!r} is not a number") from None
        if version > SCHEMA_VERSION:
            raise JournalError(self.path, f"it was written by a newer version of the framework (schema {version}; "
                                          f"this one reads {SCHEMA_VERSION})", upgrade=True)
        if version < 1:
            raise JournalError(self.path, f"schema_version {version} is not a valid version")

        def count(table: str) -> int:
            return db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]  # noqa: S608 (fixed names)

        used = {t: count(t) for t in ("orders", "fills", "positions")}
        if "cash" not in state and any(used.values()):
            what = ", ".join(f"{n} {t}" for t, n in used.items() if n)
            raise JournalError(self.path, f"it holds {what} but no cash row in the state table (the state "
                                          "table was emptied or damaged); a restart would silently start over")
        started = db.execute("SELECT 1 FROM events WHERE kind='session_start' LIMIT 1").fetchone()
        if started and "session" not in state:
            raise JournalError(self.path, "runs were started on it but the state table has no session row "
                                          "(the table was emptied or damaged)")
        return tables.issuperset(_SCHEMA_TABLES)

    # ---- plumbing ------------------------------------------------------------------------------
    def close(self) -> None:
        try:
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error:
            pass
        self.db.close()

    def flush(self) -> None:
        """Every write is already committed; this checkpoints the WAL into the main file."""
        self.db.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def _tx(self, statements: Iterable[tuple[str, tuple]]) -> None:
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            for sql, args in statements:
                db.execute(sql, args)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    # ---- key/value state -----------------------------------------------------------------------
    def get(self, key: str, default: Any = None) -> Any:
        row = self.db.execute("SELECT value FROM state WHERE key=?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    @staticmethod
    def _set_sql(key: str, value: Any) -> tuple[str, tuple]:
        return ("INSERT INTO state(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                (key, json.dumps(value)))

    def set(self, key: str, value: Any) -> None:
        self._tx([self._set_sql(key, value)])

    def new_session(self) -> int:
        n = int(self.get("session", 0)) + 1
        self._tx([self._set_sql("session", n), self._event_sql("session_start", None, {"session": n})])
        return n

    # ---- events --------------------------------------------------------------------------------
    @staticmethod
    def _event_sql(kind: str, coid: str | None, detail: Any) -> tuple[str, tuple]:
        return ("INSERT INTO events(ts_ns, kind, client_order_id, detail) VALUES (?,?,?,?)",
                (time.time_ns(), kind, coid, None if detail is None else json.dumps(detail, default=str)))

    def event(self, kind: str, detail: Any = None, client_order_id: str | None = None) -> None:
        self._tx([self._event_sql(kind, client_order_id, detail)])

    def events(self, kind: str | None = None) -> list[tuple[int, str, str | None, Any]]:
        sql = "SELECT ts_ns, kind, client_order_id, detail FROM events"
        rows = self.db.execute(sql + (" WHERE kind=?" if kind else "") + " ORDER BY seq",
                               (kind,) if kind else ()).fetchall()
        return [(ts, k, c, json.loads(d) if d else None) for ts, k, c, d in rows]

    # ---- orders --------------------------------------------------------------------------------
    def record_intent(self, order: Order, session: int, sent_price: int | None, tif: str, flags: str = "") -> None:
        """Write the order BEFORE it is sent. Raises if the client order id was used before."""
        now = time.time_ns()
        self._tx([(
            "INSERT INTO orders(client_order_id, order_id, session, exchange_order_id, ticker, side, action, qty, "
            "price, sent_price, tif, post_only, reduce_only, status, filled_qty, fee, avg_price_num, reason, flags, "
            "created_ns, intent_ns, sent_ns, acked_ns, updated_ns) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (order.client_order_id, order.order_id, session, order.exchange_order_id, order.ticker, order.side,
             order.action, order.qty, order.price, sent_price, tif, int(order.post_only), int(order.reduce_only),
             order.status, order.filled_qty, order.fee, order.avg_price_num, order.reason, flags, order.ts, now,
             None, None, now)),
            self._event_sql("intent", order.client_order_id,
                            {"order_id": order.order_id, "ticker": order.ticker, "side": order.side,
                             "action": order.action, "qty": order.qty, "price": sent_price, "tif": tif}),
        ])

    def mark_sent(self, client_order_id: str) -> None:
        self._tx([("UPDATE orders SET sent_ns=?, updated_ns=? WHERE client_order_id=? AND sent_ns IS NULL",
                   (time.time_ns(), time.time_ns(), client_order_id))])

    def _order_update_sql(self, order: Order, acked: bool = False) -> tuple[str, tuple]:
        now = time.time_ns()
        return ("UPDATE orders SET status=?, filled_qty=?, fee=?, avg_price_num=?, reason=?, qty=?, "
                "exchange_order_id=COALESCE(?, exchange_order_id), "
                "acked_ns=CASE WHEN ? AND acked_ns IS NULL THEN ? ELSE acked_ns END, "
                "sent_ns=CASE WHEN ? AND sent_ns IS NULL THEN ? ELSE sent_ns END, updated_ns=? "
                "WHERE client_order_id=?",
                (order.status, order.filled_qty, order.fee, order.avg_price_num, order.reason, order.qty,
                 order.exchange_order_id, int(acked), now, int(acked), now, now, order.client_order_id))

    def update_order(self, order: Order, kind: str | None = None, detail: Any = None, acked: bool = False) -> None:
        stmts = [self._order_update_sql(order, acked)]
        if kind:
            stmts.append(self._event_sql(kind, order.client_order_id, detail if detail is not None else
                                         {"status": order.status, "reason": order.reason,
                                          "exchange_order_id": order.exchange_order_id}))
        self._tx(stmts)

    def add_order(self, order: Order, session: int, flags: str, kind: str = "adopted", detail: Any = None) -> None:
        """Journal an order found on the exchange (adopted) or made up for a foreign fill."""
        now = time.time_ns()
        self._tx([(
            "INSERT OR IGNORE INTO orders(client_order_id, order_id, session, exchange_order_id, ticker, side, action, "
            "qty, price, sent_price, tif, post_only, reduce_only, status, filled_qty, fee, avg_price_num, reason, "
            "flags, created_ns, intent_ns, sent_ns, acked_ns, updated_ns) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (order.client_order_id, order.order_id, session, order.exchange_order_id, order.ticker, order.side,
             order.action, order.qty, order.price, order.price, order.tif, int(order.post_only),
             int(order.reduce_only), order.status, order.filled_qty, order.fee, order.avg_price_num, order.reason,
             flags, order.ts, now, now, now, now)),
            self._event_sql(kind, order.client_order_id, detail or {"exchange_order_id": order.exchange_order_id}),
        ])

    def _row(self, row) -> JournalOrder:
        (coid, oid, session, xid, ticker, side, action, qty, price, sent_price, tif, po, ro, status, filled, fee,
         apn, reason, flags, created, intent, sent, acked, _upd) = row
        return JournalOrder(coid, oid, session, xid, ticker, side, action, qty, price, sent_price, tif, bool(po),
                            bool(ro), status, filled, fee, apn, reason, flags, created, intent, sent, acked)

    def orders(self, active_only: bool = False) -> list[JournalOrder]:
        sql = "SELECT * FROM orders"
        if active_only:
            sql += f" WHERE status NOT IN {_TERMINAL_SQL}"
        return [self._row(r) for r in self.db.execute(sql + " ORDER BY intent_ns, rowid").fetchall()]

    def order(self, client_order_id: str) -> JournalOrder | None:
        r = self.db.execute("SELECT * FROM orders WHERE client_order_id=?", (client_order_id,)).fetchone()
        return self._row(r) if r else None

    def order_by_exchange_id(self, exchange_order_id: str) -> JournalOrder | None:
        r = self.db.execute("SELECT * FROM orders WHERE exchange_order_id=?", (exchange_order_id,)).fetchone()
        return self._row(r) if r else None

    # ---- fills, positions, cash -----------------------------------------------------------------
    def has_fill(self, fill_id: str) -> bool:
        return self.db.execute("SELECT 1 FROM fills WHERE fill_id=?", (fill_id,)).fetchone() is not None

    def fill_ids(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT fill_id FROM fills")}

    @staticmethod
    def _position_sql(pos: Position) -> tuple[str, tuple]:
        return ("INSERT INTO positions(ticker, yes, no, yes_cost, no_cost, realized, settled, fees) "
                "VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(ticker) DO UPDATE SET yes=excluded.yes, no=excluded.no, "
                "yes_cost=excluded.yes_cost, no_cost=excluded.no_cost, realized=excluded.realized, "
                "settled=excluded.settled, fees=excluded.fees",
                (pos.ticker, pos.yes, pos.no, pos.yes_cost, pos.no_cost, pos.realized, pos.settled, pos.fees))

    def record_fill(self, fill_id: str, fill, order: Order | None, portfolio: Portfolio, source: str,
                    exchange_ts_ns: int | None = None) -> bool:
        """Journal one fill with the order and portfolio state after it (one transaction).

        Returns False (and writes nothing) when ``fill_id`` is already journaled."""
        if self.has_fill(fill_id):
            return False
        ts = exchange_ts_ns if exchange_ts_ns is not None else fill.ts
        stmts = [(
            "INSERT INTO fills(fill_id, client_order_id, exchange_order_id, ticker, side, action, price, qty, fee, "
            "is_maker, ts, recorded_ns, source) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (fill_id, order.client_order_id if order else None, order.exchange_order_id if order else None,
             fill.ticker, fill.side, fill.action, fill.price, fill.qty, fill.fee, int(fill.is_maker), ts,
             time.time_ns(), source))]
        if order is not None:
            stmts.append(self._order_update_sql(order))
        pos = portfolio.positions.get(fill.ticker)
        if pos is not None:
            stmts.append(self._position_sql(pos))
        stmts.append(self._set_sql("cash", portfolio.cash))
        stmts.append(self._set_sql("fees", portfolio.fees))
        last = self.get("last_fill_ts", 0) or 0
        stmts.append(self._set_sql("last_fill_ts", max(int(last), int(ts))))
        self._tx(stmts)
        return True

    def save_portfolio(self, portfolio: Portfolio, kind: str | None = None, detail: Any = None,
                       extra: Iterable[tuple[str, tuple]] = ()) -> None:
        stmts = [self._position_sql(p) for p in portfolio.positions.values()]
        stmts.extend(extra)
        stmts.append(self._set_sql("cash", portfolio.cash))
        stmts.append(self._set_sql("fees", portfolio.fees))
        if self.get("starting_cash") is None:
            stmts.append(self._set_sql("starting_cash", portfolio.starting_cash))
        if kind:
            stmts.append(self._event_sql(kind, None, detail))
        self._tx(stmts)

    def record_settlement(self, settlement, portfolio: Portfolio) -> None:
        """A market settled during the run: the portfolio after it and the ticker (so a restart
        never settles it twice), in one transaction."""
        settled = sorted(set(self.settled_tickers()) | {settlement.ticker})
        self.save_portfolio(portfolio, "settlement", {
            "ticker": settlement.ticker, "result": settlement.result, "payout": settlement.payout,
            "position": settlement.position}, extra=[self._set_sql("settled_tickers", settled)])

    def settled_tickers(self) -> list[str]:
        return list(self.get("settled_tickers", []))

    def load_portfolio(self, netting: bool = True) -> Portfolio | None:
        """The journaled portfolio, or None when the journal has never held one."""
        cash = self.get("cash")
        if cash is None:
            return None
        pf = Portfolio(int(self.get("starting_cash", cash)), netting=netting)
        pf.cash = int(cash)
        pf.fees = int(self.get("fees", 0))
        for t, y, n, yc, nc, real, sett, fees in self.db.execute("SELECT * FROM positions"):
            p = pf.position(t)
            p.yes, p.no, p.yes_cost, p.no_cost, p.realized, p.settled, p.fees = y, n, yc, nc, real, sett, fees
        return pf

    def fills(self) -> list[JournalFill]:
        rows = self.db.execute("SELECT fill_id, client_order_id, exchange_order_id, ticker, side, action, price, qty, "
                               "fee, is_maker, ts, source FROM fills ORDER BY ts, rowid").fetchall()
        return [JournalFill(*r[:9], bool(r[9]), r[10], r[11]) for r in rows]

    # ---- FIX sequence numbers and feed cursors --------------------------------------------------
    def set_fix_seq(self, session_key: str, next_out: int, next_in: int) -> None:
        self._tx([("INSERT INTO fix_seq VALUES (?,?,?,?) ON CONFLICT(session_key) DO UPDATE SET "
                   "next_out=excluded.next_out, next_in=excluded.next_in, updated_ns=excluded.updated_ns",
                   (session_key, int(next_out), int(next_in), time.time_ns()))])

    def fix_seq(self, session_key: str) -> tuple[int, int]:
        r = self.db.execute("SELECT next_out, next_in FROM fix_seq WHERE session_key=?", (session_key,)).fetchone()
        return (int(r[0]), int(r[1])) if r else (1, 1)

    def set_cursor(self, feed: str, key: str, value: Any) -> None:
        self._tx([("INSERT INTO feed_cursors VALUES (?,?,?,?) ON CONFLICT(feed, key) DO UPDATE SET "
                   "value=excluded.value, updated_ns=excluded.updated_ns",
                   (feed, key, json.dumps(value), time.time_ns()))])

    def cursor(self, feed: str, key: str, default: Any = None) -> Any:
        r = self.db.execute("SELECT value FROM feed_cursors WHERE feed=? AND key=?", (feed, key)).fetchone()
        return json.loads(r[0]) if r else default
