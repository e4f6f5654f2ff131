"""The live runner: one place where a mode becomes a feed, a broker and a clock.

* ``backtest``: delegates to :func:`framework.backtest.run_backtest` (replay feed, simulated
  broker, simulated clock);
* ``paper``: a live feed + :class:`~framework.brokers.simulated.SimulatedBroker` + the wall
  clock, behind the risk gate;
* ``live``: a live feed + :class:`~framework.brokers.live.rest.RestBroker` (or the FIX broker) + the
  wall clock, behind the risk gate, every order journaled before it is sent, state rebuilt from
  the journal and reconciled with the exchange before the strategy gets control.

The same :class:`~framework.core.engine.Engine` loop runs every mode; nothing in the strategy
changes. Inconsistent setups are refused before anything connects (:func:`resolve_settings`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.config import ConfigError
from ..kalshi.envs import Environment, resolve_env
from ..model.orders import ACTIVE_STATUSES
from ..units import fmt_contracts, fmt_money
from .config import LiveConfig, risk_limits
from .killswitch import KillSwitch
from .prodgate import PROD_FLAG, check_prod_gate, fix_host
from .risk import RiskGate

__all__ = ["PROD_FLAG", "LiveRunner", "Settings", "resolve_settings"]

log = logging.getLogger(__name__)


@dataclass
class Settings:
    """A validated run setup (what :func:`resolve_settings` decided)."""

    cfg: LiveConfig
    mode: str
    env: Environment
    broker: str  # simulated | rest | fix
    feed: str  # auto | ws | rest
    state_dir: Path
    out: Path
    duration_s: float | None = None
    markets: list[str] | None = None
    series: list[str] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    strategy: str | None = None
    fix_port: int | None = None  # broker = "fix": the acceptor's port (required for env local)
    key_id: str | None = None  # --key-id (else [live] key_id, the environment, ...: framework.kalshi.keys)
    key_file: str | None = None  # --key-file
    yes_really_trade_prod: bool = False  # the opt-in for destinations that may be production (prodgate)

    def option(self, key: str, default: Any = None) -> Any:
        return self.cfg.live.get(key, default)


def _duration_s(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    from ..core.engine import parse_duration

    return parse_duration(str(value)) / 1e9


def resolve_settings(cfg: LiveConfig, *, mode: str | None = None, env: str | None = None,
                     yes_really_trade_prod: bool = False, state_dir: str | None = None, out: str | None = None,
                     duration: Any = None, broker: str | None = None, feed: str | None = None,
                     port: int | None = None, markets: list[str] | None = None,
                     params: dict[str, Any] | None = None, strategy: str | None = None,
                     fix_port: int | None = None, key_id: str | None = None,
                     key_file: str | None = None) -> Settings:
    """Validate the combination of config and command-line choices; refuse inconsistent setups."""
    where = cfg.path or "config"
    mode = mode or cfg.mode
    if mode not in ("backtest", "paper", "live"):
        raise ConfigError(f"mode must be backtest, paper or live, got {mode!r}")
    live = cfg.live
    feed_kind = feed or live.get("feed", "auto")
    broker_kind = broker or live.get("broker")
    if feed_kind == "replay" and mode != "backtest":
        raise ConfigError(f"{where}: mode {mode!r} needs a live feed (auto, ws or rest); a replay feed is for "
                          "backtests (mode = \"backtest\")")
    if feed_kind not in ("auto", "ws", "rest", "replay"):
        raise ConfigError(f"feed must be auto, ws or rest, got {feed_kind!r}")
    if mode == "backtest":
        if broker_kind in ("rest", "fix") and broker is not None:
            raise ConfigError(f"a backtest replays recorded data with the simulated broker; the live broker "
                              f"{broker_kind!r} cannot trade on a replay feed. Use --mode live")
        broker_kind = "simulated"
    elif mode == "paper":
        if broker in ("rest", "fix"):
            raise ConfigError(f"paper mode fills orders with the simulated broker; --broker {broker} sends real "
                              "orders. Use --mode live for a live broker")
        broker_kind = "simulated"
    else:
        broker_kind = broker_kind or "rest"
        if broker_kind not in ("rest", "fix"):
            raise ConfigError(f"live mode needs broker = 'rest' or 'fix', got {broker_kind!r} (for simulated "
                              "fills on live data use mode = \"paper\")")
    env_name = env or live.get("env", "local")
    environment = Environment("none", "", "")
    if mode != "backtest":
        try:
            environment = resolve_env(env_name, live.get("rest_url"), live.get("ws_url"),
                                      port=port if port is not None else live.get("port"))
        except ValueError as e:
            raise ConfigError(str(e)) from None
    fix_port = fix_port if fix_port is not None else live.get("fix_port")
    if broker_kind == "fix":
        fix_session = str(live.get("fix_session", "NR")).upper()
        if fix_session not in ("NR", "RT"):
            raise ConfigError(f"{where}: [live] fix_session must be 'NR' or 'RT', got {fix_session!r}")
        if fix_port is not None and (not isinstance(fix_port, int) or isinstance(fix_port, bool) or fix_port <= 0):
            raise ConfigError(f"{where}: the FIX port must be a positive integer, got {fix_port!r}")
        if environment.name == "local" and fix_port is None:
            raise ConfigError(f"{where}: broker = 'fix' on the local exchange needs its FIX port: pass --fix-port "
                              "PORT or set [live] fix_port (start the exchange with `kalshi exchange --fix-port "
                              "9878`; it prints the port)")
    mkts = markets or cfg.run.markets
    if mode != "backtest" and not mkts and not cfg.run.series:
        raise ConfigError(f"{where}: {mode} mode needs [run] markets (tickers) or series to trade")
    if mode == "backtest" and cfg.run.catalog is None:
        raise ConfigError(f"{where}: a backtest needs [run] catalog")
    out_dir, sd = run_folders(cfg, mode, out, state_dir)
    p = dict(cfg.run.params)
    p.update(params or {})
    settings = Settings(cfg, mode, environment, broker_kind, feed_kind, sd, out_dir,
                        _duration_s(duration if duration is not None else live.get("duration")), mkts,
                        cfg.run.series, p, strategy or cfg.run.strategy,
                        fix_port if broker_kind == "fix" else None, key_id, key_file,
                        bool(yes_really_trade_prod or live.get("yes_really_trade_prod") is True))
    check_prod_gate(settings)  # by destination: REST, WebSocket and FIX hosts (framework.live.prodgate)
    return settings


def run_folders(cfg: LiveConfig, mode: str, out: str | Path | None = None,
                state_dir: str | Path | None = None) -> tuple[Path, Path]:
    """The run folder and state directory of ``mode``. Folders given on the command line are used
    as they are; folders from the config (or the default ``runs/<config name>``) belong to live
    runs, and a paper run of the same config gets its own: ``<out>-paper`` (and its state inside
    it, or ``<state_dir>-paper`` when the config puts the state elsewhere), so paper never writes
    over a live run's journal, kill file or summary."""
    name = cfg.path.stem if cfg.path is not None else "run"
    live = cfg.live
    base_out = cfg.run.out or Path("runs") / name
    base_sd = Path(live["state_dir"]) if live.get("state_dir") else base_out / "state"
    paper = mode == "paper"
    if out:
        out_dir = Path(out)
    else:
        out_dir = base_out.with_name(base_out.name + "-paper") if paper else base_out
    if state_dir:
        return out_dir, Path(state_dir)
    if not live.get("state_dir"):
        return out_dir, out_dir / "state"
    if not paper:
        return out_dir, base_sd
    try:  # the config's state lives inside its run folder: mirror it inside the paper folder
        return out_dir, out_dir / base_sd.relative_to(base_out)
    except ValueError:
        return out_dir, base_sd.with_name(base_sd.name + "-paper")


