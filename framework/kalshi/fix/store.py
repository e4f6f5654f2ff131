"""SQLite persistence of FIX sequence numbers and sent messages (for resend after a restart).

One row per session (``session_key``: sender, target, host, port) holds the next outbound and
the next expected inbound MsgSeqNum; every sent message is kept by sequence number so a
ResendRequest can be answered after a restart. Writes happen before the bytes go on the wire.
WAL mode and ``synchronous=NORMAL``: a crash may lose the last transaction, never corrupt the
file (a lost outbound number shows up as a gap the acceptor asks us to fill, which we gap-fill).
"""

from __future__ import annotations

import sqlite3
import threading
import time

__all__ = ["SeqStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS fix_session (
    session_key TEXT PRIMARY KEY, next_out INTEGER NOT NULL, next_in INTEGER NOT NULL,
    updated_ns INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS fix_outbound (
    session_key TEXT NOT NULL, seq INTEGER NOT NULL, msg_type TEXT NOT NULL,
    sending_time TEXT NOT NULL, raw BLOB NOT NULL, PRIMARY KEY (session_key, seq));
"""


class SeqStore:
    """Thread-safe; ``path=':memory:'`` keeps nothing across processes."""

    def __init__(self, path: str = ":memory:", keep_messages: int = 100_000) -> None:
        self.path = str(path)
        self.keep_messages = keep_messages
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        if self.path != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._n_saved = 0

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def get(self, key: str) -> tuple[int, int]:
        """``(next_out, next_in)``, ``(1, 1)`` for a new session."""
        with self._lock:
            row = self._db.execute("SELECT next_out, next_in FROM fix_session WHERE session_key=?",
                                   (key,)).fetchone()
        return (int(row[0]), int(row[1])) if row else (1, 1)

    def _upsert(self, key: str, next_out: int | None, next_in: int | None) -> None:
        cur_out, cur_in = self._get_nolock(key)
        self._db.execute(
            "INSERT INTO fix_session(session_key, next_out, next_in, updated_ns) VALUES (?,?,?,?) "
            "ON CONFLICT(session_key) DO UPDATE SET next_out=excluded.next_out, "
            "next_in=excluded.next_in, updated_ns=excluded.updated_ns",
            (key, cur_out if next_out is None else next_out, cur_in if next_in is None else next_in,
             time.time_ns()))

    def _get_nolock(self, key: str) -> tuple[int, int]:
        row = self._db.execute("SELECT next_out, next_in FROM fix_session WHERE session_key=?",
                               (key,)).fetchone()
        return (int(row[0]), int(row[1])) if row else (1, 1)

    def set_next_in(self, key: str, next_in: int) -> None:
        with self._lock:
            self._upsert(key, None, next_in)

    def set_next_out(self, key: str, next_out: int) -> None:
        with self._lock:
            self._upsert(key, next_out, None)

    def reset(self, key: str) -> None:
        """Both counters back to 1 and stored messages dropped (ResetSeqNumFlag=Y)."""
        with self._lock:
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM fix_outbound WHERE session_key=?", (key,))
            self._upsert(key, 1, 1)
            self._db.execute("COMMIT")

    def save_outbound(self, key: str, seq: int, msg_type: str, sending_time: str, raw: bytes) -> None:
        """Store a message about to be sent and advance ``next_out`` past it (one transaction)."""
        with self._lock:
            self._db.execute("BEGIN")
            self._db.execute("INSERT OR REPLACE INTO fix_outbound VALUES (?,?,?,?,?)",
                             (key, seq, msg_type, sending_time, raw))
            self._upsert(key, seq + 1, None)
            self._db.execute("COMMIT")
            self._n_saved += 1
            if self.keep_messages and self._n_saved % 10_000 == 0:
                self._db.execute("DELETE FROM fix_outbound WHERE session_key=? AND seq < ?",
                                 (key, seq - self.keep_messages))

    def load_outbound(self, key: str, begin: int, end: int | None) -> list[tuple[int, str, str, bytes]]:
        """Stored ``(seq, msg_type, sending_time, raw)`` with ``begin <= seq <= end`` (None = all)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, msg_type, sending_time, raw FROM fix_outbound WHERE session_key=? "
                "AND seq >= ? AND seq <= ? ORDER BY seq",
                (key, begin, end if end is not None else 1 << 62)).fetchall()
        return [(int(s), str(t), str(st), bytes(r)) for s, t, st, r in rows]
