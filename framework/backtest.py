"""``run_backtest``: wire a replay feed, a simulated broker and a strategy into the engine."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from .analysis.probes import DEFAULT_HORIZONS, MidProbes
from .analysis.results import Result
from .brokers.bar_fills import BarRule
from .brokers.simulated import BROKER_OPTIONS, SimulatedBroker
from .core.engine import Engine
from .core.strategy_errors import StrategyError
from .data.catalog import CatalogError, _merge_markets, _read_file, kind_files
from .data.checks import DataWarnings, read_checked_markets
from .data.replay import ParquetReplayFeed, _to_ns
from .logs import ensure_strategy_output
from .model.fees import FEE_OPTIONS, fee_model_from_options
from .model.portfolio import Portfolio
from .strategy import Strategy
from .strategy_loader import load_strategy
from .units import dollars

__all__ = ["DEFAULT_STARTING_CASH", "load_strategy", "run_backtest"]

DEFAULT_STARTING_CASH = dollars(10_000)

_MODEL_OPTIONS = {
    "netting": "net YES against NO (Kalshi's default): True/False",
    **FEE_OPTIONS,
    "queue_model": "prints at a resting order's price: 'none' (never fill it, default), 'trades' "
                   "(fill it once they use up the size displayed ahead of it), 'power' or 'log' "
                   "(cancellations also move it up, by docs/simulation.md's formula)",
    "queue_power": "n of queue_model 'power' (f(x) = x**n), default 2",
    "seed": "seed of the probabilistic models (int), default 0",
    "unknown_size_contracts": "contracts a level counts as when the data shows no size, default 10",
    "crossed_books": "crossed or locked data books: 'skip' (default: never matched) or 'match'",
    "level_refill": "what we took at a level refills on a new size there ('change', default) or only "
                    "by its growth ('growth')",
    "latency": "'50ms' (order/cancel latency, default 0), or legs {entry=.., response=.., market_data=..} of "
               "durations / 'lognormal:median=20ms,sigma=0.5' / 'uniform:low=..,high=..' / 'profile:PATH'; "
               "or 'profile:PATH' (kalshi latency); seeded by seed",
    "kinds": "data kinds to replay: 'auto' or a list of 'quotes', 'book', 'trades', or ['candles'] alone",
    "candle_period": "minutes of the candles replayed (default: the catalog's only period)",
    "bar_volume_share": "candles: most of a bar's volume our orders may take, default '0.1'",
    "bar_spread_cents": "candles: cents paid over (buy) / under (sell) the next bar's open by "
                        "marketable orders, default 1",
    "series": "restrict to markets of these series tickers",
    "batch_size": "Parquet rows per batch (memory bound), default 65536",
    "equity_interval": "equity sampling interval (ns or e.g. '1h'); None disables",
    "progress": "show a progress bar (True/False)",
    "score_horizons": "horizons before each close at which the market's mid is scored, e.g. ['1h', '24h'] "
                      "(default); [] disables",
}


def _few(items, n: int = 8) -> str:
    items = list(items)
    return ", ".join(items[:n]) + (f" ... ({len(items)} in all)" if len(items) > n else "")


def _select_markets(catalog: Path, markets: Iterable[str] | None, series: Iterable[str] | None):
    """The selected markets' rows; a selection that matches nothing is an error saying what exists."""
    return _markets(catalog, markets, series)[0]


def _markets(catalog: Path, markets: Iterable[str] | None,
             series: Iterable[str] | None) -> tuple[list[dict[str, Any]], dict[str, tuple[int, int]]]:
    """The selected markets' rows (times as int ns, nulls as None) and every market's replay
    window (:func:`_market_windows`), from one checked read of the markets table, in Arrow (no
    pandas: a thousand markets cost ~1 ms instead of ~40)."""
    table = read_checked_markets(catalog)  # hard settlement-metadata problems, naming the file
    if not table.num_rows:
        raise CatalogError(f"catalog {catalog} has no markets table (markets/*.parquet), so no position "
                           f"would ever settle; import one with `kalshi import markets FILE --catalog "
                           f"{catalog}` (docs/data-format.md)")
    windows = _windows(table)
    if series is not None:
        series = set([series] if isinstance(series, str) else series)
        present = sorted(set(table.column("series_ticker").to_pylist()))
        absent = sorted(series - set(present))
        if absent:
            raise CatalogError(f"series {', '.join(absent)}: no markets in the catalog {catalog}; "
                               f"series present: {_few(present)}")
        table = table.filter(pc.is_in(table.column("series_ticker"), value_set=pa.array(sorted(series), pa.string())))
    if markets is not None:
        markets = [markets] if isinstance(markets, str) else list(markets)
        tickers = table.column("ticker").to_pylist()
        missing = sorted(set(markets) - set(tickers))
        if missing:
            scope = f" of series {', '.join(sorted(series))}" if series is not None else ""
            raise CatalogError(f"market(s) not in catalog {catalog}{scope}: {_few(missing, 5)}; "
                               f"markets present: {_few(sorted(tickers))}")
        table = table.filter(pc.is_in(table.column("ticker"), value_set=pa.array(sorted(set(markets)), pa.string())))
    names = table.column_names
    cols = [(c.cast(pa.int64()) if pa.types.is_timestamp(c.type) else c).to_pylist() for c in table.columns]
    return [dict(zip(names, vals, strict=True)) for vals in zip(*cols, strict=True)], windows


