"""The Parquet data catalog: schemas, validation, writing and simple reads.

A catalog is a directory with one folder per kind (``markets``, ``quotes``, ``book``,
``trades``, ``candles``). A kind's folder holds Parquet files directly (flat layout) or in Hive partitions
(``quotes/series=KXHIGHNY/date=2026-11-20/part-0.parquet``); the readers accept both, and both
may be mixed. Files whose name starts with ``.`` or ``_`` and files not ending in ``.parquet``
are ignored (half-written files are ``.<name>.tmp``).

Units are the framework's exact integers (see :mod:`framework.units`): prices are int64 in
$0.0001 (``$0.56 == 5600``), sizes and counts are int64 in 0.01 contract (``1 contract ==
100``). Timestamps are ``timestamp[ns, tz=UTC]``.

This module is the *contract* between writers (``kalshi download``, ``kalshi record``,
importers, ``data/make_sample.py``) and readers (the backtest replay). The full format is
documented in ``docs/data-format.md``. :func:`read_table` is a convenience full read for small
data, tests and analysis; the backtest streams files itself after :func:`validate_file`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from framework.units import DOLLAR

if TYPE_CHECKING:  # pandas is imported lazily to keep ``import framework.data.catalog`` cheap
    import numpy as np
    import pandas as pd

__all__ = [
    "CANDLE_PERIODS",
    "KINDS",
    "OPTIONAL_COLUMNS",
    "PLAUSIBLE_TS",
    "RESULTS",
    "SCHEMAS",
    "CatalogError",
    "CatalogWarning",
    "column_range",
    "kind_files",
    "read_markets",
    "read_table",
    "validate_file",
    "write_table",
]

KINDS: tuple[str, ...] = ("markets", "quotes", "book", "trades", "candles", "fees", "fee_waivers")

_TS = pa.timestamp("ns", tz="UTC")

SCHEMAS: dict[str, pa.Schema] = {
    "markets": pa.schema(
        [
            pa.field("ticker", pa.string(), nullable=False),
            pa.field("event_ticker", pa.string(), nullable=False),
            pa.field("series_ticker", pa.string(), nullable=False),
            pa.field("open_ts", _TS, nullable=False),
            pa.field("close_ts", _TS, nullable=False),
            pa.field("settle_ts", _TS, nullable=True),  # null while unsettled
            pa.field("result", pa.string(), nullable=True),  # "yes" | "no" | "void" | "scalar" | null
            pa.field("title", pa.string(), nullable=True),  # optional column
            # optional: YES payout per contract in $0.0001 (required for "scalar"; NO gets the rest)
            pa.field("settlement_value", pa.int64(), nullable=True),
        ]
    ),
    "quotes": pa.schema(
        [
            pa.field("ts", _TS, nullable=False),
            pa.field("ticker", pa.string(), nullable=False),
            pa.field("yes_bid", pa.int64(), nullable=False),  # 0 = no YES bids
            pa.field("no_bid", pa.int64(), nullable=False),  # 0 = no NO bids
            pa.field("yes_bid_size", pa.int64(), nullable=True),  # null = unknown
            pa.field("no_bid_size", pa.int64(), nullable=True),
        ]
    ),
    "book": pa.schema(
        [
            pa.field("ts", _TS, nullable=False),
            pa.field("ticker", pa.string(), nullable=False),
            pa.field("side", pa.string(), nullable=False),  # "yes" | "no" (a bid on that side)
            pa.field("price", pa.int64(), nullable=False),
            pa.field("size", pa.int64(), nullable=False),  # new total at the level; 0 removes it
            pa.field("seq", pa.int64(), nullable=True),
            pa.field("snapshot", pa.bool_(), nullable=False),
        ]
    ),
    "trades": pa.schema(
        [
            pa.field("ts", _TS, nullable=False),
            pa.field("ticker", pa.string(), nullable=False),
            pa.field("trade_id", pa.string(), nullable=False),
            pa.field("yes_price", pa.int64(), nullable=False),
            pa.field("count", pa.int64(), nullable=False),
            pa.field("taker_side", pa.string(), nullable=False),  # "yes" | "no"
        ]
    ),
    # OHLC bars: Kalshi's candlesticks endpoint (``kalshi download``) or imports; replayed as kind
    # "candles" (framework.data.replay, docs/simulation.md "Candles")
    "candles": pa.schema(
        [
            pa.field("ts", _TS, nullable=False),  # period end (inclusive)
            pa.field("ticker", pa.string(), nullable=False),
            pa.field("period", pa.int64(), nullable=False),  # minutes, >= 1 (Kalshi: 1, 60, 1440)
            pa.field("open", pa.int64(), nullable=True),  # YES trade prices; null = no trade
            pa.field("high", pa.int64(), nullable=True),
            pa.field("low", pa.int64(), nullable=True),
            pa.field("close", pa.int64(), nullable=True),
            pa.field("volume", pa.int64(), nullable=False),  # 0.01 contract
            pa.field("open_interest", pa.int64(), nullable=True),
            pa.field("yes_bid_open", pa.int64(), nullable=True),
            pa.field("yes_bid_high", pa.int64(), nullable=True),
            pa.field("yes_bid_low", pa.int64(), nullable=True),
            pa.field("yes_bid_close", pa.int64(), nullable=True),
            pa.field("yes_ask_open", pa.int64(), nullable=True),
            pa.field("yes_ask_high", pa.int64(), nullable=True),
            pa.field("yes_ask_low", pa.int64(), nullable=True),
            pa.field("yes_ask_close", pa.int64(), nullable=True),
        ]
    ),
    # per-series fee schedule (framework.data.fees_catalog; written by ``kalshi download``; not replayed)
    "fees": pa.schema(
        [
            pa.field("series_ticker", pa.string(), nullable=False),
            pa.field("scheduled_ts", _TS, nullable=True),  # null = the series' value as downloaded
            pa.field("fee_type", pa.string(), nullable=False),  # quadratic | quadratic_with_maker_fees | flat
            pa.field("fee_multiplier", pa.string(), nullable=False),  # exact decimal, e.g. "1", "0.5"
            pa.field("change_id", pa.string(), nullable=True),  # Kalshi's fee change id
        ]
    ),
    # markets trading fee-free until ``until_ts`` (Kalshi's ``fee_waiver_expiration_time``)
    "fee_waivers": pa.schema(
        [
            pa.field("ticker", pa.string(), nullable=False),
            pa.field("series_ticker", pa.string(), nullable=False),
            pa.field("until_ts", _TS, nullable=False),
        ]
    ),
}

# the periods Kalshi's candlesticks endpoint serves (``kalshi download --period``); the catalog
# accepts any whole number of minutes >= 1 (e.g. 5-minute bars from an import)
CANDLE_PERIODS: tuple[int, ...] = (1, 60, 1440)

# Columns a file or DataFrame may omit; they read back as all-null.
OPTIONAL_COLUMNS: dict[str, frozenset[str]] = {
    "markets": frozenset({"title", "settlement_value"}),
    "quotes": frozenset(),
    "book": frozenset(),
    "trades": frozenset(),
    "candles": frozenset(),
    "fees": frozenset({"change_id"}),
    "fee_waivers": frozenset(),
}

RESULTS: tuple[str, ...] = ("yes", "no", "void", "scalar")
# timestamps outside these years are corrupt (a flipped byte in an int64 time lands centuries away)
PLAUSIBLE_TS = (946_684_800_000_000_000, 4_102_444_800_000_000_000)  # 2000-01-01 .. 2100-01-01 UTC

_ENUMS: dict[str, tuple[str, ...]] = {
    "side": ("yes", "no"),
    "taker_side": ("yes", "no"),
    "result": RESULTS,
    "fee_type": ("quadratic", "quadratic_with_maker_fees", "flat"),
}
# column -> (lowest allowed, highest allowed) inclusive
_PRICE_BOUNDS: dict[str, tuple[int, int]] = {
    "yes_bid": (0, DOLLAR - 1),
    "no_bid": (0, DOLLAR - 1),
    "price": (1, DOLLAR - 1),
    "yes_price": (1, DOLLAR - 1),
    "settlement_value": (0, DOLLAR),
    # candles: trade OHLC strictly inside (0, $1); bid/ask OHLC may sit at 0 (no bid) or $1 (no ask)
    **{c: (1, DOLLAR - 1) for c in ("open", "high", "low", "close")},
    **{f"yes_{s}_{c}": (0, DOLLAR) for s in ("bid", "ask") for c in ("open", "high", "low", "close")},
}
_SIZE_MIN: dict[str, int] = {
    "yes_bid_size": 0,
    "no_bid_size": 0,
    "size": 0,
    "count": 1,
    "seq": 0,
    "volume": 0,
    "open_interest": 0,
}
_PRICE_HINT = "prices are in units of $0.0001: $0.56 = 5600, use framework.units.dollars('0.56')"
_SERIES_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")
_PARTITION_BY = ("series",)


class CatalogError(ValueError):
    """A catalog file, folder or DataFrame is missing, malformed or violates the schema."""


# what reading a damaged Parquet file raises: I/O and Arrow errors, and UnicodeDecodeError from
# pyarrow decoding a footer's names (a flipped byte there); each becomes a one-line CatalogError
READ_ERRORS: tuple[type[BaseException], ...] = (OSError, pa.ArrowException, UnicodeDecodeError)


class CatalogWarning(UserWarning):
    """Data that is valid but suspicious (prices that look like cents, crossed books...)."""


# --------------------------------------------------------------------------- files


def _check_root(root: str | os.PathLike[str]) -> Path:
    p = Path(root)
    if not p.is_dir():
        raise CatalogError(
            f"catalog not found: {p}; create one with data/make_sample.py or kalshi download"
        )
    return p


def _check_kind(kind: str) -> None:
    if kind not in SCHEMAS:
        raise CatalogError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")


def kind_files(root: str | os.PathLike[str], kind: str) -> list[Path]:
    """All Parquet files of ``kind`` under ``root/kind`` (flat or Hive), sorted by path.

    Returns ``[]`` when the kind's folder does not exist. Hidden (``.x``/``_x``) files and
    directories and non-``.parquet`` files are skipped.
    """
    _check_kind(kind)
    base = _check_root(root) / kind
    if not base.is_dir():
        return []
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "_")))
        for f in filenames:
            if f.endswith(".parquet") and not f.startswith((".", "_")):
                out.append(Path(dirpath) / f)
    return sorted(out, key=lambda p: p.relative_to(base).parts)


def _type_ok(expected: pa.DataType, actual: pa.DataType, nullable: bool) -> bool:
    if nullable and pa.types.is_null(actual):
        return True
    if pa.types.is_dictionary(actual):
        actual = actual.value_type
    if pa.types.is_timestamp(expected):
        return pa.types.is_timestamp(actual)
    if pa.types.is_integer(expected):
        # any width that fits int64; uint64 does not (numpy mixes it with int64 into float64)
        return pa.types.is_integer(actual) and not pa.types.is_uint64(actual)
    if pa.types.is_string(expected):
        return (
            pa.types.is_string(actual)
            or pa.types.is_large_string(actual)
            or getattr(pa.types, "is_string_view", lambda _t: False)(actual)
        )
    if pa.types.is_boolean(expected):
        return pa.types.is_boolean(actual)
    return actual == expected


_NS_PER_UNIT = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}


def column_range(meta: pq.FileMetaData, name: str) -> tuple[Any, Any] | None:
    """``(min, max)`` of column ``name`` over a file's row groups, from the footer's statistics
    (no data read), or ``None`` when the column or a statistic is missing.

    Timestamps come back as int ns whatever unit the file stores (files other tools wrote may
    use s/ms/us), other columns as their raw physical values (ints; strings as bytes), so ranges
    of different files compare."""
    schema = meta.schema.to_arrow_schema()
    idx = schema.get_field_index(name)
    if idx < 0 or meta.num_row_groups == 0:
        return None
    typ = schema.field(idx).type
    scale = _NS_PER_UNIT[typ.unit] if pa.types.is_timestamp(typ) else None
    lo = hi = None
    for g in range(meta.num_row_groups):
        st = meta.row_group(g).column(idx).statistics
        if st is None or not st.has_min_max:
            return None
        a, b = st.min_raw, st.max_raw  # raw: no datetime/Timestamp object per statistic
        if scale is not None:
            if not isinstance(a, int):  # e.g. INT96 timestamps: no comparable raw value
                return None
            a, b = a * scale, b * scale
        lo = a if lo is None or a < lo else lo
        hi = b if hi is None or b > hi else hi
    return lo, hi


def validate_file(path: str | os.PathLike[str], kind: str, schema: pa.Schema | None = None) -> pa.Schema:
    """Open a Parquet file's schema and check it is a valid ``kind`` file; return the schema.

    Required columns must exist with compatible types: any timestamp unit/timezone for
    timestamp columns (naive timestamps are taken as UTC), any integer width but uint64 for
    int64 columns, string/large_string for strings. Extra columns are allowed (readers ignore them).
    """
    _check_kind(kind)
    p = Path(path)
    try:
        if schema is None:  # callers that opened the file already pass its schema
            schema = pq.read_schema(p)
    except READ_ERRORS as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CatalogError(f"corrupt or unreadable Parquet file {p}: {reason}") from None
    expected = SCHEMAS[kind]
    missing = [
        f.name
        for f in expected
        if f.name not in schema.names and f.name not in OPTIONAL_COLUMNS[kind]
    ]
    if missing:
        raise CatalogError(
            f"{p}: {kind} file is missing column(s) {', '.join(missing)}; "
            f"a {kind} file needs {', '.join(expected.names)} (see docs/data-format.md)"
        )
    for f in expected:
        if f.name not in schema.names:
            continue
        actual = schema.field(f.name).type
        if not _type_ok(f.type, actual, f.nullable):
            raise CatalogError(
                f"{p}: column {f.name} has type {actual}, expected {f.type} "
                f"(rewrite the file with framework.data.catalog.write_table)"
            )
    return schema


# --------------------------------------------------------------------------- validation


def _py(x: Any) -> Any:
    """numpy scalars -> Python scalars (for readable error messages)."""
    return x.item() if hasattr(x, "item") and not isinstance(x, (str, bytes)) else x


def _fmt_pos(pos: int, labels: Any) -> str:
    label = labels[pos]
    if hasattr(label, "item"):  # numpy scalar -> Python
        label = label.item()
    if isinstance(label, int) and label == pos:
        return f"row {pos}"
    return f"row {pos} (index {label!r})"


def _to_ts_array(s: pd.Series, col: str, kind: str, nullable: bool) -> pa.Array:
    import numpy as np
    import pandas as pd

    dt = s.dtype
    if isinstance(dt, pd.DatetimeTZDtype):
        v = s.dt.tz_convert("UTC").dt.as_unit("ns")
    elif pd.api.types.is_datetime64_dtype(dt):
        v = s.dt.as_unit("ns").dt.tz_localize("UTC")
    elif pd.api.types.is_bool_dtype(dt):
        raise CatalogError(f"{kind}: column {col} holds bools; expected timestamps")
    elif pd.api.types.is_integer_dtype(dt):
        if s.isna().any():
            v = pd.to_datetime(s.astype("Int64"), unit="ns", utc=True)
        else:
            v = pd.to_datetime(s.to_numpy(dtype=np.int64), unit="ns", utc=True)
            v = pd.Series(v, index=s.index)
    elif pd.api.types.is_object_dtype(dt) and s.map(lambda x: x is None or isinstance(x, (datetime, np.datetime64))).all():
        try:
            conv = pd.to_datetime(s, utc=False)
        except (ValueError, TypeError) as e:
            raise CatalogError(f"{kind}: column {col} has unconvertible timestamps ({e})") from None
        if isinstance(conv.dtype, pd.DatetimeTZDtype):
            v = conv.dt.tz_convert("UTC").dt.as_unit("ns")
        elif pd.api.types.is_datetime64_dtype(conv.dtype):
            v = conv.dt.as_unit("ns").dt.tz_localize("UTC")
        else:  # mixed timezones
            try:
                v = pd.to_datetime(s, utc=True).dt.as_unit("ns")
            except (ValueError, TypeError) as e:
                raise CatalogError(f"{kind}: column {col} has unconvertible timestamps ({e})") from None
    elif len(s) == 0 or s.isna().all():
        v = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns, UTC]")
    else:
        raise CatalogError(
            f"{kind}: column {col} has dtype {dt}; expected timestamps (datetime64, tz-aware or "
            f"naive = UTC) or int nanoseconds since the epoch; convert with pd.to_datetime(..., utc=True)"
        )
    arr = pa.array(v, type=_TS, from_pandas=True)
    return arr


def _to_int_array(s: pd.Series, col: str, kind: str) -> pa.Array:
    import numpy as np
    import pandas as pd

    dt = s.dtype
    bad = (
        f"{kind}: column {col} has dtype {dt}; expected int64 in framework units "
        f"(prices: $0.0001, sizes: 0.01 contract)"
    )
    if pd.api.types.is_bool_dtype(dt):
        raise CatalogError(bad)
    if pd.api.types.is_integer_dtype(dt):
        if pd.api.types.is_unsigned_integer_dtype(dt):
            mx = s.max() if len(s) else 0
            if not pd.isna(mx) and int(mx) > np.iinfo(np.int64).max:
                raise CatalogError(f"{kind}: column {col} has values beyond int64")
        return pa.array(s, from_pandas=True).cast(pa.int64())
    if pd.api.types.is_float_dtype(dt):
        vals = s.to_numpy(dtype="float64", na_value=np.nan)
        notna = ~np.isnan(vals)
        finite = vals[notna]
        if not np.all(np.isfinite(finite)) or not np.all(np.floor(finite) == finite):
            pos = int(np.flatnonzero(notna & ~(np.isfinite(vals) & (np.floor(vals) == vals)))[0])
            raise CatalogError(
                f"{kind}: column {col} has non-integer value {float(vals[pos])!r} at {_fmt_pos(pos, s.index)}; "
                f"expected int64 in framework units; {_PRICE_HINT}; sizes are in 0.01 contract "
                f"(framework.units.contracts('2.5') = 250)"
            )
        if finite.size and (finite.max() >= 2.0**63 or finite.min() < -(2.0**63)):
            raise CatalogError(f"{kind}: column {col} has values beyond int64")
        out = np.zeros(len(vals), dtype=np.int64)
        out[notna] = finite.astype(np.int64)
        return pa.array(out, mask=~notna, type=pa.int64())
    if pd.api.types.is_object_dtype(dt) or pd.api.types.is_string_dtype(dt):
        py: list[int | None] = []
        for pos, x in enumerate(s.tolist()):
            if x is None or (isinstance(x, float) and x != x) or x is pd.NA:
                py.append(None)
            elif isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_)):
                py.append(int(x))
            elif isinstance(x, (float, np.floating)) and float(x).is_integer():
                py.append(int(x))
            else:
                raise CatalogError(
                    f"{kind}: column {col} has non-integer value {_py(x)!r} at {_fmt_pos(pos, s.index)}; "
                    f"expected int64 in framework units; {_PRICE_HINT}"
                )
        try:
            return pa.array(py, type=pa.int64())
        except (OverflowError, pa.ArrowException):
            raise CatalogError(f"{kind}: column {col} has values beyond int64") from None
    raise CatalogError(bad)


def _to_str_array(s: pd.Series, col: str, kind: str) -> pa.Array:
    import pandas as pd

    if isinstance(s.dtype, pd.StringDtype):  # fast path (pandas 3 default ``str``)
        return pa.array(s, from_pandas=True).cast(pa.string())
    if pd.api.types.is_object_dtype(s.dtype):
        try:
            arr = pa.array(s, from_pandas=True)
        except (pa.ArrowException, TypeError, ValueError):
            arr = None
        if arr is not None and (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
            return arr.cast(pa.string())
        if arr is not None and pa.types.is_null(arr.type):
            return pa.nulls(len(s), type=pa.string())
    py: list[str | None] = []
    for pos, x in enumerate(s.tolist()):
        if x is None or x is pd.NA or (isinstance(x, float) and x != x):
            py.append(None)
        elif isinstance(x, str):
            py.append(x)
        else:
            raise CatalogError(
                f"{kind}: column {col} has non-string value {_py(x)!r} at {_fmt_pos(pos, s.index)}; "
                f"expected strings"
            )
    return pa.array(py, type=pa.string())


def _to_bool_array(s: pd.Series, col: str, kind: str) -> pa.Array:
    import numpy as np
    import pandas as pd

    if pd.api.types.is_bool_dtype(s.dtype) and not s.isna().any():
        return pa.array(s.to_numpy(dtype=bool), type=pa.bool_())
    py: list[bool | None] = []
    for pos, x in enumerate(s.tolist()):
        if x is None or x is pd.NA or (isinstance(x, float) and x != x):
            py.append(None)
        elif isinstance(x, (bool, np.bool_)):
            py.append(bool(x))
        elif isinstance(x, (int, np.integer)) and int(x) in (0, 1):
            py.append(bool(x))
        else:
            raise CatalogError(
                f"{kind}: column {col} has non-boolean value {_py(x)!r} at {_fmt_pos(pos, s.index)}; "
                f"expected True/False"
            )
    return pa.array(py, type=pa.bool_())


def _first_bad(mask: Any) -> int:
    import numpy as np

    return int(np.flatnonzero(np.asarray(mask))[0])


def _df_to_table(kind: str, df: pd.DataFrame, allowed_extra: Iterable[str] = ()) -> pa.Table:
    """Validate ``df`` against ``kind``'s schema and convert it into an Arrow table."""
    import numpy as np
    import pandas as pd

    _check_kind(kind)
    if not isinstance(df, pd.DataFrame):
        raise CatalogError(f"{kind}: expected a pandas DataFrame, got {type(df).__name__}")
    schema = SCHEMAS[kind]
    cols = [str(c) for c in df.columns]
    if len(set(cols)) != len(cols):
        dups = sorted({c for c in cols if cols.count(c) > 1})
        raise CatalogError(f"{kind}: duplicate column(s) {', '.join(dups)}; drop the duplicates")
    missing = [n for n in schema.names if n not in cols and n not in OPTIONAL_COLUMNS[kind]]
    if missing:
        raise CatalogError(
            f"{kind}: missing required column(s) {', '.join(missing)}; "
            f"a {kind} table needs {', '.join(schema.names)} (see docs/data-format.md)"
        )
    extra = [c for c in cols if c not in schema.names and c not in set(allowed_extra)]
    if extra:
        raise CatalogError(
            f"{kind}: unknown column(s) {', '.join(extra)}; drop them "
            f"(allowed: {', '.join(schema.names)})"
        )
    n = len(df)
    arrays: list[pa.Array] = []
    for f in schema:
        if f.name not in cols:  # optional column
            arrays.append(pa.nulls(n, type=f.type))
            continue
        s = df[f.name]
        if pa.types.is_timestamp(f.type):
            arr = _to_ts_array(s, f.name, kind, f.nullable)
        elif pa.types.is_integer(f.type):
            arr = _to_int_array(s, f.name, kind)
        elif pa.types.is_string(f.type):
            arr = _to_str_array(s, f.name, kind)
        elif pa.types.is_boolean(f.type):
            arr = _to_bool_array(s, f.name, kind)
        else:  # pragma: no cover - every schema type is handled above
            raise CatalogError(f"{kind}: unsupported type {f.type} for column {f.name}")
        if not f.nullable and arr.null_count:
            pos = _first_bad(arr.is_null().to_numpy(zero_copy_only=False))
            raise CatalogError(
                f"{kind}: column {f.name} has a null/NaN at {_fmt_pos(pos, df.index)}; "
                f"{f.name} may not be null"
            )
        arrays.append(arr)
    table = pa.Table.from_arrays(arrays, schema=schema)

    # value checks
    for f in schema:
        if pa.types.is_integer(f.type):
            vals = table.column(f.name).to_numpy(zero_copy_only=False)
            valid = None  # nulls are not range-checked (candles' nullable prices)
            if table.column(f.name).null_count:
                vals = np.asarray(
                    table.column(f.name).fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64
                )
                valid = table.column(f.name).is_valid().to_numpy(zero_copy_only=False)
            if f.name in _PRICE_BOUNDS:
                lo, hi = _PRICE_BOUNDS[f.name]
                bad = (vals < lo) | (vals > hi)
                if valid is not None:
                    bad &= valid
                if bad.any():
                    pos = _first_bad(bad)
                    raise CatalogError(
                        f"{kind}: column {f.name} value {int(vals[pos])} at {_fmt_pos(pos, df.index)} "
                        f"is outside [{lo}, {hi}]; {_PRICE_HINT}"
                    )
            if f.name in _SIZE_MIN:
                lo = _SIZE_MIN[f.name]
                bad = vals < lo
                if bad.any():
                    pos = _first_bad(bad)
                    what = "negative" if int(vals[pos]) < 0 else "zero"
                    raise CatalogError(
                        f"{kind}: column {f.name} has {what} value {int(vals[pos])} at "
                        f"{_fmt_pos(pos, df.index)}; must be >= {lo} (quantities are in 0.01 contract: "
                        f"10 contracts = 1000)"
                    )
        if f.name in _ENUMS:
            allowed = _ENUMS[f.name]
            ok = pc.fill_null(pc.is_in(table.column(f.name), value_set=pa.array(allowed)), True)
            if pc.all(ok).as_py():
                continue
            vals = table.column(f.name).to_pylist()
            for pos, v in enumerate(vals):
                if v is not None and v not in allowed:
                    raise CatalogError(
                        f"{kind}: column {f.name} has value {v!r} at {_fmt_pos(pos, df.index)}; "
                        f"allowed: {', '.join(repr(a) for a in allowed)}"
                        + (" or null" if f.nullable else "")
                    )
        if f.name in ("ticker", "event_ticker", "series_ticker", "trade_id"):
            if not pc.any(pc.equal(table.column(f.name), "")).as_py():
                continue
            vals = table.column(f.name).to_pylist()
            for pos, v in enumerate(vals):
                if v == "":
                    raise CatalogError(
                        f"{kind}: column {f.name} has an empty string at {_fmt_pos(pos, df.index)}"
                    )
    if n:
        _check_plausible_ts(kind, table, df.index)
        _warn_units(kind, table)
    if kind == "markets" and n:
        problem = settlement_problem(table)
        if problem is not None:
            raise CatalogError(f"markets: {problem[1]} at {_fmt_pos(problem[0], df.index)}")
    if kind == "candles" and n:
        _check_candles(table, df.index)
    return table


