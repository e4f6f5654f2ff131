"""The same trades in two files: refused before a replay starts.

A catalog that holds one set of prints twice (a file imported twice under two names, a download
and an import of the same trades, a copied part) would replay every such print twice: twice the
volume for the queue models and the trade-driven fills, with nothing to say the data was wrong.
Kalshi's ``trade_id`` is unique per print, so a ``trade_id`` seen twice is always bad data.

The check is free for the usual catalog: files whose footer statistics show disjoint time
ranges or disjoint tickers cannot share a print, and nothing is read for them. Only files that
overlap another trades file in both have their ``trade_id`` column read (one Arrow column, no
Python per row) and checked for a value seen twice.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .catalog import CatalogError, column_range

__all__ = ["check_duplicate_trades", "overlapping_files"]

_Range = tuple[object, object] | None  # (min, max) from the footer, None when unknown


def _overlap(a: _Range, b: _Range) -> bool:
    return a is None or b is None or (a[0] <= b[1] and b[0] <= a[1])


def overlapping_files(files: list[tuple[Path, pq.FileMetaData]]) -> list[int]:
    """Indexes of the files that share both a time range and a ticker range with another file
    (the only ones that can hold the same print), in file order."""
    spans = [(column_range(m, "ts"), column_range(m, "ticker")) for _, m in files]
    # sweep by start time: each file is compared with the files still open at its start
    order = sorted(range(len(files)), key=lambda i: (spans[i][0] is not None, spans[i][0] and spans[i][0][0]))
    hit: set[int] = set()
    active: list[int] = []
    for i in order:
        ts_i, tk_i = spans[i]
        if ts_i is not None:  # files ending before this one starts can overlap nothing later
            active = [j for j in active if spans[j][0] is None or spans[j][0][1] >= ts_i[0]]
        for j in active:
            if _overlap(ts_i, spans[j][0]) and _overlap(tk_i, spans[j][1]):
                hit.update((i, j))
        active.append(i)
    return sorted(hit)


def check_duplicate_trades(files: list[tuple[Path, pq.FileMetaData]]) -> None:
    """Raise :class:`CatalogError` (one line, both files named) when a ``trade_id`` appears twice
    among ``files`` (the trades files of one replay, with their footers)."""
    idx = overlapping_files(files)
    if not idx:
        return
    cols, owner = [], []
    for i in idx:
        path, meta = files[i]
        try:
            col = pq.read_table(path, columns=["trade_id"]).column(0)
        except (OSError, pa.ArrowException) as exc:
            raise CatalogError(f"corrupt or unreadable Parquet file {path}: {' '.join(str(exc).split())}") from None
        cols.append(col.cast(pa.string()))
        owner.append(pa.repeat(pa.scalar(i, pa.int32()), len(col)))
    ids = pa.chunked_array([c for col in cols for c in col.chunks], type=pa.string())
    if len(pc.unique(ids)) == len(ids):
        return
    counts = pc.value_counts(ids)
    dup = counts.field("values").filter(pc.greater(counts.field("counts"), 1))[0].as_py()
    where = pa.concat_arrays(owner).filter(pc.equal(ids, dup).combine_chunks()).to_pylist()
    first, second = files[where[0]][0], files[where[1]][0]
    place = f"both {first} and {second}" if first != second else f"{first} twice"
    raise CatalogError(f"trades: trade_id {dup!r} is in {place}: the same prints would replay twice; "
                       "remove the duplicate file (a source imported twice?) or the repeated rows")
