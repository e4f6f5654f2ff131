"""Reading source files for ``kalshi import``: CSV, Parquet, JSON and JSONL (gzip/zstd/bz2 by
file name, read transparently) into an Arrow table plus a ``where(row) -> "FILE:line N"``
function for error messages.

CSV is read by Arrow's multithreaded reader with every column as a string (exact decimals,
no type guessing); line numbers are the row index plus the header, corrected for blank lines
(which the reader skips) only when an error needs one. JSON and JSONL holding Kalshi REST
responses are flattened by :mod:`framework.data.import_presets`.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from . import import_presets
from .catalog import CatalogError

__all__ = ["Source", "read_source"]


@dataclass
class Source:
    """One source file: its rows as strings (or Parquet's own types), where each row came from,
    and whether it was a Kalshi REST shape (dollars, contracts, UTC times)."""

    table: pa.Table
    where: Callable[[int], str]
    rest: bool


def _fmt(path: Path, fmt: str | None) -> str:
    name = path.name.lower()
    for ext in (".gz", ".zst", ".zstd", ".bz2"):
        name = name.removesuffix(ext)
    return fmt or name.rsplit(".", 1)[-1]


def _csv_where(path: Path, data: bytes) -> Callable[[int], str]:
    """Row index -> ``FILE:line N``. The reader skips blank lines, so when the file has any, the
    line of row ``i`` is that of the ``i``-th non-blank line after the header (computed once,
    on the first error)."""
    lines: list[np.ndarray] = []

    def where(i: int) -> str:
        if b"\n\n" not in data and b"\n\r\n" not in data:
            return f"{path}:line {i + 2}"
        if not lines:
            buf = np.frombuffer(data, dtype=np.uint8)
            starts = np.concatenate(([0], np.flatnonzero(buf == 10) + 1))
            starts = starts[starts < len(buf)]
            blank = (buf[starts] == 10) | ((buf[starts] == 13) & (buf[np.minimum(starts + 1, len(buf) - 1)] == 10))
            lines.append(np.flatnonzero(~blank) + 1)  # 1-based numbers of non-blank lines
        nonblank = lines[0]
        return f"{path}:line {int(nonblank[i + 1])}" if i + 1 < len(nonblank) else f"{path}:row {i}"

    return where


def _read_csv(path: Path, data: bytes) -> Source:
    import pyarrow.csv as pcsv

    if data.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte-order mark (spreadsheet exports)
        data = data[3:]
    end = data.find(b"\n")
    first = data[: end if end >= 0 else len(data)].decode("utf-8").strip("\r")
    header = next(csv.reader([first]), [])
    if not header or not any(header):
        raise CatalogError(f"{path}:line 1: no header row; the first line must name the columns")
    opts = pcsv.ConvertOptions(column_types={c: pa.string() for c in header}, strings_can_be_null=True,
                                quoted_strings_can_be_null=True, null_values=[""])  # empty = missing
    table = pcsv.read_csv(pa.BufferReader(data), convert_options=opts)
    return Source(table, _csv_where(path, data), False)


def _json_items(path: Path, text: str) -> list[tuple[str, Any]]:
    """A JSON document (object or array) or JSONL, as (location, value) items."""
    body = text.lstrip()
    try:
        doc = json.loads(body, parse_float=Decimal)
    except json.JSONDecodeError:
        doc = None
        if not body.startswith("{"):
            raise
    if isinstance(doc, list):
        return [(f"{path}: item {i}", v) for i, v in enumerate(doc)]
    if doc is not None:
        return [(str(path), doc)]
    items = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                items.append((f"{path}:line {n}", json.loads(line, parse_float=Decimal)))
            except json.JSONDecodeError as e:
                raise CatalogError(f"{path}:line {n}: not JSON ({e.msg}); one JSON object per line") from None
    return items


def _read_json(path: Path, kind: str, data: bytes, ticker: str | None, ts: str | None) -> Source:
    items = _json_items(path, data.decode("utf-8"))
    if not items:
        raise CatalogError(f"{path}: no rows")
    if import_presets.is_kalshi(kind, items[0][1]):
        locs, rows = import_presets.flatten(kind, items, ticker=ticker, ts=ts)
        rest = True
    else:
        for at, r in items:
            if not isinstance(r, dict):
                raise CatalogError(f"{at}: expected a JSON object per row, got {type(r).__name__}")
        locs, rows = [at for at, _ in items], [r for _, r in items]
        rest = False
    return Source(_table(rows), lambda i: locs[i], rest)


def _table(rows: list[dict]) -> pa.Table:
    """JSON objects -> a table of their scalar fields (nested objects and lists dropped).

    Arrow builds it in one pass keeping JSON's types (strings, ints, exact decimals, bools),
    which the conversions accept; a field whose values mix types is read as strings."""
    try:
        table = pa.Table.from_pylist(rows)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
        names = list(dict.fromkeys(k for r in rows for k in r))
        table = pa.table({k: pa.array([_text(r.get(k)) for r in rows], type=pa.string()) for k in names})
    nested = [f.name for f in table.schema if pa.types.is_nested(f.type)]
    table = table.drop_columns(nested)
    for i, f in enumerate(table.schema):
        if pa.types.is_boolean(f.type) or pa.types.is_floating(f.type) or pa.types.is_null(f.type):
            table = table.set_column(i, f.name, table.column(i).cast(pa.string()))
    return table


def _text(v: Any) -> str | None:
    return None if v is None or isinstance(v, (dict, list)) else str(v).lower() if isinstance(v, bool) else str(v)


def read_source(path: Path, kind: str, fmt: str | None = None, *, ticker: str | None = None,
                ts: str | None = None) -> Source:
    """Read one source file (see the module docstring); errors are one line naming the file."""
    fmt = _fmt(path, fmt)
    if fmt not in ("csv", "parquet", "json", "jsonl"):
        raise CatalogError(f"{path}: unknown format {fmt!r}; use --format csv|parquet|jsonl|json")
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return Source(pq.read_table(path), lambda i: f"{path}: row {i}", False)
        with pa.input_stream(str(path), compression="detect") as f:
            data = f.read()
        if fmt == "csv":
            return _read_csv(path, data)
        return _read_json(path, kind, data, ticker, ts)
    except (OSError, pa.ArrowException, UnicodeDecodeError, json.JSONDecodeError) as e:
        msg = " ".join(str(e).split())
        raise CatalogError(f"{path}: cannot read as {fmt}: {msg}; check --format and the compression") from None