def _warn_units(kind: str, table: pa.Table) -> None:
    """Warn (CatalogWarning) when every price is below one cent: cents left as $0.0001 units."""
    import warnings

    cols = [f.name for f in table.schema if f.name in _PRICE_BOUNDS and f.name != "settlement_value"]
    if not cols:
        return
    mx = max((pc.max(table.column(c)).as_py() or 0) for c in cols)
    if 0 < mx < 100:
        warnings.warn(f"{kind}: every price is below 100 units ($0.01): these look like cents; prices are "
                      f"in $0.0001 units ({_PRICE_HINT})", CatalogWarning, stacklevel=4)


def _check_plausible_ts(kind: str, table: pa.Table, labels: Any) -> None:
    """Every timestamp within :data:`PLAUSIBLE_TS` (nulls skipped)."""
    import numpy as np

    lo, hi = PLAUSIBLE_TS
    for f in table.schema:
        if not pa.types.is_timestamp(f.type):
            continue
        col = table.column(f.name)
        mm = pc.min_max(col.cast(pa.int64()))
        if mm["min"].as_py() is None or (lo <= mm["min"].as_py() and mm["max"].as_py() < hi):
            continue
        v = col.cast(pa.int64()).fill_null(lo).to_numpy(zero_copy_only=False)
        pos = _first_bad((v < lo) | (v >= hi))
        raise CatalogError(
            f"{kind}: column {f.name} value {np.datetime64(int(v[pos]), 'ns')} at {_fmt_pos(pos, labels)} "
            f"is outside the plausible years 2000..2099; timestamps are ns since the epoch "
            f"(seconds or ms need pd.to_datetime(x, unit='s'|'ms', utc=True))"
        )


