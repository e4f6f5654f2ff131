"""Import CSV / Parquet / JSON data recorded by other tools into a catalog (``kalshi import``).

One call reads one or more source files of one kind, renames columns (``mapping``: catalog
column -> source column, or a Kalshi REST preset), converts units and times into the
framework's (``price_unit``: ``cents`` | ``dollars`` | ``probability`` | ``units``; sizes in
contracts unless ``size_unit="units"``; ``tz`` for naive timestamps), sorts by time (stable),
validates with :func:`framework.data.catalog.write_table` and only then writes. Bad rows are
reported with their file and line; nothing is written when any row is bad. Files are written
into a hidden folder of the catalog and renamed into place, so a crash never leaves a partial
table.

Rules that are easy to get wrong silently are errors: a naive timestamp without ``tz`` (never
taken as UTC), prices that look like cents or dollars without ``price_unit``.

All conversions are vectorised over Arrow arrays (:mod:`framework.data.import_convert`); the
only per-row Python is in the rare fallbacks that exist to name a bad row.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..kalshi.outcome import FINAL_STATUSES, check_empty_result
from ..units import CONTRACT, DOLLAR
from .catalog import SCHEMAS, CatalogError, kind_files, read_markets, write_table
from .import_book import levels_from_log
from .import_convert import blank_to_null, first_true, to_times, to_units
from .import_presets import PRESETS
from .import_read import read_source

__all__ = ["PRESETS", "PRICE_UNITS", "import_files"]

PRICE_UNITS = {"units": 1, "cents": DOLLAR // 100, "dollars": DOLLAR, "probability": DOLLAR}
_PRICES = {"yes_bid", "no_bid", "price", "yes_price", "settlement_value", "open", "high", "low", "close",
           *(f"yes_{s}_{c}" for s in ("bid", "ask") for c in ("open", "high", "low", "close"))}
_SIZES = {"yes_bid_size", "no_bid_size", "size", "count", "volume", "open_interest", "size_delta"}
_TIMES = {"ts", "open_ts", "close_ts", "settle_ts"}
_TRUE = ["1", "true", "t", "yes", "y"]
_SERIES = re.compile(r"[A-Za-z0-9_.\-]+")


def _guess_unit(cols: list[pa.ChunkedArray], at: str) -> None:
    """No --price-unit: refuse data that looks like cents or dollars (never guess silently)."""
    top = 0.0
    for c in cols:
        c = blank_to_null(c)
        try:
            c = c.cast(pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return  # not numbers: the conversion names the bad row
        top = max(top, pc.max(c).as_py() or 0.0)
    if 0 < top <= 1:
        raise CatalogError(f"{at}: every price is at most 1: these look like dollars; pass --price-unit dollars "
                           "(or probability)")
    if 0 < top < 100:
        raise CatalogError(f"{at}: every price is below 100: these look like cents; pass --price-unit cents")


def _strings(col: pa.ChunkedArray) -> pa.ChunkedArray:
    col = blank_to_null(col)
    return col if pa.types.is_string(col.type) else col.cast(pa.string())


def _markets_columns(cols: dict[str, pa.ChunkedArray], status: pa.ChunkedArray | None = None,
                     empty_result: str = "void") -> int:
    """Kalshi markets: series/event from the ticker when absent, results lower-case (empty =
    unsettled), and a result without ``settle_ts`` settles at ``close_ts`` (Kalshi's
    "determined" markets have no settlement time yet).

    A *final* market (``status`` finalized/settled) with an empty result is read as void under
    ``empty_result="void"``, the rule ``kalshi download`` and live runs use
    (:func:`framework.kalshi.outcome.market_outcome`: Kalshi's ``Market.result`` has no
    ``void``); returns how many rows were read that way."""
    t = cols["ticker"]
    inferred = 0
    if "series_ticker" not in cols:
        cols["series_ticker"] = pc.list_element(pc.split_pattern(t, "-", max_splits=1), 0)
    if "event_ticker" not in cols:
        cols["event_ticker"] = pc.list_element(pc.split_pattern(t, "-", max_splits=1, reverse=True), 0)
    r = pc.utf8_lower(_strings(cols["result"])) if "result" in cols else None
    if status is not None and empty_result == "void":
        final = pc.is_in(pc.utf8_lower(pc.utf8_trim_whitespace(_strings(status))), pa.array(sorted(FINAL_STATUSES)))
        void = pc.fill_null(final, False) if r is None else pc.and_(pc.fill_null(final, False), pc.is_null(r))
        inferred = pc.sum(void).as_py() or 0
        if inferred:
            r = pc.if_else(void, pa.scalar("void"), pa.nulls(len(t), pa.string()) if r is None else r)
    if r is not None:
        cols["result"] = r
        if "settle_ts" in cols and "close_ts" in cols:
            cols["settle_ts"] = pc.if_else(pc.and_(pc.is_null(cols["settle_ts"]), pc.is_valid(r)),
                                           cols["close_ts"], cols["settle_ts"])
    return inferred


def _infer_period(ts: pa.Array, tickers: pa.Array, at: str) -> int:
    """Candles without a period: the spacing of each market's period ends, in whole minutes."""
    order = np.lexsort((ts.cast(pa.int64()).to_numpy(), pc.dictionary_encode(tickers).indices.to_numpy()))
    t = ts.cast(pa.int64()).to_numpy()[order]
    same = pc.dictionary_encode(tickers).indices.to_numpy()[order]
    d = np.diff(t)[np.diff(same) == 0]
    d = d[d > 0]
    if not d.size:
        raise CatalogError(f"{at}: cannot tell the candles' period (no market has two candles); pass --period MINUTES")
    step = int(d.min())
    if step % 60_000_000_000 or np.any(d % step):
        raise CatalogError(f"{at}: the candles are not evenly spaced in whole minutes (smallest gap {step / 1e9:g} s); "
                           "pass --period MINUTES")
    return step // 60_000_000_000


