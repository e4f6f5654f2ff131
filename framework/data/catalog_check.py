"""``kalshi catalog check``: a data-quality report over every file of a catalog.

It runs the replay's read checks (``framework.data.checks``) on every row of ``quotes``,
``book``, ``trades`` and ``candles`` without stopping at the first problem, plus the
markets-table checks, and measures what a researcher wants to know before a backtest: rows per
kind and market, time ranges, gaps (a market silent for longer than a threshold while it is
open), unsorted files, the share of crossed quotes, prices that look like the wrong unit, and
settlement coverage. Reads are batched and every measure is vectorised per batch, so memory
stays at one batch plus a few numbers per market.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .catalog import READ_ERRORS, CatalogError, _check_root, kind_files, read_markets, validate_file
from .checks import DataWarnings, SourceCheck, _str_lengths, check_markets_files

__all__ = ["DEFAULT_GAP_NS", "GapTracker", "check_catalog", "format_check"]

DEFAULT_GAP_NS = 3_600_000_000_000  # 1 h: a market silent longer than this while open is a gap
_TOP_GAPS = 10  # the longest gaps listed per kind
_NO_TS = np.iinfo(np.int64).min  # "no event seen yet" for a market
_FAR = 1 << 62  # an open window for markets the markets table does not list


class GapTracker:
    """Gaps of one kind: intervals between consecutive events of one market, clipped to the
    market's ``open_ts..close_ts``, longer than ``threshold`` ns.

    Feed it each file's batches in path order (each file sorted by ``ts``). A market's events
    are followed across files; if a file starts before the market's last event in an earlier
    file (files of one market overlapping in time), the market is listed in ``overlapping``:
    its gaps are then measured per file order, not over the merged timeline.
    """

    def __init__(self, threshold: int, windows: dict[str, tuple[int, int]] | None) -> None:
        self.threshold = threshold
        self._windows = windows or {}
        self._ids: dict[str, int] = {}
        self.names: list[str] = []
        self._open = np.empty(0, np.int64)
        self._close = np.empty(0, np.int64)
        self._last = np.empty(0, np.int64)
        self.count = np.empty(0, np.int64)  # gaps per market id
        self.total = np.empty(0, np.int64)  # summed gap time per market id, ns
        self.overlapping: set[str] = set()
        self.largest: list[tuple[int, str, int, int]] = []  # (length, ticker, start, end), longest first

    def _gids(self, names: list[str]) -> np.ndarray:
        new = [n for n in names if n not in self._ids]
        if new:
            for n in new:
                self._ids[n] = len(self.names)
                self.names.append(n)
            w = [self._windows.get(n, (-_FAR, _FAR)) for n in new]
            self._open = np.concatenate([self._open, np.array([a for a, _ in w], np.int64)])
            self._close = np.concatenate([self._close, np.array([b for _, b in w], np.int64)])
            grow = np.zeros(len(new), np.int64)
            self._last = np.concatenate([self._last, np.full(len(new), _NO_TS, np.int64)])
            self.count = np.concatenate([self.count, grow])
            self.total = np.concatenate([self.total, grow])
        return np.array([self._ids[n] for n in names], np.int64)

    def add(self, ts: np.ndarray, names: list[str], idx: np.ndarray) -> None:
        """One batch: ``ts`` sorted, ``names``/``idx`` its dictionary-encoded tickers."""
        if not len(ts):
            return
        gid = self._gids(names)[idx]
        order = np.argsort(gid, kind="stable")  # stable: each market's rows stay in time order
        g, t = gid[order], ts[order]
        first = np.ones(len(g), bool)
        first[1:] = g[1:] != g[:-1]
        prev = np.empty_like(t)
        prev[1:] = t[:-1]
        prev[first] = self._last[g[first]]
        back = first & (prev != _NO_TS) & (t < prev)
        if back.any():
            self.overlapping.update(self.names[i] for i in np.unique(g[back]))
        lo = np.maximum(prev, self._open[g])
        hi = np.minimum(t, self._close[g])
        length = hi - lo
        gap = (prev != _NO_TS) & (length > self.threshold)
        last = np.flatnonzero(np.r_[first[1:], True])  # each market's last row in the batch
        self._last[g[last]] = np.maximum(self._last[g[last]], t[last])
        if not gap.any():
            return
        gg, gl = g[gap], length[gap]
        np.add.at(self.count, gg, 1)
        np.add.at(self.total, gg, gl)
        top = np.argsort(-gl, kind="stable")[:_TOP_GAPS]
        lo_g, hi_g = lo[gap], hi[gap]
        self.largest += [(int(gl[i]), self.names[gg[i]], int(lo_g[i]), int(hi_g[i])) for i in top]
        self.largest = sorted(self.largest, key=lambda x: (-x[0], x[1], x[2]))[:_TOP_GAPS]

    def report(self) -> dict:
        has = np.flatnonzero(self.count)
        return {"threshold_ns": self.threshold, "count": int(self.count.sum()), "total_ns": int(self.total.sum()),
                "markets": len(has), "largest": [list(x) for x in self.largest],
                "per_market": {self.names[i]: [int(self.count[i]), int(self.total[i])] for i in has},
                "overlapping": sorted(self.overlapping)}


def _windows(markets) -> tuple[dict[str, tuple[int, int]], dict[str, tuple[int, int]]]:
    """Per ticker: the read check's window (open_ts..settle_ts, else close_ts) and the trading
    window gaps are measured in (open_ts..close_ts)."""
    check, trading = {}, {}
    for rec in markets[["ticker", "open_ts", "close_ts", "settle_ts"]].itertuples(index=False):
        settle = rec.settle_ts if rec.settle_ts is not None and rec.settle_ts == rec.settle_ts else rec.close_ts
        check[rec.ticker] = (int(rec.open_ts.value), int(settle.value))
        trading[rec.ticker] = (int(rec.open_ts.value), int(rec.close_ts.value))
    return check, trading


def _check_file(path: Path, kind: str, cols: list[str], check: SourceCheck, gaps: GapTracker, k: dict) -> None:
    """Every batch of one file through the read checks, the gap tracker and the counts.
    Raises CatalogError (or an Arrow error) on the file's first problem."""
    per_market = k["per_market"]
    last = None
    validate_file(path, kind)
    # page checksums verified as the replay does: a flipped byte in a data page is a problem
    pf = pq.ParquetFile(path, page_checksum_verification=True)
    for batch in pf.iter_batches(columns=cols):
        ts = batch.column(0).cast(pa.timestamp("ns", tz="UTC")).cast(pa.int64()).to_numpy(zero_copy_only=False)
        check.batch(batch, ts)
        if kind == "book":  # as the replay: a 3-byte side that is not "yes" is corrupt, not a NO
            side = batch.column(cols.index("side"))
            check.side_matches(_str_lengths(side) == 3, pc.equal(side, "yes").to_numpy(zero_copy_only=False),
                               "side")
        enc = pc.dictionary_encode(batch.column(1))
        names, idx = enc.dictionary.to_pylist(), enc.indices.to_numpy(zero_copy_only=False)
        check.window(ts, names, idx)
        gaps.add(ts, names, idx)
        for name, n in zip(names, np.bincount(idx, minlength=len(names)).tolist(), strict=True):
            per_market[name] = per_market.get(name, 0) + n
        if len(ts):
            full = ts if last is None else np.concatenate([[last], ts])
            if len(full) > 1:
                gap = int(np.max(np.diff(full)))
                if gap > k["max_gap_ns"]:
                    k["max_gap_ns"], k["max_gap_file"] = gap, str(path)
            last = int(ts[-1])
            k["ts_min"] = int(ts[0]) if k["ts_min"] is None else min(k["ts_min"], int(ts[0]))
            k["ts_max"] = last if k["ts_max"] is None else max(k["ts_max"], last)
        k["rows"] += len(ts)
    check.complete(pf.metadata.num_rows)