def settlement_problem(table: pa.Table) -> tuple[int, str] | None:
    """The first broken settlement rule in a markets table, as ``(row, message)``, else None.

    Rules: ``close_ts >= open_ts``; a ``result`` needs a ``settle_ts`` (a result with no
    settlement time would never settle); ``settle_ts >= close_ts`` (settling before the close
    would leave the market trading after its settlement); ``result`` in :data:`RESULTS`;
    ``"scalar"`` needs ``settlement_value`` (the YES payout per contract), any value in ``[0, $1]``; for
    ``yes``/``no`` a ``settlement_value`` present must be ``$1``/``0``; tickers unique.
    Shared by the writer and the backtest's read of the markets table.
    """
    import numpy as np

    def ns(name: str) -> np.ndarray:
        if name not in table.column_names:
            return np.full(table.num_rows, -1, dtype=np.int64)
        return table.column(name).cast(pa.int64()).fill_null(-1).to_numpy(zero_copy_only=False)

    o, c, st = ns("open_ts"), ns("close_ts"), ns("settle_ts")
    bad = c < o
    if bad.any():
        return _first_bad(bad), "column close_ts is before open_ts"
    if _settlement_ok(table, c, st):
        return None  # the common case, found without a Python loop over the rows
    result = table.column("result").to_pylist() if "result" in table.column_names else [None] * len(o)
    value = (table.column("settlement_value").to_pylist() if "settlement_value" in table.column_names
             else [None] * len(o))
    seen: set[str] = set()
    for pos, (t, r, v) in enumerate(zip(table.column("ticker").to_pylist(), result, value, strict=True)):
        if r is not None and r not in RESULTS:
            return pos, f"column result has value {r!r}; allowed: {', '.join(RESULTS)} or null"
        if r is not None and st[pos] < 0:
            return pos, (f"market {t!r} has result {r!r} but no settle_ts (it would never settle); "
                         f"set settle_ts to the settlement time")
        if st[pos] >= 0 and st[pos] < c[pos]:
            return pos, (f"market {t!r} has settle_ts before close_ts (it would settle and keep "
                         f"trading); settle_ts must be >= close_ts")
        if r == "scalar" and v is None:
            return pos, (f"market {t!r} has result 'scalar' but no settlement_value (the YES payout "
                         f"per contract in $0.0001, e.g. 3700 = $0.37)")
        if v is not None and not 0 <= v <= DOLLAR:
            return pos, (f"market {t!r} has settlement_value {v}, outside [0, {DOLLAR}] (the YES payout "
                         f"per contract in $0.0001, e.g. 3700 = $0.37)")
        if v is not None and r in ("yes", "no") and v != (DOLLAR if r == "yes" else 0):
            return pos, f"market {t!r} has result {r!r} but settlement_value {v} (expected {DOLLAR if r == 'yes' else 0})"
        if t in seen:
            return pos, f"column ticker has duplicate {t!r}; one row per market"
        seen.add(t)
    return None


