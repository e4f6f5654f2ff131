"""Catalog housekeeping: ``info`` (what a catalog holds, from Parquet footers) and ``compact``
(merge many small files per kind and partition into one, without changing the replay order).

Why compaction keeps the replay byte-identical: the replay orders events by (timestamp, kind
rank, source file in path order, row in file). ``compact`` only merges the files of one folder
(one kind, one ``series=/date=`` partition, no sub-folders), concatenated in path order and then
**stably** sorted by ``ts``, so ties keep (file, row) order. The merged file takes the folder's
place in path order, so the global order is unchanged.

Crash safety: a folder is rebuilt aside (``.<name>.compact-new``), then swapped in with two
renames (old -> ``.<name>.compact-old``, new -> ``<name>``); the next run finishes or rolls back
a swap a crash interrupted. Hidden folders are ignored by readers, so a reader never sees a mix.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from .catalog import (
    READ_ERRORS,
    SCHEMAS,
    CatalogError,
    _check_root,
    _conform,
    _read_file,
    _to_pandas,
    column_range,
    kind_files,
    read_markets,
    validate_file,
    write_table,
)
from .catalog_check import _fmt_ts, check_catalog, format_check
from .checks import check_row_count
from .replay import _PARQUET_FORMAT, _periods

__all__ = ["COMPACT_KINDS", "CompactPlan", "KindInfo", "catalog_info", "check_catalog", "compact",
           "format_check", "format_info", "plan_compact"]

# the time-stamped kinds the replay reads; markets (last file wins) and fee tables are left alone
COMPACT_KINDS: tuple[str, ...] = ("quotes", "book", "trades", "candles")
COMPACTED_NAME = "compact-0.parquet"
_NEW, _OLD = ".compact-new", ".compact-old"


# --------------------------------------------------------------------------- info


@dataclass
class KindInfo:
    """One kind's footprint, read from the Parquet footers only."""

    kind: str
    files: int = 0
    rows: int = 0
    bytes: int = 0
    partitions: int = 0  # distinct folders holding its files
    ts_min: int | None = None  # ns, from the ``ts`` column statistics
    ts_max: int | None = None
    periods: list[int] = field(default_factory=list)  # candles only


def _ts_range(meta: pq.FileMetaData) -> tuple[int | None, int | None]:
    # unknown without reading (no ``ts`` or a statistic missing): no range rather than a wrong one
    return column_range(meta, "ts") or (None, None)


def catalog_info(root: str | os.PathLike[str]) -> dict:
    """Summarise a catalog: per kind files, rows, bytes, partitions, time range and candle
    periods (footers only, no data pages read), plus market/event/series counts from ``markets``."""
    root_p = _check_root(root)
    kinds: dict[str, KindInfo] = {}
    for kind in SCHEMAS:
        files = kind_files(root_p, kind)
        if not files:
            continue
        info = KindInfo(kind, partitions=len({p.parent for p in files}))
        periods: set[int] = set()
        for path in files:
            try:
                meta = pq.read_metadata(path)
            except READ_ERRORS as exc:
                reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise CatalogError(f"corrupt or unreadable Parquet file {path}: {reason}") from None
            info.files += 1
            info.rows += meta.num_rows
            info.bytes += path.stat().st_size
            lo, hi = _ts_range(meta)
            if lo is not None:
                info.ts_min = lo if info.ts_min is None else min(info.ts_min, lo)
                info.ts_max = hi if info.ts_max is None else max(info.ts_max, hi)
            if kind == "candles" and meta.num_rows:
                periods |= _periods(path, meta)
        info.periods = sorted(periods)
        kinds[kind] = info
    out: dict = {"root": str(root_p), "kinds": kinds, "markets": 0, "events": 0, "series": 0,
                 "settled": 0, "bytes": sum(k.bytes for k in kinds.values())}
    if "markets" in kinds:
        m = read_markets(root_p)
        out.update(markets=len(m), events=int(m["event_ticker"].nunique()),
                   series=int(m["series_ticker"].nunique()), settled=int(m["result"].notna().sum()))
    return out


def _fmt_bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"  # pragma: no cover


def format_info(info: dict) -> str:
    """The ``kalshi catalog info`` text."""
    lines = [f"catalog {info['root']}: {_fmt_bytes(info['bytes'])} on disk",
             f"  markets {info['markets']:,} ({info['settled']:,} settled) in {info['events']:,} events, "
             f"{info['series']:,} series"]
    lines.append(f"  {'kind':<12} {'files':>7} {'folders':>8} {'rows':>13} {'size':>10}  time range (UTC)")
    for k in info["kinds"].values():
        rng = "" if k.ts_min is None else f"{_fmt_ts(k.ts_min)} .. {_fmt_ts(k.ts_max)}"
        if k.periods:
            rng += f"  periods {', '.join(map(str, k.periods))} min"
        lines.append(f"  {k.kind:<12} {k.files:>7,} {k.partitions:>8,} {k.rows:>13,} "
                     f"{_fmt_bytes(k.bytes):>10}  {rng}".rstrip())
    if not info["kinds"]:
        lines.append("  (no data files)")
    return "\n".join(lines)