def check_catalog(root: str | os.PathLike[str], gap_ns: int = DEFAULT_GAP_NS) -> dict:
    """Data-quality report of the catalog at ``root``; a market silent for more than ``gap_ns``
    while open counts as a gap.

    Returns ``{"root", "problems", "warnings", "unsorted", "kinds", "markets"}``: a problem is a
    line a backtest would stop on; ``unsorted`` lists the files whose ``ts`` goes backwards;
    ``kinds[kind]`` holds files, rows, ``per_market`` rows, ``ts_min``/``ts_max``, the largest
    gap inside one file (``max_gap_ns``, ``max_gap_file``), ``gaps`` (see :class:`GapTracker`),
    ``max_price`` (highest price, units) and for quotes ``crossed``/``quotes``; ``markets``
    is the settlement coverage.
    """
    from .replay import _COLUMNS, _KIND_BY_NAME

    root_p = _check_root(root)
    problems: list[str] = []
    unsorted: list[str] = []
    warnings = DataWarnings()
    try:
        check_markets_files(root_p)
    except CatalogError as exc:
        problems.append(str(exc))
    markets = read_markets(root_p) if kind_files(root_p, "markets") else None
    windows, trading = _windows(markets) if markets is not None else (None, None)
    kinds: dict[str, dict] = {}
    with_data: set[str] = set()
    for kind in ("quotes", "book", "trades", "candles"):
        files = kind_files(root_p, kind)
        if not files:
            continue
        k = {"files": len(files), "rows": 0, "ts_min": None, "ts_max": None, "max_gap_ns": 0,
             "max_gap_file": None, "per_market": {}, "max_price": None}
        gaps = GapTracker(gap_ns, trading)
        crossed = quotes = 0
        cols = ["ts", "ticker", *_COLUMNS[_KIND_BY_NAME[kind]]]
        for path in files:
            check = SourceCheck(path, kind, windows)
            try:
                _check_file(path, kind, cols, check, gaps, k)
            except CatalogError as exc:
                problems.append(str(exc))
                if getattr(exc, "code", None) == "unsorted":
                    unsorted.append(str(path))
                continue
            except READ_ERRORS as exc:
                problems.append(f"corrupt or unreadable Parquet file {path}: "
                                f"{(str(exc).strip().splitlines() or [type(exc).__name__])[0]}")
                continue
            check.finish(warnings)
            crossed, quotes = crossed + check.crossed, quotes + check.quotes
            if check.max_price >= 0:
                k["max_price"] = max(k["max_price"] or 0, check.max_price)
        k["gaps"] = gaps.report()
        if kind == "quotes":
            k["crossed"], k["quotes"] = crossed, quotes
        with_data |= set(k["per_market"])
        kinds[kind] = k
    cover: dict = {}
    if markets is not None:
        has_result = markets["result"].notna()
        has_settle = markets["settle_ts"].notna()
        listed = set(markets["ticker"])
        settled = set(markets.loc[has_result, "ticker"])
        cover = {"listed": len(listed), "settled": len(settled),
                 "result_and_settle_ts": int((has_result & has_settle).sum()),
                 "result_without_settle_ts": int((has_result & ~has_settle).sum()),
                 "settle_ts_without_result": int((~has_result & has_settle).sum()),
                 "neither": int((~has_result & ~has_settle).sum()),
                 "with_data": len(with_data & listed),
                 "with_data_unsettled": sorted((with_data & listed) - settled),
                 "without_data": sorted(listed - with_data),
                 "unlisted_with_data": sorted(with_data - listed)}
    else:
        problems.append(f"{root_p}: no markets table, so no market can settle; write one with "
                        "write_table(root, 'markets', df)")
    return {"root": str(root_p), "problems": problems, "warnings": warnings.lines(), "unsorted": unsorted,
            "kinds": kinds, "markets": cover}


