"""Cash and positions, in exact integers.

A position in one market holds YES and NO contracts. With netting on (Kalshi's default), holding
both legs is impossible: each YES+NO pair is worth exactly $1 at settlement, so it is closed at
once for $1 and the position is one signed number, ``+n`` YES or ``-n`` NO. With netting off the
two legs are kept apart until settlement. Selling more of a leg than is held opens the other leg
at the complementary price (a YES sell at ``p`` is a NO buy at ``$1 - p`` on Kalshi's one book).

Cost basis is tracked per leg so realized and settled PnL can be reported; reducing a leg removes
a proportional share of its basis (floored; the remainder stays with the contracts still held, so
totals are conserved exactly).
"""

from __future__ import annotations

from ..units import CONTRACT, DOLLAR, notional

__all__ = ["PAYOUT_PER_QTY", "SETTLE_RESULTS", "Portfolio", "Position"]

PAYOUT_PER_QTY = DOLLAR // CONTRACT  # money units paid per quantity unit of a winning contract
SETTLE_RESULTS = ("yes", "no", "void", "scalar")  # Kalshi's market results (docs/data-format.md)


class Position:
    """Holdings of one market. ``net`` is the signed position: +YES / -NO (quantity units)."""

    __slots__ = ("ticker", "yes", "no", "yes_cost", "no_cost", "realized", "settled", "fees")

    def __init__(self, ticker: str) -> None:
        self.ticker = ticker
        self.yes = 0
        self.no = 0
        self.yes_cost = 0  # money units paid for the YES contracts still held
        self.no_cost = 0
        self.realized = 0  # gross PnL closed by trading and netting (fees excluded)
        self.settled = 0  # gross PnL closed by settlement
        self.fees = 0

    @property
    def net(self) -> int:
        return self.yes - self.no

    def value(self, yes_price: int) -> int:
        """Mark-to-market value if YES is worth ``yes_price`` (NO worth ``DOLLAR - yes_price``)."""
        return (self.yes * yes_price + self.no * (DOLLAR - yes_price)) // CONTRACT

    def __repr__(self) -> str:
        return f"Position({self.ticker} yes={self.yes} no={self.no} realized={self.realized})"


class Portfolio:
    """Cash plus positions. All mutation goes through ``apply_fill`` and ``settle``."""

    def __init__(self, starting_cash: int, netting: bool = True) -> None:
        self.starting_cash = starting_cash
        self.cash = starting_cash
        self.netting = netting
        self.positions: dict[str, Position] = {}
        self.fees = 0

    def position(self, ticker: str) -> Position:
        p = self.positions.get(ticker)
        if p is None:
            p = self.positions[ticker] = Position(ticker)
        return p

    def net(self, ticker: str) -> int:
        p = self.positions.get(ticker)
        return 0 if p is None else p.yes - p.no

    def apply_fill(self, ticker: str, side: str, action: str, price: int, qty: int, fee: int) -> None:
        """Book one fill: ``action`` ``side`` ``qty`` at ``price`` (price on ``side``), paying ``fee``."""
        pos = self.positions.get(ticker)
        if pos is None:
            pos = self.positions[ticker] = Position(ticker)
        self.cash -= fee
        self.fees += fee
        pos.fees += fee
        if action == "buy":
            self._buy(pos, side == "yes", price, qty)
        else:
            held = pos.yes if side == "yes" else pos.no
            close = qty if qty <= held else held
            if close:
                self._sell(pos, side == "yes", price, close)
            if qty > close:  # selling what we don't hold opens the other leg
                self._buy(pos, side != "yes", DOLLAR - price, qty - close)
        if self.netting and pos.yes and pos.no:
            self._net_pairs(pos)

    def _buy(self, pos: Position, yes: bool, price: int, qty: int) -> None:
        cost = notional(price, qty)
        self.cash -= cost
        if yes:
            pos.yes += qty
            pos.yes_cost += cost
        else:
            pos.no += qty
            pos.no_cost += cost

    def _sell(self, pos: Position, yes: bool, price: int, qty: int) -> None:
        proceeds = (price * qty) // CONTRACT  # rounded down: against us, mirror of notional()
        self.cash += proceeds
        if yes:
            basis = pos.yes_cost * qty // pos.yes
            pos.yes -= qty
            pos.yes_cost -= basis
        else:
            basis = pos.no_cost * qty // pos.no
            pos.no -= qty
            pos.no_cost -= basis
        pos.realized += proceeds - basis

    def _net_pairs(self, pos: Position) -> None:
        pairs = pos.yes if pos.yes < pos.no else pos.no
        yes_basis = pos.yes_cost * pairs // pos.yes
        no_basis = pos.no_cost * pairs // pos.no
        pos.yes -= pairs
        pos.no -= pairs
        pos.yes_cost -= yes_basis
        pos.no_cost -= no_basis
        payout = pairs * PAYOUT_PER_QTY
        self.cash += payout
        pos.realized += payout - yes_basis - no_basis

    def settle(self, ticker: str, result: str, value: int | None = None) -> tuple[int, int]:
        """Pay the position out and close it. Returns (payout, settled net).

        ``yes``/``no``: $1 per winning contract. ``void``: the cost of the contracts held is
        returned (fees are not). ``scalar``: each YES contract pays ``value`` ($0.0001 units, in
        ``[0, DOLLAR]``) and each NO contract ``DOLLAR - value``, per leg rounded down (a
        fractional $0.0001 is never paid out).
        """
        if result not in SETTLE_RESULTS:
            raise ValueError(f"settlement result must be one of {', '.join(SETTLE_RESULTS)}, got {result!r}")
        if result == "scalar" and (type(value) is not int or not 0 <= value <= DOLLAR):
            raise ValueError(f"a scalar settlement needs value = the YES payout per contract, an int in "
                             f"[0, {DOLLAR}] ($0.0001 units), got {value!r}")
        pos = self.positions.get(ticker)
        if pos is None or (pos.yes == 0 and pos.no == 0):
            return 0, 0
        net = pos.yes - pos.no
        if result == "void":
            payout = pos.yes_cost + pos.no_cost
        elif result == "scalar":
            payout = pos.yes * value // CONTRACT + pos.no * (DOLLAR - value) // CONTRACT
        else:
            payout = (pos.yes if result == "yes" else pos.no) * PAYOUT_PER_QTY
        self.cash += payout
        pos.settled += payout - pos.yes_cost - pos.no_cost
        pos.yes = pos.no = pos.yes_cost = pos.no_cost = 0
        return payout, net

    # ---- reporting ------------------------------------------------------------------------
    @property
    def realized_pnl(self) -> int:
        return sum(p.realized for p in self.positions.values())

    @property
    def settled_pnl(self) -> int:
        return sum(p.settled for p in self.positions.values())

    def open_value(self, marks: dict[str, tuple[int | None, int | None]]) -> int:
        """Value of open positions marked at the bid of each held leg (never at the ask):
        ``marks[ticker] = (yes_bid, no_bid)``; a leg with no bid is worth 0."""
        total = 0
        for t, p in self.positions.items():
            if p.yes or p.no:
                yb, nb = marks.get(t, (None, None))
                total += (p.yes * (yb or 0) + p.no * (nb or 0)) // CONTRACT
        return total