def _settlement_ok(table: pa.Table, c: Any, st: Any) -> bool:
    """True when no row breaks a rule :func:`settlement_problem`'s loop checks (vectorised, so a
    valid table of thousands of markets costs a few Arrow calls); False sends it to the loop,
    which finds the first broken rule and words it."""
    import numpy as np

    n = table.num_rows
    names = table.column_names
    if "result" in names:
        r = table.column("result")
        has_r = r.is_valid().to_numpy(zero_copy_only=False)
        known = pc.is_in(r, value_set=pa.array(RESULTS, pa.string())).to_numpy(zero_copy_only=False)
        is_yes = pc.equal(r, "yes").fill_null(False).to_numpy(zero_copy_only=False)
        is_no = pc.equal(r, "no").fill_null(False).to_numpy(zero_copy_only=False)
        is_scalar = pc.equal(r, "scalar").fill_null(False).to_numpy(zero_copy_only=False)
    else:
        has_r = is_yes = is_no = is_scalar = np.zeros(n, dtype=bool)
        known = has_r
    if "settlement_value" in names:
        col = table.column("settlement_value")
        has_v = col.is_valid().to_numpy(zero_copy_only=False)
        v = col.fill_null(0).to_numpy(zero_copy_only=False)
    else:
        has_v, v = np.zeros(n, dtype=bool), np.zeros(n, dtype=np.int64)
    bad = ((has_r & (~known | (st < 0))) | ((st >= 0) & (st < c)) | (is_scalar & ~has_v)
           | (has_v & ((v < 0) | (v > DOLLAR) | (is_yes & (v != DOLLAR)) | (is_no & (v != 0)))))
    return not bad.any() and pc.count_distinct(table.column("ticker")).as_py() == n


