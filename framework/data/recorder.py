"""Record a live feed into a Parquet catalog (``book``, ``trades``, ``quotes``, ``markets``).

The recorder iterates a live ``DataFeed`` (see :mod:`framework.data.live`) and buffers its rows:

* ``book``: every BOOK row as the feed produced it: snapshot groups (initial books, books
  re-fetched after a sequence gap or a reconnect) and level updates with the exchange ``seq``
  (``null`` for REST-polled updates);
* ``trades``: every trade (already deduplicated by ``trade_id``);
* ``quotes``: the top of book, one row whenever the best YES/NO bid (price or size) changes,
  derived from the book after each update (after a whole snapshot group).

**Files.** Every ``flush_seconds`` (default 5) the buffer is written as its own small Parquet
file per partition, ``<out>/<kind>/series=<S>/date=<YYYY-MM-DD>/part-<session>-<n>.parquet``
(``session`` = the recorder's UTC start time, ``n`` = flush number), through
:func:`framework.data.catalog.write_table` (temp file + rename: a file is either complete or
absent). A crash loses at most the rows of the current buffer. Every ``rotate_minutes``
(default 60) and at shutdown the small files of the period are compacted into one file per
partition, ``part-<session>-<first n>-<last n>.parquet``; compaction is crash-safe (the merged
file is written under a hidden ``_compact-`` name with a manifest, the parts are removed, then
it is renamed; an interrupted compaction is completed the next time a recorder opens the
catalog). At each rotation the recorder also writes a snapshot of every book it holds
(a *checkpoint*), so each period replays on its own (``start=`` filters included).

**New markets.** With ``discover`` (``kalshi record --series`` passes a lookup of the series'
open markets) the recorder asks every ``discover_seconds`` (default 60) for markets it does not
record yet, writes their ``markets`` rows and subscribes the feed to them, so a recorder left
running for days also records the markets Kalshi lists after it started (a daily series gets a
new event every day). A failed lookup is logged and retried at the next interval.

Timestamps are the feed's: local receive time, strictly increasing, so replaying the catalog
with :class:`~framework.data.replay.ParquetReplayFeed` reproduces the books the live feed had,
row for row.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ..core.events import BOOK, IDLE, MIXED, QUOTE, TRADE
from .catalog import write_table

__all__ = ["RecordStats", "Recorder", "markets_rows", "recover_compactions"]

log = logging.getLogger(__name__)

_BOOK_COLS = ("ts", "ticker", "side", "price", "size", "seq", "snapshot")
_TRADE_COLS = ("ts", "ticker", "trade_id", "yes_price", "count", "taker_side")
_QUOTE_COLS = ("ts", "ticker", "yes_bid", "no_bid", "yes_bid_size", "no_bid_size")
_KINDS = {"book": _BOOK_COLS, "trades": _TRADE_COLS, "quotes": _QUOTE_COLS}


@dataclass
class RecordStats:
    rows: dict[str, int] = field(default_factory=lambda: {"book": 0, "trades": 0, "quotes": 0})
    files: int = 0
    flushes: int = 0
    rotations: int = 0
    discovered: int = 0  # markets added while recording
    discovery_errors: int = 0
    started: float = field(default_factory=time.time)

    def summary(self) -> str:
        new = f", {self.discovered} market(s) added while recording" if self.discovered else ""
        return (f"{self.rows['book']} book rows, {self.rows['trades']} trades, {self.rows['quotes']} quotes "
                f"in {self.files} files ({self.flushes} flushes, {self.rotations} compactions{new})")


def markets_rows(markets: Iterable[Any], series: str | None = None) -> list[dict[str, Any]]:
    """Rows of the catalog's ``markets`` table from :class:`framework.kalshi.models.Market` records.

    ``result``/``settle_ts`` are recorded only when the market is already settled.
    """
    rows = []
    for m in markets:
        raw = m.raw or {}
        s = series or raw.get("series_ticker") or (m.event_ticker or m.ticker).split("-", 1)[0]
        open_ts = m.open_time if m.open_time is not None else (m.created_time or 0)
        close_ts = m.close_time if m.close_time is not None else (m.latest_expiration_time or open_ts)
        result = m.result if m.result in ("yes", "no") else None
        rows.append({
            "ticker": m.ticker,
            "event_ticker": m.event_ticker,
            "series_ticker": s,
            "open_ts": open_ts,
            "close_ts": max(close_ts, open_ts),
            "settle_ts": m.settlement_ts if result else None,
            "result": result,
            "title": m.title or m.yes_sub_title or None,
        })
    return rows


def recover_compactions(root: str | os.PathLike[str]) -> int:
    """Finish (or undo) compactions a crashed recorder left behind; returns how many were fixed."""
    n = 0
    for manifest in Path(root).rglob("_compact-*.json"):
        d = manifest.parent
        final = manifest.name[len("_compact-"):-len(".json")] + ".parquet"
        hidden = d / f"_compact-{final}"
        try:
            parts = json.loads(manifest.read_text())["parts"]
        except (OSError, ValueError, KeyError):
            parts = []
        if hidden.exists():
            for p in parts:
                (d / p).unlink(missing_ok=True)
            os.replace(hidden, d / final)
        manifest.unlink(missing_ok=True)
        n += 1
    for orphan in Path(root).rglob("_compact-*.parquet"):  # merged file without manifest: parts still there
        if not orphan.with_suffix(".json").exists():
            orphan.unlink(missing_ok=True)
            n += 1
    return n


class Recorder:
    """Writes a live feed's chunks into a catalog (see module docstring).

    Args:
        feed: a live ``DataFeed`` (already subscribed to the markets to record).
        out: catalog root.
        markets: ``markets`` table rows (``markets_rows``) to write first (their series decide the
            partition folders).
        flush_seconds / rotate_minutes: see module docstring.
        on_chunk: optional callback ``(kind, cols)`` (tests and monitoring).
        discover: optional callable returning ``markets`` rows of the markets that should be
            recorded now (e.g. a series' open markets); new ones are added while recording.
        discover_seconds: how often ``discover`` is called (default 60).
        on_new_markets: optional callback with the tickers each discovery added.
    """

    def __init__(self, feed, out: str | os.PathLike[str], *, markets: Iterable[dict[str, Any]] = (),
                 flush_seconds: float = 5.0, rotate_minutes: float = 60.0,
                 on_chunk: Callable[[int, tuple], None] | None = None, compact: bool = True,
                 discover: Callable[[], list[dict[str, Any]]] | None = None, discover_seconds: float = 60.0,
                 on_new_markets: Callable[[list[str]], None] | None = None) -> None:
        if flush_seconds <= 0:
            raise ValueError(f"flush_seconds must be > 0, got {flush_seconds!r}")
        if rotate_minutes <= 0:
            raise ValueError(f"rotate_minutes must be > 0, got {rotate_minutes!r}")
        if discover is not None and discover_seconds <= 0:
            raise ValueError(f"discover_seconds must be > 0, got {discover_seconds!r}")
        self.feed = feed
        self.root = Path(out)
        self.root.mkdir(parents=True, exist_ok=True)
        recover_compactions(self.root)
        self.flush_seconds = float(flush_seconds)
        self.rotate_seconds = float(rotate_minutes) * 60.0
        self.on_chunk = on_chunk
        self.compact = compact
        self.session = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        self.stats = RecordStats()
        self.stop_event = threading.Event()
        self._buf: dict[str, dict[str, list]] = {k: {c: [] for c in cols} for k, cols in _KINDS.items()}
        self._books: dict[str, tuple[dict[int, int], dict[int, int], list[int | None]]] = {}
        self._last_quote: dict[str, tuple] = {}
        self._last_ts = 0
        self._flush_no = 0
        self._period_parts: list[tuple[Path, int]] = []
        self._period_first = 1
        self.discover = discover
        self.discover_seconds = float(discover_seconds)
        self.on_new_markets = on_new_markets
        self._discoveries = 0
        self.markets = list(markets)
        if self.markets:
            self._write_markets(self.markets)

    # ---- markets -----------------------------------------------------------------------------
    def _write_markets(self, rows: list[dict[str, Any]], part: int = 0) -> None:
        import pandas as pd

        df = pd.DataFrame(rows, columns=["ticker", "event_ticker", "series_ticker", "open_ts", "close_ts",
                                         "settle_ts", "result", "title"])
        suffix = f"-{part:04d}" if part else ""
        write_table(self.root, "markets", df, filename=f"markets-{self.session}{suffix}.parquet")

    def discover_markets(self) -> list[str]:
        """Ask ``discover`` for markets and start recording the new ones; returns their tickers."""
        if self.discover is None:
            return []
        try:
            rows = self.discover()
        except Exception as e:  # a failed lookup must not stop a long recording
            self.stats.discovery_errors += 1
            log.warning("market discovery failed (%s: %s); retrying in %g s", type(e).__name__, e,
                        self.discover_seconds)
            return []
        known = {r["ticker"] for r in self.markets}
        new = [r for r in rows if r["ticker"] not in known]
        if not new:
            return []
        self._discoveries += 1
        self._write_markets(new, part=self._discoveries)  # before any of their rows can be flushed
        self.markets.extend(new)
        tickers = [r["ticker"] for r in new]
        self.feed.subscribe(tickers)
        self.stats.discovered += len(tickers)
        if self.on_new_markets is not None:
            self.on_new_markets(tickers)
        return tickers

    # ---- main loop ---------------------------------------------------------------------------
    def run(self, duration: float | None = None) -> RecordStats:
        """Record until ``stop()`` (or SIGINT handled by the caller), or for ``duration`` s."""
        t_end = time.monotonic() + duration if duration is not None else None
        next_flush = time.monotonic() + self.flush_seconds
        next_rotate = time.monotonic() + self.rotate_seconds
        next_discover = time.monotonic() + self.discover_seconds
        try:
            for kind, cols in self.feed.chunks():
                self.handle(kind, cols)
                now = time.monotonic()
                if self.discover is not None and now >= next_discover:
                    self.discover_markets()
                    next_discover = time.monotonic() + self.discover_seconds
                if now >= next_flush:
                    self.flush()
                    next_flush = now + self.flush_seconds
                if now >= next_rotate:
                    self.rotate()
                    next_rotate = now + self.rotate_seconds
                if self.stop_event.is_set() or (t_end is not None and now >= t_end):
                    break
        finally:
            self.close()
        return self.stats

    def stop(self) -> None:
        """Ask ``run()`` to flush and return (thread/signal safe)."""
        self.stop_event.set()

    def close(self) -> None:
        """Flush, compact the period and close the feed."""
        try:
            self.flush()
            if self.compact:
                self._compact_period()
        finally:
            self.feed.close()

    # ---- rows --------------------------------------------------------------------------------
    def handle(self, kind: int, cols: tuple) -> None:
        if self.on_chunk is not None:
            self.on_chunk(kind, cols)
        if kind == BOOK:
            self._book(cols)
        elif kind == TRADE:
            b = self._buf["trades"]
            for name, col in zip(_TRADE_COLS, cols):
                b[name].extend(col)
            self.stats.rows["trades"] += len(cols[0])
            self._last_ts = max(self._last_ts, cols[0][-1])
        elif kind == MIXED:
            raise ValueError("the recorder expects live feeds, which never yield MIXED chunks")
        elif kind == QUOTE:
            b = self._buf["quotes"]
            for name, col in zip(_QUOTE_COLS, cols):
                b[name].extend(col)
        elif kind != IDLE:
            raise ValueError(f"unknown chunk kind {kind!r}")

    def _book(self, cols: tuple) -> None:
        b = self._buf["book"]
        bts, btk, bside, bprice, bsize, bseq, bsnap = (b[c] for c in _BOOK_COLS)
        books = self._books
        ts_c, tk_c, yes_c, price_c, size_c, seq_c, snap_c = cols
        n = len(ts_c)
        group: tuple | None = None
        for i in range(n):
            ts, tk, is_yes, price, size, seq, snap = (ts_c[i], tk_c[i], yes_c[i], price_c[i], size_c[i],
                                                      seq_c[i], snap_c[i])
            bts.append(ts)
            btk.append(tk)
            bside.append("yes" if is_yes else "no")
            bprice.append(price)
            bsize.append(size)
            bseq.append(seq)
            bsnap.append(bool(snap))
            st = books.get(tk)
            if st is None:
                st = books[tk] = ({}, {}, [None])
            key = (tk, ts, bool(snap))
            if snap and group != key:
                st[0].clear()
                st[1].clear()
            group = key
            ladder = st[0] if is_yes else st[1]
            if size > 0:
                ladder[price] = size
            else:
                ladder.pop(price, None)
            st[2][0] = seq
            # quote at the end of each run of rows with the same (ticker, ts)
            if i + 1 == n or tk_c[i + 1] != tk or ts_c[i + 1] != ts:
                self._quote(ts, tk, st)
        self.stats.rows["book"] += n
        self._last_ts = max(self._last_ts, ts_c[-1])

    def _quote(self, ts: int, tk: str, st) -> None:
        yes, no = st[0], st[1]
        yb = max(yes) if yes else 0
        nb = max(no) if no else 0
        q = (yb, nb, yes[yb] if yb else None, no[nb] if nb else None)
        if self._last_quote.get(tk) == q:
            return
        self._last_quote[tk] = q
        b = self._buf["quotes"]
        b["ts"].append(ts)
        b["ticker"].append(tk)
        b["yes_bid"].append(q[0])
        b["no_bid"].append(q[1])
        b["yes_bid_size"].append(q[2])
        b["no_bid_size"].append(q[3])
        self.stats.rows["quotes"] += 1

    # ---- files -------------------------------------------------------------------------------
    def flush(self) -> list[Path]:
        """Write the buffered rows as one new file per kind and partition."""
        import pandas as pd

        written: list[Path] = []
        if not any(self._buf[k]["ts"] for k in _KINDS):
            return written
        self._flush_no += 1
        name = f"part-{self.session}-{self._flush_no:06d}.parquet"
        for kind, cols in _KINDS.items():
            b = self._buf[kind]
            if not b["ts"]:
                continue
            df = pd.DataFrame({c: b[c] for c in cols})
            if kind == "book":
                df["seq"] = df["seq"].astype("Int64")
            elif kind == "quotes":
                df["yes_bid_size"] = df["yes_bid_size"].astype("Int64")
                df["no_bid_size"] = df["no_bid_size"].astype("Int64")
            paths = write_table(self.root, kind, df, partition_by="series", filename=name)
            written.extend(paths)
            self._period_parts.extend((p, self._flush_no) for p in paths)
            for c in cols:
                b[c].clear()
        self.stats.flushes += 1
        self.stats.files += len(written)
        log.debug("recorder flush %d: %d files", self._flush_no, len(written))
        return written

    def rotate(self) -> None:
        """End the period: flush, compact its files, then write a checkpoint snapshot of every book."""
        self.flush()
        if self.compact:
            self._compact_period()
        self._checkpoint()

    def _checkpoint(self) -> None:
        b = self._buf["book"]
        ts = self._last_ts + 1
        for tk in sorted(self._books):
            yes, no, seq = self._books[tk]
            rows = [(True, p, yes[p]) for p in sorted(yes)] + [(False, p, no[p]) for p in sorted(no)]
            if not rows:
                rows = [(True, 1, 0)]
            for is_yes, p, s in rows:
                b["ts"].append(ts)
                b["ticker"].append(tk)
                b["side"].append("yes" if is_yes else "no")
                b["price"].append(p)
                b["size"].append(s)
                b["seq"].append(seq[0])
                b["snapshot"].append(True)
            self.stats.rows["book"] += len(rows)
        self._last_ts = ts

    def _compact_period(self) -> None:
        parts, self._period_parts = self._period_parts, []
        by_dir: dict[Path, list[tuple[Path, int]]] = {}
        for p, n in parts:
            by_dir.setdefault(p.parent, []).append((p, n))
        for d, items in by_dir.items():
            items = [(p, n) for p, n in items if p.exists()]
            if len(items) < 2:
                continue
            items.sort(key=lambda x: x[1])
            final = f"part-{self.session}-{items[0][1]:06d}-{items[-1][1]:06d}.parquet"
            try:
                table = pa.concat_tables([pq.read_table(p) for p, _ in items])
                hidden = d / f"_compact-{final}"
                tmp = d / f".{final}.tmp"
                pq.write_table(table, tmp, compression="zstd")
                os.replace(tmp, hidden)
                manifest = d / f"_compact-{final[:-len('.parquet')]}.json"
                mtmp = d / f".{manifest.name}.tmp"
                mtmp.write_text(json.dumps({"parts": [p.name for p, _ in items]}))
                os.replace(mtmp, manifest)
                for p, _ in items:
                    p.unlink(missing_ok=True)
                os.replace(hidden, d / final)
                manifest.unlink(missing_ok=True)
                self.stats.files -= len(items) - 1
            except (OSError, pa.ArrowException) as e:
                log.warning("could not compact %d files in %s (%s); they stay as they are", len(items), d, e)
        self.stats.rotations += 1
