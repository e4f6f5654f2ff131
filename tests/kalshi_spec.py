"""Kalshi's published OpenAPI / AsyncAPI documents, for the conformance tests.

The documents are never copied into the project: they are read from ``$KALSHI_SPEC_DIR`` or
``<repo root>/../shared/kalshi-spec/``. Tests that need them call :func:`openapi` /
:func:`asyncapi`, which skip with a clear reason when the folder is absent (CI always has it).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
OPENAPI = "openapi.yaml"
ASYNCAPI = "asyncapi.yaml"
BASE_PATH = "/trade-api/v2"  # the spec's server is https://.../trade-api/v2; its paths are relative to it


def spec_dir() -> Path:
    env = os.environ.get("KALSHI_SPEC_DIR")
    return Path(env) if env else REPO.parent / "shared" / "kalshi-spec"


def _need(name: str) -> Path:
    p = spec_dir() / name
    if not p.is_file():
        pytest.skip(f"Kalshi's {name} not found at {p} (set KALSHI_SPEC_DIR or place the spec folder at "
                    f"<repo>/../shared/kalshi-spec/); conformance tests need it")
    return p


@functools.cache
def _load(path: str) -> dict[str, Any]:
    import yaml

    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def openapi_path() -> Path:
    return _need(OPENAPI)


def openapi() -> dict[str, Any]:
    """The OpenAPI document as a dict (skips the test when absent)."""
    return _load(str(openapi_path()))


def asyncapi() -> dict[str, Any]:
    """The AsyncAPI document as a dict (skips the test when absent)."""
    return _load(str(_need(ASYNCAPI)))


def parameter(spec: dict[str, Any], path: str, method: str, name: str) -> dict[str, Any] | None:
    """The (``$ref``-resolved) parameter ``name`` of an operation, or None."""
    op = spec["paths"][path][method.lower()]
    for prm in op.get("parameters", []) + spec["paths"][path].get("parameters", []):
        if "$ref" in prm:
            prm = spec["components"]["parameters"][prm["$ref"].rsplit("/", 1)[-1]]
        if prm["name"] == name:
            return prm
    return None


def limit_maximum(path: str) -> int | None:
    """The documented maximum of ``GET path``'s ``limit`` (None when it takes no limit)."""
    spec = openapi()
    if path not in spec["paths"] or "get" not in spec["paths"][path]:
        return None
    prm = parameter(spec, path, "get", "limit")
    return None if prm is None else prm["schema"].get("maximum")