def _check_candles(table: pa.Table, labels: Any) -> None:
    """Candle rules: ``period`` a whole number of minutes >= 1 (Kalshi serves 1/60/1440; imports
    may bring others, e.g. 5), ``low <= open, close <= high`` for each OHLC group (nulls
    skipped), one row per (ticker, period, ts)."""
    period = table.column("period").to_numpy(zero_copy_only=False)
    bad = period < 1
    if bad.any():
        pos = _first_bad(bad)
        raise CatalogError(
            f"candles: column period has value {int(period[pos])} at {_fmt_pos(pos, labels)}; "
            "a period is a whole number of minutes >= 1 (Kalshi: 1, 60 or 1440)"
        )
    for prefix in ("", "yes_bid_", "yes_ask_"):
        cols = {c: table.column(prefix + c) for c in ("open", "high", "low", "close")}
        lo, hi = cols["low"], cols["high"]
        for c in ("open", "close", "high"):
            ok = pc.fill_null(pc.less_equal(lo, cols[c]), True)
            if c != "high":
                ok = pc.and_(ok, pc.fill_null(pc.less_equal(cols[c], hi), True))
            if pc.all(ok).as_py():
                continue
            pos = _first_bad(~ok.to_numpy(zero_copy_only=False))
            raise CatalogError(
                f"candles: {prefix}{c} is outside [{prefix}low, {prefix}high] at {_fmt_pos(pos, labels)}"
            )
    ts = table.column("ts").cast(pa.int64()).to_pylist()
    seen: set[tuple] = set()
    for pos, key in enumerate(zip(table.column("ticker").to_pylist(), period.tolist(), ts, strict=True)):
        if key in seen:
            raise CatalogError(
                f"candles: duplicate (ticker, period, ts) {key[0]!r}/{key[1]}/{key[2]} at "
                f"{_fmt_pos(pos, labels)}; one row per market, period and period end"
            )
        seen.add(key)