# --------------------------------------------------------------------------- compact


@dataclass
class CompactPlan:
    """What ``compact`` would do: folders to merge (with their files) and folders left alone."""

    root: Path
    groups: list[tuple[str, Path, list[Path]]] = field(default_factory=list)  # (kind, folder, files)
    skipped: list[str] = field(default_factory=list)  # one line each: folder and why
    recovered: list[str] = field(default_factory=list)

    @property
    def files_before(self) -> int:
        return sum(len(f) for _, _, f in self.groups)

    def summary(self, done: bool) -> str:
        verb = "merged" if done else "would merge"
        lines = [f"{verb} {self.files_before:,} files into {len(self.groups):,} "
                 f"({len(self.groups):,} folders) in {self.root}"]
        lines += [f"  recovered: {r}" for r in self.recovered]
        lines += [f"  skipped: {s}" for s in self.skipped]
        return "\n".join(lines)


def _recover(base: Path) -> list[str]:
    """Finish or roll back folder swaps a crashed compact left (see the module docstring)."""
    done: list[str] = []
    if not base.is_dir():
        return done
    for dirpath, dirnames, _ in os.walk(base):
        for d in list(dirnames):
            p = Path(dirpath) / d
            if d.startswith(".") and d.endswith(_OLD):
                live = p.with_name(d[1:-len(_OLD)])
                if live.is_dir():  # the swap completed: drop the old copy
                    shutil.rmtree(p)
                    done.append(f"removed {p} (a finished swap)")
                else:  # crashed between the two renames: put the original back
                    os.rename(p, live)
                    done.append(f"restored {live}")
                dirnames.remove(d)
            elif d.startswith(".") and d.endswith(_NEW):
                shutil.rmtree(p)
                done.append(f"removed {p} (an unfinished merge)")
                dirnames.remove(d)
    return done


def plan_compact(root: str | os.PathLike[str], kinds: Iterable[str] = COMPACT_KINDS,
                 min_files: int = 2) -> CompactPlan:
    """Find the folders worth merging (at least ``min_files`` files, no visible sub-folders)."""
    root_p = _check_root(root)
    plan = CompactPlan(root_p)
    for kind in kinds:
        if kind not in COMPACT_KINDS:
            raise CatalogError(f"kind {kind!r} cannot be compacted; use one of {', '.join(COMPACT_KINDS)}")
        by_dir: dict[Path, list[Path]] = {}
        for path in kind_files(root_p, kind):
            by_dir.setdefault(path.parent, []).append(path)
        for folder, files in by_dir.items():
            if len(files) < min_files:
                continue
            subdirs = [d for d in folder.iterdir() if d.is_dir() and not d.name.startswith((".", "_"))]
            if subdirs:  # merged file and sub-folders could change places in path order
                plan.skipped.append(f"{folder}: holds files and sub-folders ({subdirs[0].name}); "
                                    "move the files into a partition folder first")
                continue
            plan.groups.append((kind, folder, files))
    return plan


