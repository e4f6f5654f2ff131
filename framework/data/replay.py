"""ParquetReplayFeed: stream a catalog in time order with memory bounded by the batch size.

Kinds: ``quotes``, ``book``, ``trades`` (mixed freely) or ``candles`` (alone, one period; a
bar is emitted at its end time, see docs/simulation.md "Candles").

Every Parquet file of the selected kinds is a *source* read with ``iter_batches``. Sources are
merged by a windowed k-way merge done with numpy: the window ends at the smallest "last
timestamp" among the sources' current batches, so every row up to it is known and can be sorted
once (``lexsort`` by timestamp, kind rank, source index; stable, so row order within a file is
kept). Memory holds one batch per source, never the dataset. With a single source (one market,
one kind) the merge is skipped and batches pass straight through.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from ..core.events import BOOK, CANDLE, KIND_RANK, MIXED, QUOTE, TRADE
from .catalog import READ_ERRORS, CatalogError, kind_files, validate_file
from .checks import DataWarnings, SourceCheck, _str_lengths, check_group
from .trade_overlap import check_duplicate_trades

__all__ = ["ParquetReplayFeed"]

# below this many files, opening them one after another is cheaper than starting threads
_PARALLEL_OPEN_MIN = 16
_OPEN_WORKERS = 4
_KIND_BY_NAME = {"quotes": QUOTE, "book": BOOK, "trades": TRADE, "candles": CANDLE}
_PARQUET_FORMAT = ds.ParquetFileFormat(  # many-file scans verify page checksums too
    default_fragment_scan_options=ds.ParquetFragmentScanOptions(page_checksum_verification=True))
# columns read per kind, in the chunk layout order after ts and ticker (see core.events)
_COLUMNS = {
    QUOTE: ("yes_bid", "no_bid", "yes_bid_size", "no_bid_size"),
    BOOK: ("side", "price", "size", "seq", "snapshot"),
    TRADE: ("trade_id", "yes_price", "count", "taker_side"),
    CANDLE: ("period", "open", "high", "low", "close", "volume", "yes_bid_close", "yes_ask_close"),
}


def _one_line(exc: BaseException) -> str:
    """pyarrow's messages can span lines; errors here are one line."""
    return " ".join(str(exc).split()) or type(exc).__name__