def _unsorted(kind: str, pos: int, labels: Any, where: str) -> CatalogError:
    return CatalogError(
        f"{kind}: column ts is not sorted ascending{where}: {_fmt_pos(pos, labels)} is earlier "
        f"than the row before it; sort first (df.sort_values('ts', kind='stable'))"
    )


def _check_sorted(kind: str, table: pa.Table, labels: Any) -> None:
    import numpy as np

    if "ts" not in table.column_names or table.num_rows < 2:
        return
    bad = np.diff(table.column("ts").cast(pa.int64()).to_numpy()) < 0
    if bad.any():
        raise _unsorted(kind, _first_bad(bad) + 1, labels, "")


# --------------------------------------------------------------------------- writing

_DAY_NS = 86_400_000_000_000


def _series_codes(root: Path, kind: str, df: pd.DataFrame, table: pa.Table) -> tuple[np.ndarray, list[str]]:
    """Series of each row as (index into ``names`` per row, ``names`` sorted): df's ``series``
    column, else the markets table, else the ticker prefix. Strings are dictionary-encoded once
    and each distinct value is mapped once (a per-row Python lookup costs ~1 s per million rows)."""
    import numpy as np
    import pandas as pd

    if kind == "markets":
        col = table.column("series_ticker")
    elif "series" in df.columns:
        s = df["series"]
        if pd.api.types.infer_dtype(s, skipna=False) == "string" and not s.isna().any():
            col = pa.chunked_array([pa.array(s, from_pandas=True)])  # every value a str: no row loop
        else:
            col = None
        if col is None or pc.any(pc.equal(col, "")).as_py():
            for pos, x in enumerate(s.tolist()):  # the slow path only to name the first bad row
                if not isinstance(x, str) or not x:
                    raise CatalogError(
                        f"{kind}: column series has invalid value {_py(x)!r} at {_fmt_pos(pos, df.index)}"
                    )
            col = pa.chunked_array([pa.array(s.tolist(), type=pa.string())])
    else:
        col = table.column("ticker")
    enc = pc.dictionary_encode(col).combine_chunks()
    values = [str(x) for x in enc.dictionary.to_pylist()]  # non-null: validated above
    if kind != "markets" and "series" not in df.columns:
        mapping: dict[str, str] = {}
        if kind_files(root, "markets"):
            m = read_markets(root)
            mapping = dict(zip(m["ticker"].tolist(), m["series_ticker"].tolist(), strict=True))
        values = [mapping.get(t) or t.split("-", 1)[0] for t in values]
    names = sorted(set(values))
    rank = {s: i for i, s in enumerate(names)}
    code = np.asarray([rank[s] for s in values], dtype=np.int64)
    return code[enc.indices.to_numpy()], names


