"""Fee schedules and fee waivers in the catalog (kinds ``fees`` and ``fee_waivers``).

``kalshi download`` writes, per series, ``fees/<SERIES>.parquet``: the series' ``fee_type`` and
``fee_multiplier`` as downloaded (``scheduled_ts`` null) plus every change ``GET
/series/fee_changes?show_historical=true`` lists (``scheduled_ts`` = when it takes effect), and
``fee_waivers/<SERIES>.parquet``: markets with a ``fee_waiver_expiration_time``. A backtest
reads them into a :class:`framework.model.fees.FeeSchedule` and a waiver map, and the fee model
applies the entry in force at each fill's time (docs/simulation.md, Fees).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from ..model.fees import FeeSchedule
from ..units import UnitError
from .catalog import CatalogError, kind_files, validate_file, write_table

__all__ = ["multiplier_str", "read_fee_schedule", "read_fee_waivers", "write_fee_schedule", "write_fee_waivers"]


def multiplier_str(value: Any) -> str:
    """A fee multiplier (the API sends a JSON number) as an exact decimal string: 1.0 -> "1"."""
    try:
        d = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise CatalogError(f"fee_multiplier {value!r} is not a number") from None
    if not d.is_finite() or d < 0:
        raise CatalogError(f"fee_multiplier {value!r} must be a finite number >= 0")
    return format(d.normalize(), "f")


def write_fee_schedule(root: str | os.PathLike[str], series: str, fee_type: str, fee_multiplier: Any,
                       changes: Iterable[Mapping[str, Any]] = ()) -> Path:
    """Write (replace) one series' schedule: its current value plus ``changes`` (dicts with
    ``scheduled_ts`` ns, ``fee_type``, ``fee_multiplier``, optional ``id``), sorted by time."""
    import pandas as pd

    rows = [{"series_ticker": series, "scheduled_ts": None, "fee_type": fee_type,
             "fee_multiplier": multiplier_str(fee_multiplier), "change_id": None}]
    dated = sorted(changes, key=lambda c: (int(c["scheduled_ts"]), str(c.get("id") or "")))
    for c in dated:
        rows.append({"series_ticker": series, "scheduled_ts": int(c["scheduled_ts"]), "fee_type": c["fee_type"],
                     "fee_multiplier": multiplier_str(c["fee_multiplier"]), "change_id": c.get("id")})
    for r in rows:  # Timestamps one by one: a column with nulls would go through float64 and lose ns
        r["scheduled_ts"] = pd.NaT if r["scheduled_ts"] is None else pd.Timestamp(r["scheduled_ts"], tz="UTC")
    df = pd.DataFrame(rows)
    return write_table(root, "fees", df, filename=f"{series}.parquet")[0]


def write_fee_waivers(root: str | os.PathLike[str], series: str, waivers: Mapping[str, int]) -> Path | None:
    """Write (replace) one series' market fee waivers ``{ticker: until ns}``; none: no file."""
    import pandas as pd

    target = Path(root) / "fee_waivers" / f"{series}.parquet"
    if not waivers:
        target.unlink(missing_ok=True)
        return None
    tickers = sorted(waivers)
    df = pd.DataFrame({"ticker": tickers, "series_ticker": [series] * len(tickers),
                       "until_ts": pd.to_datetime([int(waivers[t]) for t in tickers], utc=True)})
    return write_table(root, "fee_waivers", df, filename=f"{series}.parquet")[0]


def _rows(root: str | os.PathLike[str], kind: str) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    out: list[dict[str, Any]] = []
    for path in kind_files(root, kind):
        validate_file(path, kind)
        table = pq.read_table(path)
        for c in ("scheduled_ts", "until_ts"):
            if c in table.column_names:
                import pyarrow as pa

                i = table.column_names.index(c)
                table = table.set_column(i, c, table.column(c).cast(pa.int64()))
        out.extend({**r, "_path": path} for r in table.to_pylist())
    return out


def read_fee_schedule(root: str | os.PathLike[str], series: Iterable[str] | None = None) -> FeeSchedule | None:
    """The catalog's fee schedule (``None`` when it has no ``fees`` table)."""
    wanted = None if series is None else set(series)
    rows = [r for r in _rows(root, "fees") if wanted is None or r["series_ticker"] in wanted]
    if not rows:
        return None
    try:
        return FeeSchedule((r["series_ticker"], r["scheduled_ts"], r["fee_type"], r["fee_multiplier"]) for r in rows)
    except UnitError as e:
        raise CatalogError(f"fees table under {Path(root) / 'fees'}: {e}") from None


def read_fee_waivers(root: str | os.PathLike[str], tickers: Iterable[str] | None = None) -> dict[str, int]:
    """``{ticker: fee-free until (ns)}`` from the catalog's ``fee_waivers`` table."""
    wanted = None if tickers is None else set(tickers)
    return {r["ticker"]: r["until_ts"] for r in _rows(root, "fee_waivers") if wanted is None or r["ticker"] in wanted}


def download_fee_tables(client: Any, root: str | os.PathLike[str], picked: Iterable[tuple[str, Any]],
                        warn: Any = None) -> int:
    """For each series of ``picked`` ((series, Market) pairs): fetch ``GET /series/{s}`` and
    ``GET /series/fee_changes?series_ticker=s&show_historical=true`` and write its ``fees`` and
    ``fee_waivers`` tables. A series whose fee data cannot be fetched is skipped with a warning
    (the backtest then uses the configured coefficients for it). Returns the series written."""
    from ..kalshi.errors import KalshiError
    from ..kalshi.models import parse_time_ns

    say = warn or (lambda _m: None)
    by_series: dict[str, dict[str, int]] = {}
    for s, m in picked:
        w = by_series.setdefault(s, {})
        if getattr(m, "fee_waiver_expiration_time", None) is not None:
            w[m.ticker] = int(m.fee_waiver_expiration_time)
    done = 0
    for s, waivers in sorted(by_series.items()):
        try:
            info = client.get_series(s)
            changes = [c for c in client.get_series_fee_changes(s, show_historical=True)
                       if str(c.get("series_ticker") or s) == s]
            rows = [{"id": c.get("id"), "fee_type": c["fee_type"], "fee_multiplier": c["fee_multiplier"],
                     "scheduled_ts": parse_time_ns(c["scheduled_ts"])} for c in changes]
            write_fee_schedule(root, s, str(info.get("fee_type") or "quadratic"), info.get("fee_multiplier", 1), rows)
            write_fee_waivers(root, s, waivers)
        except (KalshiError, CatalogError, KeyError, ValueError) as e:
            say(f"{s}: fee schedule not stored ({' '.join(str(e).split())}); backtests use the configured "
                "fee coefficients for it")
            continue
        done += 1
    return done