def _convert(name: str, col: pa.ChunkedArray, price_unit: str | None, size_unit: str,
             where: Callable[[int], str]) -> pa.Array | pa.ChunkedArray:
    """One non-time source column -> its catalog type."""
    if name in _PRICES:
        return to_units(col, PRICE_UNITS[price_unit or "units"], name, where)
    if name in _SIZES:
        return to_units(col, CONTRACT if size_unit == "contracts" else 1, name, where)
    if name in ("seq", "period"):
        return to_units(col, 1, name, where)
    if name == "snapshot":
        return pc.is_in(pc.utf8_lower(_strings(col)), pa.array(_TRUE))
    if name in ("side", "taker_side", "action"):
        return pc.utf8_lower(_strings(col))
    return _strings(col)


def _frame(kind: str, table: pa.Table, mapping: dict[str, str], where: Callable[[int], str],
           price_unit: str | None, size_unit: str, tz: str | None, period: int | None, at: str,
           rest: bool = False, strict: frozenset[str] = frozenset(), empty_result: str = "void",
           notes: list[str] | None = None) -> pa.Table:
    """One source table -> a table with the catalog's column names and types (plus the book
    log's ``action``/``size_delta`` columns, resolved later by :func:`levels_from_log`).
    ``strict``: the user's ``--map`` targets, whose source column must exist (a preset's may not)."""
    schema = SCHEMAS[kind]
    wanted = [*schema.names, *(("action", "size_delta") if kind == "book" else ())]
    src: dict[str, pa.ChunkedArray] = {}
    for name in wanted:
        col = mapping.get(name, name)
        if col in table.column_names:
            src[name] = table.column(col)
        elif name in strict:
            raise CatalogError(f"{at}: --map {name}={col}: the file has no column {col!r}; it has "
                               f"{', '.join(table.column_names)}")
    n = table.num_rows
    if kind == "book" and "size" not in src and "size_delta" in src:
        src["size"] = pa.chunked_array([pa.nulls(n, pa.string())])  # filled from the deltas
    if kind == "book" and "snapshot" not in src:
        src["snapshot"] = pa.chunked_array([pa.repeat(pa.scalar("false"), n)])
    if kind == "candles" and "period" not in src and period is not None:
        src["period"] = pa.chunked_array([pa.repeat(pa.scalar(str(period)), n)])
    derived = {"series_ticker", "event_ticker"} if kind == "markets" and "ticker" in src else set()
    if kind == "candles" and rest:
        derived.add("period")  # Kalshi responses: from the spacing (import_files)
    missing = [f.name for f in schema if f.name not in src and not f.nullable and f.name not in derived]
    if missing:
        raise CatalogError(f"{at}: no column for {', '.join(missing)}; the file has {', '.join(table.column_names)}; "
                           f"map them with --map {missing[0]}=SOURCE_COLUMN" +
                           ("; or pass --period MINUTES" if missing == ["period"] else ""))
    out: dict[str, pa.ChunkedArray | pa.Array] = {}
    for c in (c for c in src if c in _TIMES):
        try:
            out[c] = to_times(src[c], tz, c, where)
        except pa.ArrowException as e:  # e.g. epoch numbers too large for ns: one line, with the column
            raise CatalogError(f"{at}: column {c}: {' '.join(str(e).split())}; check the column's times") from None
    prices = [c for c in src if c in _PRICES]
    if price_unit is None and prices:
        _guess_unit([src[c] for c in prices], at)
        price_unit = "units"
    for name, col in src.items():
        if name in _TIMES:
            continue
        try:
            out[name] = _convert(name, col, price_unit, size_unit, where)
        except pa.ArrowException as e:  # a safety net: Arrow's own message, on one line, with the column
            raise CatalogError(f"{at}: column {name}: {' '.join(str(e).split())}; check the column's values "
                               "and --price-unit/--size-unit") from None
    if kind == "markets":
        src_status = mapping.get("status", "status")
        status = table.column(src_status) if src_status in table.column_names else None
        voids = _markets_columns(out, status, empty_result)
        if voids and notes is not None:
            notes.append(f"{at}: {voids:,} finalized market(s) with an empty result read as void (Kalshi's Market.result "
                         "has no 'void'; --empty-result unsettled leaves them unsettled)")
    for f in schema:  # required values present in every row: name the first empty one
        if f.name in out and not f.nullable and out[f.name].null_count and not (kind == "book" and f.name == "size"):
            bad = first_true(pc.is_null(out[f.name]))
            raise CatalogError(f"{where(bad)}: column {f.name} is empty; every row needs one (fix or drop the row)")
    for f in schema:  # nullable columns the source lacks stay null (unknown)
        if f.nullable and f.name not in out:
            out[f.name] = pa.nulls(n, f.type)
    return pa.table({c: out[c] for c in wanted if c in out})