def _starting_cash(value: int | str | Decimal | None) -> int:
    """``starting_cash`` as money units: an int is money units; a string or Decimal is dollars, as in
    TOML (``"1000"`` is $1,000)."""
    if value is None:
        return DEFAULT_STARTING_CASH
    if isinstance(value, (str, Decimal)):
        try:
            cash = dollars(value)
        except ValueError as exc:
            raise ValueError(f"starting_cash {value!r}: {exc}") from None
    elif type(value) is int:
        cash = value
    else:
        raise ValueError(f"starting_cash must be dollars as a string ('1000') or an int of money units "
                         f"($1,000 = framework.dollars(1000)), got {value!r}")
    if cash < 0:
        raise ValueError(f"starting_cash must not be negative, got {value!r}")
    return cash


def run_backtest(strategy: str | type[Strategy] | Strategy, catalog: str | Path, markets=None, start=None,
                 end=None, params: dict[str, Any] | None = None, starting_cash: int | None = None,
                 risk=None, **model_options: Any) -> Result:
    """Replay ``catalog`` through ``strategy`` with the simulated broker; return a ``Result``.

    ``markets`` (tickers) or ``series`` (a model option) select markets; ``start``/``end``
    (``end`` exclusive) accept ns ints or time strings; ``starting_cash`` is in money units
    (default $10,000); a string or Decimal is dollars, as in TOML (``"1000"``). ``risk`` is an optional pre-trade gate (``framework.live.risk.RiskGate``),
    the same one live runs use, so limits behave alike. Model options: see
    ``framework.backtest._MODEL_OPTIONS``.
    """
    ensure_strategy_output()  # self.log.info shows from Python too, unless logging is configured
    unknown = sorted(set(model_options) - set(_MODEL_OPTIONS))
    if unknown:
        known = "\n".join(f"  {k}: {v}" for k, v in _MODEL_OPTIONS.items())
        raise TypeError(f"unknown backtest option(s): {', '.join(unknown)}. Known options:\n{known}")
    root = Path(catalog)
    if isinstance(strategy, Strategy):
        strat = strategy
        if params:
            raise ValueError("pass params to the strategy's constructor when passing an instance")
    else:
        strat = load_strategy(strategy)(params)
    start_ns, end_ns = _to_ns(start), _to_ns(end)
    if start_ns is not None and end_ns is not None and start_ns >= end_ns:
        raise ValueError(f"start {start} is at or after end {end}: nothing to replay (end is exclusive)")
    market_rows, windows = _markets(root, markets, model_options.get("series"))
    tickers = [m["ticker"] for m in market_rows] if (markets is not None or "series" in model_options) else None
    feed = ParquetReplayFeed(root, markets=tickers, start=start_ns, end=end_ns,
                             kinds=model_options.get("kinds", "auto"),
                             batch_size=model_options.get("batch_size", 65_536),
                             candle_period=model_options.get("candle_period"),
                             windows=windows)
    feed.require_data_between(start_ns, end_ns)
    from .data.fees_catalog import read_fee_schedule, read_fee_waivers

    series_of = {m["ticker"]: m["series_ticker"] for m in market_rows}
    fees = fee_model_from_options(model_options, schedule=read_fee_schedule(root, set(series_of.values())),
                                  waivers=read_fee_waivers(root, series_of), series_of=series_of)
    bar_rule = None
    if feed.kinds == ("candles",):  # bars fill by the bar rule (docs/simulation.md "Candles")
        bar_rule = BarRule(model_options.get("bar_volume_share", "0.1"), model_options.get("bar_spread_cents", 1))
    broker = SimulatedBroker(fees, latency=model_options.get("latency", 0), bar_rule=bar_rule,
                             **{k: model_options[k] for k in BROKER_OPTIONS if k in model_options})
    broker.fidelity.model("data", "+".join(feed.kinds))
    if bar_rule is not None:
        bar_rule.report(broker.fidelity)
    cash = _starting_cash(starting_cash)
    portfolio = Portfolio(cash, netting=model_options.get("netting", True))
    interval = model_options.get("equity_interval", "1h")
    if interval is not None:
        from .core.engine import parse_duration

        interval = parse_duration(interval)
    bar = None
    progress = None
    if model_options.get("progress"):
        from tqdm import tqdm

        bar = tqdm(total=feed.total_rows, unit="ev", unit_scale=True, desc="backtest", leave=False)
        progress = bar.update
    engine = Engine(strat, feed, broker, portfolio, market_rows, equity_interval=interval, start=start_ns, end=end_ns,
                    progress=progress, risk=risk)
    source = getattr(type(strat), "__kalshi_source__", None)  # a strategy loaded from a .py file
    info = {"strategy": source or f"{type(strat).__module__}:{type(strat).__name__}", "params": strat.params,
            "markets": len(market_rows), "start": start_ns, "end": end_ns}
    options = {k: v for k, v in sorted(model_options.items()) if k not in ("progress", "batch_size")}
    if options:
        info["options"] = options  # the simulation options as run (the report's "models used")
    probes = MidProbes(engine, _horizons(model_options.get("score_horizons", DEFAULT_HORIZONS)))
    try:
        engine.run()
    except StrategyError as err:  # keep what the run did up to the failure, for the run folder
        err.partial = _partial_result(engine, info)
        raise
    finally:
        if bar is not None:
            bar.close()
        feed.close()
    warnings = feed.finish_checks()
    if model_options.get("kinds", "auto") != "auto":  # asked for by name: a kind with no files is news
        missing = [k for k in feed.kinds if not kind_files(root, k)]
        if missing:
            warnings.add("missing_kind", f"kinds {', '.join(missing)} requested but the catalog has no such files: "
                                         f"replayed {', '.join(k for k in feed.kinds if k not in missing)} only",
                         root)
    _run_warnings(warnings, engine, market_rows, end_ns)
    result = Result.from_engine(engine, info, probes)
    result.data_warnings = warnings
    return result


