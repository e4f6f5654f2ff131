"""Import CSV / Parquet / JSON data recorded by other tools into a catalog (``kalshi import``).

One call reads one or more source files of one kind, renames columns (``mapping``: catalog
column -> source column, or a Kalshi REST preset), converts units and times into the
framework's (``price_unit``: ``cents`` | ``dollars`` | ``probability`` | ``units``; sizes in
contracts unless ``size_unit="units"``; ``tz`` for naive timestamps), sorts by time, validates
with :func:`framework.data.catalog.write_table` and only then writes. Bad rows are reported
with their file and line; nothing is written when any row is bad. Files are written into a
hidden folder of the catalog and renamed into place, so a crash never leaves a partial table.

Rules that are easy to get wrong silently are errors: a naive timestamp without ``tz`` (never
taken as UTC), prices that look like cents or dollars without ``price_unit``.
"""

from __future__ import annotations

import json
import os
import shutil
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pyarrow as pa

from ..units import CONTRACT, DOLLAR
from .catalog import SCHEMAS, CatalogError, kind_files, read_markets, write_table

__all__ = ["PRESETS", "PRICE_UNITS", "import_files"]

PRICE_UNITS = {"units": 1, "cents": DOLLAR // 100, "dollars": DOLLAR, "probability": DOLLAR}
_PRICES = {"yes_bid", "no_bid", "price", "yes_price", "settlement_value", "open", "high", "low", "close",
           *(f"yes_{s}_{c}" for s in ("bid", "ask") for c in ("open", "high", "low", "close"))}
_SIZES = {"yes_bid_size", "no_bid_size", "size", "count", "volume", "open_interest"}
_TIMES = {"ts", "open_ts", "close_ts", "settle_ts"}

# Kalshi REST shapes (shared/kalshi-spec/openapi.yaml): catalog column -> field of one list item
PRESETS: dict[str, dict[str, str]] = {
    "trades": {"ts": "created_time", "ticker": "ticker", "trade_id": "trade_id",
               "yes_price": "yes_price_dollars", "count": "count_fp", "taker_side": "taker_side"},
    "markets": {"ticker": "ticker", "event_ticker": "event_ticker", "open_ts": "open_time",
                "close_ts": "close_time", "settle_ts": "settlement_ts", "result": "result",
                "title": "title", "settlement_value": "settlement_value_dollars"},
}
_LIST_KEYS = {"trades": "trades", "markets": "markets"}


def _read(path: Path, fmt: str | None) -> tuple[pa.Table, bool]:
    """The file as a table (all CSV/JSON columns as strings) and whether it is a Kalshi REST page."""
    name = path.name.lower()
    for ext in (".gz", ".zst", ".zstd", ".bz2"):
        name = name.removesuffix(ext)
    fmt = fmt or name.rsplit(".", 1)[-1]
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return pq.read_table(path), False
        with pa.input_stream(str(path), compression="detect") as f:
            data = f.read()
        if fmt == "csv":
            import pyarrow.csv as pcsv

            header = data.split(b"\n", 1)[0].decode().strip().split(",")
            opts = pcsv.ConvertOptions(column_types={c: pa.string() for c in header}, strings_can_be_null=True)
            return pcsv.read_csv(pa.BufferReader(data), convert_options=opts), False
        if fmt in ("json", "jsonl"):
            text = data.decode()
            if text.lstrip().startswith("{") and fmt == "json" or text.lstrip().startswith("{\""):
                try:
                    doc = json.loads(text)
                except json.JSONDecodeError:
                    doc = None
                if isinstance(doc, dict):  # a REST page: {"trades": [...], "cursor": ...}
                    rows = next((v for v in doc.values() if isinstance(v, list)), None)
                    if rows is None:
                        raise CatalogError(f"{path}: a JSON object without a list of rows")
                    return pa.Table.from_pylist([{k: (None if v is None else str(v)) for k, v in r.items()
                                                  if not isinstance(v, (dict, list))} for r in rows]), True
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
            return pa.Table.from_pylist([{k: (None if v is None else str(v)) for k, v in r.items()
                                          if not isinstance(v, (dict, list))} for r in rows]), False
    except (OSError, pa.ArrowException, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CatalogError(f"{path}: cannot read as {fmt}: {' '.join(str(e).split())}") from None
    raise CatalogError(f"{path}: unknown format {fmt!r}; use --format csv|parquet|jsonl|json")


def _scale_fast(values: list, factor: int):
    """Vectorised ``_scale`` (numbers parsed once by pandas); None when any value needs the
    row-by-row path (which then names the bad line)."""
    import numpy as np
    import pandas as pd

    raw = pd.Series(values, dtype=object)
    empty = raw.isna() | (raw == "")
    num = pd.to_numeric(raw.where(~empty, None), errors="coerce")
    if (num.isna() & ~empty).any():
        return None
    x = num.to_numpy(dtype="float64", na_value=np.nan) * factor
    ok = ~np.isnan(x)
    r = np.rint(x[ok])
    if r.size and (np.abs(x[ok] - r).max() > 1e-6 or np.abs(r).max() >= 2.0**53):
        return None  # finer than the unit, or too large to trust a float: exact path decides
    out = np.zeros(len(x), dtype=np.int64)
    out[ok] = r.astype(np.int64)
    return pd.arrays.IntegerArray(out, ~ok)


def _scale(values: list, factor: int, path: Path, col: str, lines):
    fast = _scale_fast(values, factor)
    if fast is not None:
        return fast
    out = []
    for i, v in enumerate(values):
        if v is None or v == "":
            out.append(None)
            continue
        try:
            d = Decimal(str(v)) * factor
        except InvalidOperation:
            raise CatalogError(f"{path}:{lines(i)}: column {col}: {v!r} is not a number") from None
        if d != d.to_integral_value():
            raise CatalogError(f"{path}:{lines(i)}: column {col}: {v!r} is finer than the framework's unit "
                               f"($0.0001 for prices, 0.01 contract for sizes)")
        out.append(int(d))
    return out


def _guess_unit(values: list, path: Path) -> None:
    """No --price-unit: refuse data that looks like cents or dollars (never guess silently)."""
    nums = []
    for v in values:
        try:
            nums.append(Decimal(str(v)))
        except (InvalidOperation, ValueError):
            return
    nums = [n for n in nums if n > 0]
    if not nums:
        return
    if max(nums) < 1:
        raise CatalogError(f"{path}: every price is below 1: these look like dollars; pass --price-unit dollars "
                           "(or probability)")
    if max(nums) < 100:
        raise CatalogError(f"{path}: every price is below 100: these look like cents; pass --price-unit cents")


def _times_fast(values: list, tz: str | None):
    """Vectorised ``_times``; None when the row-by-row path must decide (and name the line)."""
    import numpy as np
    import pandas as pd

    raw = pd.Series(values, dtype=object)
    if raw.isna().any() or (raw == "").any():
        return None
    try:
        if raw.str.fullmatch(r"-?\d+").all():
            n = raw.astype(np.int64)
            m = int(n.abs().max())
            unit = "s" if m < 10**11 else "ms" if m < 10**14 else "us" if m < 10**17 else "ns"
            return pd.to_datetime(n, unit=unit, utc=True)
        t = pd.to_datetime(raw, format="ISO8601")
    except (ValueError, TypeError, OverflowError):
        return None
    if isinstance(t.dtype, pd.DatetimeTZDtype):
        return t.dt.tz_convert("UTC")
    if tz is None or not pd.api.types.is_datetime64_dtype(t.dtype):
        return None
    try:
        return t.dt.tz_localize(tz, ambiguous="raise", nonexistent="raise").dt.tz_convert("UTC")
    except Exception:
        return None


def _times(values: list, tz: str | None, path: Path, col: str, lines):
    import pandas as pd

    fast = _times_fast(values, tz)
    if fast is not None:
        return fast
    out = []
    for i, v in enumerate(values):
        if v is None or v == "":
            out.append(pd.NaT)
            continue
        s = str(v).strip()
        if s.lstrip("-").isdigit():  # epoch number: its magnitude says the unit
            n = int(s)
            unit = "s" if abs(n) < 10**11 else "ms" if abs(n) < 10**14 else "us" if abs(n) < 10**17 else "ns"
            out.append(pd.Timestamp(n, unit=unit, tz="UTC"))
            continue
        try:
            t = pd.Timestamp(s)
        except (ValueError, TypeError):
            raise CatalogError(f"{path}:{lines(i)}: column {col}: cannot read {s!r} as a time") from None
        if t.tzinfo is None:
            if tz is None:
                raise CatalogError(f"{path}:{lines(i)}: column {col}: {s!r} has no timezone; pass --tz ZONE "
                                   "(e.g. --tz America/New_York or --tz UTC): naive times are never taken as UTC")
            try:
                t = t.tz_localize(tz, ambiguous="raise", nonexistent="raise")
            except Exception as e:
                raise CatalogError(f"{path}:{lines(i)}: column {col}: {s!r} in {tz}: {e}") from None
        out.append(t.tz_convert("UTC"))
    return pd.to_datetime(pd.Series(out, dtype=object), utc=True)


def _frame(kind: str, table: pa.Table, mapping: dict[str, str], path: Path, price_unit: str | None,
           size_unit: str, tz: str | None, rest: bool, period: int | None = None):
    import pandas as pd

    schema = SCHEMAS[kind]
    header = 2 if path.name.lower().split(".")[-1] in ("csv",) or ".csv" in path.name.lower() else 1

    def lines(i: int) -> str:
        return f"line {i + header}" if not rest else f"row {i}"
    df = {}
    for f in schema:
        src = mapping.get(f.name, f.name)
        if src in table.column_names:
            df[f.name] = table.column(src).to_pylist()
    if kind == "candles" and "period" not in df and period is not None:
        df["period"] = [period] * table.num_rows
    if kind == "markets" and "series_ticker" not in df and "ticker" in df:
        df["series_ticker"] = [None if t is None else t.split("-", 1)[0] for t in df["ticker"]]
    if kind == "markets" and "event_ticker" not in df and "ticker" in df:
        df["event_ticker"] = [None if t is None else t.rsplit("-", 1)[0] for t in df["ticker"]]
    if kind == "book" and mapping.get("action") in table.column_names and "size" in df:
        # an insert/cancel log: a cancel (delete/remove) leaves the level empty (size 0)
        acts = table.column(mapping["action"]).to_pylist()
        df["size"] = [0 if str(a).strip().lower() in ("cancel", "delete", "remove", "d", "c") else v
                      for a, v in zip(acts, df["size"], strict=True)]
    if kind == "book" and "snapshot" in df:
        df["snapshot"] = [str(v).strip().lower() in ("1", "true", "t", "yes") for v in df["snapshot"]]
    if kind == "markets" and "result" in df:
        df["result"] = [None if not v else str(v).lower() for v in df["result"]]
        if "settle_ts" in df:  # Kalshi: "determined" markets have no settlement_ts yet
            df["settle_ts"] = [s or (c if r else None) for s, c, r in zip(df["settle_ts"], df["close_ts"], df["result"])]
    missing = [f.name for f in schema if f.name not in df and f.nullable is False and f.name != "snapshot"]
    if kind == "book" and "snapshot" not in df:
        df["snapshot"] = [False] * table.num_rows
    if missing:
        raise CatalogError(f"{path}: no column for {', '.join(missing)}; the file has {', '.join(table.column_names)}; "
                           f"map them with --map {missing[0]}=SOURCE_COLUMN")
    for f in schema:  # nullable columns the source lacks stay null (unknown)
        if f.nullable and f.name not in df:
            df[f.name] = [None] * table.num_rows
    out = pd.DataFrame(index=range(table.num_rows))
    for name, vals in df.items():
        if name in _TIMES:
            out[name] = _times(vals, tz or ("UTC" if rest else None), path, name, lines)
        elif name in _PRICES:
            unit = price_unit
            if unit is None:
                if rest:
                    unit = "dollars"
                else:
                    _guess_unit([v for v in vals if v not in (None, "")], path)
                    unit = "units"
            out[name] = pd.array(_scale(vals, PRICE_UNITS[unit], path, name, lines), dtype="Int64")
        elif name in _SIZES or name == "seq" or name == "period":
            factor = CONTRACT if name in _SIZES and size_unit == "contracts" else 1
            out[name] = pd.array(_scale(vals, factor, path, name, lines), dtype="Int64")
        else:
            out[name] = pd.Series(vals, dtype=object)
    if "ts" in out.columns:
        out = out.sort_values("ts", kind="stable").reset_index(drop=True)
    return out


def import_files(kind: str, files: list[str | os.PathLike[str]], catalog: str | os.PathLike[str], *,
                 mapping: dict[str, str] | None = None, price_unit: str | None = None,
                 size_unit: str = "contracts", tz: str | None = None, fmt: str | None = None,
                 period: int | None = None) -> dict[str, int]:
    """Import ``files`` of ``kind`` into ``catalog``; returns rows written per source file.
    ``period``: the candles' bar length in minutes when the files have no period column."""
    import pandas as pd

    if kind not in SCHEMAS:
        raise CatalogError(f"unknown kind {kind!r}; use one of {', '.join(SCHEMAS)}")
    if price_unit is not None and price_unit not in PRICE_UNITS:
        raise CatalogError(f"--price-unit {price_unit!r}: use {'|'.join(PRICE_UNITS)}")
    if size_unit not in ("contracts", "units"):
        raise CatalogError(f"--size-unit {size_unit!r}: use contracts|units")
    root = Path(catalog)
    frames, counts = [], {}
    for f in files:
        path = Path(f)
        if not path.is_file():
            raise CatalogError(f"{path}: no such file")
        table, rest = _read(path, fmt)
        m = dict(PRESETS.get(kind, {})) if rest and not mapping else {}
        m.update(mapping or {})
        frame = _frame(kind, table, m, path, price_unit, size_unit, tz, rest, period)
        counts[str(path)] = len(frame)
        frames.append(frame)
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if "ts" in df.columns:
        df = df.sort_values("ts", kind="stable").reset_index(drop=True)
    root.mkdir(parents=True, exist_ok=True)
    if kind != "markets" and len(df) and kind_files(root, "markets"):  # partition by the catalog's series
        series = dict(zip(*(read_markets(root)[c].tolist() for c in ("ticker", "series_ticker")), strict=True))
        df["series"] = [series.get(t) or t.split("-", 1)[0] for t in df["ticker"]]
    tmp = root / f".import-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        name = f"import-{Path(files[0]).name.split('.')[0]}.parquet"
        written = write_table(tmp, kind, df, partition_by="series", filename=name)
        for p in written:  # rename into place only after every file was written
            target = root / p.relative_to(tmp)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(p, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return counts
