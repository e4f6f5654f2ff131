"""Column-wise views of the engine's fills and orders, built once per result.

A run with an order on every event holds a million fills and orders; building the result from
them row by row (pandas inferring each cell, a getattr per cell) cost ~4 µs per order. Here each
column is pulled out once with a C-level getter and typed by pyarrow, which is strict: a column
that is not all ``int`` (or all ``bool``) with no ``None`` falls back to pandas' own inference,
so every DataFrame comes out with exactly the dtypes pandas would infer from the rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter, itemgetter
from typing import Any

__all__ = ["fill_columns", "frame", "order_columns", "sums_fit", "typed"]


def typed(values: list) -> Any:
    """``values`` as an int64 / bool numpy array, or a pandas ``str`` array, when pyarrow reads
    them as exactly that with no nulls (ints beyond int64, floats, ``None`` or mixed types raise
    or type otherwise); else the list itself, for pandas to infer as it always did."""
    import pyarrow as pa  # here, not at import: ``import framework`` stays light

    if not values:
        return values
    text = isinstance(values[0], str)
    try:
        arr = pa.array(values, type=pa.large_string()) if text else pa.array(values)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        return values
    if arr.null_count:
        return values
    if text:
        return _as_str(arr, values)
    if arr.type not in (pa.int64(), pa.bool_()):
        return values
    return arr.to_numpy(zero_copy_only=False)


def _as_str(arr, values: list) -> Any:
    """pandas' inferred text dtype over ``arr`` (half the cost of pandas converting the list);
    the list when that dtype is not pyarrow-backed, so pandas infers it."""
    import pandas as pd
    import pyarrow as pa

    global _STR
    if _STR is None:
        _STR = pd.Series(["x"]).dtype  # exactly what inference gives a column of str
    if getattr(_STR, "storage", None) != "pyarrow":
        return values
    return pd.array(pa.chunked_array([arr]), dtype=_STR)


_STR: Any = None


def sums_fit(a, scale: int = 1) -> bool:
    """Whether every int64 sum of ``scale`` x elements of ``a`` is exact (cannot leave int64)."""
    if not len(a):
        return True
    return len(a) * max(abs(int(a.min())), abs(int(a.max()))) * scale < 2**62


def fill_columns(fills: Sequence, fields: Sequence[str]) -> dict[str, Any]:
    """``{field: column}`` of tuple-like rows (``Fill``), each column typed by ``typed``."""
    return {f: typed(list(map(itemgetter(i), fills))) for i, f in enumerate(fields)}


def order_columns(orders: Sequence, names: Sequence[str]) -> dict[str, Any]:
    """``{name: column}`` of the attributes ``names`` of objects (``Order``), typed by ``typed``."""
    return {c: typed(list(map(attrgetter(c), orders))) for c in names}


def frame(cols: dict[str, Any], columns: Sequence[str]):
    """A DataFrame of ``columns`` from ``cols`` (numpy arrays go in as they are; lists are inferred)."""
    import pandas as pd

    return pd.DataFrame({c: cols[c] for c in columns}, columns=list(columns))
