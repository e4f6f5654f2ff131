"""kalshi import book: L2 logs of signed changes or insert/cancel actions become level totals."""

from __future__ import annotations

import pytest

from framework.data.catalog import CatalogError, read_table
from framework.data.importer import import_files


def _book(tmp_path, text: str, **kw):
    src = tmp_path / "l2.csv"
    src.write_text(text)
    import_files("book", [src], tmp_path / "cat", price_unit="cents", **kw)
    return read_table(tmp_path / "cat", "book")


def test_insert_cancel_log_keeps_what_still_rests(tmp_path):
    b = _book(tmp_path, "ts,ticker,side,price,size,action\n"
                        "2026-11-20T15:00:00Z,KXA-1,yes,40,5,insert\n"
                        "2026-11-20T15:00:01Z,KXA-1,yes,40,3,insert\n"   # a second order at the level
                        "2026-11-20T15:00:02Z,KXA-1,yes,40,5,cancel\n"   # the first one leaves: 3 rest
                        "2026-11-20T15:00:03Z,KXA-1,no,55,7,add\n"
                        "2026-11-20T15:00:04Z,KXA-1,no,55,,cancel\n"     # a cancel without a size: level gone
                        "2026-11-20T15:00:05Z,KXA-1,yes,40,9,update\n"   # set the total
                        "2026-11-20T15:00:06Z,KXA-1,yes,40,1,reduce\n")
    assert b["size"].tolist() == [500, 800, 300, 700, 0, 900, 800]
    assert not b["snapshot"].any()


def test_signed_deltas_and_snapshots_restart_the_levels(tmp_path):
    b = _book(tmp_path, "t,ticker,side,price,delta,snap,total\n"
                        "2026-11-20T15:00:00Z,KXA-1,yes,40,,true,10\n"    # snapshot: 10 at 40 (totals)
                        "2026-11-20T15:00:00Z,KXA-1,no,50,,true,4\n"
                        "2026-11-20T15:00:01Z,KXA-1,yes,40,-4,false,\n"
                        "2026-11-20T15:00:01Z,KXA-2,yes,30,2,false,\n"     # another market, its own levels
                        "2026-11-20T15:00:02Z,KXA-1,yes,41,2,false,\n"
                        "2026-11-20T15:00:03Z,KXA-1,yes,40,,true,1\n"     # new snapshot: 41 is gone
                        "2026-11-20T15:00:04Z,KXA-1,yes,41,5,false,\n",   # so it restarts from 0
              mapping={"ts": "t", "size_delta": "delta", "snapshot": "snap", "size": "total"})
    assert b["size"].tolist() == [1000, 400, 600, 200, 200, 100, 500]


def test_a_level_below_zero_names_the_line(tmp_path):
    with pytest.raises(CatalogError, match=r"l2.csv:line 3: the yes level at price 4000 of KXA-1 would go below "
                                           r"zero \(-200\).*start with a snapshot"):
        _book(tmp_path, "ts,ticker,side,price,size_delta\n"
                        "2026-11-20T15:00:00Z,KXA-1,yes,40,3\n"
                        "2026-11-20T15:00:01Z,KXA-1,yes,40,-5\n")
    assert not (tmp_path / "cat" / "book").exists()


def test_unknown_action_names_the_line(tmp_path):
    with pytest.raises(CatalogError, match=r"l2.csv:line 3: column action has 'fill'; use insert/add"):
        _book(tmp_path, "ts,ticker,side,price,size,action\n"
                        "2026-11-20T15:00:00Z,KXA-1,yes,40,3,insert\n"
                        "2026-11-20T15:00:01Z,KXA-1,yes,40,3,fill\n")