def _next_free(d: Path) -> str:
    i = 0
    while (d / f"part-{i}.parquet").exists():
        i += 1
    return f"part-{i}.parquet"


def _write_file(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    # page checksums: a byte flipped in a data page later fails the read instead of changing a value
    pq.write_table(table, tmp, compression="zstd", compression_level=3, write_page_checksum=True)
    os.replace(tmp, path)


def write_table(
    root: str | os.PathLike[str],
    kind: str,
    df: pd.DataFrame,
    *,
    partition_by: str | None = None,
    filename: str | None = None,
) -> list[Path]:
    """Validate ``df`` against ``kind``'s schema and write it as Parquet under ``root/kind/``.

    * ``partition_by=None``: one flat file ``root/kind/<filename>``.
    * ``partition_by="series"``: Hive layout ``root/kind/series=<S>/date=<YYYY-MM-DD>/<filename>``
      (date of ``ts`` in UTC), one file per (series, date); for ``markets`` just
      ``root/markets/series=<S>/<filename>``. The series of a row is, in order: a ``series``
      column of ``df`` (allowed only when partitioning, not stored in the file), the
      ``series_ticker`` of the ticker in the catalog's ``markets`` table, or the ticker's prefix
      before the first ``-``. Rows keep their input order within each file.
    * ``filename=None`` picks the first free ``part-<n>.parquet`` in each target folder (so
      writing twice appends files); an explicit ``filename`` overwrites that file.

    Input ``ts`` must already be sorted ascending within each output file: unsorted input is an
    error, never silently sorted, and is found before any file is written. Files are written to
    a hidden temp name and renamed, so a crash leaves no half-written ``.parquet`` file. Returns
    the written paths, sorted.
    """
    _check_kind(kind)
    root_p = Path(root)
    if root_p.exists() and not root_p.is_dir():
        raise CatalogError(f"catalog root {root_p} exists and is not a directory")
    if partition_by is not None and partition_by not in _PARTITION_BY:
        raise CatalogError(
            f"{kind}: unknown partition_by {partition_by!r}; use None (flat) or 'series'"
        )
    if filename is not None and (
        not filename.endswith(".parquet") or "/" in filename or os.sep in filename
        or filename.startswith((".", "_"))
    ):
        raise CatalogError(
            f"{kind}: bad filename {filename!r}; use a plain name ending in .parquet "
            f"(not starting with '.' or '_')"
        )
    extra = ("series",) if partition_by == "series" and kind != "markets" else ()
    table = _df_to_table(kind, df, allowed_extra=extra)
    import numpy as np

    root_p.mkdir(parents=True, exist_ok=True)
    base = root_p / kind
    if partition_by is None:
        _check_sorted(kind, table, df.index)
        target = base / (filename or _next_free(base))
        _write_file(table, target)
        return [target]

    code, names = _series_codes(root_p, kind, df, table)
    for s in names:
        if not _SERIES_RE.match(s):
            raise CatalogError(
                f"{kind}: series {s!r} cannot be used as a partition folder name; "
                f"use letters, digits, '_', '.', '-'"
            )
    n = table.num_rows
    if n == 0:
        return []
    ts = table.column("ts").cast(pa.int64()).to_numpy() if kind != "markets" else None
    key = code  # one int64 per (series, day), ordered as the (series name, day) pairs
    if ts is not None:
        days = ts // _DAY_NS
        d0 = int(days.min())
        key = code * (int(days.max()) - d0 + 1) + (days - d0)
    presorted = bool(np.all(key[1:] >= key[:-1]))
    # a stable sort keeps each file's rows in input order; grouped input needs no sort or copy
    if presorted:
        order = np.arange(n)
    else:  # few distinct keys: as uint16 numpy's stable sort is a radix sort (~5x faster than int64's)
        order = np.argsort(key.astype(np.uint16) if key.max() < 1 << 16 else key, kind="stable")
    skey = key if presorted else key[order]
    bounds = np.concatenate(([0], np.flatnonzero(np.diff(skey)) + 1, [n]))

    def folder(j: int) -> tuple[Path, str]:
        s = names[int(code[order[bounds[j]]])]
        d, where = base / f"series={s}", f" in series={s}"
        if ts is not None:
            day = (date(1970, 1, 1) + timedelta(days=int(days[order[bounds[j]]]))).isoformat()
            d, where = d / f"date={day}", where + f" date={day}"
        return d, where

    if ts is not None and n > 1:  # every file sorted, checked before any is written
        sts = ts if presorted else ts[order]
        bad = (np.diff(sts) < 0) & (np.diff(skey) == 0)
        if bad.any():
            i = _first_bad(bad) + 1
            raise _unsorted(kind, int(order[i]), df.index, folder(int(np.searchsorted(bounds, i, "right")) - 1)[1])
    src = table if presorted else table.take(pa.array(order))
    written: list[Path] = []
    for j in range(len(bounds) - 1):
        d, _ = folder(j)
        target = d / (filename or _next_free(d))
        _write_file(src.slice(int(bounds[j]), int(bounds[j + 1] - bounds[j])), target)  # a view
        written.append(target)
    return sorted(written)


# --------------------------------------------------------------------------- reading


def _to_ns(x: Any, what: str) -> int:
    import pandas as pd

    if isinstance(x, (int,)) and not isinstance(x, bool):
        return int(x)
    try:
        t = pd.Timestamp(x)
    except (ValueError, TypeError) as e:
        raise CatalogError(f"cannot interpret {what}={x!r} as a time ({e})") from None
    if t.tzinfo is None:
        t = t.tz_localize("UTC")
    return int(t.as_unit("ns").value)


def _partition_date(path: Path) -> date | None:
    for part in path.parts:
        if part.startswith("date="):
            try:
                return date.fromisoformat(part[5:])
            except ValueError:
                return None
    return None


def _read_file(path: Path, kind: str, tickers: list[str] | None) -> pa.Table:
    schema = validate_file(path, kind)
    expected = SCHEMAS[kind]
    cols = [n for n in expected.names if n in schema.names]
    try:
        t = pq.read_table(path, columns=cols, page_checksum_verification=True)
    except READ_ERRORS as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CatalogError(f"corrupt or unreadable Parquet file {path}: {reason}") from None
    t = _conform(t, kind, path)
    if tickers is not None:
        t = t.filter(pc.is_in(t.column("ticker"), value_set=pa.array(tickers, type=pa.string())))
    return t


def _conform(t: pa.Table, kind: str, path: Path) -> pa.Table:
    """A table read from ``path`` in ``kind``'s exact schema: missing optional columns as nulls,
    dictionaries decoded, naive timestamps as UTC, integer widths cast (extra columns dropped)."""
    expected = SCHEMAS[kind]
    arrays = []
    for f in expected:
        if f.name not in t.column_names:
            arrays.append(pa.nulls(t.num_rows, type=f.type))
            continue
        col = t.column(f.name)
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        if pa.types.is_timestamp(f.type) and col.type.tz is None and pa.types.is_timestamp(col.type):
            col = col.cast(pa.timestamp(col.type.unit, tz="UTC"))
        try:
            col = col.cast(f.type)
        except pa.ArrowException as e:
            raise CatalogError(f"{path}: column {f.name} cannot be cast to {f.type}: {e}") from None
        arrays.append(col)
    return pa.Table.from_arrays(arrays, schema=expected.remove_metadata())


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    """Arrow -> pandas with stable dtypes: int64 stays int64, nullable ints become ``Int64``."""
    import pandas as pd

    data = {}
    for f in table.schema:
        col = table.column(f.name)
        if pa.types.is_integer(f.type):
            if f.nullable:
                data[f.name] = col.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
            else:
                data[f.name] = col.to_numpy()
        elif pa.types.is_timestamp(f.type):
            data[f.name] = col.to_pandas()
        elif pa.types.is_boolean(f.type):
            data[f.name] = col.to_numpy(zero_copy_only=False).astype(bool) if col.null_count == 0 else col.to_pandas()
        else:
            data[f.name] = col.to_pandas()
    df = pd.DataFrame(data, columns=table.schema.names)
    return df


def read_table(
    root: str | os.PathLike[str],
    kind: str,
    tickers: Iterable[str] | None = None,
    start: Any = None,
    end: Any = None,
) -> pd.DataFrame:
    """Read a whole kind into one DataFrame (small data, tests, analysis; not the replay path).

    Filters: ``tickers`` (any iterable of strings), ``start <= ts < end`` (datetimes, strings,
    ``pd.Timestamp`` or int ns; naive = UTC). Rows are stably sorted by ``ts``; ties keep file
    path order, then in-file order. Columns follow the schema; nullable int columns come back as
    pandas ``Int64``, timestamps as ``datetime64[ns, UTC]``. ``markets`` (no ``ts``) is
    delegated to :func:`read_markets` and does not accept ``start``/``end``.
    """
    _check_kind(kind)
    tick = None if tickers is None else ([tickers] if isinstance(tickers, str) else list(tickers))
    if kind == "markets":
        if start is not None or end is not None:
            raise CatalogError("markets: no ts column, so start/end do not apply; use read_markets")
        return read_markets(root, tick)
    lo = None if start is None else _to_ns(start, "start")
    hi = None if end is None else _to_ns(end, "end")
    parts = []
    for p in kind_files(root, kind):
        d = _partition_date(p)
        if d is not None:
            d0 = int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp()) * 1_000_000_000
            if (hi is not None and d0 >= hi) or (lo is not None and d0 + 86_400_000_000_000 <= lo):
                continue
        t = _read_file(p, kind, tick)
        if lo is not None or hi is not None:
            ts = t.column("ts").cast(pa.int64())
            mask = None
            if lo is not None:
                mask = pc.greater_equal(ts, lo)
            if hi is not None:
                m2 = pc.less(ts, hi)
                mask = m2 if mask is None else pc.and_(mask, m2)
            t = t.filter(mask)
        parts.append(t)
    schema = SCHEMAS[kind].remove_metadata()
    table = pa.concat_tables(parts) if parts else schema.empty_table()
    if table.num_rows > 1:
        import numpy as np

        ts = table.column("ts").cast(pa.int64()).to_numpy()
        if np.any(np.diff(ts) < 0):
            order = np.argsort(ts, kind="stable")
            table = table.take(pa.array(order))
    return _to_pandas(table)