# ---------------------------------------------------------------------------------------------
class _GuardedFeed:
    """Passes the feed's chunks through; ends the run when the runner says stop."""

    def __init__(self, feed, runner: LiveRunner) -> None:
        self.feed = feed
        self.runner = runner

    def subscribe(self, tickers) -> None:
        self.feed.subscribe(tickers)

    def close(self) -> None:
        self.feed.close()

    def chunks(self):
        runner = self.runner
        try:
            for chunk in self.feed.chunks():
                yield chunk
                runner.apply_settlements()  # on the engine thread, between chunks
                if runner.should_stop():
                    break
            else:
                runner.stop_reason = runner.stop_reason or "the feed ended"
        finally:
            runner.shutdown_orders()


class LiveRunner:
    """Runs one strategy in paper or live mode (see the module docstring).

    Test and embedding hooks: ``strategy`` (an instance), ``feed`` (any DataFeed), ``broker``,
    ``client``/``signer``, ``market_rows`` (engine market metadata), ``clock``,
    ``stop_when`` (a predicate checked after every chunk), ``install_signals``.
    """

    def __init__(self, settings: Settings, *, strategy=None, feed=None, broker=None, client=None, signer=None,
                 market_rows: list[dict] | None = None, clock: Callable[[], int] = time.time_ns,
                 stop_when: Callable[[], bool] | None = None, install_signals: bool = True,
                 echo: Callable[[str], None] | None = print) -> None:
        if settings.mode == "backtest":
            raise ValueError("LiveRunner runs paper and live modes; backtests go through run_backtest")
        check_prod_gate(settings, client=client, broker=broker)  # the Python path is gated too
        self.s = settings
        self.strategy = strategy
        self.feed = feed
        self.broker = broker
        self.client = client
        self.signer = signer
        self.market_rows = market_rows
        self.clock = clock
        self.stop_when = stop_when
        self.install_signals = install_signals
        self.echo = echo or (lambda _msg: None)
        self.stop_reason: str | None = None
        self.killswitch = KillSwitch(settings.state_dir)
        self.journal = None
        self.engine = None
        self.gate: RiskGate | None = None
        self.report = None
        self.session = 0
        self._deadline: float | None = None
        self._shutdown_done = False
        self.cancelled_on_exit = 0
        self.alerts: list[dict[str, Any]] = []  # market_alert calls (also journaled as "alert")
        self.left_resting: list[str] = []  # client ids the exchange still shows resting after the stop
        self.stop_errors: list[str] = []
        self.summary: dict[str, Any] | None = None
        self.settlement_watcher = None

    # ---- wiring ---------------------------------------------------------------------------------
    def _signer(self):
        if self.signer is not None:
            return self.signer
        from ..kalshi.keys import resolve_credentials

        s = self.s
        creds = resolve_credentials(s.env.name, key_id=s.key_id, key_file=s.key_file,
                                    config_key_id=s.option("key_id"), config_key_file=s.option("key_file"),
                                    config_where=str(s.cfg.path) if s.cfg.path is not None else None)
        self.signer = creds.signer()
        return self.signer

    def _client(self):
        if self.client is None:
            from ..kalshi.rest import KalshiRestClient

            wt = float(self.s.option("write_timeout", 5.0))
            self.client = KalshiRestClient(self.s.env, self._signer(), timeout=(3.05, wt),
                                           tier=self.s.option("tier", "basic"))
        return self.client

    def _markets(self) -> list[dict]:
        if self.market_rows is not None:
            return self.market_rows
        client = self._client()
        found = []
        if self.s.markets:
            found = list(client.iter_markets(tickers=list(self.s.markets), mve_filter=None))
            missing = sorted(set(self.s.markets) - {m.ticker for m in found})
            if missing:
                raise ConfigError(f"market(s) not found on {self.s.env.name}: {', '.join(missing[:5])}")
        else:
            for s in self.s.series or ():
                found.extend(client.iter_markets(series_ticker=s, status="open"))
        rows = []
        now = self.clock()
        for m in found:
            close = m.close_time if m.close_time is not None and m.close_time > now else None
            rows.append({"ticker": m.ticker, "event_ticker": m.event_ticker,
                         "series_ticker": m.event_ticker.split("-", 1)[0], "open_ts": None,
                         "close_ts": close, "title": m.title})
        if not rows:
            raise ConfigError(f"no open markets to trade on {self.s.env.name} for series {self.s.series}")
        return rows

    def _feed(self, tickers: list[str]):
        if self.feed is not None:
            return self.feed
        from ..data.live import make_live_feed

        return make_live_feed(self.s.env, self.s.feed, signer=self._signer(), client=self._client(),
                              markets=tickers, poll_interval=float(self.s.option("poll_interval", 1.0)))

    def _strategy(self):
        if self.strategy is not None:
            return self.strategy
        from ..strategy_loader import load_strategy

        if not self.s.strategy:
            raise ConfigError("no strategy given: set [run] strategy in the config or pass --strategy module:Class")
        path = self.s.cfg.run.path  # a config's strategy is found next to the config too
        self.strategy = load_strategy(self.s.strategy, [path.parent] if path is not None else [])(self.s.params)
        return self.strategy

    def _fees(self):
        from ..model.fees import fee_model_from_options

        return fee_model_from_options(self.s.cfg.run.broker)

    def _make_broker(self):
        if self.broker is not None:
            return self.broker
        if self.s.broker == "simulated":
            from ..brokers.simulated import BROKER_OPTIONS, SimulatedBroker

            b = self.s.cfg.run.broker
            return SimulatedBroker(self._fees(), latency=b.get("latency", 0),
                                   **{k: b[k] for k in BROKER_OPTIONS if k in b})
        if self.s.broker == "rest":
            from ..brokers.live.rest import RestBroker

            return RestBroker(self._client(), journal=self.journal, session=self.session,
                              ws_url=self.s.env.ws_url if self.s.option("ws_fills", True) else None,
                              signer=self._signer(),
                              fill_poll_interval=float(self.s.option("fill_poll_interval", 1.0)),
                              order_poll_interval=float(self.s.option("order_poll_interval", 2.0)),
                              marketable_cost_cap=bool(self.s.option("marketable_cost_cap", True)))
        if self.s.broker == "fix":
            from ..brokers.live.fix import JournaledFixBroker

            return JournaledFixBroker(self._fix_config(), self._signer(), client=self._client(),
                                      journal=self.journal, session_no=self.session, fees=self._fees())
        raise ConfigError(f"unknown broker {self.s.broker!r}")

    def _fix_config(self):
        """The FIX session of ``broker = "fix"``: SenderCompID = the API key id; sequence numbers in
        ``<state_dir>/fix-seq.sqlite`` (they survive a restart; NR sessions reset them at logon)."""
        from ..kalshi.fix import FixConfig

        s = self.s
        session = str(s.option("fix_session", "NR")).upper()
        s.state_dir.mkdir(parents=True, exist_ok=True)
        kw: dict[str, Any] = {"store_path": str(s.state_dir / "fix-seq.sqlite"),
                              "ack_timeout_s": float(s.option("write_timeout", 5.0)),
                              "unresolved_alert_s": float(s.option("unresolved_alert", 60.0))}
        if s.option("fix_heartbeat") is not None:
            kw["heartbeat_s"] = int(s.option("fix_heartbeat"))
        if s.fix_port is not None:
            kw["port"] = int(s.fix_port)
        key_id = self._signer().key_id
        if s.env.name == "local":
            return FixConfig.kalshi(key_id, session, env="demo", host=fix_host(s), tls=False, **kw)
        return FixConfig.kalshi(key_id, session, env=s.env.name, host=fix_host(s), **kw)

    def market_alert(self, ticker: str | None, reason: str) -> None:
        """A broker needs a human for ``ticker`` (None: for every market): an order unresolved too
        long, or an implausible exchange report it quarantined. The market goes REDUCING (only
        orders that shrink a position), the alert is journaled and printed; the run goes on."""
        alert = {"ticker": ticker, "reason": reason}
        if alert in self.alerts:
            return  # the same payload seen again (a fill poll repeats): alerted once
        self.alerts.append(alert)
        if self.gate is not None:
            if ticker is None:
                self.gate.reduce_only(reason)
            else:
                self.gate.reduce_market(ticker, reason)
        if self.journal is not None:
            self.journal.event("alert", {"ticker": ticker, "reason": reason, "risk": "REDUCING"})
        self.echo(f"ALERT {ticker or 'all markets'}: {reason}; now REDUCING (orders that shrink a position only)")

    # ---- control ----------------------------------------------------------------------------------
    def stop(self, reason: str = "stopped") -> None:
        """Ask the run to stop (thread-safe): same path as the kill switch."""
        self.killswitch.trigger(reason)

    def should_stop(self) -> bool:
        if self.killswitch.triggered:
            self.stop_reason = self.stop_reason or self.killswitch.reason
            return True
        if self._deadline is not None and time.monotonic() >= self._deadline:
            self.stop_reason = self.stop_reason or "duration reached"
            return True
        if self.stop_when is not None and self.stop_when():
            self.stop_reason = self.stop_reason or "stop condition"
            return True
        return False

    def _pump(self) -> None:
        eng = self.engine
        eng.broker.poll()
        eng._drain()

    def shutdown_orders(self, timeout: float | None = None) -> None:
        """Halt new orders, cancel every open order and wait (once, at most ``timeout`` seconds,
        default ``stop_timeout`` = 30) until the exchange shows none of the run's orders resting.

        Queued creates are dropped first (``broker.halt``) and cancels go ahead of any still
        queued, so a stop under load is not stuck behind them. Orders still resting at the end
        are listed in ``left_resting`` (``summary["resting_on_exchange"]``; ``kalshi live`` then
        exits 3)."""
        if self._shutdown_done or self.engine is None:
            return
        self._shutdown_done = True
        eng = self.engine
        reason = self.stop_reason or "stopping"
        if self.gate is not None:
            self.gate.halt(reason)
        if self.journal is not None:
            self.journal.event("stop", {"reason": reason})
        broker = eng.broker
        if hasattr(broker, "halt"):
            broker.halt(f"the run is stopping ({reason})")
        if not self.s.option("cancel_on_exit", True):
            return
        if timeout is None:
            timeout = float(self.s.option("stop_timeout", 30.0))
        deadline = time.monotonic() + timeout
        open_before = [o for o in eng.open.values() if o.status in ACTIVE_STATUSES]
        self.cancelled_on_exit = len(open_before)
        if open_before:
            if hasattr(broker, "cancel_all"):
                broker.cancel_all()
            else:
                for o in open_before:
                    broker.cancel(o)
            self._pump()
            while time.monotonic() < deadline:
                live = getattr(broker, "live", None)
                if not eng.open and (live is None or not live):
                    break
                if live is not None:
                    pending = [o for o in live.values() if o.exchange_order_id is not None]
                    if not pending and getattr(broker, "idle", True):
                        break  # only orders whose outcome is still being resolved remain
                    if hasattr(broker, "cancel_all"):
                        broker.cancel_all()
                time.sleep(0.02)
                self._pump()
        if self.s.mode == "live" and self.journal is not None and self.client is not None:
            self._clear_exchange(deadline)

    def _clear_exchange(self, deadline: float) -> None:
        """Until ``deadline``: list the exchange's resting orders, cancel those of this run (the
        journal knows them) directly, and list again. What still rests is ``left_resting``."""
        from ..kalshi.errors import KalshiError

        client, journal = self._client(), self.journal
        resting: list = []
        tries = 0
        while True:
            try:
                resting = [k for k in client.iter_orders(status="resting")
                           if k.client_order_id and journal.order(k.client_order_id) is not None]
            except KalshiError as e:
                self.stop_errors.append(f"could not list resting orders: {e}")
                log.warning("stop: could not list the exchange's resting orders (%s)", e)
                break
            if not resting or (tries and time.monotonic() >= deadline):
                break  # (one direct cancel round even when the broker's cancels used up the time)
            tries += 1
            journal.event("stop_cancel", {"orders": [k.client_order_id for k in resting]})
            ids = [k.order_id for k in resting]
            for i in range(0, len(ids), 20):  # Kalshi batch cancels take at most 20 orders
                try:
                    client.batch_cancel_orders(ids[i:i + 20])
                except KalshiError as e:
                    log.warning("stop: batch cancel failed (%s)", e)
            time.sleep(0.1)
            self._pump()
        self.left_resting = sorted(k.client_order_id for k in resting)
        if self.left_resting:
            self.echo(f"STOP INCOMPLETE: {len(self.left_resting)} order(s) of this run still rest on the exchange: "
                      + ", ".join(self.left_resting[:20]) + (" ..." if len(self.left_resting) > 20 else ""))

    # ---- the run ------------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        from ..core.engine import Engine, parse_duration
        from ..model.portfolio import Portfolio

        s = self.s
        self.killswitch.start(install_signals=self.install_signals)
        self.killswitch.status = {"state": "starting", "mode": s.mode, "env": s.env.name}
        feed = None
        try:
            strategy = self._strategy()
            rows = self._markets()
            tickers = [r["ticker"] for r in rows]
            if s.mode == "live":
                from .journal import Journal

                self.journal = Journal(s.state_dir / "journal.sqlite")
                self.session = self.journal.new_session()
                self.journal.event("start", {"mode": s.mode, "env": s.env.name, "broker": s.broker,
                                             "strategy": s.strategy, "markets": tickers})
            broker = self._make_broker()
            self.gate = RiskGate(risk_limits(s.cfg.risk))
            if hasattr(broker, "on_alert"):
                broker.on_alert = self.market_alert
            if self.journal is not None:
                journal = self.journal
                self.gate.on_state_change = lambda st, why: journal.event("risk_state", {"state": st, "reason": why})
                baseline = journal.get("risk_day")  # survive a restart: the daily loss keeps counting
                if baseline is not None:
                    self.gate.restore_day(baseline["day"], baseline["equity"])
                self.gate.on_new_day = lambda day, eq: journal.set("risk_day", {"day": day, "equity": eq})
            cash = s.cfg.run.starting_cash
            portfolio = Portfolio(cash if cash is not None else 10_000 * 10_000,
                                  netting=s.cfg.run.broker.get("netting", True))
            feed = self._feed(tickers)
            interval = s.cfg.run.equity_interval
            self.engine = eng = Engine(strategy, _GuardedFeed(feed, self), broker, portfolio, rows,
                                       equity_interval=parse_duration(interval) if interval else None,
                                       clock=self.clock, risk=self.gate)
            if s.duration_s is not None:
                self._deadline = time.monotonic() + s.duration_s
            if s.mode == "live":
                self._reconcile(strategy)
            self._start_settlement_watcher(tickers)
            self.killswitch.status = {"state": "running", "mode": s.mode, "env": s.env.name,
                                      "session": self.session}
            self.echo(f"{s.mode} run of {s.strategy or type(strategy).__name__} on {s.env.name} "
                      f"({len(tickers)} market(s), broker {s.broker}); state in {s.state_dir}. "
                      f"Stop with `kalshi kill` or Ctrl-C.")
            try:
                eng.run()
            finally:
                self.shutdown_orders()
        except BaseException as e:
            self.stop_reason = self.stop_reason or f"error: {type(e).__name__}: {e}"
            if self.journal is not None:
                try:
                    self.journal.event("error", {"error": f"{type(e).__name__}: {e}"})
                except Exception:
                    pass
            raise
        finally:
            self._finish(feed)
        return self.summary

    def _start_settlement_watcher(self, tickers: list[str]) -> None:
        interval = self.s.option("settlement_poll", 30)
        if not interval or self.client is None:  # off, or an embedded run without a REST client
            return
        from .settlement import SettlementWatcher

        done = self.journal.settled_tickers() if self.journal is not None else ()
        self.settlement_watcher = SettlementWatcher(self.client, tickers, float(interval), done=done,
                                                    empty_result=self.s.option("empty_result", "void"))
        self.settlement_watcher.start()

    def apply_settlements(self) -> None:
        """Settle the markets Kalshi has finalized since the last call (engine thread only)."""
        watcher = self.settlement_watcher
        if watcher is None:
            return
        for ticker, result, value in watcher.take():
            settlement = self.engine.settle_market(ticker, result, value=value)
            if settlement is None:
                continue
            self.echo(f"{ticker} settled {result.upper()}: paid {fmt_money(settlement.payout)} for "
                      f"{fmt_contracts(abs(settlement.position))} contract(s)")
            if self.journal is not None:
                self.journal.record_settlement(settlement, self.engine.portfolio)

    def _reconcile(self, strategy) -> None:
        from .reconcile import reconcile

        eng = self.engine
        broker = eng.broker
        strategy._engine = eng
        eng.now = self.clock()
        if getattr(broker, "start_before_reconcile", False):
            # FIX: log on first, so reports from now on queue up; reconciliation then reads the
            # exchange (REST) and the queued reports apply on top without counting anything twice
            broker.start()
        self.report = reconcile(eng, broker, self.journal, self._client(), session=self.session,
                                adopt_positions=bool(self.s.option("adopt_exchange_positions", True)),
                                starting_cash=self.s.cfg.run.starting_cash,
                                netting=self.s.cfg.run.broker.get("netting", True),
                                on_differences=self.s.option("on_reconcile_differences", "reducing"),
                                empty_result=self.s.option("empty_result", "void"))
        self.echo(str(self.report))
        if hasattr(broker, "set_fill_cursor"):
            broker.set_fill_cursor(int(time.time()))
        if hasattr(broker, "start"):
            broker.start()
        strategy.on_reconciled(self.report)
        eng._drain()

    def _finish(self, feed) -> None:
        eng = self.engine
        summary: dict[str, Any] = {"mode": self.s.mode, "env": self.s.env.name, "session": self.session,
                                   "reason": self.stop_reason, "state_dir": str(self.s.state_dir)}
        if self.settlement_watcher is not None:
            self.settlement_watcher.stop()
        if eng is not None:
            pf = eng.portfolio
            broker = eng.broker
            summary.update({
                "orders": len(eng.order_log),
                "fills": len(eng.fills),
                "cancelled_on_exit": self.cancelled_on_exit,
                "open_orders_left": sorted(o.client_order_id for o in eng.open.values()),
                "positions": {t: fmt_contracts(p.yes - p.no) for t, p in sorted(pf.positions.items())
                              if p.yes or p.no},
                "cash": fmt_money(pf.cash),
                "cash_units": pf.cash,
                "fees": fmt_money(pf.fees),
                "settlements": [{"ticker": x.ticker, "result": x.result, "payout": fmt_money(x.payout)}
                                for x in eng.settlements],
                "risk": self.gate.summary() if self.gate is not None else None,
                "reconciled_ok": self.report.ok if self.report is not None else None,
                "reconcile_differences": self.report.differences() if self.report is not None else None,
                "reconcile_action": self.report.action if self.report is not None else None,
                "alerts": self.alerts,
                "resting_on_exchange": self.left_resting,
                "stop_errors": self.stop_errors,
            })
            if hasattr(broker, "stats"):
                summary["broker"] = dict(broker.stats, duplicate_fills=getattr(broker, "duplicate_fills", 0))
            if hasattr(broker, "stop"):
                try:
                    broker.stop()
                except Exception:
                    log.exception("broker stop failed")
        if feed is not None:
            try:
                feed.close()
            except Exception:
                log.exception("feed close failed")
        if self.journal is not None:
            try:
                self.journal.event("summary", summary)
                self.journal.close()
            except Exception:
                log.exception("journal close failed")
        try:
            self.s.state_dir.mkdir(parents=True, exist_ok=True)
            tmp = self.s.state_dir / "summary.json.tmp"
            tmp.write_text(json.dumps(summary, indent=2, default=str) + "\n")
            tmp.replace(self.s.state_dir / "summary.json")
        except OSError:
            log.exception("could not write summary.json")
        if eng is not None:
            try:
                from ..analysis.results import Result

                Result.from_engine(eng, {"strategy": self.s.strategy, "params": self.s.params,
                                         "markets": len(eng.market_info), "start": None,
                                         "end": None, "mode": self.s.mode}).write(self.s.out)
            except Exception as e:
                log.warning("could not write run results to %s: %s", self.s.out, e)
        if self.client is not None:
            try:
                self.client.close()
            except Exception:
                pass
        self.summary = summary
        self.killswitch.finished(summary)
        self.killswitch.close()
