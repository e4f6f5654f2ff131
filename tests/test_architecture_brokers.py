"""Layering: the broker package never imports the live runner (issue 14, item 10).

The live brokers (REST, journaled FIX) and what they share live in ``framework.brokers.live``;
``framework.live`` (runner, journal, reconciliation, CLI) builds them and may import them, never
the other way round. Checked on the source (every import statement, also inside functions), so a
lazy import cannot hide an upward dependency.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "framework"


def _imports(path: Path) -> list[str]:
    """Absolute module names imported by ``path`` (relative imports resolved)."""
    pkg = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts[:-1])
    out: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                out.append(".".join(base + ([node.module] if node.module else [])))
            else:
                out.append(node.module or "")
    return out


@pytest.mark.parametrize("path", sorted((ROOT / "brokers").rglob("*.py")), ids=lambda p: p.name)
def test_brokers_never_import_the_live_runner(path: Path) -> None:
    upward = [m for m in _imports(path) if m == "framework.live" or m.startswith("framework.live.")
              or m.startswith("framework.cli")]
    assert not upward, f"{path.relative_to(ROOT.parent)} imports {upward}"


def test_old_import_paths_still_work() -> None:
    """Documented names keep working through thin re-exports."""
    from framework.brokers.live.fix import JournaledFixBroker
    from framework.brokers.live.rest import RestBroker

    assert importlib.import_module("framework.brokers.rest").RestBroker is RestBroker
    assert importlib.import_module("framework.live.fix_broker").JournaledFixBroker is JournaledFixBroker
