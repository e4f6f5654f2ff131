"""Errors raised inside strategy code, described so a user can find them.

A bare ``KeyError: 'missing'`` after a million events says nothing. When a strategy callback
raises, the engine wraps the exception in a ``StrategyError`` that names the callback, the
market it was handling and the simulated time, and keeps the original traceback. Nothing here
runs until something has gone wrong: the engine loop pays nothing for it.
"""

from __future__ import annotations

import traceback
from pathlib import Path
from types import TracebackType
from typing import Any

from ..logs import fmt_sim_time

__all__ = ["StrategyError", "strategy_error", "write_error_files"]


class StrategyError(RuntimeError):
    """An exception raised in strategy code (the original is ``__cause__``).

    ``callback`` is the strategy method the engine called (``on_book``, ``on_timer``...),
    ``ticker`` the market it was handling (``None`` when not about one market, e.g. ``on_start``),
    ``ts`` the simulated time in ns. ``partial`` is set by the runner to the results up to the
    failure when it could build them.
    """

    def __init__(self, strategy_name: str, callback: str, ticker: str | None, ts: int,
                 original: BaseException, detail: str | None = None) -> None:
        self.strategy_name = strategy_name
        self.callback = callback
        self.ticker = ticker
        self.ts = ts
        self.original = original
        self.detail = detail
        self.partial: Any = None
        self.traceback_text = "".join(traceback.format_exception(type(original), original,
                                                                 original.__traceback__))
        super().__init__(self._message())

    def _message(self) -> str:
        what = f"{type(self.original).__name__}: {self.original}".rstrip(": ")
        where = [f"in {self.callback}"]
        if self.ticker:
            where.append(f"ticker {self.ticker}")
        if self.detail:
            where.append(self.detail)
        where.append(f"simulated time {_fmt_ts(self.ts)}")
        return f"strategy {self.strategy_name} raised {what} ({', '.join(where)})"


def write_error_files(err: StrategyError, folder: str | Path) -> Path:
    """Keep the failure in the run folder: ``error.txt`` (message and traceback), and the same at
    the end of ``run.log``. Returns the folder."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    (out / "error.txt").write_text(f"{err}\n\n{err.traceback_text}")
    with open(out / "run.log", "a", encoding="utf-8") as log_file:
        log_file.write(f"{fmt_sim_time(err.ts)} ERROR framework: {err}\n{err.traceback_text}")
    return out


def strategy_error(exc: BaseException, strategy: Any, now: int) -> StrategyError | None:
    """A ``StrategyError`` for ``exc`` if it was raised from one of ``strategy``'s methods (or
    code they called), else ``None`` (a framework error stays what it is)."""
    frame_info = _callback_frame(exc.__traceback__, strategy)
    if frame_info is None:
        return None
    callback, args = frame_info
    ticker, detail = _about(callback, args)
    return StrategyError(type(strategy).__name__, callback, ticker, now, exc, detail)


def _callback_frame(tb: TracebackType | None, strategy: Any) -> tuple[str, list[Any]] | None:
    """The outermost frame running a method of ``strategy``: the callback the engine called,
    with its argument values (the book, trade, fill, order, settlement or timer name)."""
    while tb is not None:
        frame = tb.tb_frame
        if frame.f_locals.get("self") is strategy:
            code = frame.f_code
            names = code.co_varnames[1:code.co_argcount]  # the arguments after self
            return code.co_name, [frame.f_locals.get(n) for n in names]
        tb = tb.tb_next
    return None


def _about(callback: str, args: list[Any]) -> tuple[str | None, str | None]:
    if not args:
        return None, None
    first = args[0]
    if callback == "on_timer" and isinstance(first, str):
        return None, f"timer {first!r}"
    ticker = getattr(first, "ticker", None)
    return (ticker if isinstance(ticker, str) else None), None


def _fmt_ts(ts: int) -> str:
    return f"{fmt_sim_time(ts)} UTC" if ts else "before the first event"
