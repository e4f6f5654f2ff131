"""Find a Strategy subclass from what a user typed: ``module:Class`` or ``path/to/file.py:Class``.

A config run from another folder must find the strategy next to its config file, so modules are
looked up in the current directory, then in the extra ``search_dirs`` (the config file's folder),
then on the normal import path. Every failure is one sentence that says what was looked for and
where.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

from .strategy import Strategy

__all__ = ["StrategyLoadError", "load_strategy"]

_EXAMPLE = "e.g. 'strategies.momentum:Momentum' or 'path/to/my_strategy.py:MyStrategy'"


class StrategyLoadError(ValueError):
    """The strategy named in a config or on the command line cannot be loaded."""


def load_strategy(spec: str | type[Strategy], search_dirs: Iterable[str | Path] = ()) -> type[Strategy]:
    """A Strategy subclass from a class, ``"module:Class"`` or ``"path/to/file.py:Class"``.

    Modules and relative file paths are looked up in the current directory first, then in each of
    ``search_dirs`` (for a config file: its folder), then on ``sys.path``.
    """
    if isinstance(spec, type):
        if not issubclass(spec, Strategy):
            raise TypeError(f"{spec.__name__} is not a framework.Strategy subclass")
        return spec
    if not isinstance(spec, str):
        raise StrategyLoadError(f"strategy must be a Strategy subclass or a string ({_EXAMPLE}), got {spec!r}")
    where, sep, cls_name = spec.strip().rpartition(":")
    if not sep or not where or not cls_name.isidentifier():
        raise StrategyLoadError(f"strategy {spec!r} is not of the form 'module:Class' ({_EXAMPLE})")
    dirs = _dirs(search_dirs)
    if where.endswith(".py") or "/" in where or "\\" in where:
        module = _load_file(where, dirs)
    else:
        module = _import_module(where, dirs)
    cls = getattr(module, cls_name, None)
    if cls is None:
        found = sorted(n for n, v in vars(module).items()
                       if isinstance(v, type) and issubclass(v, Strategy) and v is not Strategy)
        hint = f"; Strategy classes there: {', '.join(found)}" if found else ""
        raise StrategyLoadError(f"{where} has no class {cls_name!r}{hint}")
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise StrategyLoadError(f"{spec} is not a framework.Strategy subclass")
    if module.__name__.startswith("_strategy_"):  # loaded from a file: name it by its path in results
        cls.__kalshi_source__ = f"{module.__file__}:{cls_name}"
    return cls


def _dirs(search_dirs: Iterable[str | Path]) -> list[Path]:
    out: list[Path] = []
    for d in [Path.cwd(), *map(Path, search_dirs)]:
        d = d.resolve()
        if d not in out:
            out.append(d)
    return out


def _import_module(name: str, dirs: list[Path]) -> ModuleType:
    for d in dirs:  # the current directory and the config's folder, ahead of site-packages
        if str(d) not in sys.path:
            sys.path.insert(0, str(d))
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if name == missing or name.startswith(missing + "."):
            looked = ", ".join(str(d) for d in dirs)
            raise StrategyLoadError(f"cannot import strategy module {name!r}: not found in {looked} or installed "
                                    f"packages; check the 'strategy' setting, {_EXAMPLE}") from None
        raise StrategyLoadError(f"strategy module {name!r} failed to import: {exc}") from exc
    except Exception as exc:  # a syntax or import-time error inside the user's module
        raise StrategyLoadError(f"strategy module {name!r} failed to import: {type(exc).__name__}: {exc}") from exc


def _load_file(where: str, dirs: list[Path]) -> ModuleType:
    path = Path(where).expanduser()
    candidates = [path] if path.is_absolute() else [d / path for d in dirs]
    found = next((c for c in candidates if c.is_file()), None)
    if found is None:
        tried = ", ".join(str(c) for c in candidates)
        raise StrategyLoadError(f"strategy file {where!r} not found (tried {tried})")
    found = found.resolve()
    # one module per file, named after its path, so two files called strategy.py do not clash
    name = f"_strategy_{found.stem}_{hashlib.sha1(str(found).encode()).hexdigest()[:8]}"
    if name in sys.modules:
        return sys.modules[name]
    if str(found.parent) not in sys.path:  # the file's own sibling imports work as when run there
        sys.path.insert(0, str(found.parent))
    module_spec = importlib.util.spec_from_file_location(name, found)
    if module_spec is None or module_spec.loader is None:
        raise StrategyLoadError(f"strategy file {found} cannot be loaded as a Python module")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise StrategyLoadError(f"strategy file {found} failed to import: {type(exc).__name__}: {exc}") from exc
    return module