def _series(root: Path, kind: str, tickers: pa.ChunkedArray) -> tuple[np.ndarray, list[str]]:
    """Series of each row as (code per row, names): the catalog's markets table, else the ticker
    prefix, looked up once per distinct ticker."""
    enc = pc.dictionary_encode(tickers).combine_chunks()
    known: dict[str, str] = {}
    if kind != "markets" and kind_files(root, "markets"):
        m = read_markets(root)
        known = dict(zip(m["ticker"].tolist(), m["series_ticker"].tolist(), strict=True))
    per_ticker = [known.get(t) or t.split("-", 1)[0] for t in enc.dictionary.to_pylist()]
    names = sorted(set(per_ticker))
    for s in names:  # a partition folder name: never a path (``..``, ``/``)
        if not _SERIES.fullmatch(s) or s in (".", ".."):
            raise CatalogError(f"{kind}: series {s!r} (from the tickers) cannot be a partition folder name; "
                               "tickers must use letters, digits, '_', '.', '-'")
    code = np.asarray([names.index(s) for s in per_ticker], dtype=np.int64)
    return code[enc.indices.to_numpy()], names


def _where_catalog(msg: str, index: np.ndarray, where: Callable[[int], str]) -> str:
    """Rewrite write_table's ``at row N (index G)`` into the source's ``FILE:line``."""
    m = re.search(r"at row \d+ \(index (\d+)\)|at row (\d+)", msg)
    if not m:
        return msg
    g = int(m.group(1) if m.group(1) is not None else index[int(m.group(2))])
    return f"{where(g)}: {msg[:m.start()].rstrip()}{msg[m.end():]}"


