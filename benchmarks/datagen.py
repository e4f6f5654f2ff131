"""Deterministic synthetic catalogs for the benchmarks (generated at run time, seeded).

Rows are written straight with pyarrow (no per-row Python) so generating 10 M rows takes seconds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from framework.data.catalog import SCHEMAS

T0 = 1_790_000_000_000_000_000  # 2026-09-21, ns
STEP = 1_000_000  # 1 ms between events


def _ts(n: int, offset: int = 0) -> pa.Array:
    return pa.array(T0 + offset + np.arange(n, dtype=np.int64) * STEP, pa.timestamp("ns", tz="UTC"))


def _write(root: Path, kind: str, name: str, arrays: dict) -> None:
    d = root / kind
    d.mkdir(parents=True, exist_ok=True)
    schema = SCHEMAS[kind]
    if kind == "markets":  # optional columns the arrays leave out are left out of the file
        schema = pa.schema([f for f in schema if f.name in arrays])
    table = pa.table(arrays, schema=schema)
    pq.write_table(table, d / f"{name}.parquet", compression="zstd", row_group_size=1 << 20)


def write_markets(root: Path, tickers: list[str], n_events: int) -> None:
    n = len(tickers)
    end = T0 + n_events * STEP * 1000 + 1  # after the last event of any layout
    _write(root, "markets", "markets", {
        "ticker": pa.array(tickers), "event_ticker": pa.array([t.rsplit("-", 1)[0] for t in tickers]),
        "series_ticker": pa.array([t.split("-", 1)[0] for t in tickers]),
        "open_ts": pa.array([T0] * n, pa.timestamp("ns", tz="UTC")),
        "close_ts": pa.array([end] * n, pa.timestamp("ns", tz="UTC")),
        "settle_ts": pa.array([end + 1] * n, pa.timestamp("ns", tz="UTC")),
        "result": pa.array(["yes" if i % 2 == 0 else "no" for i in range(n)]),
    })


def quotes_catalog(root: Path, n: int, n_markets: int = 1, seed: int = 1, n_files: int | None = None,
                   rows_per_chunk: int = 5_000_000) -> Path:
    """``n`` L1 quotes round-robin over ``n_markets`` markets, in ``n_files`` files (default one
    file per market). Each file holds a contiguous group of markets interleaved in time. Large
    files are written in row groups of ``rows_per_chunk`` so generation memory stays bounded."""
    rng = np.random.default_rng(seed)
    tickers = [f"KXBENCH-26DEC31-M{i:04d}" for i in range(n_markets)]
    write_markets(root, tickers, n)
    n_files = n_markets if n_files is None else n_files
    per_file = n_markets // n_files
    rows_per_file = n // n_files
    (root / "quotes").mkdir(parents=True, exist_ok=True)
    for f in range(n_files):
        group = np.array(tickers[f * per_file:(f + 1) * per_file], dtype=object)
        path = root / "quotes" / f"part-{f:04d}.parquet"
        with pq.ParquetWriter(path, SCHEMAS["quotes"], compression="zstd") as writer:
            done = 0
            level = 5000
            while done < rows_per_file:
                m = min(rows_per_chunk, rows_per_file - done)
                idx = np.arange(done, done + m, dtype=np.int64)
                walk = level + np.cumsum(rng.integers(-1, 2, m)) * 100
                mid = np.clip(walk, 500, 9500)
                level = int(mid[-1])
                spread = rng.integers(1, 4, m) * 100
                yes_bid = mid - spread // 2 // 100 * 100
                # markets in a file take turns; files are offset by f ns so they interleave
                ts = T0 + f + (idx // len(group)) * STEP * n_files + (idx % len(group)) * n_files
                writer.write_table(pa.table({
                    "ts": pa.array(ts, pa.timestamp("ns", tz="UTC")),
                    "ticker": pa.array(group[idx % len(group)], pa.string()),
                    "yes_bid": pa.array(yes_bid), "no_bid": pa.array(10_000 - (yes_bid + spread)),
                    "yes_bid_size": pa.array(rng.integers(1, 500, m) * 100),
                    "no_bid_size": pa.array(rng.integers(1, 500, m) * 100),
                }, schema=SCHEMAS["quotes"]), row_group_size=1 << 20)
                done += m
    return root


def book_catalog(root: Path, n: int, seed: int = 2) -> Path:
    """One market: a 10-level snapshot then ``n`` level updates around a wandering mid."""
    rng = np.random.default_rng(seed)
    t = "KXBENCH-26DEC31-L2"
    write_markets(root, [t], n)
    side_yes = rng.integers(0, 2, n).astype(bool)
    offset = rng.integers(1, 11, n) * 100
    price = np.where(side_yes, 5000 - offset, 5000 - offset)
    size = rng.integers(0, 500, n) * 100
    size[rng.random(n) < 0.1] = 0
    snap_p = np.arange(1, 11) * 100
    _write(root, "book", t, {
        # the snapshot's 20 rows share one time (they were 20 successive times, which ran backwards into the deltas)
        "ts": pa.concat_arrays([pa.array(np.full(20, T0 - STEP), pa.timestamp("ns", tz="UTC")), _ts(n)]),
        "ticker": pa.array([t] * (n + 20)),
        "side": pa.array(["yes"] * 10 + ["no"] * 10 + ["yes" if s else "no" for s in side_yes]),
        "price": pa.array(np.concatenate([5000 - snap_p, 5000 - snap_p, price])),
        "size": pa.array(np.concatenate([np.full(20, 10_000), size])),
        "seq": pa.array(np.arange(n + 20, dtype=np.int64)),
        "snapshot": pa.array([True] * 20 + [False] * n),
    })
    return root
