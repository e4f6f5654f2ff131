"""Logging for runs: simulated time on every line, strategy lines shown by default, ``run.log``.

In a backtest the wall clock means nothing: a line logged from ``on_book`` should say when *in
the data* it happened. The engine registers itself as the run's clock (``use_clock``) and
``SimTimeFilter`` stamps each record with that time (``%(sim_time)s``). Live and paper runs use
the wall clock as their engine clock, so the same format holds in every mode.

Levels: strategy loggers (``strategy.<Class>``) log at INFO by default; the framework's own loggers
(``framework.*``) at WARNING, or DEBUG with ``--debug`` (order and fill flow from the engine);
third-party libraries (websockets frame dumps, urllib3) stay at WARNING even with ``--debug``.
"""

from __future__ import annotations

import datetime as _dt
import logging
import sys
from collections.abc import Callable
from pathlib import Path

__all__ = ["FORMAT", "LevelsFilter", "SimTimeFilter", "configure_cli_logging", "ensure_strategy_output", "fmt_sim_time",
           "quiet_console", "run_log", "use_clock"]

FORMAT = "%(sim_time)s %(levelname)s %(name)s: %(message)s"
STRATEGY_LOGGER = "strategy"
FRAMEWORK_LOGGER = "framework"

_clock: Callable[[], int] | None = None  # the running engine's clock (ns), None between runs


def use_clock(clock: Callable[[], int] | None) -> None:
    """Set (or clear, with ``None``) the clock log lines are stamped with."""
    global _clock
    _clock = clock


def fmt_sim_time(ns: int) -> str:
    """``2026-11-19 14:00:00.250`` (UTC) for int ns; exact to the millisecond, no float rounding."""
    t = _dt.datetime.fromtimestamp(ns // 1_000_000_000, tz=_dt.UTC)
    return t.strftime("%Y-%m-%d %H:%M:%S.") + f"{(ns // 1_000_000) % 1000:03d}"


class SimTimeFilter(logging.Filter):
    """Adds ``record.sim_time``: the running engine's time, or the wall clock outside a run."""

    def filter(self, record: logging.LogRecord) -> bool:
        clock = _clock
        ns = clock() if clock is not None else None
        if not ns:  # outside a run, or before the first event
            ns = int(record.created * 1_000_000_000)
        record.sim_time = fmt_sim_time(ns)
        return True


def _formatter_handler(handler: logging.Handler) -> logging.Handler:
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(SimTimeFilter())
    return handler


def configure_cli_logging(debug: bool = False) -> None:
    """What ``kalshi`` does at start: one stderr handler with simulated time; strategy lines at
    INFO; framework lines at DEBUG with ``--debug``; libraries at WARNING."""
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_kalshi_cli", False):
            root.removeHandler(h)
    handler = _formatter_handler(logging.StreamHandler(sys.stderr))
    ours = logging.DEBUG if debug else logging.INFO
    handler.addFilter(LevelsFilter(strategy=ours, framework=logging.DEBUG if debug else logging.WARNING))
    handler._kalshi_cli = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    # loggers pass our own INFO lines on (run.log keeps them); each handler filters what it shows
    logging.getLogger(STRATEGY_LOGGER).setLevel(ours)
    logging.getLogger(FRAMEWORK_LOGGER).setLevel(ours)


def ensure_strategy_output() -> None:
    """From Python (no ``kalshi`` CLI): make ``self.log.info`` visible unless the user configured
    logging themselves (any handler on the root or the strategy logger)."""
    slog = logging.getLogger(STRATEGY_LOGGER)
    if slog.level == logging.NOTSET:
        slog.setLevel(logging.INFO)
    if logging.getLogger().handlers or slog.handlers:
        return
    slog.addHandler(_formatter_handler(logging.StreamHandler(sys.stderr)))


class quiet_console:  # noqa: N801 - used as a context manager
    """``with quiet_console():`` the ``kalshi`` stderr handler shows warnings and errors only (a
    sweep runs many backtests at once: their INFO lines go to each run's ``run.log`` instead)."""

    def __init__(self) -> None:
        self._filter = LevelsFilter(logging.WARNING, logging.WARNING)
        self._handlers: list[logging.Handler] = []

    def __enter__(self) -> None:
        self._handlers = [h for h in logging.getLogger().handlers if getattr(h, "_kalshi_cli", False)]
        for h in self._handlers:
            h.addFilter(self._filter)

    def __exit__(self, *exc) -> None:
        for h in self._handlers:
            h.removeFilter(self._filter)


class run_log:  # noqa: N801 - used as a context manager, reads like a function
    """``with run_log(folder, debug):`` writes the run's log lines to ``folder/run.log``: strategy
    lines at INFO, framework lines at INFO (DEBUG with ``debug``), anything at WARNING or above."""

    def __init__(self, folder: str | Path, debug: bool = False) -> None:
        self.path = Path(folder) / "run.log"
        self.debug = debug
        self.handler: logging.Handler | None = None
        self._saved: int | None = None

    def __enter__(self) -> Path:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handler = _formatter_handler(logging.FileHandler(self.path, mode="w", encoding="utf-8"))
        ours = logging.DEBUG if self.debug else logging.INFO
        handler.addFilter(LevelsFilter(strategy=ours, framework=ours))
        self.handler = handler
        logging.getLogger().addHandler(handler)
        fw = logging.getLogger(FRAMEWORK_LOGGER)
        self._saved = fw.level
        wanted = logging.DEBUG if self.debug else logging.INFO
        if fw.getEffectiveLevel() > wanted:  # the file gets framework INFO even when stderr does not
            fw.setLevel(wanted)
        return self.path

    def __exit__(self, *exc) -> None:
        if self.handler is not None:
            logging.getLogger().removeHandler(self.handler)
            self.handler.close()
        if self._saved is not None:
            logging.getLogger(FRAMEWORK_LOGGER).setLevel(self._saved)


class LevelsFilter(logging.Filter):
    """A handler's levels by origin: strategy lines, framework lines, and everything else (third
    party libraries, WARNING by default, so ``--debug`` shows our flow and not websocket frames)."""

    def __init__(self, strategy: int, framework: int, other: int = logging.WARNING) -> None:
        super().__init__()
        self.strategy, self.framework, self.other = strategy, framework, other

    def filter(self, record: logging.LogRecord) -> bool:
        name = record.name
        if name == STRATEGY_LOGGER or name.startswith(STRATEGY_LOGGER + "."):
            return record.levelno >= self.strategy
        if name == FRAMEWORK_LOGGER or name.startswith(FRAMEWORK_LOGGER + "."):
            return record.levelno >= self.framework
        return record.levelno >= self.other
