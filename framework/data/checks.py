"""Cheap data checks on read: what the replay verifies batch by batch, and what it flags.

:func:`framework.data.catalog.write_table` validates everything it writes, but a catalog can
also hold files other tools wrote, or files damaged after they were written (a flipped byte in
a data page leaves the footer intact, so the file still opens). The replay therefore checks each
batch it reads, with a few vectorised numpy operations on arrays it builds anyway:

* **hard** problems stop the run with a :class:`~framework.data.catalog.CatalogError` naming
  the file and the row: ``ts`` going backwards, timestamps outside the plausible years, prices
  outside ``(0, $1)``, negative sizes or counts, null keys, a ``side`` that is neither yes nor no;
* **soft** problems are collected in a :class:`DataWarnings` (printed by ``kalshi backtest`` and
  written to the run folder as ``data_warnings.json``): every price below 100 units (these look
  like cents), crossed quotes, rows outside their market's ``open_ts..settle_ts`` window, data
  for markets the markets table does not list.

Read checks stay cheap (docs/performance.md has the measured cost): no per-row Python, no
string kernels; ``side`` is checked through the string lengths already in the Arrow buffers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ..units import DOLLAR
from .catalog import PLAUSIBLE_TS, CatalogError

__all__ = ["CENTS_LIMIT", "DataWarnings", "SourceCheck", "check_group", "check_markets_files", "check_row_count",
           "read_checked_markets"]

CENTS_LIMIT = 100  # every price below this many $0.0001 units (one cent) looks like cents
_TS_LO, _TS_HI = PLAUSIBLE_TS
# per kind: (price columns with their inclusive bounds, non-negative columns, never-null columns:
# keys, and the values the range checks would otherwise read a null as)
_RULES: dict[str, tuple[dict[str, tuple[int, int]], dict[str, int], tuple[str, ...]]] = {
    "quotes": ({"yes_bid": (0, DOLLAR - 1), "no_bid": (0, DOLLAR - 1)},
               {"yes_bid_size": 0, "no_bid_size": 0}, ("ticker", "yes_bid", "no_bid")),
    "book": ({"price": (1, DOLLAR - 1)}, {"size": 0, "seq": 0}, ("ticker", "side", "snapshot", "price", "size")),
    "trades": ({"yes_price": (1, DOLLAR - 1)}, {"count": 1},
               ("ticker", "trade_id", "taker_side", "yes_price", "count")),
    # candles: trade OHLC may be null (no trade in the bar); bid/ask closes sit in [0, $1]
    "candles": ({**{c: (1, DOLLAR - 1) for c in ("open", "high", "low", "close")},
                 "yes_bid_close": (0, DOLLAR), "yes_ask_close": (0, DOLLAR)},
                {"volume": 0, "period": 1}, ("ticker", "volume", "period")),
}
_SIDE_COLUMNS = ("side", "taker_side")


class DataWarnings:
    """Soft problems found in the data of a run, in the order found (deterministic).

    Each item is ``{"code", "file", "message"}``; ``code`` is one of ``cents``, ``crossed``,
    ``window``, ``unknown_market``, ``markets`` (and whatever callers add).
    """

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def add(self, code: str, message: str, file: str | Path | None = None) -> None:
        self.items.append({"code": code, "file": None if file is None else str(file), "message": message})

    def __len__(self) -> int:
        return len(self.items)

    def lines(self) -> list[str]:
        """One human-readable line per warning."""
        return [f"{it['file']}: {it['message']}" if it["file"] else it["message"] for it in self.items]

    def write(self, out_dir: str | Path) -> Path:
        """Write ``data_warnings.json`` (a list of items) into ``out_dir``."""
        path = Path(out_dir) / "data_warnings.json"
        path.write_text(json.dumps(self.items, indent=2) + "\n")
        return path


def _int_view(col: pa.Array, fill: int = 0) -> np.ndarray:
    """An int column as numpy, nulls (never range-checked) filled with ``fill`` (zero-copy when
    there are none)."""
    if col.null_count:
        col = col.fill_null(fill)
    return col.to_numpy(zero_copy_only=False)


def _str_lengths(col: pa.Array) -> np.ndarray:
    """Byte length of each string, read from the offsets buffer (no string kernel)."""
    if pa.types.is_dictionary(col.type):
        col = col.dictionary.take(col.indices)
    dtype = np.int64 if pa.types.is_large_string(col.type) else np.int32
    offsets = np.frombuffer(col.buffers()[1], dtype=dtype)[col.offset:col.offset + len(col) + 1]
    return np.diff(offsets)


def check_row_count(path: str | Path, rows: int, footer_rows: int) -> None:
    """Raise CatalogError unless ``rows`` (read from ``path``) is what its footer lists. A damaged
    page header (outside the page checksums) can make Arrow's readers stop early without an
    error, which would silently drop the rest of the file."""
    if rows != footer_rows:
        raise CatalogError(f"corrupt or unreadable Parquet file {path}: {rows:,} of the {footer_rows:,} rows "
                           "its footer lists could be read (a damaged page?); restore or re-download the file")


def check_group(pairs: list[tuple[SourceCheck, pa.RecordBatch]]) -> bool:
    """:meth:`SourceCheck.batch` over many small files at once: ``pairs`` are (check, raw batch)
    in read order, all of one kind and one Arrow schema (one many-file scan), a check's batches
    consecutive. With a thousand one-batch files the per-call overhead of ``batch`` (~60 us of
    numpy calls on tiny arrays) is the cost, so the same rules run once over the concatenation,
    with the per-file carry (sortedness across a file's batches, its last ``ts``) and per-file
    counts (``reduceat`` over file segments).

    Returns True when every batch passed: each check's state is then as if ``batch`` had run on
    its batches in order. Returns False, changing nothing, when any rule fails: the caller then
    runs ``batch`` file by file, which raises the exact error (file and row)."""
    pairs = [(c, b) for c, b in pairs if b.num_rows]
    if not pairs:
        return True
    owner = [c for c, _ in pairs]
    kind = owner[0].kind
    table = pa.Table.from_batches([b for _, b in pairs])
    ts_col = table.column(0)
    if ts_col.type != pa.timestamp("ns", tz="UTC"):
        ts_col = ts_col.cast(pa.timestamp("ns", tz="UTC"))
    ts = ts_col.cast(pa.int64()).to_numpy()
    lengths = np.array([b.num_rows for _, b in pairs], np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    new_file = np.array([True] + [owner[i] is not owner[i - 1] for i in range(1, len(owner))])
    back = ts[1:] < ts[:-1]
    back[starts[1:][new_file[1:]] - 1] = False  # a new file may start before the previous one ends
    first = starts[new_file]
    if back.any() or (ts[first] < np.array([c.last_ts for c in owner], np.int64)[new_file]).any():
        return False
    if ts.min() < _TS_LO or ts.max() >= _TS_HI:
        return False
    prices, mins, keys = _RULES[kind]
    values: dict[tuple[str, int], np.ndarray] = {}

    def ints(name: str, fill: int = 0) -> np.ndarray:  # each column concatenated once (~4 us per chunk)
        if (name, fill) not in values:
            values[name, fill] = _int_view(table.column(name).combine_chunks(), fill)
        return values[name, fill]

    for name in keys:
        if table.column(name).null_count:  # summed over the chunks, nothing concatenated
            return False
        if name in _SIDE_COLUMNS:
            lengths_s = _str_lengths(table.column(name).combine_chunks())
            if not ((lengths_s == 2) | (lengths_s == 3)).all():
                return False
    seg_max: dict[str, np.ndarray] = {}
    for name, (lo, hi) in prices.items():
        v = ints(name, lo)
        if int(v.min()) < lo or int(v.max()) > hi:
            return False
        if hi < DOLLAR:  # bid/ask closes at $1 mean "no ask", not a price
            seg_max[name] = np.maximum.reduceat(v, starts)
    for name, lo in mins.items():
        if int(ints(name, lo).min()) < lo:
            return False
    crossed = None
    if kind == "quotes":  # yes_bid/no_bid are never null (keys), so the price views serve
        yb, nb = ints("yes_bid", prices["yes_bid"][0]), ints("no_bid", prices["no_bid"][0])
        crossed = np.add.reduceat(((yb + nb >= DOLLAR) & (yb > 0) & (nb > 0)).astype(np.int64), starts).tolist()
    ends = (starts + lengths - 1).tolist()
    maxes = {name: m.tolist() for name, m in seg_max.items()}
    for i, c in enumerate(owner):  # commit: the state batch() would have left
        c.last_ts = int(ts[ends[i]])
        for name, m in maxes.items():
            if m[i] > c.col_max.get(name, -1):
                c.col_max[name] = m[i]
                c.max_price = max(c.max_price, m[i])
        if crossed is not None:
            c.crossed += crossed[i]
            c.quotes += int(lengths[i])
        c.rows += int(lengths[i])
    return True


class SourceCheck:
    """The read checks of one replayed file; ``batch`` runs on every raw batch, ``window`` on
    every batch the replay keeps, ``finish`` turns the counts into warnings."""

    __slots__ = ("path", "kind", "windows", "rows", "last_ts", "max_price", "col_max", "crossed", "quotes",
                 "outside", "unknown", "_finished")

    def __init__(self, path: Path, kind: str, windows: dict[str, tuple[int, int]] | None) -> None:
        self.path = path
        self.kind = kind
        self.windows = windows  # ticker -> (open_ts, settle_ts or close_ts); None = no markets table
        self.rows = 0  # raw rows checked so far (for row numbers in messages)
        self.last_ts = -(1 << 63)
        self.max_price = -1  # highest price over the price columns (kalshi catalog check reports it)
        self.col_max: dict[str, int] = {}  # per price column: one column left in cents is enough to flag
        self.crossed = 0
        self.quotes = 0
        self.outside: dict[str, int] = {}
        self.unknown: set[str] = set()
        self._finished = False

    def _fail(self, row: int, problem: str, code: str = "value") -> CatalogError:
        """The error for ``row`` of the current batch; ``code`` (``"unsorted"``, ``"value"``) lets
        ``kalshi catalog check`` group problems without parsing messages."""
        err = CatalogError(f"{self.path}: row {self.rows + row}: {problem}")
        err.code = code
        return err

    def batch(self, batch: pa.RecordBatch, ts: np.ndarray) -> None:
        """Hard checks on one raw batch (``ts``: its int64 ns times). Raises CatalogError."""
        n = len(ts)
        if not n:
            return
        # sorted: within the batch and against the previous batch's last row
        if ts[0] < self.last_ts:
            raise self._fail(0, "ts goes backwards (the file is not sorted by time); "
                                "rewrite it sorted (kalshi import sorts) or run kalshi catalog check", "unsorted")
        back = ts[1:] < ts[:-1]
        if back.any():
            raise self._fail(int(np.flatnonzero(back)[0]) + 1, "ts goes backwards (the file is not sorted by "
                             "time); rewrite it sorted (kalshi import sorts) or run kalshi catalog check", "unsorted")
        if ts[0] < _TS_LO or ts[-1] >= _TS_HI:
            bad = int(np.flatnonzero((ts < _TS_LO) | (ts >= _TS_HI))[0])
            raise self._fail(bad, f"timestamp {np.datetime64(int(ts[bad]), 'ns')} is outside the plausible "
                                  "years 2000..2099 (a corrupt file?)")
        self.last_ts = int(ts[-1])
        prices, mins, keys = _RULES[self.kind]
        names = batch.schema.names
        for name in keys:
            col = batch.column(names.index(name))
            if col.null_count:
                raise self._fail(int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0]),
                                 f"{name} is null")
            if name in _SIDE_COLUMNS:
                lengths = _str_lengths(col)
                if not ((lengths == 2) | (lengths == 3)).all():
                    raise self._fail(int(np.flatnonzero((lengths != 2) & (lengths != 3))[0]),
                                     f"{name} is neither 'yes' nor 'no'")
        for name, (lo, hi) in prices.items():
            v = _int_view(batch.column(names.index(name)), lo)
            mn, mx = int(v.min()), int(v.max())
            if mn < lo or mx > hi:
                bad = int(np.flatnonzero((v < lo) | (v > hi))[0])
                raise self._fail(bad, f"{name} = {int(v[bad])} is outside [{lo}, {hi}] (prices are in $0.0001 "
                                      "units: $0.56 = 5600)")
            if hi < DOLLAR and mx > self.col_max.get(name, -1):  # bid/ask closes at $1 mean "no ask"
                self.col_max[name] = mx
                self.max_price = max(self.max_price, mx)
        for name, lo in mins.items():
            v = _int_view(batch.column(names.index(name)), lo)
            if int(v.min()) < lo:
                bad = int(np.flatnonzero(v < lo)[0])
                raise self._fail(bad, f"{name} = {int(v[bad])} must be >= {lo}")
        if self.kind == "quotes":
            yb = _int_view(batch.column(names.index("yes_bid")))
            nb = _int_view(batch.column(names.index("no_bid")))
            self.crossed += int(np.count_nonzero((yb + nb >= DOLLAR) & (yb > 0) & (nb > 0)))
            self.quotes += n
        self.rows += n

    def complete(self, footer_rows: int) -> None:
        """At the end of the file: every row its footer lists was read (:func:`check_row_count`)."""
        check_row_count(self.path, self.rows, footer_rows)

    def side_matches(self, lengths_is_yes: np.ndarray, is_yes: np.ndarray, name: str) -> None:
        """``side`` strings of length 3 must be exactly ``"yes"`` (a flipped byte would read as NO)."""
        if not np.array_equal(lengths_is_yes, is_yes):
            bad = int(np.flatnonzero(lengths_is_yes != is_yes)[0])
            raise CatalogError(f"{self.path}: {name} holds a value that is neither 'yes' nor 'no' "
                               f"(batch row {bad}; a corrupt file?)")

    def window(self, ts: np.ndarray, names: list, idx: np.ndarray) -> None:
        """Count rows outside their market's open..settle window (soft). ``names``/``idx`` are
        the batch's dictionary-encoded tickers; ``ts`` is sorted, so only a prefix and a suffix
        of the batch can lie outside the window every market in the batch shares."""
        windows = self.windows
        if windows is None or not len(ts):
            return
        ws = [windows.get(name) for name in names]
        if None not in ws and int(ts[0]) >= max(w[0] for w in ws) and int(ts[-1]) <= min(w[1] for w in ws):
            return  # every row inside every market's window, found without numpy calls (tiny files)
        k = len(names)
        lo = np.empty(k, dtype=np.int64)
        hi = np.empty(k, dtype=np.int64)
        for j, name in enumerate(names):
            w = windows.get(name)
            if w is None:
                self.unknown.add(name)
                lo[j], hi[j] = -(1 << 62), 1 << 62
            else:
                lo[j], hi[j] = w
        a = int(np.searchsorted(ts, lo.max(), side="left"))
        b = int(np.searchsorted(ts, hi.min(), side="right"))
        if a == 0 and b == len(ts):
            return  # every row inside every market's window: the common case
        bad_idx = [idx[:a][ts[:a] < lo[idx[:a]]], idx[b:][ts[b:] > hi[idx[b:]]]]
        counts = np.bincount(np.concatenate(bad_idx), minlength=k)
        for j in np.flatnonzero(counts):
            self.outside[names[j]] = self.outside.get(names[j], 0) + int(counts[j])

    def finish(self, warnings: DataWarnings) -> None:
        """Turn what the batches counted into warnings (once)."""
        if self._finished:
            return
        self._finished = True
        cents = [c for c, mx in self.col_max.items() if 0 < mx < CENTS_LIMIT]
        if cents:
            where = "" if len(cents) == len(self.col_max) else f" of {', '.join(cents)}"
            warnings.add("cents", f"every price{where} is below {CENTS_LIMIT} units ($0.01): these look like cents; "
                                  "prices are in $0.0001 units ($0.45 = 4500); re-import with "
                                  "kalshi import --price-unit cents", self.path)
        if self.crossed:
            warnings.add("crossed", f"{self.crossed:,} of {self.quotes:,} quotes "
                                    f"({100 * self.crossed / self.quotes:.2f}%) are crossed (yes_bid + no_bid >= $1)",
                         self.path)
        for t in sorted(self.outside):
            warnings.add("window", f"{self.outside[t]:,} rows of {t} lie outside its open_ts..settle_ts "
                                   "window (the market was not trading then)", self.path)
        if self.unknown:
            shown = ", ".join(sorted(self.unknown)[:5]) + (" ..." if len(self.unknown) > 5 else "")
            warnings.add("unknown_market", f"{len(self.unknown)} market(s) have data but no row in the markets "
                                           f"table, so they never settle: {shown}", self.path)


def check_markets_files(root: str | Path) -> None:
    """Hard checks of every markets file: null keys and the settlement rules of
    :func:`framework.data.catalog.settlement_problem`. Raises CatalogError naming the file."""
    read_checked_markets(root)


def read_checked_markets(root: str | Path) -> pa.Table:
    """:func:`check_markets_files`, then the markets table as :func:`~framework.data.catalog.read_markets`
    reads it (one row per ticker, sorted), as Arrow: each file is read once for both, and callers
    that need rows or windows skip the pandas round trip."""
    from .catalog import (
        SCHEMAS,
        _check_plausible_ts,
        _merge_markets,
        _read_file,
        kind_files,
        settlement_problem,
    )

    parts = []
    for path in kind_files(root, "markets"):
        table = _read_file(path, "markets", None)
        for f in SCHEMAS["markets"]:
            if not f.nullable and table.column(f.name).null_count:
                row = int(np.flatnonzero(table.column(f.name).is_null().to_numpy(zero_copy_only=False))[0])
                raise CatalogError(f"{path}: row {row}: {f.name} is null")
        try:  # open/close/settle times in the plausible years (seconds or ms stored as ns land in 1970)
            _check_plausible_ts("markets", table, range(table.num_rows))
        except CatalogError as e:
            raise CatalogError(f"{path}: {e}") from None
        problem = settlement_problem(table)
        if problem is not None:
            raise CatalogError(f"{path}: row {problem[0]}: {problem[1]}")
        parts.append(table)
    return _merge_markets(parts)