def read_markets(root: str | os.PathLike[str], tickers: Iterable[str] | None = None) -> pd.DataFrame:
    """All markets (optionally only ``tickers``) with the markets schema, sorted by ticker.

    If a ticker appears in several files, the row from the last file in path order wins (so a
    later file can update ``settle_ts``/``result``). Missing optional ``title`` reads as null.
    """
    tick = None if tickers is None else ([tickers] if isinstance(tickers, str) else list(tickers))
    return _to_pandas(_merge_markets([_read_file(p, "markets", tick) for p in kind_files(root, "markets")]))


def _merge_markets(parts: list[pa.Table]) -> pa.Table:
    """Markets tables read in path order, as one Arrow table: one row per ticker (the last
    part's row wins), sorted by ticker. :func:`read_markets` is this as pandas; the backtest
    uses the Arrow table as it is (no pandas round trip)."""
    table = pa.concat_tables(parts) if parts else SCHEMAS["markets"].remove_metadata().empty_table()
    n = table.num_rows
    if n > 1:
        import numpy as np

        # ticker ascending, then the latest row first: the first row of each ticker wins
        keys = pa.table({"t": table.column("ticker"), "r": pa.array(np.arange(n - 1, -1, -1, dtype=np.int64))})
        order = pc.sort_indices(keys, sort_keys=[("t", "ascending"), ("r", "ascending")])
        tick = table.column("ticker").take(order)
        dup = pc.equal(tick.slice(1), tick.slice(0, n - 1)).fill_null(False).to_numpy()
        keep = order.to_numpy()
        if dup.any():
            keep = keep[np.concatenate([[True], ~dup])]
        if not np.array_equal(keep, np.arange(n)):  # already one row per ticker, sorted: no copy
            table = table.take(pa.array(keep))
    return table