def _partial_result(engine: Engine, info: dict[str, Any]) -> Result | None:
    try:
        return Result.from_engine(engine, {**info, "failed": True})
    except Exception:  # the failure may have left state half-updated: no partial results then
        return None


def _horizons(values) -> dict[str, int]:
    from .core.engine import parse_duration

    if isinstance(values, str):
        values = [values]
    return {str(v): parse_duration(v) for v in values}


def _market_windows(root: Path) -> dict[str, tuple[int, int]]:
    """ticker -> (open_ts, settle_ts or else close_ts) for the replay's window check."""
    return _windows(_merge_markets([_read_file(p, "markets", None) for p in kind_files(root, "markets")]))


def _windows(table: pa.Table) -> dict[str, tuple[int, int]]:
    """:func:`_market_windows` of a markets table (Arrow columns, no per-market Python but the dict)."""
    end = pc.coalesce(table.column("settle_ts"), table.column("close_ts")).cast(pa.int64()).to_pylist()
    opened = table.column("open_ts").cast(pa.int64()).to_pylist()
    return dict(zip(table.column("ticker").to_pylist(), zip(opened, end, strict=True), strict=True))


def _run_warnings(warnings: DataWarnings, engine, market_rows, end_ns: int | None) -> None:
    """Warnings about the run as a whole: nothing replayed, positions left without a settlement."""
    if engine.n_events == 0:
        warnings.add("empty", "no market events were replayed: the selection (markets, series, start/end) "
                              "matches no quotes, book or trades rows")
    settled = {s.ticker for s in engine.settlements}
    held = sorted(t for t, p in engine.portfolio.positions.items() if (p.yes or p.no) and t not in settled)
    rows = {m["ticker"]: m for m in market_rows}
    unsettled = [t for t in held if rows.get(t, {}).get("result") is None
                 and (end_ns is None or (rows.get(t, {}).get("close_ts") or end_ns) < end_ns)]
    if unsettled:
        warnings.add("unsettled", f"{len(unsettled)} market(s) with open positions closed without a result in "
                                  f"the markets table, so they were never settled: {_few(unsettled, 5)}")
