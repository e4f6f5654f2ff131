"""Fee schedules and waivers stored in the catalog and applied at each fill's time by backtests."""

from __future__ import annotations

import pytest
from helpers import at, make_catalog, market
from test_simulated_broker import TK, Script, q

from framework.backtest import run_backtest
from framework.data.catalog import CatalogError
from framework.data.fees_catalog import (
    multiplier_str,
    read_fee_schedule,
    read_fee_waivers,
    write_fee_schedule,
    write_fee_waivers,
)
from framework.units import cents, contracts, dollars


def test_roundtrip_and_exact_multipliers(tmp_path):
    write_fee_schedule(tmp_path, "M", "quadratic", 1.0,
                       [{"id": "c2", "scheduled_ts": at(20), "fee_type": "quadratic_with_maker_fees",
                         "fee_multiplier": 2},
                        {"id": "c1", "scheduled_ts": at(10), "fee_type": "quadratic", "fee_multiplier": 0.5}])
    write_fee_waivers(tmp_path, "M", {TK: at(5)})
    sched = read_fee_schedule(tmp_path)
    assert sched.at("M", at(0)) == ("quadratic", 1_000_000)
    assert sched.at("M", at(10)) == ("quadratic", 500_000)
    assert sched.at("M", at(25)) == ("quadratic_with_maker_fees", 2_000_000)
    assert read_fee_waivers(tmp_path) == {TK: at(5)}
    assert read_fee_schedule(tmp_path, ["OTHER"]) is None
    assert multiplier_str(1.0) == "1" and multiplier_str(0.25) == "0.25"
    with pytest.raises(CatalogError, match="fee_multiplier"):
        multiplier_str("x")
    with pytest.raises(CatalogError, match="fee_type"):
        write_fee_schedule(tmp_path, "M", "weird", 1)


def _buy_each_second(times):
    return Script({t: (lambda s, b: s.buy(TK, contracts(10))) for t in times})


def test_backtest_applies_the_schedule_in_force_at_each_fill(tmp_path):
    # the market's series (M) changes: x0.5 from t=10, maker fees x2 from t=20; waiver until t=3
    make_catalog(tmp_path, markets=[market(TK)], quotes=[q(t, 40, 50, 100, 100) for t in (1, 5, 12, 22)])
    write_fee_schedule(tmp_path, "M", "quadratic", 1,
                       [{"scheduled_ts": at(10), "fee_type": "quadratic", "fee_multiplier": "0.5"},
                        {"scheduled_ts": at(20), "fee_type": "quadratic_with_maker_fees", "fee_multiplier": 2}])
    write_fee_waivers(tmp_path, "M", {TK: at(3)})
    s = _buy_each_second([1, 5, 12, 22])
    run_backtest(s, tmp_path, equity_interval=None)
    # 10 @ $0.50 taker: waived, $0.18, x0.5 = 0.0875 -> $0.09, x2 = 0.35
    assert [f.fee for f in s.fills] == [0, dollars("0.18"), dollars("0.09"), dollars("0.35")]
    s2 = _buy_each_second([1, 5, 12, 22])
    run_backtest(s2, tmp_path, equity_interval=None, fee_schedule=False)
    assert [f.fee for f in s2.fills] == [dollars("0.18")] * 4


def test_backtest_without_fee_tables_uses_the_configured_coefficients(tmp_path):
    make_catalog(tmp_path, markets=[market(TK)], quotes=[q(1, 40, 50, 100, 100)])
    s = _buy_each_second([1])
    run_backtest(s, tmp_path, equity_interval=None, fee_taker="0.035")
    assert s.fills[0].fee == dollars("0.09") and s.fills[0].price == cents(50)
