"""OrderBook: YES/NO bid ladders, derived asks, level updates and top-of-book quotes."""

from __future__ import annotations

import pytest

from framework.model.book import OrderBook
from framework.units import DOLLAR, cents, contracts


def _book(yes=(), no=()):
    b = OrderBook("MKT-1")
    for p, s in yes:
        b.set_level(True, cents(p), contracts(s))
    for p, s in no:
        b.set_level(False, cents(p), contracts(s))
    return b


def test_empty_book():
    b = OrderBook("X")
    assert b.yes_bid is None and b.no_bid is None
    assert b.yes_ask is None and b.no_ask is None and b.mid is None
    assert b.yes_bid_size is None and b.yes_ask_size is None
    assert b.levels("yes") == [] and b.levels("no") == [] and b.ask_levels("yes") == []


def test_derived_asks_from_opposite_bids():
    b = _book(yes=[(40, 10)], no=[(55, 3)])
    assert b.yes_bid == cents(40) and b.no_bid == cents(55)
    assert b.yes_ask == DOLLAR - b.no_bid == cents(45)
    assert b.no_ask == DOLLAR - b.yes_bid == cents(60)
    assert b.yes_ask_size == contracts(3)  # YES ask size is the NO bid size
    assert b.no_ask_size == contracts(10)
    assert b.mid == (cents(40) + cents(45)) // 2


def test_mid_rounds_down():
    b = _book(yes=[(40, 1)], no=[(59, 1)])  # yes ask 41 -> mid 40.5 cents
    assert b.mid == 4050
    b = _book(yes=[("40.01", 1)], no=[(59, 1)])  # (4001 + 4100) / 2 = 4050.5 -> 4050
    assert b.mid == 4050


def test_set_level_add_update_remove_recomputes_best():
    b = _book(yes=[(40, 10), (42, 5), (38, 1)])
    assert (b.yes_bid, b.yes_bid_size) == (cents(42), contracts(5))
    b.set_level(True, cents(42), contracts(7))  # update best size
    assert (b.yes_bid, b.yes_bid_size) == (cents(42), contracts(7))
    b.set_level(True, cents(40), contracts(2))  # update a non-best level: best unchanged
    assert (b.yes_bid, b.yes_bid_size) == (cents(42), contracts(7))
    b.set_level(True, cents(42), 0)  # remove best -> next best
    assert (b.yes_bid, b.yes_bid_size) == (cents(40), contracts(2))
    b.set_level(True, cents(38), 0)  # remove a non-best level
    assert (b.yes_bid, b.yes_bid_size) == (cents(40), contracts(2))
    assert b.levels("yes") == [(cents(40), contracts(2))]
    b.set_level(True, cents(40), 0)
    assert b.yes_bid is None and b.yes_bid_size is None and b.levels("yes") == []
    assert b.no_ask is None


def test_remove_missing_level_is_noop():
    b = _book(no=[(55, 3)])
    b.set_level(False, cents(50), 0)
    assert (b.no_bid, b.no_bid_size) == (cents(55), contracts(3))
    assert b.levels("no") == [(cents(55), contracts(3))]


def test_no_ladder_independent_of_yes():
    b = _book(yes=[(40, 1)], no=[(55, 3), (57, 2)])
    assert (b.no_bid, b.no_bid_size) == (cents(57), contracts(2))
    b.set_level(False, cents(57), 0)
    assert (b.no_bid, b.no_bid_size) == (cents(55), contracts(3))
    assert (b.yes_bid, b.yes_bid_size) == (cents(40), contracts(1))


def test_levels_best_first_and_ask_levels_mirrored():
    b = _book(yes=[(38, 1), (42, 5), (40, 10)], no=[(50, 4), (55, 3), (52, 1)])
    assert b.levels("yes") == [(cents(42), contracts(5)), (cents(40), contracts(10)), (cents(38), contracts(1))]
    assert b.levels("no") == [(cents(55), contracts(3)), (cents(52), contracts(1)), (cents(50), contracts(4))]
    # buying YES takes NO bids: asks ascending
    assert b.ask_levels("yes") == [(cents(45), contracts(3)), (cents(48), contracts(1)), (cents(50), contracts(4))]
    assert b.ask_levels("no") == [(cents(58), contracts(5)), (cents(60), contracts(10)), (cents(62), contracts(1))]


def test_levels_bad_side():
    with pytest.raises(ValueError):
        OrderBook("X").levels("maybe")


def test_set_top_zero_is_empty_and_sizes_none():
    b = OrderBook("X")
    b.set_top(123, cents(40), cents(55), contracts(10), contracts(3))
    assert b.ts == 123
    assert (b.yes_bid, b.no_bid, b.yes_bid_size, b.no_bid_size) == (cents(40), cents(55), contracts(10), contracts(3))
    assert b.levels("yes") == [(cents(40), contracts(10))]
    b.set_top(124, 0, cents(55), contracts(10), contracts(3))
    assert b.yes_bid is None and b.yes_bid_size is None and b.no_ask is None
    assert b.levels("yes") == []
    b.set_top(125, cents(41), cents(56), None, None)
    assert (b.yes_bid, b.no_bid) == (cents(41), cents(56))
    assert b.yes_bid_size is None and b.no_bid_size is None
    assert b.levels("no") == [(cents(56), None)] and b.yes_ask_size is None


def test_set_top_drops_depth():
    b = _book(yes=[(40, 10), (39, 5)])
    b.set_top(1, cents(41), cents(50), contracts(1), contracts(1))
    assert b.levels("yes") == [(cents(41), contracts(1))]
    assert not b.depth_known


def test_clear_empties_both_sides():
    b = _book(yes=[(40, 10)], no=[(55, 3)])
    b.clear()
    assert b.yes_bid is None and b.no_bid is None and b.yes_bid_size is None and b.no_bid_size is None
    assert b.levels("yes") == [] and b.levels("no") == []
    b.set_level(True, cents(30), contracts(1))
    assert b.levels("yes") == [(cents(30), contracts(1))]


def test_snapshot_is_a_copy():
    b = _book(yes=[(40, 10)], no=[(55, 3)])
    snap = b.snapshot()
    b.set_level(True, cents(40), 0)
    assert snap["yes_bid"] == cents(40) and snap["yes"] == [(cents(40), contracts(10))]
    assert snap["no"] == [(cents(55), contracts(3))]


def test_touch_price_is_what_a_marketable_order_trades_at():
    b = OrderBook("M")
    b.set_top(1, 4000, 5500, 100, 200)  # YES bid 0.40, NO bid 0.55 -> YES ask 0.45, NO ask 0.60
    assert b.touch_price("yes", "buy") == 4500
    assert b.touch_price("yes", "sell") == 4000
    assert b.touch_price("no", "buy") == 6000
    assert b.touch_price("no", "sell") == 5500
    b.set_top(2, 0, 5500, None, 200)  # YES bid side empty
    assert b.touch_price("yes", "sell") is None and b.touch_price("no", "buy") is None