def _file_tables(kind: str, files: list[Path]) -> list[pa.Table]:
    """Each file's rows in the kind's schema (footer validated, page checksums verified), in
    path order; refuses a column that merging would drop.

    One ``pyarrow.dataset`` reads every footer once and scans the files on Arrow's threads (a
    ``read_table`` per file costs ~4 ms, mostly its own dataset set-up); files are scanned in
    groups of one Arrow schema so nothing is cast by the scan, and each file's table is then
    conformed to the kind's schema as ``read_table`` does.
    """
    expected = set(SCHEMAS[kind].names)
    try:
        fragments = list(ds.dataset([str(p) for p in files], format=_PARQUET_FORMAT).get_fragments())
        physical = [f.physical_schema for f in fragments]  # the footer, kept by the fragment for the scan
    except READ_ERRORS:
        fragments, physical = [], [None] * len(files)  # validate_file below names the bad file
    groups: dict[str, list[int]] = {}  # schema text -> indices of the files scanned together
    for i, path in enumerate(files):
        schema = validate_file(path, kind, physical[i])
        extra = [n for n in schema.names if n not in expected]
        if extra:
            raise CatalogError(f"{path}: column {extra[0]!r} is not in the {kind} schema; compacting "
                               "would drop it (remove the column or keep this folder as it is)")
        physical[i] = schema
        groups.setdefault(schema.to_string(show_field_metadata=False, show_schema_metadata=False), []).append(i)
    batches: dict[str, list[pa.RecordBatch]] = {str(p): [] for p in files}
    schemas: list[pa.Schema] = list(physical)
    for idx in groups.values():
        schema = physical[idx[0]]
        for i in idx:
            schemas[i] = schema  # the scan's schema (files of a group differ at most in metadata)
        try:
            group = (ds.FileSystemDataset([fragments[i] for i in idx], schema, _PARQUET_FORMAT) if fragments
                     else ds.dataset([str(files[i]) for i in idx], schema=schema, format=_PARQUET_FORMAT))
            for tagged in group.scanner(batch_size=1 << 20).scan_batches():  # a file's batches stay in order
                batches[tagged.fragment.path].append(tagged.record_batch)
        except READ_ERRORS as exc:
            for i in idx:  # read them one by one to name the bad file
                _read_file(files[i], kind, None)
            raise CatalogError(f"corrupt or unreadable Parquet file in {files[idx[0]].parent}: "
                               f"{' '.join(str(exc).split())}") from None
    tables = []
    for i, path in enumerate(files):
        table = pa.Table.from_batches(batches[str(path)], schema=schemas[i])
        footer = fragments[i].metadata if fragments else pq.read_metadata(path)
        check_row_count(path, table.num_rows, footer.num_rows)  # a reader that stopped early drops rows
        tables.append(_conform(table, kind, path))
    return tables


def _merged_table(kind: str, files: list[Path]) -> pa.Table:
    """The files' rows in path order, stably sorted by ts; refuses what it would change."""
    tables = _file_tables(kind, files)
    # one chunk: take() across a thousand chunks costs ~10x more than on one
    table = pa.concat_tables(tables).combine_chunks()
    ts = table.column("ts").cast(pa.int64()).to_numpy()
    back = ts[1:] < ts[:-1]  # back[i]: row i + 1 is earlier than row i
    ends = np.cumsum([t.num_rows for t in tables])
    within = back.copy()
    cut = ends[(ends > 0) & (ends < len(ts))] - 1
    within[cut] = False  # a file may start before the previous one ends: that is what the sort is for
    if within.any():
        bad = files[int(np.searchsorted(ends, int(np.flatnonzero(within)[0]) + 1, side="right"))]
        raise CatalogError(f"{bad}: ts is not sorted ascending; the replay order of this file is "
                           "not a time order, so compacting would change it (fix the file first)")
    if not back.any():
        return table  # already in order (e.g. one market's days): no copy
    order = np.argsort(ts, kind="stable")  # stable: equal ts keep (file, row) order
    return table.take(pa.array(order))


def compact(root: str | os.PathLike[str], kinds: Iterable[str] = COMPACT_KINDS, *, min_files: int = 2,
            dry_run: bool = False, progress: Callable[[Iterable], Iterable] | None = None) -> CompactPlan:
    """Merge each folder of ``kinds`` holding ``min_files`` or more files into one file.

    ``dry_run`` only plans. Every folder is validated and merged aside before it is swapped in,
    so a refusal (``CatalogError``: an extra column, an unsorted file, a corrupt file) leaves that
    folder, and every folder after it, untouched. Not safe to run during a download or record
    into the same catalog.
    """
    root_p = _check_root(root)
    kinds = tuple(kinds)
    recovered: list[str] = []
    if not dry_run:
        for kind in kinds:
            recovered += _recover(root_p / kind)
    plan = plan_compact(root_p, kinds, min_files)
    plan.recovered = recovered
    if dry_run:
        return plan
    groups = plan.groups if progress is None else progress(plan.groups)
    for kind, folder, files in groups:
        table = _merged_table(kind, files)
        new = folder.with_name(f".{folder.name}{_NEW}")
        old = folder.with_name(f".{folder.name}{_OLD}")
        if new.exists():
            shutil.rmtree(new)
        # write_table validates again (ranges, sortedness) and writes temp file + rename
        write_table(new, kind, _to_pandas(table), filename=COMPACTED_NAME)
        staged = new / kind
        merged = set(files)
        for extra in folder.iterdir():  # keep (copy) anything that is not a merged data file
            if extra not in merged and not extra.name.startswith(f".{COMPACTED_NAME}"):
                copy = shutil.copytree if extra.is_dir() else shutil.copy2
                copy(extra, staged / extra.name)
        os.rename(folder, old)
        os.rename(staged, folder)
        shutil.rmtree(old)
        shutil.rmtree(new)
    return plan