def _fmt_ts(ns: int | None) -> str:
    if ns is None:
        return "-"
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _fmt_dur(ns: int) -> str:
    s = ns // 1_000_000_000
    if s >= 86_400:
        return f"{s / 86_400:,.1f} d"
    if s >= 3_600:
        return f"{s / 3_600:.1f} h"
    return f"{s / 60:.0f} min" if s >= 60 else f"{s} s"


def format_check(report: dict, per_market: bool = False) -> str:
    """The ``kalshi catalog check`` text."""
    from ..units import DOLLAR

    lines = [f"catalog {report['root']}: {len(report['problems'])} problem(s), "
             f"{len(report['warnings'])} warning(s)"]
    for kind, k in report["kinds"].items():
        gap = k["max_gap_ns"] / 1e9
        lines.append(f"  {kind:<8} {k['files']:>6,} files {k['rows']:>12,} rows {len(k['per_market']):>6,} markets  "
                     f"{_fmt_ts(k['ts_min'])} .. {_fmt_ts(k['ts_max'])}  largest gap in a file {gap:,.0f} s")
        g = k.get("gaps")
        if g is not None:
            line = (f"    gaps > {_fmt_dur(g['threshold_ns'])} while open: {g['count']:,} in {g['markets']:,} "
                    f"markets, {_fmt_dur(g['total_ns'])} in all")
            if g["largest"]:
                n, t, a, b = g["largest"][0]
                line += f"; longest {_fmt_dur(n)} ({t}, {_fmt_ts(a)} .. {_fmt_ts(b)})"
            lines.append(line)
            if g["overlapping"]:
                lines.append(f"    {len(g['overlapping']):,} market(s) have files overlapping in time; their gaps "
                             f"are measured file by file: {', '.join(g['overlapping'][:5])}")
        units = []
        if k.get("max_price") is not None:
            units.append(f"highest price {k['max_price']:,} units (${k['max_price'] / DOLLAR:.4f})")
        if k.get("quotes"):
            units.append(f"crossed {k['crossed']:,} of {k['quotes']:,} quotes "
                         f"({100 * k['crossed'] / k['quotes']:.2f} %)")
        if units:
            lines.append("    " + "; ".join(units))
        if per_market:
            pm = (g or {}).get("per_market", {})
            for t, n in sorted(k["per_market"].items()):
                extra = f", {pm[t][0]:,} gaps ({_fmt_dur(pm[t][1])})" if t in pm else ""
                lines.append(f"    {t}: {n:,}{extra}")
    if report.get("unsorted"):
        lines.append(f"  unsorted files: {len(report['unsorted']):,} ({', '.join(report['unsorted'][:3])}"
                     f"{' ...' if len(report['unsorted']) > 3 else ''})")
    m = report["markets"]
    if m:
        lines.append(f"  settlement: {m['settled']:,} of {m['listed']:,} markets settled; "
                     f"{m['with_data']:,} have data, {len(m['with_data_unsettled']):,} of those unsettled; "
                     f"{len(m['without_data']):,} listed without data")
        lines.append(f"    result and settle_ts {m['result_and_settle_ts']:,}; result without settle_ts "
                     f"{m['result_without_settle_ts']:,}; settle_ts without result {m['settle_ts_without_result']:,}; "
                     f"neither {m['neither']:,}; data for unlisted markets {len(m['unlisted_with_data']):,}")
    lines += [f"  problem: {p}" for p in report["problems"]]
    lines += [f"  warning: {w}" for w in report["warnings"]]
    return "\n".join(lines)
