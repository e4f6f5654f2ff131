"""Portfolio: cash, signed positions, netting, realized/settled PnL and settlement."""

from __future__ import annotations

import pytest

from framework.model.portfolio import PAYOUT_PER_QTY, Portfolio
from framework.units import CONTRACT, DOLLAR, cents, contracts, dollars

C0 = dollars(1000)


def pf(netting=True):
    return Portfolio(C0, netting=netting)


def test_payout_per_qty_unit_is_one_dollar_per_contract():
    assert PAYOUT_PER_QTY * CONTRACT == DOLLAR


def test_buy_yes():
    p = pf()
    p.apply_fill("M", "yes", "buy", cents(40), contracts(10), fee=dollars("0.17"))
    assert p.cash == C0 - dollars(4) - dollars("0.17")
    assert p.net("M") == contracts(10)
    pos = p.positions["M"]
    assert (pos.yes, pos.no, pos.yes_cost) == (contracts(10), 0, dollars(4))
    assert p.fees == pos.fees == dollars("0.17")


def test_buy_no_is_negative_position():
    p = pf()
    p.apply_fill("M", "no", "buy", cents(70), contracts(5), fee=0)
    assert p.net("M") == -contracts(5)
    assert p.cash == C0 - dollars("3.5")
    assert p.net("OTHER") == 0


def test_sell_yes_realizes_pnl():
    p = pf()
    p.apply_fill("M", "yes", "buy", cents(40), contracts(10), fee=0)
    p.apply_fill("M", "yes", "sell", cents(55), contracts(4), fee=dollars("0.07"))
    assert p.net("M") == contracts(6)
    assert p.cash == C0 - dollars(4) + dollars("2.2") - dollars("0.07")
    assert p.realized_pnl == dollars("0.6")  # 4 x (0.55 - 0.40), fees excluded
    assert p.positions["M"].yes_cost == dollars("2.4")


def test_sell_no_realizes_pnl():
    p = pf()
    p.apply_fill("M", "no", "buy", cents(30), contracts(10), fee=0)
    p.apply_fill("M", "no", "sell", cents(20), contracts(10), fee=0)
    assert p.net("M") == 0
    assert p.cash == C0 - dollars(1)
    assert p.realized_pnl == -dollars(1)


def test_selling_more_than_held_opens_other_leg():
    p = pf()
    p.apply_fill("M", "yes", "buy", cents(40), contracts(3), fee=0)
    p.apply_fill("M", "yes", "sell", cents(45), contracts(5), fee=0)
    # 3 closed at 0.45, 2 NO opened at 0.55
    assert p.net("M") == -contracts(2)
    pos = p.positions["M"]
    assert (pos.yes, pos.no, pos.no_cost) == (0, contracts(2), dollars("1.1"))
    assert p.cash == C0 - dollars("1.2") + dollars("1.35") - dollars("1.1")
    assert p.realized_pnl == dollars("0.15")


def test_selling_with_nothing_held_opens_other_leg():
    p = pf()
    p.apply_fill("M", "no", "sell", cents(30), contracts(10), fee=0)  # = buy YES at 0.70
    assert p.net("M") == contracts(10)
    assert p.cash == C0 - dollars(7)


def test_netting_closes_pairs_for_a_dollar():
    p = pf()
    p.apply_fill("M", "yes", "buy", cents(40), contracts(10), fee=0)
    p.apply_fill("M", "no", "buy", cents(55), contracts(4), fee=0)
    pos = p.positions["M"]
    assert (pos.yes, pos.no) == (contracts(6), 0)
    # paid 4 + 2.2, received 4 x $1 for the pairs
    assert p.cash == C0 - dollars(4) - dollars("2.2") + dollars(4)
    assert p.realized_pnl == dollars(4) - dollars("1.6") - dollars("2.2")
    assert pos.yes_cost == dollars("2.4") and pos.no_cost == 0


def test_netting_flips_side():
    p = pf()
    p.apply_fill("M", "yes", "buy", cents(40), contracts(2), fee=0)
    p.apply_fill("M", "no", "buy", cents(50), contracts(5), fee=0)
    pos = p.positions["M"]
    assert (pos.yes, pos.no) == (0, contracts(3))
    assert p.net("M") == -contracts(3)


