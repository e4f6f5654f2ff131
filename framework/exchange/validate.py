"""Request validation for the local exchange: what Kalshi's API accepts, checked explicitly.

Kalshi refuses a request whose query or body breaks its published schema with a 400; so does
the local exchange. The rules below are written by hand from the documented parameter types,
ranges and enums (the spec document is not shipped with the framework and is not read at run
time); tests/test_conformance_schemathesis.py checks them against Kalshi's OpenAPI document.

A rule is a :class:`Field`. :func:`check_query` validates query strings (every value arrives
as text), :func:`check_body` validates a decoded JSON body (values keep their JSON types).
Unknown parameters and body keys are ignored, as the schema allows. Both raise
:class:`InvalidRequest` with a one-line reason naming the parameter.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BOOL",
    "INT",
    "STR",
    "SUBACCOUNT",
    "Field",
    "InvalidRequest",
    "check_body",
    "check_query",
    "enum",
    "limit",
]

INT64 = 2**63
_INT_TEXT = re.compile(r"-?[0-9]{1,19}")  # ASCII digits only: int() would also take "١٢" or "²"
MAX_SUBACCOUNT = 32  # "0 for primary, 1-32 for subaccounts" (Kalshi's parameter description)


class InvalidRequest(ValueError):
    """The request breaks the API's schema; ``str(e)`` says which parameter and why."""


@dataclass(frozen=True)
class Field:
    """One parameter or body key.

    ``kind``: ``int`` (64-bit, ``lo``..``hi``), ``str``, ``bool``, ``enum`` (one of
    ``values``), ``array`` (of ``items``) or ``object`` (with ``fields``).
    """

    kind: str
    lo: int | None = None
    hi: int | None = None
    values: tuple[Any, ...] = ()
    required: bool = False
    nullable: bool = False
    items: Field | None = None
    fields: Mapping[str, Field] = field(default_factory=dict)

    def req(self) -> Field:
        """The same rule, required."""
        return Field(self.kind, self.lo, self.hi, self.values, True, self.nullable, self.items, self.fields)


INT = Field("int")
STR = Field("str")
BOOL = Field("bool")
SUBACCOUNT = Field("int", 0, MAX_SUBACCOUNT)


def enum(*values: Any) -> Field:
    return Field("enum", values=tuple(values))


def limit(most: int) -> Field:
    """A page size: 1..``most`` (each endpoint documents its own maximum)."""
    return Field("int", 1, most)


def _range(name: str, x: int, f: Field) -> None:
    if not -INT64 <= x < INT64:
        raise InvalidRequest(f"{name} is out of the 64-bit integer range")
    if (f.lo is not None and x < f.lo) or (f.hi is not None and x > f.hi):
        if f.hi is None:
            raise InvalidRequest(f"{name} must be at least {f.lo}, got {x}")
        if f.lo is None:
            raise InvalidRequest(f"{name} must be at most {f.hi}, got {x}")
        raise InvalidRequest(f"{name} must be between {f.lo} and {f.hi}, got {x}")


def check_query(query: Mapping[str, list[str]], rules: Mapping[str, Field]) -> None:
    """Validate query parameters (the last value of a repeated one counts, as the handlers read it)."""
    for name, f in rules.items():
        vals = query.get(name)
        if not vals:
            if f.required:
                raise InvalidRequest(f"{name} is required")
            continue
        v = vals[-1]
        if f.kind == "int" or (f.kind == "enum" and f.values and isinstance(f.values[0], int)):
            if not _INT_TEXT.fullmatch(v):
                raise InvalidRequest(f"{name} must be an integer, got {v[:40]!r}")
            x = int(v)
            _range(name, x, f)
            if f.kind == "enum" and x not in f.values:
                raise InvalidRequest(f"{name} must be one of {', '.join(map(str, f.values))}, got {x}")
        elif f.kind == "bool":
            if v.lower() not in ("true", "false"):
                raise InvalidRequest(f"{name} must be true or false, got {v[:40]!r}")
        elif f.kind == "enum":
            if v not in f.values:
                raise InvalidRequest(f"{name} must be one of {', '.join(map(str, f.values))}, got {v[:40]!r}")


_JSON_TYPE = {"int": "an integer", "str": "a string", "bool": "true or false", "array": "an array", "object": "an object"}


def check_body(body: Any, rules: Mapping[str, Field], where: str = "body") -> None:
    """Validate a decoded JSON object against ``rules`` (recursively for arrays and objects)."""
    if not isinstance(body, dict):
        raise InvalidRequest(f"{where} must be a JSON object")
    for name, f in rules.items():
        path = name if where == "body" else f"{where}.{name}"
        if name not in body:
            if f.required:
                raise InvalidRequest(f"{path} is required")
            continue
        _check_value(body[name], f, path)


def _check_value(v: Any, f: Field, path: str) -> None:
    if v is None:
        if f.nullable:
            return
        raise InvalidRequest(f"{path} must not be null (leave it out instead)")
    k = f.kind
    if k == "enum":
        if isinstance(v, bool) or v not in f.values or type(v) is not type(f.values[0]):
            raise InvalidRequest(f"{path} must be one of {', '.join(map(str, f.values))}")
        return
    ok = {
        "int": isinstance(v, int) and not isinstance(v, bool),
        "str": isinstance(v, str),
        "bool": isinstance(v, bool),
        "array": isinstance(v, list),
        "object": isinstance(v, dict),
    }[k]
    if not ok:
        raise InvalidRequest(f"{path} must be {_JSON_TYPE[k]}")
    if k == "int":
        _range(path, v, f)
    elif k == "array" and f.items is not None:
        for i, item in enumerate(v):
            _check_value(item, f.items, f"{path}[{i}]")
    elif k == "object":
        check_body(v, f.fields, path)
