"""L2 logs for ``kalshi import book``: signed size changes or insert/cancel actions -> the
catalog's level updates (``size`` = the level's new total, docs/data-format.md ``book``).

Three source shapes, by what the mapping provides:

* ``size`` only: already totals (the catalog's own meaning); nothing to do.
* ``size_delta``: a signed change of the level's resting size (Kalshi's WebSocket
  ``orderbook_delta`` shape, ``ts,ticker,side,price,delta``).
* ``action`` + ``size``: ``insert``/``add``/``new`` add ``size`` to the level,
  ``cancel``/``reduce`` take it away (a cancel without a size removes the level),
  ``delete``/``remove`` remove the level, ``update``/``set``/``modify`` set its total.

Totals are running sums per (ticker, side, price) in time order, restarted by ``set`` rows and
by snapshots (a snapshot group replaces the market's whole book, so every level of that
market restarts from what the snapshot says, or zero). A total that would go below zero is an
error naming the row: the log removes more than rests there, usually because it does not start
with a snapshot of the book.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .catalog import CatalogError
from .import_convert import first_true

__all__ = ["ACTIONS", "levels_from_log"]

# action word (lower case) -> what it does to the level
ACTIONS: dict[str, str] = {
    **dict.fromkeys(("insert", "add", "new", "i", "a"), "add"),
    **dict.fromkeys(("cancel", "reduce", "c"), "sub"),
    **dict.fromkeys(("delete", "remove", "d"), "remove"),
    **dict.fromkeys(("update", "set", "modify", "change", "u"), "set"),
}


def _steps(table: pa.Table, where: Callable[[int], str]) -> tuple[np.ndarray, np.ndarray]:
    """Per row: whether it sets the level (``reset``) and the value (new total or change)."""
    snap = table.column("snapshot").to_numpy(zero_copy_only=False)
    if "size_delta" in table.column_names:
        if "action" in table.column_names:
            raise CatalogError(f"{where(0)}: map either size_delta (signed changes) or action with size, not both")
        delta = table.column("size_delta")
        size = table.column("size")
        if delta.null_count and size.null_count == len(size):
            bad = first_true(pc.is_null(delta))
            raise CatalogError(f"{where(bad)}: column size_delta is empty; every row of a delta log needs one")
        # snapshot rows carry totals in size when the source has both columns
        value = pc.if_else(pc.and_(pc.is_valid(size), pa.array(snap)), size, delta)
        bad = first_true(pc.is_null(value))
        if bad >= 0:
            raise CatalogError(f"{where(bad)}: column size_delta is empty; every row of a delta log needs one")
        return snap.copy(), value.to_numpy(zero_copy_only=False).astype(np.int64)
    act = table.column("action")
    known = pc.is_in(act, pa.array(list(ACTIONS)))
    bad = first_true(pc.invert(pc.fill_null(known, False)))
    if bad >= 0:
        raise CatalogError(f"{where(bad)}: column action has {act[bad].as_py()!r}; use insert/add, cancel/reduce, "
                           "delete/remove or update/set")
    what = np.asarray([ACTIONS[a] for a in act.unique().to_pylist()], dtype=object)
    kinds = what[pc.index_in(act, act.unique()).to_numpy(zero_copy_only=False)]
    size = table.column("size")
    size_null = pc.is_null(size).to_numpy(zero_copy_only=False)
    s = size.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    needs = (kinds == "add") | (kinds == "set")
    bad = first_true(needs & size_null)
    if bad >= 0:
        raise CatalogError(f"{where(bad)}: column size is empty; an {act[bad].as_py()} row needs a size")
    remove = (kinds == "remove") | ((kinds == "sub") & size_null)
    reset = snap | (kinds == "set") | remove
    value = np.where(remove, 0, np.where(kinds == "sub", -s, s))
    return reset, value


def levels_from_log(table: pa.Table, where: Callable[[int], str]) -> pa.Table:
    """``table`` (sorted by time) with ``size`` as level totals and the log columns dropped."""
    import pandas as pd

    if "action" not in table.column_names and "size_delta" not in table.column_names:
        return table
    reset, value = _steps(table, where)
    tk = pc.dictionary_encode(table.column("ticker")).combine_chunks().indices.to_numpy()
    df = pd.DataFrame({"tk": tk, "side": table.column("side").to_numpy(zero_copy_only=False),
                       "price": table.column("price").to_numpy(zero_copy_only=False),
                       "snap": table.column("snapshot").to_numpy(zero_copy_only=False),
                       "ts": table.column("ts").cast(pa.int64()).to_numpy(),
                       "reset": reset, "value": value})
    g = df.groupby("tk", sort=False)
    start = df["snap"] & ~(g["snap"].shift(1, fill_value=False).astype(bool) & (g["ts"].shift(1) == df["ts"]))
    df["epoch"] = start.groupby(df["tk"]).cumsum()  # snapshot groups seen so far, per market
    level = ["tk", "epoch", "side", "price"]
    df["seg"] = df.groupby(level, sort=False)["reset"].cumsum()
    total = df.groupby([*level, "seg"], sort=False)["value"].cumsum().to_numpy()
    bad = first_true(total < 0)
    if bad >= 0:
        raise CatalogError(f"{where(bad)}: the {df['side'].iat[bad]} level at price {int(df['price'].iat[bad])} of "
                           f"{table.column('ticker')[bad].as_py()} would go below zero ({int(total[bad])}): the log "
                           "removes more than rests there; does it start with a snapshot of the book?")
    keep = [c for c in table.column_names if c not in ("action", "size_delta", "size")]
    out = table.select(keep)
    return out.append_column("size", pa.array(total, type=pa.int64()))
