"""Run configuration for paper and live runs: ``[run]``, ``[params]``, ``[broker]`` as in
:mod:`framework.core.config`, plus two tables::

    [live]
    env = "local"                # local | demo | prod
    broker = "rest"              # rest | fix (mode = "live"); paper always simulates
    feed = "auto"                # auto | ws | rest
    state_dir = "runs/local_live/state"   # journal, control socket, kill file, summary
    yes_really_trade_prod = false         # prod needs this (or --yes-really-trade-prod)

    [risk]                       # human units: contracts, dollars, cents
    max_position = 50            # contracts per market (worst case incl. open orders)
    max_daily_loss = "100"       # dollars

Unknown keys are errors that name the key and list the valid ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.config import ConfigError, RunConfig, check_keys, parse_run, read_toml, resolve_path
from ..units import UnitError, cents, contracts, dollars
from .reconcile import ON_DIFFERENCES
from .risk import RiskLimits

__all__ = ["LIVE_KEYS", "RISK_KEYS", "LiveConfig", "load_live_config", "risk_limits"]

LIVE_KEYS = {
    "env": "local | demo | prod (default local)",
    "broker": "rest | fix: how live orders reach Kalshi (default rest)",
    "feed": "auto | ws | rest: market data (default auto: WebSocket, REST polling as fallback); "
            "'replay' only with mode = 'backtest'",
    "poll_interval": "REST polling interval in seconds (default 1.0)",
    "state_dir": "folder for the journal, control socket, kill file and summary (default <out>/state)",
    "key_id": "Kalshi API key id (--key-id wins; default $KALSHI_API_KEY_ID; env local: the local exchange's key)",
    "key_file": "private key PEM path (--key-file wins; default $KALSHI_PRIVATE_KEY_PATH or $KALSHI_PRIVATE_KEY; "
                "env local: the local exchange's key)",
    "port": "local exchange port (default 8765)",
    "rest_url": "override the REST base URL (ends with /trade-api/v2)",
    "ws_url": "override the WebSocket URL",
    "yes_really_trade_prod": "must be true (or pass --yes-really-trade-prod) to trade on prod",
    "duration": "stop after this long, e.g. '30min' (default: run until killed)",
    "write_timeout": "seconds to wait for an order write's answer before reconciling (default 5)",
    "fill_poll_interval": "seconds between REST fill polls while the fill socket is down (default 1)",
    "order_poll_interval": "seconds between REST order-state polls (default 2)",
    "settlement_poll": "seconds between checks for finalized markets, which are then settled "
                       "(on_settlement) as in a backtest; 0 turns it off (default 30)",
    "empty_result": "void | unsettled: a finalized market whose result is empty (Kalshi's Market.result has "
                    "no 'void'; its spec does not say how a voided market reads) settles as void (default) "
                    "or is left unsettled",
    "ws_fills": "listen to the WebSocket fill channel (default true)",
    "marketable_cost_cap": "send buy_max_cost with marketable buys (Kalshi makes them fill-or-kill; default true)",
    "adopt_exchange_positions": "on restart, take the exchange's positions when they differ (default true)",
    "on_reconcile_differences": "reducing | halt | continue: how a restart whose reconciliation found differences "
                                "(cash, positions, failed lookups) starts (default reducing)",
    "cancel_on_exit": "cancel open orders when the run stops (default true)",
    "tier": "rate-limit tier of the key: basic | advanced | premier | paragon | prime (default basic)",
    "fix_session": "FIX session type for broker = 'fix' (default 'NR')",
    "fix_port": "FIX port (broker = 'fix'); required for env local (`kalshi exchange --fix-port`), "
                "else Kalshi's port of fix_session",
    "fix_host": "FIX host (default: Kalshi's order-entry host of the env; env local: the exchange's host)",
    "fix_heartbeat": "FIX HeartBtInt in seconds (default 30)",
    "unresolved_alert": "seconds an order's outcome may stay unknown before the run alerts and sets its "
                        "market REDUCING (default 60)",
    "stop_timeout": "seconds a stop waits until the exchange shows none of the run's orders resting "
                    "(default 30); orders still resting then make the exit code 3",
}
RISK_KEYS = {
    "max_position": "contracts per market, worst case with open orders",
    "max_event_position": "contracts summed over an event's markets",
    "max_open_orders": "open orders at once",
    "max_notional": "dollars at risk (position cost + open orders)",
    "max_orders_per_second": "order rate (orders counted over rate_window_s)",
    "rate_window_s": "window of the order rate limit in seconds (default 1)",
    "max_daily_loss": "dollars of equity lost since the UTC day's start before only reducing orders pass",
    "on_daily_loss": "reduce | halt (default reduce)",
    "max_price_deviation_cents": "how far (cents) a limit may be through the visible opposite price",
}
ENVS = ("local", "demo", "prod")
BROKERS = ("rest", "fix")
FEEDS = ("auto", "ws", "rest")

# applied in paper and live mode unless [risk] says otherwise (a missing key keeps the default)
DEFAULT_LIVE_RISK = {"max_open_orders": 50, "max_orders_per_second": 10, "max_price_deviation_cents": 10}
PROD_REQUIRED_RISK = ("max_position", "max_notional", "max_daily_loss")


@dataclass
class LiveConfig:
    """A :class:`RunConfig` plus the ``[live]`` and ``[risk]`` tables (raw values, validated)."""

    run: RunConfig
    live: dict[str, Any] = field(default_factory=dict)
    risk: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> Path | None:
        return self.run.path

    @property
    def mode(self) -> str:
        return self.run.mode

    def get(self, key: str, default: Any = None) -> Any:
        return self.live.get(key, default)


def load_live_config(path: str | Path) -> LiveConfig:
    """Parse and validate a TOML run configuration that may carry ``[live]`` and ``[risk]``."""
    p, raw = read_toml(path)
    run = parse_run(p, raw)
    live = dict(raw.get("live", {}))
    risk = dict(raw.get("risk", {}))
    check_keys(live, LIVE_KEYS, "live", p)
    check_keys(risk, RISK_KEYS, "risk", p)
    for key, allowed in (("env", ENVS), ("feed", FEEDS + ("replay",)), ("on_reconcile_differences", ON_DIFFERENCES)):
        if key in live and live[key] not in allowed:
            raise ConfigError(f"{p}: [live] {key} must be one of {', '.join(allowed)}, got {live[key]!r}")
    if "broker" in live and live["broker"] not in BROKERS:
        hint = " (paper mode simulates fills: set [run] mode = \"paper\" instead)" \
            if live["broker"] in ("simulated", "sim", "paper") else ""
        raise ConfigError(f"{p}: [live] broker must be one of {', '.join(BROKERS)}, got {live['broker']!r}{hint}")
    for key in ("state_dir", "key_file"):
        if key in live:
            live[key] = str(resolve_path(p.parent, str(live[key])))
    try:
        risk_limits(risk, defaults=False)
    except (ValueError, UnitError) as exc:
        raise ConfigError(f"{p}: [risk] {exc}") from None
    return LiveConfig(run, live, risk)


def risk_limits(risk: dict[str, Any], defaults: bool = True) -> RiskLimits:
    """``[risk]`` (human units) -> :class:`RiskLimits` (framework units), with the live defaults."""
    table = dict(DEFAULT_LIVE_RISK) if defaults else {}
    table.update(risk)
    kw: dict[str, Any] = {}
    for key in ("max_position", "max_event_position"):
        if table.get(key) is not None:
            kw[key] = contracts(str(table[key]))
    for key in ("max_notional", "max_daily_loss"):
        if table.get(key) is not None:
            kw[key] = dollars(str(table[key]))
    if table.get("max_open_orders") is not None:
        kw["max_open_orders"] = int(table["max_open_orders"])
    window = float(table.get("rate_window_s", 1.0))
    if window <= 0:
        raise ValueError("rate_window_s must be positive")
    kw["rate_window"] = int(window * 1e9)
    if table.get("max_orders_per_second") is not None:
        kw["max_orders"] = max(1, int(float(table["max_orders_per_second"]) * window))
    if table.get("max_price_deviation_cents") is not None:
        kw["max_price_deviation"] = cents(str(table["max_price_deviation_cents"]))
    if "on_daily_loss" in table:
        kw["on_daily_loss"] = table["on_daily_loss"]
    return RiskLimits(**kw)