def test_netting_off_keeps_both_legs():
    p = pf(netting=False)
    p.apply_fill("M", "yes", "buy", cents(40), contracts(10), fee=0)
    p.apply_fill("M", "no", "buy", cents(55), contracts(4), fee=0)
    pos = p.positions["M"]
    assert (pos.yes, pos.no) == (contracts(10), contracts(4))
    assert p.net("M") == contracts(6)
    assert p.cash == C0 - dollars(4) - dollars("2.2")
    assert p.realized_pnl == 0


@pytest.mark.parametrize("result, payout", [("yes", dollars(10)), ("no", 0)])
def test_settle_long_yes(result, payout):
    p = pf()
    p.apply_fill("M", "yes", "buy", cents(40), contracts(10), fee=dollars("0.17"))
    got = p.settle("M", result)
    assert got == (payout, contracts(10))
    assert p.cash == C0 - dollars(4) - dollars("0.17") + payout
    assert p.settled_pnl == payout - dollars(4)
    assert p.net("M") == 0
    assert p.settle("M", result) == (0, 0)  # already closed: pays nothing twice


@pytest.mark.parametrize("result, payout", [("no", dollars(5)), ("yes", 0)])
def test_settle_long_no(result, payout):
    p = pf()
    p.apply_fill("M", "no", "buy", cents(70), contracts(5), fee=0)
    assert p.settle("M", result) == (payout, -contracts(5))
    assert p.cash == C0 - dollars("3.5") + payout
    assert p.settled_pnl == payout - dollars("3.5")


def test_settle_fractional_contracts_exact():
    p = pf()
    p.apply_fill("M", "yes", "buy", cents(50), contracts("2.37"), fee=0)
    payout, _ = p.settle("M", "yes")
    assert payout == dollars("2.37")


def test_settle_netting_off_pays_only_winning_leg():
    p = pf(netting=False)
    p.apply_fill("M", "yes", "buy", cents(40), contracts(10), fee=0)
    p.apply_fill("M", "no", "buy", cents(55), contracts(4), fee=0)
    payout, net = p.settle("M", "no")
    assert payout == dollars(4) and net == contracts(6)
    assert p.cash == C0 - dollars(4) - dollars("2.2") + dollars(4)


def test_settle_unknown_market_pays_nothing():
    assert pf().settle("NOPE", "yes") == (0, 0)


def test_pnl_identity_after_settlement():
    p = pf()
    fills = [("yes", "buy", 40, 10), ("no", "buy", 55, 4), ("yes", "sell", 47, 3), ("no", "sell", 20, 5)]
    fee_total = 0
    for i, (side, action, px, q) in enumerate(fills):
        p.apply_fill("M", side, action, cents(px), contracts(q), fee=i * 100)
        fee_total += i * 100
    p.settle("M", "yes")
    assert p.fees == fee_total
    assert p.cash - C0 == p.realized_pnl + p.settled_pnl - p.fees


def test_open_value_marks_at_bid():
    p = pf(netting=False)
    p.apply_fill("A", "yes", "buy", cents(40), contracts(10), fee=0)
    p.apply_fill("B", "no", "buy", cents(30), contracts(5), fee=0)
    p.apply_fill("C", "yes", "buy", cents(50), contracts(1), fee=0)
    marks = {"A": (cents(45), cents(50)), "B": (cents(60), cents(35)), "C": (None, cents(40))}
    # A: 10 x 0.45 YES bid; B: 5 x 0.35 NO bid; C: no YES bid -> 0; never the ask
    assert p.open_value(marks) == dollars("4.5") + dollars("1.75")
    assert p.open_value({}) == 0


def test_open_value_ignores_closed_positions():
    p = pf()
    p.apply_fill("A", "yes", "buy", cents(40), contracts(10), fee=0)
    p.apply_fill("A", "yes", "sell", cents(40), contracts(10), fee=0)
    assert p.open_value({"A": (cents(45), cents(50))}) == 0
