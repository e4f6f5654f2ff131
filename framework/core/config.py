"""Run configuration files (TOML) and their validation.

A config has three tables::

    [run]
    mode = "backtest"                       # backtest | paper | live
    strategy = "strategies.momentum:Momentum"
    catalog = "data/sample"                 # relative paths are relative to the config file
    series = ["KXHIGHNY"]                   # or: markets = ["KXHIGHNY-26NOV20-T51", ...]
    start = "2026-11-19"                    # optional, inclusive
    end = "2026-11-23"                      # optional, exclusive
    starting_cash = "10000"                 # dollars (string or number)

    [params]                                # overrides the strategy's class defaults
    threshold = 3

    [broker]                                # simulated exchange model options
    netting = true
    fee_taker = "0.07"

Unknown keys are errors that name the key and list the valid ones.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..model.fees import FEE_OPTIONS
from ..units import dollars

__all__ = ["ConfigError", "RunConfig", "check_keys", "load_config", "parse_run", "read_toml", "resolve_path",
           "time_str"]

RUN_KEYS = {
    "mode": "backtest | paper | live",
    "strategy": "'module:Class' of a Strategy subclass",
    "catalog": "path of the Parquet catalog",
    "markets": "list of market tickers",
    "series": "list of series tickers",
    "start": "first time replayed (inclusive), e.g. '2026-11-19'",
    "end": "end time (exclusive)",
    "starting_cash": "starting cash in dollars, e.g. '10000'",
    "out": "folder for run outputs (default runs/<config name>)",
    "equity_interval": "equity sampling interval, e.g. '1h'",
    "score_horizons": "horizons before close at which the market's mid is scored, e.g. ['1h', '24h']",
}
BROKER_KEYS = {
    "netting": "net YES against NO (default true)",
    **FEE_OPTIONS,  # fees, fee_taker, fee_maker, fee_rounding, fee_series, ... (framework.model.fees)
    "kinds": "data kinds to replay: 'auto' or a list of 'quotes', 'book', 'trades', or ['candles'] alone",
    "candle_period": "minutes of the candles replayed (default: the catalog's only period)",
    "bar_volume_share": "candles: most of a bar's volume our orders may take (default '0.1')",
    "bar_spread_cents": "candles: cents over/under the next bar's open for marketable orders (default 1)",
    "batch_size": "Parquet rows per batch (default 65536)",
    "latency": "'50ms' (order/cancel latency, default 0), or legs {entry=.., response=.., market_data=..} of "
               "durations / 'lognormal:median=20ms,sigma=0.5' / 'uniform:low=..,high=..' / 'profile:PATH'; "
               "or 'profile:PATH' (kalshi latency); seeded by seed",
    "queue_model": "'none' (default: prints at a resting order's price never fill it), 'trades' "
                   "(they fill it once they use up the size displayed ahead of it), 'power' or 'log' "
                   "(probabilistic: cancellations move it up too; docs/simulation.md)",
    "queue_power": "n of queue_model 'power' (f(x) = x**n), default 2",
    "seed": "seed of the probabilistic models (int), default 0",
    "unknown_size_contracts": "contracts a price level counts as when the data shows no size (default 10)",
    "crossed_books": "'skip' (default: never match against crossed/locked data books) or 'match'",
    "level_refill": "'change' (default: a new size at a level refills what we took there) or 'growth' "
                    "(only the level's growth refills it)",
}
MODES = ("backtest", "paper", "live")


class ConfigError(ValueError):
    """A configuration problem, phrased as what is wrong and what to do."""


@dataclass
class RunConfig:
    path: Path | None
    mode: str = "backtest"
    strategy: str | None = None
    catalog: Path | None = None
    markets: list[str] | None = None
    series: list[str] | None = None
    start: str | None = None
    end: str | None = None
    starting_cash: int | None = None
    out: Path | None = None
    equity_interval: str | None = "1h"
    score_horizons: list[str] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    broker: dict[str, Any] = field(default_factory=dict)
    live: dict[str, Any] = field(default_factory=dict)  # raw [live] table (framework.live.config)
    risk: dict[str, Any] = field(default_factory=dict)  # raw [risk] table, human units

    def model_options(self) -> dict[str, Any]:
        opts = dict(self.broker)
        if self.series is not None:
            opts["series"] = self.series
        opts["equity_interval"] = self.equity_interval
        if self.score_horizons is not None:
            opts["score_horizons"] = self.score_horizons
        return opts


def check_keys(table: dict, allowed: dict[str, str], where: str, path: Path | None) -> None:
    """Refuse keys of a TOML table that are not in ``allowed``, naming the valid ones."""
    for key in table:
        if key not in allowed:
            valid = ", ".join(sorted(allowed))
            raise ConfigError(f"{path or 'config'}: unknown key '{key}' in [{where}]; valid keys: {valid}")


SECTIONS = ("run", "params", "broker", "live", "risk")  # [live] and [risk]: see framework.live.config


def read_toml(path: str | Path) -> tuple[Path, dict[str, Any]]:
    """Read a config file: one-line errors for a missing file, bad TOML or an unknown section."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}; pass a path such as backtests/momentum.toml")
    try:
        raw = tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: invalid TOML: {exc}") from None
    for section in raw:
        if section not in SECTIONS:
            raise ConfigError(f"{p}: unknown section [{section}]; valid sections: "
                              + ", ".join(f"[{s}]" for s in SECTIONS))
    return p, raw


