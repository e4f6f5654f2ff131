"""Column conversions for ``kalshi import``: source values -> the catalog's exact integers and
UTC nanosecond times, vectorised over Arrow arrays (a million rows in well under a second).

Every function takes a column (any Arrow type; CSV columns arrive as strings) and a
``where(i) -> str`` callback that names row ``i`` of the source (``FILE:line N``). Problems are
one-line :class:`CatalogError` naming the first bad row; the row is found with a vectorised
mask, so the error path costs no more than the happy path. Nothing is guessed silently: naive
times need a ``tz``, values finer than the framework's unit are errors, not roundings.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .catalog import CatalogError

__all__ = ["blank_to_null", "first_true", "to_times", "to_units"]

Where = Callable[[int], str]  # row index -> "FILE:line N"

_NUMBER = r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$"
_DIGITS = r"^-?\d+$"
_DEC = pa.decimal128(24, 12)  # 12 integer + 12 fraction digits: any price or size a feed writes


def first_true(mask: pa.Array | pa.ChunkedArray | np.ndarray) -> int:
    """Index of the first true (non-null) value of a boolean mask; -1 when there is none."""
    if not isinstance(mask, np.ndarray):
        mask = pc.fill_null(mask, False).to_numpy(zero_copy_only=False)
    hits = np.flatnonzero(mask)
    return int(hits[0]) if hits.size else -1


def blank_to_null(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """Strings trimmed, with empty strings as nulls (CSV's "missing"); other types unchanged."""
    if not pa.types.is_string(col.type) and not pa.types.is_large_string(col.type):
        return col
    col = pc.utf8_trim_whitespace(col)
    return pc.if_else(pc.equal(col, ""), pa.scalar(None, col.type), col)


def _exact_rows(col: pa.ChunkedArray, factor: int, name: str, where: Where) -> pa.Array:
    """Slow exact path (``Decimal`` per row), only for numbers Arrow's decimal cast refuses
    (more than 12 decimals, huge exponents): names the first bad row."""
    out: list[int | None] = []
    for i, v in enumerate(col.to_pylist()):
        if v is None:
            out.append(None)
            continue
        try:
            d = Decimal(str(v)) * factor
        except InvalidOperation:
            raise CatalogError(f"{where(i)}: column {name}: {v!r} is not a number; fix or drop the row") from None
        if d != d.to_integral_value():
            raise CatalogError(_finer(where(i), name, v))
        if abs(d) >= 2**63:
            raise CatalogError(f"{where(i)}: column {name}: {v!r} is too large; check --price-unit / --size-unit")
        out.append(int(d))
    return pa.array(out, type=pa.int64())


def _finer(at: str, name: str, v: object) -> str:
    return (f"{at}: column {name}: {v!r} is finer than the framework's unit ($0.0001 for prices, 0.01 "
            f"contract for sizes); check --price-unit / --size-unit")


def to_units(col: pa.ChunkedArray, factor: int, name: str, where: Where) -> pa.Array:
    """Numbers (strings, ints, floats or decimals) times ``factor``, exactly, as int64 (nulls kept).

    Whole numbers take one integer cast; others go through ``decimal128`` so ``"0.45"`` is
    exactly 4500 units (never a float rounding); a fraction left after scaling is an error."""
    if pa.types.is_string(col.type):
        try:  # fast: clean whole numbers (cents, contracts), as a CSV column usually holds them
            return pc.multiply_checked(col.cast(pa.int64()), pa.scalar(factor, pa.int64())).combine_chunks()
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    col = blank_to_null(col)
    if pa.types.is_integer(col.type):
        return pc.multiply_checked(col.cast(pa.int64()), pa.scalar(factor, pa.int64())).combine_chunks()
    if pa.types.is_floating(col.type):
        col = col.cast(pa.string())  # shortest repr ("0.45"), then the exact decimal path
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        try:  # fast: whole numbers (cents, contracts)
            return pc.multiply_checked(col.cast(pa.int64()), pa.scalar(factor, pa.int64())).combine_chunks()
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
        bad = first_true(pc.invert(pc.match_substring_regex(col, _NUMBER)))
        if bad >= 0:
            v = col[bad].as_py()
            raise CatalogError(f"{where(bad)}: column {name}: {v!r} is not a number; fix or drop the row")
        try:
            dec = col.cast(_DEC)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return _exact_rows(col, factor, name, where)
    elif pa.types.is_decimal(col.type):
        dec = col
    else:
        raise CatalogError(f"{where(0)}: column {name} holds {col.type}; expected numbers")
    scaled = pc.multiply(dec, pa.scalar(Decimal(factor), pa.decimal128(len(str(factor)), 0)))
    try:
        return scaled.cast(pa.int64()).combine_chunks()
    except pa.ArrowInvalid:  # a fraction left after scaling (or beyond int64): find the row
        wide = scaled.cast(pa.decimal128(38, _DEC.scale))  # room for any int64 at this scale
        whole = scaled.cast(pa.int64(), safe=False).cast(wide.type)
        bad = first_true(pc.not_equal(whole, wide))
        raise CatalogError(_finer(where(max(bad, 0)), name, col[max(bad, 0)].as_py())) from None


def _no_tz(at: str, name: str, v: object) -> str:
    shown = repr(v) if isinstance(v, str) else f"'{v}'"
    return (f"{at}: column {name}: {shown} has no timezone; pass --tz ZONE (e.g. --tz America/New_York or "
            "--tz UTC): naive times are never taken as UTC")


def _epoch(n: pa.ChunkedArray) -> pa.Array:
    """Epoch numbers -> ns; the unit (s, ms, us, ns) from the magnitude of the largest."""
    mm = pc.min_max(pc.abs(n))["max"].as_py() or 0
    mult = 10**9 if mm < 10**11 else 10**6 if mm < 10**14 else 10**3 if mm < 10**17 else 1
    return pc.multiply_checked(n.cast(pa.int64()), mult).cast(pa.timestamp("ns", "UTC")).combine_chunks()


def _localize(naive: pa.ChunkedArray, tz: str, name: str, col: pa.ChunkedArray, where: Where) -> pa.Array:
    """Naive local times -> UTC; ambiguous (DST fall-back) or non-existent (spring-forward) local
    times are errors naming the row (found by comparing the earliest and latest readings)."""
    try:
        return pc.assume_timezone(naive, tz, ambiguous="raise", nonexistent="raise").combine_chunks()
    except pa.ArrowInvalid as e:
        if "timezone" in str(e).lower() and "exist" not in str(e) and "mbiguous" not in str(e):
            raise CatalogError(f"--tz {tz!r}: unknown timezone; use an IANA name such as America/New_York") from None
        early = pc.assume_timezone(naive, tz, ambiguous="earliest", nonexistent="earliest")
        late = pc.assume_timezone(naive, tz, ambiguous="latest", nonexistent="latest")
        bad = max(first_true(pc.not_equal(early, late)), 0)
        raise CatalogError(f"{where(bad)}: column {name}: {col[bad].as_py()!r} is ambiguous or does not exist "
                           f"in {tz} (a daylight-saving change); record UTC or offsets for that hour") from None


def to_times(col: pa.ChunkedArray, tz: str | None, name: str, where: Where) -> pa.Array:
    """Times -> ``timestamp[ns, UTC]`` (nulls kept): ISO strings with an offset or ``Z``, naive
    ISO strings (localised in ``tz``; without ``tz`` an error), epoch numbers in s/ms/us/ns
    (told apart by magnitude), or Arrow timestamps."""
    t = col.type
    if pa.types.is_string(t):  # fast: clean ISO strings, all with an offset or all naive (no copy)
        first = col.drop_null()[0].as_py() if len(col) > col.null_count else ""
        if first and not first.strip().lstrip("-").isdigit():
            try:
                return col.cast(pa.timestamp("ns", "UTC")).combine_chunks()
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                pass
            try:
                return _naive(col.cast(pa.timestamp("ns")), tz, name, col, where)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                pass
    col = blank_to_null(col)
    t = col.type
    if pa.types.is_timestamp(t):
        if t.tz is not None:
            return col.cast(pa.timestamp("ns", "UTC")).combine_chunks()
        naive = col.cast(pa.timestamp("ns"))
    elif pa.types.is_integer(t):
        return _epoch(col)
    elif pa.types.is_string(t) or pa.types.is_large_string(t):
        if col.null_count < len(col) and pc.all(pc.match_substring_regex(col, _DIGITS)).as_py():
            return _epoch(col.cast(pa.int64()))
        try:
            return col.cast(pa.timestamp("ns", "UTC")).combine_chunks()  # every value has an offset
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
        try:
            naive = col.cast(pa.timestamp("ns"))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return _times_mixed(col, tz, name, where)
    else:
        raise CatalogError(f"{where(0)}: column {name} holds {t}; expected times")
    return _naive(naive, tz, name, col, where)


def _naive(naive: pa.ChunkedArray, tz: str | None, name: str, col: pa.ChunkedArray, where: Where) -> pa.Array:
    if tz is None:
        bad = max(first_true(pc.is_valid(naive)), 0)
        raise CatalogError(_no_tz(where(bad), name, col[bad].as_py()))
    return _localize(naive, tz, name, col, where)


def _times_mixed(col: pa.ChunkedArray, tz: str | None, name: str, where: Where) -> pa.Array:
    """Strings Arrow cannot cast in one go (mixed offsets and naive values, layouts such as
    ``11/20/2026 10:00``): read one by one with pandas (a rare, slower path) so the first
    unreadable or naive value is named."""
    import pandas as pd

    out: list[int | None] = []
    for i, v in enumerate(col.to_pylist()):
        if v is None:
            out.append(None)
            continue
        if str(v).lstrip("-").isdigit():  # an epoch number among strings: its magnitude says the unit
            out.append(_epoch(pa.chunked_array([pa.array([int(v)])]))[0].value)
            continue
        try:
            t = pd.Timestamp(v)
        except (ValueError, TypeError):
            raise CatalogError(f"{where(i)}: column {name}: cannot read {v!r} as a time (use ISO 8601, "
                               "e.g. 2026-11-20T15:00:00Z, or epoch seconds/ms)") from None
        if t.tzinfo is None:
            if tz is None:
                raise CatalogError(_no_tz(where(i), name, v))
            try:
                t = t.tz_localize(tz, ambiguous="raise", nonexistent="raise")
            except Exception as e:  # pytz/zoneinfo raise several types; all mean the same here
                raise CatalogError(f"{where(i)}: column {name}: {v!r} in {tz}: {' '.join(str(e).split())}") from None
        out.append(t.as_unit("ns").value)
    return pa.array(out, type=pa.int64()).cast(pa.timestamp("ns", "UTC"))
