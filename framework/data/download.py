"""Download Kalshi history (markets, trades, candlesticks) into a Parquet catalog, resumably.

::

    from framework.data.download import download, make_client

    client = make_client("local")                      # signs with the local exchange's key
    report = download(client, "data/kx", ["KXHIGHNY"], start="2026-11-01", end="2026-11-20")
    print(report.summary())

What is written (see ``docs/data-format.md``, section "Downloader"):

* ``markets``: one consolidated file per series, ``markets/series=<S>/zz-download.parquet``,
  rewritten (atomically) whenever a row is new or changed. It holds the merged view of every
  market of the series already in the catalog plus what this run learned, and its name sorts
  after ``part-<n>.parquet`` so :func:`~framework.data.catalog.read_markets` (last file wins)
  returns the downloaded rows: a later run that learns a result updates the table.
* ``trades`` and ``candles``: one *unit* per (market, kind[, period], time window), written
  with :func:`~framework.data.catalog.write_table` into Hive partitions as
  ``<kind>/series=<S>/date=<D>/dl-...parquet`` (one file per UTC date the unit spans).

Resuming: ``CATALOG/_download/manifest.json`` lists the completed units. A unit is recorded
only after its files are written (first in an append-only ``journal.jsonl``, folded into
``manifest.json`` atomically at the end of the run), so a crash re-downloads that unit only.
At start, ``dl-*`` files that no completed unit owns (left by a crash) are deleted. For every
market and kind the run computes the wanted window and fetches only the parts no completed
unit covers: re-running downloads nothing for closed markets and only the new tail of open
ones. The markets listing itself is fetched on every run (that is how results are learned).

Only *final* data becomes a unit: trades up to the market's close, or up to now minus
``safety_lag_s`` for open markets; for candles, only whole periods (a closed market's last
period counts as whole).

Kalshi's historical partition (kalshi-api.md §5.4) is handled: ``GET /historical/cutoff`` is
read once; markets settled before ``market_settled_ts`` are also listed from
``/historical/markets`` and their candles come from ``/historical/markets/{t}/candlesticks``;
trades older than ``trades_created_ts`` come from ``/historical/trades``. An exchange without
``/historical/cutoff`` (404, e.g. the local exchange) has no historical partition.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ..kalshi.errors import (
    KalshiAPIError,
    KalshiAuthError,
    KalshiError,
    KalshiNotFound,
    KalshiPaginationError,
    KalshiPermissionDenied,
)
from ..kalshi.models import Candle, Market, Trade, parse_time_ns
from ..kalshi.outcome import EMPTY_RESULT_POLICIES, market_outcome
from ..kalshi.rest import DEFAULT_PAGE_LIMIT, PAGE_LIMITS
from ..units import DOLLAR
from .catalog import CANDLE_PERIODS, CatalogError, kind_files, read_markets, write_table

if TYPE_CHECKING:
    import pandas as pd

    from ..kalshi.rest import KalshiRestClient

__all__ = [
    "DOWNLOAD_DIR",
    "MARKETS_FILE",
    "DownloadError",
    "DownloadReport",
    "Manifest",
    "Unit",
    "download",
    "make_client",
    "market_row",
    "parse_time_arg",
]

log = logging.getLogger(__name__)

DOWNLOAD_DIR = "_download"
MANIFEST_NAME = "manifest.json"
JOURNAL_NAME = "journal.jsonl"
MARKETS_FILE = "zz-download.parquet"  # sorts after part-<n>.parquet: read_markets lets it win
MAX_CANDLES_PER_REQUEST = 5000
MAX_CONSECUTIVE_FAILURES = 5
_NS = 1_000_000_000

# Kalshi market statuses (object words and list-filter words) after trading has ended
_ENDED = {"closed", "determined", "disputed", "amended", "finalized", "settled"}
_SAFE = re.compile(r"[^A-Za-z0-9._-]")


class DownloadError(Exception):
    """A user-facing problem (bad arguments, unknown series, unwritable folder, auth...)."""


# --------------------------------------------------------------------------- arguments


def parse_time_arg(text: str | int | None, *, end: bool = False) -> int | None:
    """``--start``/``--end`` -> Unix seconds. A bare date ``2026-11-20`` is midnight UTC, and
    for ``end`` the end of that day (so ``--end 2026-11-20`` includes the 20th); a datetime
    (``2026-11-20T15:00``, naive = UTC) is an instant; ``end`` is exclusive."""
    if text is None or text == "":
        return None
    if isinstance(text, int) and not isinstance(text, bool):
        return int(text)
    s = str(text).strip()
    try:
        d = date.fromisoformat(s)
    except ValueError:
        d = None
    if d is not None and len(s) == 10:
        day = datetime(d.year, d.month, d.day, tzinfo=UTC) + (timedelta(days=1) if end else timedelta())
        return int(day.timestamp())
    try:
        return parse_time_ns(s) // _NS if not s.isdigit() else int(s)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        raise DownloadError(
            f"cannot read {'--end' if end else '--start'} {text!r}: use a date (2026-11-20) or a "
            "UTC time (2026-11-20T15:00:00Z)"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp())


def make_client(
    env: str = "prod",
    *,
    base_url: str | None = None,
    key_file: str | os.PathLike[str] | None = None,
    key_id: str | None = None,
    tier: str = "basic",
    state_dir: str | os.PathLike[str] | None = None,
    port: int | None = None,
    **client_options: Any,
) -> KalshiRestClient:
    """A signed :class:`~framework.kalshi.rest.KalshiRestClient` for ``env``.

    Keys (:func:`framework.kalshi.keys.resolve_credentials`): ``key_file``/``key_id``, else
    ``$KALSHI_PRIVATE_KEY_PATH`` (or ``$KALSHI_PRIVATE_KEY``) and ``$KALSHI_API_KEY_ID``. For
    ``env="local"`` with none of them, the key the local exchange published in ``state_dir``.
    With a key every request is signed; with no key at all (no argument, no environment
    variable) requests go unsigned, which is enough for the public market data the downloader
    reads (markets, trades, candlesticks). Errors are :class:`DownloadError` with one line.
    """
    from ..kalshi.envs import resolve_env
    from ..kalshi.errors import AuthError
    from ..kalshi.rest import KalshiRestClient

    try:
        environment = resolve_env(env, base_url=base_url, port=port)
    except ValueError as e:
        raise DownloadError(str(e)) from None
    from ..kalshi.keys import resolve_credentials

    try:
        # no key anywhere: Kalshi's market data is public, so read it unsigned (the local
        # exchange's own key is the last source for env local)
        creds = resolve_credentials(environment.name, key_id=key_id, key_file=key_file,
                                    local_state_dir=state_dir, required=environment.name == "local")
        signer = creds.signer() if creds is not None else None
    except AuthError as e:
        raise DownloadError(str(e)) from None
    try:
        return KalshiRestClient(environment, signer, tier=tier, **client_options)
    except ValueError as e:
        raise DownloadError(str(e)) from None


# --------------------------------------------------------------------------- units & manifest


@dataclass(frozen=True)
class Unit:
    """One resumable piece of work: a market's trades or candles over one window.

    Trades cover Unix seconds ``[start, end)``; candles cover period ends in ``(start, end]``
    (Kalshi's ``end_period_ts`` is an inclusive period end). ``historical`` says which Kalshi
    partition to read; it is not part of the identity.
    """

    kind: str  # "trades" | "candles"
    ticker: str
    series: str
    start: int
    end: int
    period: int | None = None
    historical: bool = field(default=False, compare=False)

    @property
    def key(self) -> str:
        return f"{self.kind}|{self.ticker}|{self.period or ''}|{self.start}|{self.end}"

    @property
    def filename(self) -> str:
        tag = "t" if self.kind == "trades" else f"c{self.period}"
        return f"dl-{_SAFE.sub('_', self.ticker)}-{tag}-{self.start}-{self.end}.parquet"

    def describe(self) -> str:
        what = self.kind if self.period is None else f"{self.kind}/{self.period}m"
        return f"{self.ticker} {what} {_fmt_s(self.start)}..{_fmt_s(self.end)}"


def _fmt_s(s: int) -> str:
    return datetime.fromtimestamp(s, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Manifest:
    """Completed units of a catalog (``CATALOG/_download/manifest.json`` + ``journal.jsonl``).

    :meth:`record` appends one JSON line (flushed and fsynced) after a unit's files exist;
    :meth:`save` folds the journal into ``manifest.json`` (temp file + ``os.replace``) and
    removes the journal. Reading tolerates a torn last journal line. One writer at a time.
    """

    VERSION = 1

    def __init__(self, root: str | os.PathLike[str]):
        self.dir = Path(root) / DOWNLOAD_DIR
        self.path = self.dir / MANIFEST_NAME
        self.journal = self.dir / JOURNAL_NAME
        self.units: dict[str, dict[str, Any]] = {}
        self._index: dict[tuple[str, str, int | None], list[tuple[int, int]]] | None = None
        self._load()

    def _load(self) -> None:
        if self.path.is_file():
            try:
                data = json.loads(self.path.read_text())
                units = data["units"]
                if not isinstance(units, dict):
                    raise TypeError("units is not an object")
            except (ValueError, KeyError, TypeError, OSError) as e:
                raise DownloadError(
                    f"download manifest {self.path} is unreadable ({e}); delete it to re-download "
                    "everything (and the dl-* files, or they will be duplicated)"
                ) from None
            self.units = {str(k): dict(v) for k, v in units.items()}
        if self.journal.is_file():
            for line in self.journal.read_text().splitlines():
                try:
                    rec = json.loads(line)
                    self.units[str(rec["key"])] = rec
                except (ValueError, KeyError, TypeError):
                    continue  # torn last line of a crashed run: that unit is simply not done

    def covered(self, kind: str, ticker: str, period: int | None) -> list[tuple[int, int]]:
        """Sorted ``(start, end)`` windows of the completed units of one market/kind/period."""
        if self._index is None:
            index: dict[tuple[str, str, int | None], list[tuple[int, int]]] = {}
            for u in self.units.values():
                k = (str(u.get("kind")), str(u.get("ticker")), u.get("period") or None)
                index.setdefault(k, []).append((int(u["start"]), int(u["end"])))
            self._index = index
        return sorted(self._index.get((kind, ticker, period or None), ()))

    def filenames(self, kind: str) -> set[str]:
        return {str(u.get("filename")) for u in self.units.values() if u.get("kind") == kind}

    def record(self, unit: Unit, rows: int, files: Iterable[str]) -> None:
        rec = {
            "key": unit.key, "kind": unit.kind, "ticker": unit.ticker, "series": unit.series,
            "period": unit.period, "start": unit.start, "end": unit.end, "rows": int(rows),
            "filename": unit.filename, "files": sorted(files),
            "done_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.journal, "a", encoding="utf-8") as f:
            f.write(json.dumps(rec, separators=(",", ":")) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.units[unit.key] = rec
        self._index = None

    def save(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.dir / f".{MANIFEST_NAME}.tmp"
        body = {"version": self.VERSION, "units": dict(sorted(self.units.items()))}
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(body, f, indent=1, sort_keys=False)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        try:
            self.journal.unlink()
        except FileNotFoundError:
            pass


def _gaps(lo: int, hi: int, covered: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Parts of ``[lo, hi)`` not inside any of the sorted ``covered`` intervals."""
    out = []
    cur = lo
    for a, b in covered:
        if b <= cur:
            continue
        if a >= hi:
            break
        if a > cur:
            out.append((cur, min(a, hi)))
        cur = max(cur, b)
        if cur >= hi:
            break
    if cur < hi:
        out.append((cur, hi))
    return out


# --------------------------------------------------------------------------- markets


def market_row(m: Market, series: str, warn: Callable[[str], None] | None = None,
               empty_result: str = "void") -> dict[str, Any] | None:
    """A Kalshi :class:`Market` -> a ``markets`` catalog row (times in int ns), or ``None``
    when it lacks open/close times. ``result`` is read by
    :func:`framework.kalshi.outcome.market_outcome`: ``"yes"``/``"no"``/``"scalar"`` once
    determined, ``"void"`` when Kalshi says so or (``empty_result="void"``, the default) when a
    finalized market's result is empty; null otherwise (warned when the result is unusable).
    ``settlement_value`` is the scalar YES payout per contract (Kalshi's
    ``settlement_value_dollars``), null for the other results. ``settle_ts`` is Kalshi's
    ``settlement_ts``, else (for a determined market without one) its close time."""
    say = warn or (lambda _msg: None)
    if m.open_time is None or m.close_time is None:
        say(f"{m.ticker}: no open/close time in the market data; skipped")
        return None
    open_ns, close_ns = m.open_time, m.close_time
    if close_ns < open_ns:
        say(f"{m.ticker}: close_time is before open_time; using open_time for both")
        close_ns = open_ns
    outcome, note = market_outcome(m, empty_result)
    if note:
        say(note if outcome is not None else f"{note}: stored with a null result (not settled in backtests)")
    settle = None
    if outcome is not None:
        settle = m.settlement_ts if m.settlement_ts is not None else close_ns
    return {
        "ticker": m.ticker,
        "event_ticker": m.event_ticker,
        "series_ticker": series,
        "open_ts": open_ns,
        "close_ts": close_ns,
        "settle_ts": settle,
        "result": None if outcome is None else outcome.result,
        "title": m.title or m.yes_sub_title or None,
        "settlement_value": None if outcome is None else outcome.value,
    }


_MARKET_COLS = ("ticker", "event_ticker", "series_ticker", "open_ts", "close_ts", "settle_ts", "result", "title",
                "settlement_value")


def _existing_markets(root: Path) -> dict[str, dict[str, Any]]:
    if not kind_files(root, "markets"):
        return {}
    df = read_markets(root)
    out: dict[str, dict[str, Any]] = {}
    for rec in df.to_dict("records"):
        row: dict[str, Any] = {}
        for k in _MARKET_COLS:
            v = rec.get(k)
            if k.endswith("_ts"):
                row[k] = None if v is None or v != v else int(v.value)
            elif k == "settlement_value":
                row[k] = None if v is None or v != v else int(v)
            else:
                row[k] = None if v is None or v != v else str(v)
        out[row["ticker"]] = row
    return out


def _upsert_markets(root: Path, rows: list[dict[str, Any]]) -> int:
    """Merge ``rows`` into the catalog's markets; rewrite each changed series' file. Returns the
    number of rows that were new or different."""
    import pandas as pd

    existing = _existing_markets(root)
    by_series: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_series.setdefault(r["series_ticker"], []).append(r)
    changed_total = 0
    for s, new_rows in sorted(by_series.items()):
        merged = {t: r for t, r in existing.items() if r["series_ticker"] == s}
        changed = 0
        for r in new_rows:
            if merged.get(r["ticker"]) != r:
                merged[r["ticker"]] = r
                changed += 1
        if not changed:
            continue
        ordered = [merged[t] for t in sorted(merged)]
        df = pd.DataFrame({
            "ticker": [r["ticker"] for r in ordered],
            "event_ticker": [r["event_ticker"] for r in ordered],
            "series_ticker": [r["series_ticker"] for r in ordered],
            "open_ts": pd.array([r["open_ts"] for r in ordered], dtype="Int64"),
            "close_ts": pd.array([r["close_ts"] for r in ordered], dtype="Int64"),
            "settle_ts": pd.array([r["settle_ts"] for r in ordered], dtype="Int64"),
            "result": pd.Series([r["result"] for r in ordered], dtype=object),
            "title": pd.Series([r["title"] for r in ordered], dtype=object),
            "settlement_value": pd.array([r["settlement_value"] for r in ordered], dtype="Int64"),
        })
        write_table(root, "markets", df, partition_by="series", filename=MARKETS_FILE)
        changed_total += changed
    return changed_total


# --------------------------------------------------------------------------- report


@dataclass
class DownloadReport:
    """What a :func:`download` run did. ``ok`` is False when some unit failed (re-run to finish)."""

    catalog: str
    series: list[str] = field(default_factory=list)
    markets: int = 0  # markets selected
    markets_updated: int = 0  # rows new or changed in the markets table
    units_planned: int = 0  # units this run had to fetch
    units_done: int = 0
    units_skipped: int = 0  # (market, kind) windows already complete in the manifest
    trades: int = 0  # rows written
    candles: int = 0
    fee_schedules: int = 0  # series whose fee schedule was stored
    failed: list[tuple[str, str]] = field(default_factory=list)  # (unit, error)
    aborted: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed and self.aborted is None

    def summary(self) -> str:
        text = (
            f"downloaded {', '.join(self.series)} into {self.catalog}: {self.markets} markets "
            f"({self.markets_updated} new/updated), {self.units_done}/{self.units_planned} units "
            f"({self.trades:,} trades, {self.candles:,} candles), {self.units_skipped} already complete"
        )
        if self.failed:
            text += f"; {len(self.failed)} unit(s) failed (first: {self.failed[0][0]}: {self.failed[0][1]}); re-run to resume"
        if self.aborted:
            text += f"; stopped early: {self.aborted}; re-run to resume"
        return text


# --------------------------------------------------------------------------- fetching


def _paginate(client: KalshiRestClient, endpoint: str, key: str, params: Mapping[str, Any],
              parse: Callable[[Any], Any]) -> Iterator[Any]:
    p = {k: v for k, v in params.items() if v is not None}
    p.setdefault("limit", PAGE_LIMITS.get(endpoint, DEFAULT_PAGE_LIMIT))
    seen: set[str] = set()
    while True:
        body = client.get_json(endpoint, **p)
        rows = body.get(key) if isinstance(body, Mapping) else None
        for row in rows or ():
            yield parse(row)
        cursor = body.get("cursor") or body.get("next_cursor") if isinstance(body, Mapping) else None
        if not cursor:
            return
        if cursor in seen:
            raise KalshiPaginationError(f"GET {endpoint}: the server repeated cursor {cursor!r}")
        seen.add(cursor)
        p["cursor"] = cursor


@dataclass
class _Cutoff:
    market_settled_ns: int | None = None
    trades_created_s: int | None = None


def _read_cutoff(client: KalshiRestClient, warn: Callable[[str], None]) -> _Cutoff:
    try:
        body = client.get_json("/historical/cutoff")
    except KalshiNotFound:
        return _Cutoff()
    except (KalshiAuthError, KalshiPermissionDenied):
        raise
    except KalshiError as e:
        warn(f"could not read /historical/cutoff ({e}); reading the live partition only")
        return _Cutoff()

    def ts(name: str) -> int | None:
        v = body.get(name) if isinstance(body, Mapping) else None
        if v is None or v == "":
            return None
        try:
            return parse_time_ns(v, "s" if not isinstance(v, str) or v.strip().isdigit() else None)
        except ValueError:
            return None

    m, t = ts("market_settled_ts"), ts("trades_created_ts")
    return _Cutoff(m, None if t is None else t // _NS)


@dataclass
class _Ctx:
    client: KalshiRestClient
    root: Path
    cutoff: _Cutoff
    skip_block_trades: bool
    warn: Callable[[str], None]


def _fetch_trades(ctx: _Ctx, u: Unit) -> list[Trade]:
    parts: list[tuple[bool, int, int]] = []
    cut = ctx.cutoff.trades_created_s
    if cut is not None and u.start < cut:
        parts.append((True, u.start, min(u.end, cut)))
    if cut is None or u.end > cut:
        parts.append((False, u.start if cut is None else max(u.start, cut), u.end))
    out: list[Trade] = []
    for historical, a, b in parts:
        if b <= a:
            continue
        if historical:
            it = _paginate(ctx.client, "/historical/trades", "trades",
                           {"ticker": u.ticker, "min_ts": a, "max_ts": b}, Trade.from_json)
        else:
            it = ctx.client.iter_trades(u.ticker, min_ts=a, max_ts=b)
        lo, hi = a * _NS, b * _NS
        out.extend(t for t in it if t.ticker == u.ticker and lo <= t.created_time < hi)
    return out


def _trades_frame(ctx: _Ctx, u: Unit, trades: list[Trade]) -> pd.DataFrame:
    import pandas as pd

    seen: dict[str, Trade] = {}
    skipped_side = skipped_price = skipped_block = 0
    for t in reversed(trades):  # Kalshi lists newest first: reverse to execution order
        if t.trade_id in seen:
            continue
        if t.is_block_trade and ctx.skip_block_trades:
            skipped_block += 1
            continue
        if t.taker_outcome_side not in ("yes", "no"):
            skipped_side += 1
            continue
        if not 0 < t.price < DOLLAR or t.count <= 0:
            skipped_price += 1
            continue
        seen[t.trade_id] = t
    if skipped_side:
        ctx.warn(f"{u.ticker}: {skipped_side} trade(s) without a taker side skipped")
    if skipped_price:
        ctx.warn(f"{u.ticker}: {skipped_price} trade(s) with a price outside (0, $1) or no size skipped")
    rows = sorted(seen.values(), key=lambda t: t.created_time)  # stable: ties keep API order
    return pd.DataFrame({
        "ts": pd.array([t.created_time for t in rows], dtype="Int64"),
        "ticker": [t.ticker for t in rows],
        "trade_id": [t.trade_id for t in rows],
        "yes_price": pd.array([t.price for t in rows], dtype="Int64"),
        "count": pd.array([t.count for t in rows], dtype="Int64"),
        "taker_side": [t.taker_outcome_side for t in rows],
        "series": [u.series] * len(rows),
    })


def _fetch_candles(ctx: _Ctx, u: Unit) -> list[Candle]:
    assert u.period is not None
    span = u.period * 60
    step = MAX_CANDLES_PER_REQUEST * span
    out: dict[int, Candle] = {}
    c0 = u.start
    while c0 < u.end:
        c1 = min(u.end, c0 + step)
        if u.historical:
            body = ctx.client.get_json(
                f"/historical/markets/{quote(u.ticker, safe='')}/candlesticks",
                start_ts=c0, end_ts=c1, period_interval=u.period,
            )
            rows = body.get("candlesticks") if isinstance(body, Mapping) else None
            candles = [Candle.from_json(c) for c in rows or ()]
        else:
            candles = ctx.client.get_candlesticks(u.series, u.ticker, c0, c1, u.period)
        for c in candles:
            e = c.end_period_ts // _NS
            if c0 < e <= c1:
                out[c.end_period_ts] = c
        c0 = c1
    return [out[k] for k in sorted(out)]


def _candles_frame(u: Unit, candles: list[Candle]) -> pd.DataFrame:
    import pandas as pd

    def col(getter: Callable[[Candle], int | None]) -> Any:
        return pd.array([getter(c) for c in candles], dtype="Int64")

    data: dict[str, Any] = {
        "ts": col(lambda c: c.end_period_ts),
        "ticker": [u.ticker] * len(candles),
        "period": col(lambda c: u.period),
    }
    for name in ("open", "high", "low", "close"):
        data[name] = col(lambda c, n=name: getattr(c.price, n) if c.price is not None else None)
    data["volume"] = col(lambda c: c.volume or 0)
    data["open_interest"] = col(lambda c: c.open_interest)
    for side in ("yes_bid", "yes_ask"):
        for name in ("open", "high", "low", "close"):
            data[f"{side}_{name}"] = col(
                lambda c, s=side, n=name: getattr(getattr(c, s), n) if getattr(c, s) is not None else None
            )
    data["series"] = [u.series] * len(candles)
    return pd.DataFrame(data)


def _run_unit(ctx: _Ctx, u: Unit) -> tuple[int, list[str]]:
    if u.kind == "trades":
        df = _trades_frame(ctx, u, _fetch_trades(ctx, u))
    else:
        df = _candles_frame(u, _fetch_candles(ctx, u))
    if not len(df):
        return 0, []
    paths = write_table(ctx.root, u.kind, df, partition_by="series", filename=u.filename)
    return len(df), [p.relative_to(ctx.root).as_posix() for p in paths]


# --------------------------------------------------------------------------- planning


@dataclass
class _M:
    ticker: str
    series: str
    open_s: int
    close_s: int
    ended: bool
    historical: bool  # settled before the historical cutoff: candles from /historical


def _windows(m: _M, kind: str, period: int | None, start: int | None, end: int | None,
             horizon: int) -> tuple[int, int] | None:
    """The final-data window wanted for ``m``: trades ``[a, b)`` s, candles ``(A, B]`` s."""
    a = m.open_s if start is None else max(start, m.open_s)
    closed_limit = m.ended and (end is None or end > m.close_s)
    if closed_limit:
        b = m.close_s + 1
    else:
        b = min(horizon, end) if end is not None else horizon
        if m.ended:
            b = min(b, m.close_s + 1)
    if kind == "trades":
        return (a, b) if b > a else None
    assert period is not None
    span = period * 60
    lo = ((a - 1) // span) * span
    hi = -(-m.close_s // span) * span if closed_limit else (b // span) * span
    return (lo, hi) if hi > lo else None


def _select(client: KalshiRestClient, series: list[str], tickers: list[str] | None, cutoff: _Cutoff,
            start: int | None, end: int | None, warn: Callable[[str], None]) -> list[tuple[str, Market]]:
    """(series, Market) pairs of the wanted markets, live and historical, deduplicated."""
    found: dict[str, tuple[str, Market]] = {}
    want_hist = cutoff.market_settled_ns is not None and (start is None or start * _NS < cutoff.market_settled_ns)
    if tickers:
        event_series: dict[str, str] = {}
        rows: list[Market] = []
        for i in range(0, len(tickers), 100):
            chunk = tickers[i:i + 100]
            rows.extend(client.iter_markets(tickers=chunk))
            if want_hist:
                rows.extend(_paginate(client, "/historical/markets", "markets",
                                      {"tickers": ",".join(chunk)}, Market.from_json))
        for m in rows:
            if m.event_ticker not in event_series:
                ev = client.get_event(m.event_ticker)["event"]
                event_series[m.event_ticker] = str(ev.get("series_ticker") or m.event_ticker.split("-", 1)[0])
            s = event_series[m.event_ticker]
            if series and s not in series:
                warn(f"{m.ticker} belongs to series {s}, not {', '.join(series)}; skipped")
                continue
            found.setdefault(m.ticker, (s, m))
        listed = {m.ticker for m in rows}
        unknown = [t for t in tickers if t not in listed]
        if unknown:
            raise DownloadError(f"market(s) not found on the exchange: {', '.join(unknown[:5])}"
                                + (" ..." if len(unknown) > 5 else ""))
    else:
        for s in series:
            for m in client.iter_markets(series_ticker=s):
                found.setdefault(m.ticker, (s, m))
            if want_hist:
                for m in _paginate(client, "/historical/markets", "markets", {"series_ticker": s,
                                   "mve_filter": "exclude"}, Market.from_json):
                    found.setdefault(m.ticker, (s, m))
    return [found[t] for t in sorted(found)]


def _check_series(client: KalshiRestClient, series: list[str]) -> None:
    for s in series:
        try:
            client.get_series(s)
        except KalshiNotFound:
            raise DownloadError(f"unknown series {s!r} on {client.base_url} (check the ticker, e.g. "
                                "KXHIGHNY, and --env)") from None


def _check_writable(root: Path) -> None:
    if root.exists() and not root.is_dir():
        raise DownloadError(f"--out {root} exists and is not a directory")
    try:
        (root / DOWNLOAD_DIR).mkdir(parents=True, exist_ok=True)
        probe = root / DOWNLOAD_DIR / f".probe-{os.getpid()}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as e:
        raise DownloadError(f"cannot write to the output folder {root}: {e.strerror or e}") from None


def _remove_orphans(root: Path, manifest: Manifest, series: Iterable[str]) -> int:
    """Delete ``dl-*`` files (and temp files) of ``series`` that no completed unit owns."""
    n = 0
    for kind in ("trades", "candles"):
        owned = manifest.filenames(kind)
        for s in series:
            base = root / kind / f"series={s}"
            if not base.is_dir():
                continue
            for dirpath, _dirs, files in os.walk(base):
                for f in files:
                    orphan = (f.startswith("dl-") and f.endswith(".parquet") and f not in owned) or (
                        f.startswith(".dl-") and f.endswith(".tmp"))
                    if orphan:
                        (Path(dirpath) / f).unlink(missing_ok=True)
                        n += 1
    return n


# --------------------------------------------------------------------------- the run


def download(
    client: KalshiRestClient,
    out: str | os.PathLike[str],
    series: Iterable[str] = (),
    *,
    markets: Iterable[str] | None = None,
    start: str | int | None = None,
    end: str | int | None = None,
    period: int = 60,
    candles: bool = True,
    trades: bool = True,
    skip_block_trades: bool = False,
    progress: bool | None = None,
    safety_lag_s: int = 5,
    notify: Callable[[str], None] | None = None,
    now: Callable[[], float] = time.time,
    empty_result: str = "void",
) -> DownloadReport:
    """Download ``series`` (or the given ``markets``) into the catalog ``out``; see the module doc.

    ``start``/``end``: :func:`parse_time_arg` strings or Unix seconds (``end`` exclusive); a
    market is included when its trading period overlaps them. ``period``: candle minutes (1, 60,
    1440). ``progress``: a tqdm bar (``None`` = only when stderr is a TTY); ``notify`` receives
    one line with the plan (markets, units to fetch, units already complete). Per-unit errors do
    not stop the run (they are listed in the report; re-run to resume) unless
    ``MAX_CONSECUTIVE_FAILURES`` happen in a row; bad arguments, unknown series, auth failures
    and an unwritable folder raise :class:`DownloadError`. ``empty_result``: how a finalized
    market with an empty result is stored, ``"void"`` (default) or ``"unsettled"`` (Kalshi's
    spec does not say how a voided market reads; see :mod:`framework.kalshi.outcome`).
    """
    series_l = list(dict.fromkeys(s.strip() for s in series if s and s.strip()))
    tickers = list(dict.fromkeys(t.strip() for t in markets if t and t.strip())) if markets else None
    if not series_l and not tickers:
        raise DownloadError("nothing to download: give --series (and optionally --markets)")
    if empty_result not in EMPTY_RESULT_POLICIES:
        raise DownloadError(f"--empty-result must be one of {', '.join(EMPTY_RESULT_POLICIES)}, got {empty_result!r}")
    if period not in CANDLE_PERIODS:
        raise DownloadError(f"--period must be one of {', '.join(map(str, CANDLE_PERIODS))} (minutes), got {period!r}")
    start_s = parse_time_arg(start)
    end_s = parse_time_arg(end, end=True)
    if start_s is not None and end_s is not None and end_s <= start_s:
        raise DownloadError(f"--end ({_fmt_s(end_s)}) must be after --start ({_fmt_s(start_s)})")
    root = Path(out)
    _check_writable(root)
    report = DownloadReport(catalog=str(root), series=list(series_l))
    warned: set[str] = set()

    def warn(msg: str) -> None:
        if msg not in warned:
            warned.add(msg)
            report.warnings.append(msg)
            log.warning("%s", msg)

    try:
        if series_l:
            _check_series(client, series_l)
        cutoff = _read_cutoff(client, warn)
        picked = _select(client, series_l, tickers, cutoff, start_s, end_s, warn)
    except (KalshiAuthError, KalshiPermissionDenied) as e:
        raise DownloadError(f"the exchange refused the key ({e}); check --key-id/--key-file and --env") from None
    except KalshiAPIError as e:
        raise DownloadError(f"listing markets failed: {e}") from None
    except KalshiError as e:
        raise DownloadError(f"listing markets failed: {e}") from None
    if not report.series:
        report.series = sorted({s for s, _ in picked})

    rows: list[dict[str, Any]] = []
    chosen: list[_M] = []
    for s, m in picked:
        row = market_row(m, s, warn, empty_result)
        if row is None:
            continue
        if start_s is not None and row["close_ts"] < start_s * _NS:
            continue
        if end_s is not None and row["open_ts"] >= end_s * _NS:
            continue
        rows.append(row)
        ended = (m.status or "").lower() in _ENDED or row["close_ts"] <= int(now() * _NS)
        hist = (cutoff.market_settled_ns is not None and m.settlement_ts is not None
                and m.settlement_ts < cutoff.market_settled_ns)
        chosen.append(_M(m.ticker, s, row["open_ts"] // _NS, row["close_ts"] // _NS, ended, hist))
    if not chosen:
        rng = ""
        if start_s is not None or end_s is not None:
            rng = f" between {_fmt_s(start_s) if start_s is not None else 'the start'} and " \
                  f"{_fmt_s(end_s) if end_s is not None else 'now'}"
        what = ", ".join(tickers) if tickers else ", ".join(series_l)
        raise DownloadError(f"no markets of {what}{rng}")
    report.markets = len(chosen)
    report.markets_updated = _upsert_markets(root, rows)
    from .fees_catalog import (
        download_fee_tables,  # per-series fee schedule + waivers (kinds fees, fee_waivers)
    )

    kept = {c.ticker for c in chosen}
    report.fee_schedules = download_fee_tables(client, root, [(s, m) for s, m in picked if m.ticker in kept], warn)

    manifest = Manifest(root)
    _remove_orphans(root, manifest, {m.series for m in chosen})
    horizon = int(now()) - max(0, int(safety_lag_s))
    kinds: list[tuple[str, int | None]] = []
    if trades:
        kinds.append(("trades", None))
    if candles:
        kinds.append(("candles", period))
    plan: list[Unit] = []
    for m in chosen:
        for kind, per in kinds:
            w = _windows(m, kind, per, start_s, end_s, horizon)
            if w is None:
                continue
            gaps = _gaps(w[0], w[1], manifest.covered(kind, m.ticker, per))
            if not gaps:
                report.units_skipped += 1
            plan.extend(Unit(kind, m.ticker, m.series, a, b, per, m.historical) for a, b in gaps)
    report.units_planned = len(plan)
    if notify is not None:
        notify(f"{len(chosen)} market(s) of {', '.join(report.series)}: {len(plan)} unit(s) to fetch, "
               f"{report.units_skipped} already complete ({report.markets_updated} market row(s) new/updated)")

    ctx = _Ctx(client, root, cutoff, skip_block_trades, warn)
    bar = None
    if progress is None:
        progress = sys.stderr.isatty()
    if progress and plan:
        from tqdm import tqdm

        bar = tqdm(total=len(plan), unit="unit", desc="download", dynamic_ncols=True, leave=False)
    streak = 0
    try:
        for u in plan:
            if bar is not None:
                bar.set_postfix_str(f"{u.ticker} {u.kind}", refresh=False)
            try:
                n, files = _run_unit(ctx, u)
            except (KalshiAuthError, KalshiPermissionDenied) as e:
                raise DownloadError(f"the exchange refused the key ({e}); check --key-id/--key-file") from None
            except (KalshiError, CatalogError) as e:
                report.failed.append((u.describe(), " ".join(str(e).split())))
                log.warning("unit %s failed: %s", u.describe(), e)
                streak += 1
                if streak >= MAX_CONSECUTIVE_FAILURES:
                    report.aborted = f"{streak} units failed in a row (last: {e})"
                    break
                continue
            finally:
                if bar is not None:
                    bar.update(1)
            streak = 0
            manifest.record(u, n, files)
            report.units_done += 1
            if u.kind == "trades":
                report.trades += n
            else:
                report.candles += n
    finally:
        if bar is not None:
            bar.close()
        manifest.save()
    return report