def _write(root: Path, kind: str, table: pa.Table, name: str, where: Callable[[int], str]) -> list[Path]:
    """Validate and write ``table`` per (series, UTC date) through ``write_table``, aside in a
    hidden folder; rename the files into place only after every one was written."""
    import pandas as pd

    code, names = _series(root, kind, table.column("ticker"))
    days = (np.zeros(len(code), dtype=np.int64) if kind == "markets"
            else table.column("ts").cast(pa.int64()).to_numpy() // 86_400_000_000_000)
    d0 = int(days.min()) if len(days) else 0
    span = int(days.max()) - d0 + 1 if len(days) else 1
    uniq, codes = np.unique(code * span + (days - d0), return_inverse=True)  # one int key per (series, day)
    keys = [(int(k // span), int(k % span) + d0) for k in uniq]
    order = np.argsort(codes, kind="stable")  # rows of one group stay in time order
    bounds = np.searchsorted(codes[order], np.arange(len(keys) + 1))
    df_all = table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
    tmp = root / f".import-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    moves: list[tuple[Path, Path]] = []
    try:
        for j, (s, day) in enumerate(keys):
            rows = order[bounds[j]:bounds[j + 1]]
            contiguous = rows[-1] - rows[0] + 1 == len(rows)  # one day of one series: a slice, no copy
            sub = df_all.iloc[rows[0]:rows[-1] + 1] if contiguous else df_all.take(rows)
            sub.index = rows  # write_table names a bad row by this index: the sorted position
            folder = Path(kind, f"series={names[s]}")
            if kind != "markets":
                folder /= f"date={np.datetime64(int(day), 'D')}"
            try:
                (written,) = write_table(tmp / f"g{j}", kind, sub, filename=name)
            except CatalogError as e:
                raise CatalogError(_where_catalog(str(e), rows, where)) from None
            moves.append((written, root / folder / name))
        for a, b in moves:
            b.parent.mkdir(parents=True, exist_ok=True)
            os.replace(a, b)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return sorted(b for _, b in moves)


def _one_source_per_snapshot(table: pa.Table, where: Callable[[int], str]) -> None:
    """Snapshot rows of one market at one time from two files would merge into one book: refuse."""
    import pandas as pd

    snap = table.column("snapshot").to_numpy(zero_copy_only=False)
    if not snap.any():
        return
    idx = np.flatnonzero(snap)
    df = pd.DataFrame({"t": table.column("ticker").take(idx).to_numpy(zero_copy_only=False),
                       "ts": table.column("ts").cast(pa.int64()).take(idx).to_numpy(),
                       "f": table.column("_file").take(idx).to_numpy()})
    files = df.groupby(["t", "ts"], sort=False)["f"].transform("nunique").to_numpy()
    bad = first_true(files > 1)
    if bad >= 0:
        raise CatalogError(f"{where(int(idx[bad]))}: another file has a snapshot of {df['t'].iat[bad]} at the same "
                           "time; give each saved orderbook its own --ts (or a ts field)")


def import_files(kind: str, files: list[str | os.PathLike[str]], catalog: str | os.PathLike[str], *,
                 mapping: dict[str, str] | None = None, price_unit: str | None = None,
                 size_unit: str = "contracts", tz: str | None = None, fmt: str | None = None,
                 period: int | None = None, ticker: str | None = None,
                 ts: str | None = None, empty_result: str = "void",
                 notes: list[str] | None = None) -> dict[str, int]:
    """Import ``files`` of ``kind`` into ``catalog``; returns rows read per source file.

    ``period``: the candles' bar length in minutes when the files have no period column (Kalshi
    candlestick responses: else their spacing). ``ticker``: the market of Kalshi candlestick or
    orderbook responses that do not name it. ``ts``: the time of saved orderbook snapshots
    (Kalshi's response has none) unless each carries a ``ts`` field. ``empty_result``: markets
    whose ``status`` is final but whose result is empty are void (``"void"``, the default, as in
    ``kalshi download``) or left unsettled (``"unsettled"``). ``notes``: a list that receives one
    line per thing the import inferred (printed by the CLI)."""
    check_empty_result(empty_result)
    if kind not in SCHEMAS or kind in ("fees", "fee_waivers"):
        raise CatalogError(f"unknown kind {kind!r}; use one of markets, quotes, book, trades, candles")
    if price_unit is not None and price_unit not in PRICE_UNITS:
        raise CatalogError(f"--price-unit {price_unit!r}: use {'|'.join(PRICE_UNITS)}")
    if size_unit not in ("contracts", "units"):
        raise CatalogError(f"--size-unit {size_unit!r}: use contracts|units")
    if not files:
        raise CatalogError("no files to import")
    root = Path(catalog)
    tables, wheres, counts = [], [], {}
    for i, f in enumerate(files):
        path = Path(f)
        if not path.is_file():
            raise CatalogError(f"{path}: no such file")
        src = read_source(path, kind, fmt, ticker=ticker, ts=ts)
        m = dict(PRESETS.get(kind, {})) if src.rest else {}
        m.update(mapping or {})
        if src.rest and kind in ("candles", "book") and (price_unit not in (None, "dollars", "probability")
                                                         or size_unit != "contracts"):
            raise CatalogError(f"{path}: Kalshi candlestick and orderbook responses are read in dollars and "
                               "contracts (their field names say so); drop --price-unit/--size-unit")
        unit = price_unit or ("dollars" if src.rest else None)
        t = _frame(kind, src.table, m, src.where, unit, size_unit, tz or ("UTC" if src.rest else None),
                   period, str(path), src.rest, frozenset(mapping or ()), empty_result, notes)
        if kind == "candles" and "period" not in t.column_names:  # Kalshi responses: from the spacing
            p = _infer_period(t.column("ts").combine_chunks(), t.column("ticker").combine_chunks(), str(path))
            t = t.append_column("period", pa.array(np.full(t.num_rows, p, dtype=np.int64)))
        t = t.append_column("_file", pa.array(np.full(t.num_rows, i, dtype=np.int32)))
        t = t.append_column("_row", pa.array(np.arange(t.num_rows, dtype=np.int64)))
        counts[str(path)] = t.num_rows
        tables.append(t)
        wheres.append(src.where)
    table = pa.concat_tables(tables, promote_options="default")
    if not table.num_rows:
        raise CatalogError(f"{', '.join(map(str, files))}: no rows to import")
    ts_ns = table.column("ts").cast(pa.int64()).to_numpy() if "ts" in table.column_names else None
    if ts_ns is not None and np.any(ts_ns[1:] < ts_ns[:-1]):  # sorted input (the usual) is not copied
        table = table.take(pc.sort_indices(table, [("ts", "ascending")]))  # Arrow's sort is stable
    origin_file = table.column("_file").to_numpy()
    origin_row = table.column("_row").to_numpy()

    def where(g: int) -> str:
        return wheres[int(origin_file[g])](int(origin_row[g]))

    if kind == "book":
        _one_source_per_snapshot(table, where)
        table = levels_from_log(table, where)
    table = table.select([f.name for f in SCHEMAS[kind] if f.name in table.column_names])
    root.mkdir(parents=True, exist_ok=True)
    name = f"import-{Path(files[0]).name.split('.')[0]}.parquet"
    _write(root, kind, table, name, where)
    return counts