def load_config(path: str | Path) -> RunConfig:
    """Parse and validate a TOML run configuration (``[live]``/``[risk]`` are kept raw here and
    validated by ``framework.live.config``)."""
    p, raw = read_toml(path)
    cfg = parse_run(p, raw)
    cfg.live = dict(raw.get("live", {}))
    cfg.risk = dict(raw.get("risk", {}))
    return cfg


def parse_run(p: Path, raw: dict[str, Any]) -> RunConfig:
    """The ``[run]``, ``[params]`` and ``[broker]`` tables of a parsed config file."""
    run = raw.get("run", {})
    broker = raw.get("broker", {})
    check_keys(run, RUN_KEYS, "run", p)
    check_keys(broker, BROKER_KEYS, "broker", p)
    cfg = RunConfig(path=p, params=dict(raw.get("params", {})), broker=dict(broker))
    base = p.parent
    mode = run.get("mode", "backtest")
    if mode not in MODES:
        raise ConfigError(f"{p}: [run] mode must be one of {', '.join(MODES)}, got {mode!r}")
    cfg.mode = mode
    cfg.strategy = run.get("strategy")
    if "catalog" in run:
        cfg.catalog = resolve_path(base, run["catalog"])
    for key in ("markets", "series"):
        if key in run:
            val = run[key]
            if isinstance(val, str):
                val = [val]
            if not isinstance(val, list) or not all(isinstance(v, str) for v in val):
                raise ConfigError(f"{p}: [run] {key} must be a list of tickers")
            setattr(cfg, key, val)
    cfg.start = time_str(run.get("start"), "start", p)
    cfg.end = time_str(run.get("end"), "end", p)
    if "starting_cash" in run:
        try:
            cfg.starting_cash = dollars(str(run["starting_cash"]))
        except ValueError as exc:
            raise ConfigError(f"{p}: [run] starting_cash: {exc}") from None
    if "out" in run:
        cfg.out = resolve_path(base, run["out"])
    if "equity_interval" in run:
        cfg.equity_interval = run["equity_interval"]
    if "score_horizons" in run:
        h = run["score_horizons"]
        if not isinstance(h, list) or not all(isinstance(v, str) for v in h):
            raise ConfigError(f"{p}: [run] score_horizons must be a list of durations such as ['1h', '24h']")
        cfg.score_horizons = h
    return cfg


def resolve_path(base: Path, value: str) -> Path:
    """A path from a config file: relative to the file first, then to the working directory."""
    q = Path(value).expanduser()
    if q.is_absolute():
        return q
    # relative to the config file first, then to the working directory (repo-root configs)
    cand = base / q
    # "backtests/../runs" -> "runs" for readable paths (differs only if backtests/ is a symlink)
    return Path(os.path.normpath(cand)) if cand.exists() or not Path(value).exists() else Path(value)


def time_str(value: Any, key: str, p: Path) -> str | None:
    """A [run] start/end value (TOML date, datetime or string) as an ISO string."""
    if value is None:
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()  # TOML dates/datetimes
    if isinstance(value, str):
        return value
    raise ConfigError(f"{p}: [run] {key} must be a date/time such as '2026-11-19', got {value!r}")