def _to_ns(value) -> int | None:
    """Accept int ns, str/datetime/pandas Timestamp (naive = UTC); ``None`` passes through."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    import pandas as pd  # only for parsing user-supplied times, never on the hot path

    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"cannot parse time {value!r}: {exc}; use e.g. '2026-11-20' or "
                         "'2026-11-20T14:00:00Z'") from None
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return int(ts.value)


def _periods(path: Path, meta: pq.FileMetaData) -> set[int]:
    """The candle periods in one file: from the footer's statistics when each row group holds one
    period (the usual case, no data read), else from the ``period`` column."""
    idx = meta.schema.to_arrow_schema().get_field_index("period")
    out: set[int] = set()
    for g in range(meta.num_row_groups):
        st = meta.row_group(g).column(idx).statistics
        if st is None or not st.has_min_max or st.min != st.max:
            try:
                col = pq.read_table(path, columns=["period"]).column(0)
            except READ_ERRORS as exc:
                raise CatalogError(f"corrupt or unreadable Parquet file {path}: {exc}") from None
            return set(pc.unique(col).to_pylist())
        out.add(int(st.min))
    return out


class _Source:
    """One Parquet file of one kind, yielding filtered batches as numpy/py columns."""

    __slots__ = ("path", "kind", "rank", "index", "_batches", "ts", "cols", "pos", "feed", "_next",
                 "_started", "_metadata", "_batch_size", "check", "prechecked")

    def __init__(self, path: Path, kind: int, index: int, batch_size: int,
                 feed: ParquetReplayFeed, metadata: pq.FileMetaData | None = None,
                 check: SourceCheck | None = None) -> None:
        self.path = path
        self.check = check  # read checks (framework.data.checks), None when turned off
        self.prechecked = False  # True when check_group already ran the hard checks on its batches
        self.kind = kind
        self.rank = KIND_RANK[kind]
        self.index = index
        self.feed = feed  # read at every batch so a mid-run subscribe() takes effect
        self._metadata = metadata
        self._batch_size = batch_size
        self._batches: Iterator[pa.RecordBatch] | None = None  # opened on first read
        self.ts: np.ndarray | None = None
        self.cols: list | None = None
        self.pos = 0
        self._next: pa.RecordBatch | None = None
        self._started = False

    @property
    def columns(self) -> list[str]:
        return ["ts", "ticker", *_COLUMNS[self.kind]]

    @property
    def fits_one_batch(self) -> bool:
        """True when the whole file is one row group no larger than a batch (see ``preload``)."""
        meta = self._metadata
        return meta is not None and meta.num_row_groups == 1 and meta.num_rows <= self._batch_size

    def preload(self, batches: list[pa.RecordBatch]) -> None:
        """Use batches already read (by a many-file scan) instead of opening the file."""
        self._batches = iter(batches)

    def _open(self) -> None:
        try:
            # the footer read at construction is reused: a second parse costs ~0.07 ms per file
            # page checksums (written by write_table) are verified: a flipped byte fails the read
            self._batches = pq.ParquetFile(self.path, metadata=self._metadata,
                                           page_checksum_verification=True).iter_batches(
                batch_size=self._batch_size, columns=self.columns)
        except READ_ERRORS as exc:
            raise CatalogError(f"corrupt or unreadable Parquet file {self.path}: {_one_line(exc)}") from None

    def refill(self) -> bool:
        """Make the prefetched batch current and prefetch the next; False when exhausted.

        One batch of lookahead tells the merge whether more rows follow (``more``): a source on
        its last batch cannot produce earlier rows later, so it does not hold back the window.
        """
        if self._next is None and not self._started:
            self._started = True
            self._next = self._read()
        if self._next is None:
            self.ts = None
            return False
        self._load(self._next)
        self._next = self._read()
        return True

    @property
    def more(self) -> bool:
        return self._next is not None

    def _read(self) -> pa.RecordBatch | None:
        if self._batches is None:
            self._open()
        while True:
            try:
                batch = next(self._batches)
            except StopIteration:
                if self.check is not None and self._metadata is not None:
                    self.check.complete(self._metadata.num_rows)  # a reader that stopped early
                return None
            except READ_ERRORS as exc:
                raise CatalogError(f"corrupt or unreadable Parquet file {self.path}: {_one_line(exc)}") from None
            batch = self._filter(batch)
            if batch.num_rows:
                return batch

    def _filter(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        mask = None
        ts = batch.column(0)
        if ts.type != pa.timestamp("ns", tz="UTC"):
            ts = ts.cast(pa.timestamp("ns", tz="UTC"))
            batch = pa.RecordBatch.from_arrays([ts, *batch.columns[1:]], names=batch.schema.names)
        if self.check is not None and not self.prechecked:  # raw batch: a filter must not hide an unsorted file
            self.check.batch(batch, ts.cast(pa.int64()).to_numpy(zero_copy_only=False))
        feed = self.feed
        if feed.tickers is not None:
            mask = pc.is_in(batch.column(1), value_set=feed.value_set())
        if feed.start is not None:
            m = pc.greater_equal(ts, pa.scalar(feed.start, pa.timestamp("ns", tz="UTC")))
            mask = m if mask is None else pc.and_(mask, m)
        if feed.end is not None:
            m = pc.less(ts, pa.scalar(feed.end, pa.timestamp("ns", tz="UTC")))
            mask = m if mask is None else pc.and_(mask, m)
        if self.kind == CANDLE and feed.candle_period is not None:  # once per batch, candles only
            m = pc.equal(batch.column(2), pa.scalar(feed.candle_period, pa.int64()))
            mask = m if mask is None else pc.and_(mask, m)
        return batch if mask is None else batch.filter(mask)

    def _load(self, batch: pa.RecordBatch) -> None:
        try:
            self._convert(batch)
        except (UnicodeDecodeError, pa.ArrowException) as exc:  # corrupt strings in a file without checksums
            raise CatalogError(f"corrupt or unreadable Parquet file {self.path}: {_one_line(exc)}") from None

    def _convert(self, batch: pa.RecordBatch) -> None:
        self.ts = batch.column(0).cast(pa.int64()).to_numpy()
        tick = batch.column(1)
        # tickers repeat: dictionary-encode so each row references one shared str object
        enc = pc.dictionary_encode(tick) if not pa.types.is_dictionary(tick.type) else tick
        names_list = enc.dictionary.to_pylist()
        names = np.array(names_list, dtype=object)
        idx = enc.indices.to_numpy(zero_copy_only=False)
        cols = [names[idx]]
        check = self.check
        if check is not None:
            check.window(self.ts, names_list, idx)
        for i, name in enumerate(_COLUMNS[self.kind], start=2):
            col = batch.column(i)
            if name == "side":  # book side -> bool is_yes (one compare per row in the loop saved)
                is_yes = pc.equal(col, "yes").to_numpy(zero_copy_only=False)
                if check is not None:  # a 3-byte side that is not "yes" is corrupt, not a NO
                    check.side_matches(_str_lengths(col) == 3, is_yes, "side")
                cols.append(is_yes)
            elif col.null_count == 0 and (pa.types.is_integer(col.type) or pa.types.is_boolean(col.type)):
                cols.append(col.to_numpy(zero_copy_only=False))  # stays numpy; tolist() gives Python ints
            else:
                cols.append(np.array(col.to_pylist(), dtype=object))
        self.cols = cols
        self.pos = 0

    def take_before(self, horizon: int) -> tuple[np.ndarray, list[np.ndarray]]:
        """Rows with ts < horizon from the current position (rows at the horizon may continue
        in the next batch, so they wait for the next window)."""
        stop = int(np.searchsorted(self.ts, horizon, side="left"))
        start = self.pos
        if stop < start:
            stop = start
        self.pos = stop
        return self.ts[start:stop], [c[start:stop] for c in self.cols]

    def extend(self) -> None:
        """Append the prefetched batch to the unconsumed rows (a timestamp spans batches)."""
        rest_ts = self.ts[self.pos:]
        rest_cols = [c[self.pos:] for c in self.cols]
        self._load(self._next)
        self.ts = np.concatenate([rest_ts, self.ts])
        self.cols = [np.concatenate([a, b]) for a, b in zip(rest_cols, self.cols)]
        self._next = self._read()

    def take_all(self) -> tuple[np.ndarray, list[np.ndarray]]:
        start = self.pos
        self.pos = len(self.ts)
        return self.ts[start:], [c[start:] for c in self.cols]

    @property
    def exhausted_batch(self) -> bool:
        return self.pos >= len(self.ts)


def _preload_small_files(sources: list[_Source]) -> set[int]:
    """Read many one-batch files with one ``pyarrow.dataset`` scan per schema.

    Arrow pipelines the files' I/O and decoding on its own threads, which costs about a third
    of opening them one by one. Files are grouped by their exact Arrow schema so that no
    column is cast. On any read error nothing is preloaded: the file-by-file path then reports
    the bad file by name. Returns the indices of the sources preloaded.
    """
    done: set[int] = set()
    groups: dict[str, tuple[pa.Schema, list[_Source]]] = {}  # schema text -> (schema, sources)
    for s in sources:
        schema = s._metadata.schema.to_arrow_schema()
        projected = pa.schema([schema.field(c) for c in s.columns])
        groups.setdefault(projected.to_string(), (projected, []))[1].append(s)
    batch_size = max(s._batch_size for s in sources) if sources else 0
    for projected, group in groups.values():
        if len(group) < _PARALLEL_OPEN_MIN:
            continue
        by_path: dict[str, list[pa.RecordBatch]] = {str(s.path): [] for s in group}
        try:
            dataset = ds.dataset(list(by_path), schema=projected, format=_PARQUET_FORMAT)
            for tagged in dataset.scanner(columns=projected.names, batch_size=batch_size).scan_batches():
                by_path[tagged.fragment.path].append(tagged.record_batch)
        except (*READ_ERRORS, KeyError):
            continue
        # the hard read checks once over the group (per-call overhead dominates tiny files); on
        # a failure nothing is marked and each file's own check raises the exact error
        if all(s.check is not None for s in group) and check_group(
                [(s.check, b) for s in group for b in by_path[str(s.path)]]):
            for s in group:
                s.prechecked = True
        for s in group:
            s.preload(by_path[str(s.path)])
            done.add(s.index)
    return done


class ParquetReplayFeed:
    """Replays a catalog's ``quotes`` / ``book`` / ``trades`` / ``candles`` in deterministic time order.

    ``kinds``: the kinds to replay; default ``"auto"`` = ``book`` when the catalog has L2 data,
    else ``quotes``, plus ``trades`` when present; ``candles`` only when the catalog has none of
    these (trades are finer than bars). ``candles`` replay alone and of one ``candle_period``
    (minutes; default: the only period in the catalog, an error when there are several); each
    bar's row is emitted at its end ``ts``, and ``start``/``end`` select bars by that end.
    ``markets`` and ``start``/``end`` (``end`` exclusive) filter rows. ``subscribe(tickers)``
    narrows the markets for batches not yet read.
    """

    def __init__(self, catalog: str | Path, markets: Iterable[str] | None = None, start=None, end=None,
                 kinds: str | Iterable[str] = "auto", batch_size: int = 65_536,
                 candle_period: int | None = None, check: bool = True,
                 windows: dict[str, tuple[int, int]] | None = None) -> None:
        self.root = Path(catalog)
        # read checks (framework.data.checks): hard problems raise CatalogError, soft ones are
        # collected here; ``windows`` (ticker -> (open_ts, settle_ts)) enables the window check
        self.check = check
        self.windows = windows
        self.data_warnings = DataWarnings()
        self._checks: list[SourceCheck] = []
        self._base: set[str] | None = set(markets) if markets is not None else None
        self._subscribed: set[str] = set()
        self.tickers: set[str] | None = self._base
        self._value_set: pa.Array | None = None
        self.start = _to_ns(start)
        self.end = _to_ns(end)
        self.batch_size = batch_size
        self._files_by_kind: dict[str, list[Path]] = {}
        self.kinds = self._resolve_kinds(kinds)
        self.candle_period: int | None = None
        self.files: list[tuple[int, Path]] = []
        self._metadata: list[pq.FileMetaData] = []
        self.total_rows = 0
        for name in self.kinds:
            for path in self._kind_files(name):
                try:
                    meta = pq.read_metadata(path)
                except READ_ERRORS as exc:
                    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                    raise CatalogError(f"corrupt or unreadable Parquet file {path}: {reason}") from None
                validate_file(path, name, meta.schema.to_arrow_schema())
                self.total_rows += meta.num_rows
                self.files.append((_KIND_BY_NAME[name], path))
                self._metadata.append(meta)
        if "candles" in self.kinds:
            self._select_period(candle_period)
        if check and "trades" in self.kinds:  # one print in two files would replay twice
            check_duplicate_trades([(p, m) for (k, p), m in zip(self.files, self._metadata) if k == TRADE])
        self.rows_read = 0

    def _kind_files(self, name: str) -> list[Path]:
        """``kind_files`` once per kind (walking a 1,000-file tree twice costs ~50 ms)."""
        if name not in self._files_by_kind:
            self._files_by_kind[name] = kind_files(self.root, name)
        return self._files_by_kind[name]

    def _resolve_kinds(self, kinds) -> tuple[str, ...]:
        if kinds == "auto":
            has = {k: bool(self._kind_files(k)) for k in ("book", "quotes", "trades")}
            chosen = ["book"] if has["book"] else ["quotes"] if has["quotes"] else []
            if has["trades"]:
                chosen.append("trades")
            if not chosen and self._kind_files("candles"):
                chosen = ["candles"]  # bars only when nothing finer exists
            if not chosen:
                raise CatalogError(f"catalog {self.root} has no quotes, book, trades or candles data; "
                                   "write some with framework.data.catalog.write_table")
            return tuple(chosen)
        kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
        for k in kinds:
            if k not in _KIND_BY_NAME:
                raise ValueError(f"unknown data kind {k!r}; use 'quotes', 'book', 'trades' or 'candles'")
        if "candles" in kinds and len(set(kinds)) > 1:
            raise ValueError(f"kinds {list(kinds)}: 'candles' replay alone (bars and finer data would "
                             "fill the same orders twice); use kinds = ['candles'] or drop it")
        return kinds

    def _select_period(self, period: int | None) -> None:
        """Pick the one candle period replayed and drop candle files that hold none of it."""
        if period is not None and (type(period) is not int or period < 1):
            raise ValueError(f"candle_period must be a whole number of minutes >= 1, got {period!r}")
        per_file = [_periods(path, meta) for (_, path), meta in zip(self.files, self._metadata)]
        present = sorted(set().union(*per_file))
        if period is None:
            if len(present) > 1:
                raise CatalogError(f"catalog {self.root} has candles of periods {', '.join(map(str, present))} "
                                   "minutes; choose one with [broker] candle_period = N")
            self.candle_period = present[0] if present else None
            return
        if present and period not in present:
            raise CatalogError(f"catalog {self.root} has no {period}-minute candles; periods present: "
                               f"{', '.join(map(str, present))} minutes")
        self.candle_period = period
        keep = [i for i, ps in enumerate(per_file) if period in ps]
        self.files = [self.files[i] for i in keep]
        self._metadata = [self._metadata[i] for i in keep]
        self.total_rows = sum(m.num_rows for m in self._metadata)

    def subscribe(self, tickers: Iterable[str]) -> None:
        """Add markets to the subscription. Before the first call every market of the run is
        replayed; after it only subscribed ones (within the run's ``markets``, if given)."""
        self._subscribed |= set(tickers)
        subs = self._subscribed if self._base is None else self._subscribed & self._base
        self.tickers = subs
        self._value_set = None

    def value_set(self) -> pa.Array:
        if self._value_set is None:
            self._value_set = pa.array(sorted(self.tickers or ()), pa.string())
        return self._value_set

    def close(self) -> None:
        self.files = []
        self._metadata = []

    def require_data_between(self, start: int | None, end: int | None) -> None:
        """Raise CatalogError when no file's ``ts`` range (from the Parquet footers' statistics,
        no data read) overlaps ``[start, end)``, saying which range the data spans."""
        if start is None and end is None:
            return
        lo = hi = None
        for meta in self._metadata:
            unit = meta.schema.to_arrow_schema().field(0).type.unit
            scale = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}[unit]
            for i in range(meta.num_row_groups):
                st = meta.row_group(i).column(0).statistics
                if st is None or not st.has_min_max:
                    return  # no statistics: cannot tell cheaply, let the replay find out
                a, b = st.min_raw * scale, st.max_raw * scale
                lo = a if lo is None else min(lo, a)
                hi = b if hi is None else max(hi, b)
                if (start is None or b >= start) and (end is None or a < end):
                    return
        if lo is None:
            return
        import pandas as pd

        def t(ns):
            return "-" if ns is None else pd.Timestamp(ns, tz="UTC").isoformat()
        raise CatalogError(f"no {'/'.join(self.kinds)} data between {t(start)} and {t(end)} in {self.root}; "
                           f"the data spans {t(lo)} .. {t(hi)}")

    def finish_checks(self) -> DataWarnings:
        """Turn the read checks' counts into :attr:`data_warnings` (call after the replay)."""
        for c in self._checks:
            c.finish(self.data_warnings)
        return self.data_warnings

    def chunks(self) -> Iterator[tuple[int, tuple[list, ...]]]:
        """Yield ``(kind, columns)`` chunks in replay order (see ``core.events``)."""
        live = self._open_sources()
        while live:
            if len(live) == 1:  # fast path: nothing to merge with
                s = live[0]
                ts, cols = s.take_all()
                self.rows_read += len(ts)
                yield s.kind, (ts.tolist(), *(c.tolist() for c in cols))
                if not s.refill():
                    live = []
                continue
            # rows before the horizon are final: no source can still produce an earlier row
            bounds = [int(s.ts[-1]) for s in live if s.more]
            if not bounds:  # every source is on its last batch: merge everything left
                pieces = [(s, *s.take_all()) for s in live if not s.exhausted_batch]
            else:
                horizon = min(bounds)
                pieces = []
                for s in live:
                    ts, cols = s.take_before(horizon)
                    if len(ts):
                        pieces.append((s, ts, cols))
                if not pieces:  # a whole batch sits at the horizon: widen that source's buffer
                    for s in live:
                        if s.more and int(s.ts[-1]) == horizon:
                            s.extend()
                    continue
            self.rows_read += sum(len(p[1]) for p in pieces)
            yield from self._merge(pieces)
            live = [s for s in live if not s.exhausted_batch or s.refill()]

    def _open_sources(self) -> list[_Source]:
        """Open every file and read its first batch (plus one of lookahead), in file order.

        With many files this start-up is most of the cost (~0.9 ms per file opened one by one),
        so small files (one row group, at most a batch) are read together by one multi-threaded
        ``pyarrow.dataset`` scan and larger ones are opened on a small thread pool. It stays
        deterministic: it all completes before the first event reaches the strategy, every
        source sees the same subscription filter, and each file's batches keep their order.
        """
        names = {v: k for k, v in _KIND_BY_NAME.items()}
        self._checks = [SourceCheck(p, names[k], self.windows) if self.check else None for k, p in self.files]
        sources = [_Source(p, k, i, self.batch_size, self, meta, check)
                   for i, ((k, p), meta, check) in enumerate(zip(self.files, self._metadata, self._checks))]
        self._checks = [c for c in self._checks if c is not None]
        if len(sources) < _PARALLEL_OPEN_MIN:
            return [s for s in sources if s.refill()]
        preloaded = _preload_small_files([s for s in sources if s.fits_one_batch])
        with ThreadPoolExecutor(max_workers=min(_OPEN_WORKERS, os.cpu_count() or 1)) as pool:
            list(pool.map(_Source.refill, [s for s in sources if s.index not in preloaded]))
        # preloaded sources only filter and convert in memory: threads would just contend for the GIL
        for s in sources:
            if s.index in preloaded:
                s.refill()
        return [s for s in sources if s.ts is not None]  # refill() leaves ts None when empty

    @staticmethod
    def _merge(pieces) -> Iterator[tuple[int, tuple[list, ...]]]:
        kinds = {s.kind for s, _, _ in pieces}
        if len(pieces) == 1:
            s, ts, cols = pieces[0]
            yield s.kind, (ts.tolist(), *(c.tolist() for c in cols))
            return
        ts_all = np.concatenate([ts for _, ts, _ in pieces])
        rank = np.concatenate([np.full(len(ts), s.rank * 1_000_000 + s.index, dtype=np.int64)
                               for s, ts, _ in pieces])
        order = np.lexsort((rank, ts_all))  # stable: ties keep file row order
        ts_sorted = ts_all[order].tolist()
        if len(kinds) == 1:
            ncols = len(pieces[0][2])
            cols = [np.concatenate([c[j] for _, _, c in pieces])[order].tolist() for j in range(ncols)]
            yield pieces[0][0].kind, (ts_sorted, *cols)
            return
        kind_col = np.concatenate([np.full(len(ts), s.kind, dtype=object) for s, ts, _ in pieces])
        n = len(ts_all)
        none = np.full(n, None, dtype=object)
        generic = []
        for j in range(6):  # ticker + a..e
            parts = []
            for _, ts, c in pieces:
                parts.append(c[j] if j < len(c) else none[: len(ts)])
            generic.append(np.concatenate(parts)[order].tolist())
        yield MIXED, (ts_sorted, kind_col[order].tolist(), *generic)
