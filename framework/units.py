"""Exact integer units for prices, money and quantities.

Everything the engine touches is an ``int``:

* prices, cash, fees and PnL: 1 unit = $0.0001 (``CENT = 100``, ``DOLLAR = 10_000``), which
  covers Kalshi's sub-cent price levels;
* quantities (order sizes, fills, positions, book sizes, trade counts): 1 unit = 0.01 contract
  (``CONTRACT = 100``), because Kalshi trades fractional contracts with two decimals.

The helpers below turn human numbers into units and back. They accept ``int``, ``str`` and
``Decimal``; a ``float`` is accepted only when it is exactly representable at the unit's
precision (``0.5`` is fine, ``0.1`` is not because ``0.1`` is really 0.1000000000000000055...).
Anything else raises :class:`UnitError` with a message that says what to pass instead.
"""

from __future__ import annotations

from decimal import Context, Decimal, Inexact, InvalidOperation, Rounded

__all__ = [
    "CENT",
    "CONTRACT",
    "DOLLAR",
    "UnitError",
    "cents",
    "contracts",
    "dollars",
    "fmt_contracts",
    "fmt_money",
    "fmt_price",
    "money_to_decimal",
    "notional",
    "parse_contracts",
    "parse_dollars",
    "qty_to_decimal",
]

DOLLAR = 10_000  # money/price units per dollar ($0.0001 each)
CENT = 100  # money/price units per cent
CONTRACT = 100  # quantity units per contract (0.01 contract each)


class UnitError(ValueError):
    """A human number could not be converted exactly into framework units."""


def _to_decimal(x: object, what: str) -> Decimal:
    if isinstance(x, bool):
        raise UnitError(f"{what}: got a bool ({x!r}); pass an int, str or Decimal")
    if isinstance(x, Decimal):
        d = x
    elif isinstance(x, int):
        d = Decimal(x)
    elif isinstance(x, str):
        s = x.strip().replace("_", "")
        if s.startswith("$"):
            s = s[1:]
        try:
            d = Decimal(s)
        except InvalidOperation:
            raise UnitError(f"{what}: {x!r} is not a number; pass e.g. '0.56' or 10") from None
    elif isinstance(x, float):
        d = Decimal(x)  # exact binary value; checked against the precision below
    else:
        raise UnitError(f"{what}: cannot convert {type(x).__name__} {x!r}; pass an int, str or Decimal")
    if not d.is_finite():
        raise UnitError(f"{what}: {x!r} is not a finite number")
    return d


_EXACT = Context(prec=400, traps=[Inexact, Rounded, InvalidOperation])  # scaling must never round


def _scale(x: object, scale: int, what: str, unit_name: str) -> int:
    try:
        d = _EXACT.multiply(_to_decimal(x, what), scale)
    except (Inexact, Rounded, InvalidOperation):
        raise UnitError(f"{what}: {x!r} has too many digits to convert exactly") from None
    i = int(d)
    if d != i:
        hint = " (floats like 0.1 are inexact: pass a string such as '0.1')" if isinstance(x, float) else ""
        raise UnitError(f"{what}: {x!r} is finer than the framework's precision of {unit_name}{hint}")
    return i


def dollars(x: object) -> int:
    """Dollars -> money/price units. ``dollars("0.56") == 5600``; precision $0.0001."""
    return _scale(x, DOLLAR, "dollars", "$0.0001")


def cents(x: object) -> int:
    """Cents -> money/price units. ``cents(56) == 5600``; ``cents("56.5") == 5650``."""
    return _scale(x, CENT, "cents", "0.01 cent")


def contracts(x: object) -> int:
    """Contracts -> quantity units. ``contracts(10) == 1000``; precision 0.01 contract."""
    return _scale(x, CONTRACT, "contracts", "0.01 contract")


def parse_dollars(x: object) -> int:
    """Parse a Kalshi ``*_dollars`` field (string or number) into price/money units."""
    return dollars(x)


def parse_contracts(x: object) -> int:
    """Parse a Kalshi ``*_fp`` field (string or number) into quantity units."""
    return contracts(x)


def notional(price: int, qty: int) -> int:
    """Exact value of ``qty`` quantity units at ``price``, in money units, rounded up.

    ``price * qty`` is in units of $0.0001 x 0.01 contract; dividing by ``CONTRACT`` gives money
    units. With whole-cent prices or whole contracts it is always exact; a fractional contract at
    a sub-cent price can leave a remainder below $0.0001, which is rounded up (against the
    payer). Callers use it for both sides of a trade so accounting stays consistent.
    """
    return -((-price * qty) // CONTRACT)


def money_to_decimal(units: int) -> Decimal:
    """Money/price units -> exact ``Decimal`` dollars (for JSON and reports)."""
    return Decimal(units) / DOLLAR


def qty_to_decimal(units: int) -> Decimal:
    """Quantity units -> exact ``Decimal`` contracts."""
    return Decimal(units) / CONTRACT


def fmt_money(units: int | None) -> str:
    """``-12345`` -> ``'-$1.2345'``; whole cents print with two decimals (``'$0.56'``)."""
    if units is None:
        return "-"
    sign = "-" if units < 0 else ""
    a = abs(units)
    whole, frac = divmod(a, DOLLAR)
    if frac % CENT == 0:
        return f"{sign}${whole:,}.{frac // CENT:02d}"
    return f"{sign}${whole:,}.{frac:04d}"


def fmt_price(units: int | None) -> str:
    """A price in dollars, e.g. ``'$0.56'`` or ``'$0.5650'``; ``'-'`` when missing."""
    return fmt_money(units)


def fmt_contracts(units: int | None) -> str:
    """``1000`` -> ``'10.00'`` contracts; ``'-'`` when missing."""
    if units is None:
        return "-"
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(units), CONTRACT)
    return f"{sign}{whole:,}.{frac:02d}"
