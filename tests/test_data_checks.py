"""Bad data never runs silently: validation on write, read checks in the replay, settlement
metadata, selections that match nothing, and the corruption matrix (issue 13).

The corruption matrix builds a valid catalog (hypothesis draws its rows), corrupts one file the
way other tools or bit rot do (written with plain pyarrow, bypassing ``write_table``), runs a
backtest, and requires that it is refused with a one-line message naming the file and the problem
or finishes with a data warning of the expected kind.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import T0, at, make_catalog, market, to_df
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from framework import Strategy
from framework.backtest import run_backtest
from framework.cli import main
from framework.data.catalog import CatalogError, CatalogWarning, kind_files, write_table
from framework.units import DOLLAR, contracts

SEC = 1_000_000_000


class Noop(Strategy):
    def on_book(self, book):
        pass


class BuyOnce(Strategy):
    """Buys ``qty`` contracts of ``side`` at the first book."""

    params = {"qty": 10, "side": "yes"}

    def on_start(self):
        self.done = False
        self.settled = []

    def on_book(self, book):
        if not self.done:
            self.done = True
            self.buy(book.ticker, contracts(self.params["qty"]), side=self.params["side"])

    def on_settlement(self, s):
        self.settled.append(s)


def _bt(root, strategy=None, **kw):
    kw.setdefault("equity_interval", None)
    return run_backtest(strategy or Noop(), root, **kw)


def _quotes(n=20, ticker="A-1", start=10, yb=40, nb=55):
    return [{"ts": start + i, "ticker": ticker, "yes_bid": yb, "no_bid": nb, "yes_bid_size": 5, "no_bid_size": 5}
            for i in range(n)]


# --------------------------------------------------------------------------- write validation


@pytest.mark.parametrize("row, match", [
    (dict(result="yes", settle_ts=None), r"result 'yes' but no settle_ts"),
    (dict(result="no", settle_ts=1800), r"settle_ts before close_ts"),
    (dict(result="maybe", settle_ts=4000), r"column result has value 'maybe'"),
    (dict(result="scalar", settle_ts=4000), r"result 'scalar' but no settlement_value"),
    (dict(result="yes", settle_ts=4000, settlement_value=0), r"settlement_value 0 \(expected 10000\)"),
    (dict(result="scalar", settle_ts=4000, settlement_value=DOLLAR + 1), r"settlement_value value 10001"),
])
def test_write_refuses_bad_settlement_metadata(tmp_path, row, match):
    df = to_df("markets", [market("A-1", **row)])
    with pytest.raises(CatalogError, match=match):
        write_table(tmp_path, "markets", df)


def test_write_accepts_void_and_scalar(tmp_path):
    df = to_df("markets", [market("A-1", settle_ts=4000, result="void"),
                           market("B-1", settle_ts=4000, result="scalar", settlement_value=3700)])
    write_table(tmp_path, "markets", df)


def test_write_refuses_implausible_timestamps(tmp_path):
    df = to_df("trades", [{"ts": 0, "ticker": "A-1", "yes_price": 40, "count": 1}])
    df["ts"] = pd.to_datetime([1_000_000_000], unit="s", utc=True)  # 2001: fine
    write_table(tmp_path, "trades", df)
    df["ts"] = pd.to_datetime([1_700_000_000], unit="ms", utc=True)  # seconds read as ms: 1970
    with pytest.raises(CatalogError, match=r"column ts value 1970-01-20.* outside the plausible years"):
        write_table(tmp_path, "trades", df)


def test_write_warns_when_prices_look_like_cents(tmp_path):
    df = to_df("trades", [{"ts": i, "ticker": "A-1", "yes_price": 45, "count": 1} for i in range(3)])
    df["yes_price"] = [45, 46, 47]  # cents left as $0.0001 units
    with pytest.warns(CatalogWarning, match="look like cents"):
        write_table(tmp_path, "trades", df)


# --------------------------------------------------------------------------- selections


def test_selection_errors_say_what_exists(tmp_path):
    make_catalog(tmp_path, quotes=_quotes())
    with pytest.raises(CatalogError, match=r"series KXNOPE: no markets in the catalog .*; series present: A"):
        _bt(tmp_path, series=["KXNOPE"])
    with pytest.raises(CatalogError, match=r"market\(s\) not in catalog .*: B-2; markets present: A-1"):
        _bt(tmp_path, markets=["B-2"])
    with pytest.raises(ValueError, match=r"at or after end"):
        _bt(tmp_path, start=at(100), end=at(100))
    with pytest.raises(CatalogError, match=r"no quotes data between .* the data spans"):
        _bt(tmp_path, start=at(5000), end=at(6000))


def test_cli_selection_error_is_one_line_exit_2(tmp_path, capsys):
    make_catalog(tmp_path, quotes=_quotes())
    rc = main(["backtest", "--catalog", str(tmp_path), "--strategy", "strategies.longshot:LongshotFade",
               "--start", "2026-01-02", "--end", "2026-01-01", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "at or after end" in err


# --------------------------------------------------------------------------- settlement


def _settle_run(tmp_path, result, value=None, side="yes"):
    m = market("A-1", close_ts=100, settle_ts=200, result=result)
    if value is not None:
        m["settlement_value"] = value
    strat = BuyOnce({"qty": 3, "side": side})
    make_catalog(tmp_path, markets=[m], quotes=_quotes(yb=40, nb=55))
    res = _bt(tmp_path, strat, starting_cash=DOLLAR * 100, fee_taker="0")
    return strat, res


@pytest.mark.parametrize("result, value, side, payout", [
    ("yes", None, "yes", 3 * DOLLAR),
    ("no", None, "yes", 0),
    ("void", None, "yes", 3 * 4500),  # cost returned: 3 YES bought at the $0.45 ask
    ("void", None, "no", 3 * 6000),  # 3 NO bought at the $0.60 NO ask
    ("scalar", 3700, "yes", 3 * 3700),
    ("scalar", 3700, "no", 3 * (DOLLAR - 3700)),
])
def test_backtest_settles_void_and_scalar_exactly(tmp_path, result, value, side, payout):
    strat, res = _settle_run(tmp_path, result, value, side)
    (s,) = strat.settled
    assert (s.result, s.payout, s.value) == (result, payout, value)
    cost = 3 * (4500 if side == "yes" else 6000)
    assert res.metrics["final_cash"] * DOLLAR == 100 * DOLLAR - cost + payout
    assert type(s.payout) is int


def test_scalar_pays_fractional_contracts_rounded_down():
    from framework.model.portfolio import Portfolio

    pf = Portfolio(0)
    pf.apply_fill("S-1", "yes", "buy", 5000, 150, 0)  # 1.5 YES at $0.50
    assert pf.settle("S-1", "scalar", 3333) == (150 * 3333 // 100, 150)  # $0.49995 -> 4999 units
    with pytest.raises(ValueError, match="scalar settlement needs value"):
        pf.settle("S-1", "scalar", None)


# --------------------------------------------------------------------------- corruption matrix


def _base_catalog(root: Path, n: int, prices: list[int], seed: int) -> Path:
    rng = np.random.default_rng(seed)
    quotes = [{"ts": 10 + i, "ticker": "A-1", "yes_bid": prices[i % len(prices)],
               "no_bid": 95 - prices[i % len(prices)], "yes_bid_size": int(rng.integers(1, 50)),
               "no_bid_size": int(rng.integers(1, 50))} for i in range(n)]
    trades = [{"ts": 10 + i, "ticker": "A-1", "yes_price": prices[i % len(prices)] + 1, "count": 1 + i % 4}
              for i in range(0, n, 2)]
    book = [{"ts": 10, "ticker": "A-1", "side": "yes", "price": 40, "size": 5, "snapshot": True},
            {"ts": 10, "ticker": "A-1", "side": "no", "price": 50, "size": 5, "snapshot": True}]
    book += [{"ts": 11 + i, "ticker": "A-1", "side": "yes" if i % 2 else "no", "price": 30 + i % 10,
              "size": i % 7} for i in range(n)]
    make_catalog(root, markets=[market("A-1", close_ts=3000, settle_ts=3600, result="yes")],
                 quotes=quotes, trades=trades, book=book)
    return root


def _rewrite(path: Path, fn, **write_kw) -> None:
    """Read a file, change its table with ``fn`` and write it back with plain pyarrow."""
    t = pq.read_table(path)
    pq.write_table(fn(t), path, **write_kw)


def _set(t: pa.Table, col: str, values) -> pa.Table:
    i = t.schema.get_field_index(col)
    return t.set_column(i, t.schema.field(col), pa.array(values, type=t.schema.field(col).type))


def _file(root: Path, kind: str) -> Path:
    return kind_files(root, kind)[0]


def _unsorted(root, rnd):
    p = _file(root, "trades")

    def fn(t):
        order = list(range(t.num_rows))
        i = rnd.randrange(1, t.num_rows)
        order[i - 1], order[i] = order[i], order[i - 1]  # one backward step, anywhere
        return t.take(order)
    _rewrite(p, fn)
    return p


def _times_1000(root, rnd):
    p = _file(root, rnd.choice(["trades", "book"]))
    col = "yes_price" if "trades" in str(p) else "price"
    _rewrite(p, lambda t: _set(t, col, [v * 1000 for v in t.column(col).to_pylist()]))
    return p


def _negative(root, rnd):
    kind, col = rnd.choice([("book", "size"), ("trades", "count"), ("quotes", "yes_bid_size")])
    p = _file(root, kind)

    def fn(t):
        v = t.column(col).to_pylist()
        v[rnd.randrange(len(v))] = -rnd.randrange(1, 10_000)
        return _set(t, col, v)
    _rewrite(p, fn)
    return p


def _null_ticker(root, rnd):
    p = _file(root, rnd.choice(["trades", "book", "quotes"]))

    def fn(t):
        v = t.column("ticker").to_pylist()
        v[rnd.randrange(len(v))] = None
        i = t.schema.get_field_index("ticker")
        return t.set_column(i, pa.field("ticker", pa.string()), pa.array(v, pa.string()))
    _rewrite(p, fn)
    return p


def _flip_bytes(root, rnd):
    """Flip bytes inside the data pages (footer intact) of a file the catalog writer wrote."""
    p = _file(root, rnd.choice(["trades", "book", "quotes"]))
    meta = pq.read_metadata(p)
    rg = meta.row_group(0)
    start = min(rg.column(i).data_page_offset for i in range(rg.num_columns))
    end = max(rg.column(i).data_page_offset + rg.column(i).total_compressed_size for i in range(rg.num_columns))
    b = bytearray(p.read_bytes())
    for _ in range(rnd.randrange(1, 4)):
        b[rnd.randrange(start, end)] ^= rnd.randrange(1, 256)
    p.write_bytes(bytes(b))
    return p


def _flip_ts_plain(root, rnd):
    """A file another tool wrote (uncompressed, no page checksums) with a byte of a timestamp
    flipped high: the replay still sees a time centuries away."""
    p = _file(root, "trades")
    t = pq.read_table(p)
    pq.write_table(t, p, compression="none", use_dictionary=False, write_page_checksum=False)
    ts = t.column("ts").cast(pa.int64()).to_pylist()
    raw = np.array(ts, dtype="<i8").tobytes()
    b = bytearray(p.read_bytes())
    where = bytes(b).find(raw)
    assert where >= 0
    row = rnd.randrange(len(ts))
    b[where + row * 8 + 7] ^= rnd.choice([0x40, 0x80, 0x20])  # the top byte of one int64 time
    p.write_bytes(bytes(b))
    return p


def _bad_markets(field: str, value):
    def corrupt(root, rnd):
        p = _file(root, "markets")

        def fn(t):
            if field == "settle_ts" and value == "before_close":
                v = [at(1000)]
            else:
                v = [value]
            return _set(t, field, v)
        _rewrite(p, fn)
        return p
    return corrupt


def _missing_markets(root, rnd):
    shutil.rmtree(root / "markets")
    return root / "markets"


def _cents(root, rnd):
    p = _file(root, "trades")
    _rewrite(p, lambda t: _set(t, "yes_price", [max(1, v // 100) for v in t.column("yes_price").to_pylist()]))
    return p


def _crossed(root, rnd):
    p = _file(root, "quotes")
    _rewrite(p, lambda t: _set(t, "no_bid", [DOLLAR - v + 100 for v in t.column("yes_bid").to_pylist()]))
    return p


def _outside_window(root, rnd):
    p = _file(root, "trades")
    _rewrite(p, lambda t: _set(t, "ts", [v + 3700 * SEC for v in t.column("ts").cast(pa.int64()).to_pylist()]))
    return p


def _unknown_market(root, rnd):
    p = _file(root, "trades")
    _rewrite(p, lambda t: _set(t, "ticker", ["B-1"] * t.num_rows))
    return p


# case -> (corruption, error regex or None, warning code or None, "same" = may leave the data unchanged)
MATRIX = {
    "unsorted": (_unsorted, r"ts goes backwards", None),
    "prices x1000": (_times_1000, r"is outside \[1, 9999\]", None),
    "negative size/count": (_negative, r"must be >= ", None),
    "null ticker": (_null_ticker, r"ticker is null", None),
    # page checksums catch every flip in page data; a flip in a page header's unused fields
    # (statistics) changes no value, so the run must then equal the clean run
    "flipped bytes (catalog file)": (_flip_bytes, r"corrupt or unreadable Parquet file", "same"),
    # no checksums: a time centuries away, or (a flip that stays below 2100) outside the window
    "flipped timestamp byte (foreign file)": (_flip_ts_plain, r"outside the plausible years|ts goes backwards",
                                              "window"),
    "result 'maybe'": (_bad_markets("result", "maybe"), r"result has value 'maybe'", None),
    "result without settle_ts": (_bad_markets("settle_ts", None), r"no settle_ts", None),
    "settle_ts before close_ts": (_bad_markets("settle_ts", "before_close"), r"settle_ts before close_ts", None),
    "scalar without value": (_bad_markets("result", "scalar"), r"no settlement_value", None),
    "missing markets table": (_missing_markets, r"no markets table", None),
    "prices in cents": (_cents, None, "cents"),
    "crossed quotes": (_crossed, None, "crossed"),
    "rows outside the market window": (_outside_window, None, "window"),
    "data for a market not in the markets table": (_unknown_market, None, "unknown_market"),
}
KINDS3 = ["book", "trades", "quotes"]


def _events(root):
    from helpers import events_of

    from framework.data.replay import ParquetReplayFeed

    return events_of(ParquetReplayFeed(root, kinds=KINDS3))


@pytest.mark.parametrize("case", list(MATRIX))
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture],
          phases=[Phase.explicit, Phase.reuse, Phase.generate])  # shrinking a corrupt file is slow, not useful
@given(n=st.integers(4, 60), prices=st.lists(st.integers(2, 60), min_size=1, max_size=8),
       seed=st.integers(0, 2**16), rnd=st.randoms(use_true_random=False))
def test_corruption_matrix(tmp_path_factory, case, n, prices, seed, rnd):
    root = _base_catalog(tmp_path_factory.mktemp("cat"), n, prices, seed)
    clean = _bt(root, kinds=KINDS3)
    assert not clean.data_warnings.items  # the base catalog is clean
    before = _events(root)
    corrupt, error, warning = MATRIX[case]
    path = corrupt(root, rnd)
    try:
        res = _bt(root, kinds=KINDS3)
    except CatalogError as exc:
        msg = str(exc)
        assert error is not None and __import__("re").search(error, msg), msg
        assert "\n" not in msg and (str(path) in msg or str(root) in msg)  # one line naming the file
        return
    assert warning is not None, f"{case}: ran without an error"
    if warning == "same":
        assert _events(root) == before and res.metrics == clean.metrics  # the flip changed no value
        return
    hits = [w for w in res.data_warnings.items if w["code"] == warning]
    assert hits and all(w["file"] == str(path) for w in hits), res.data_warnings.lines()


def test_warnings_are_printed_and_written_to_the_run_folder(tmp_path, capsys):
    root = _base_catalog(tmp_path / "cat", 10, [40], 1)
    _cents(root, None)
    out = tmp_path / "run"
    rc = main(["backtest", "--catalog", str(root), "--strategy", "strategies.longshot:LongshotFade", "--out", str(out)])
    assert rc == 0
    assert "data warning" in capsys.readouterr().err
    import json

    items = json.loads((out / "data_warnings.json").read_text())
    assert [w["code"] for w in items] == ["cents"]


def test_read_checks_can_be_turned_off_for_the_feed(tmp_path):
    from framework.data.replay import ParquetReplayFeed

    root = _base_catalog(tmp_path, 10, [40], 1)
    _unsorted(root, __import__("random").Random(1))
    with pytest.raises(CatalogError):
        list(ParquetReplayFeed(root, kinds=["trades"]).chunks())
    assert list(ParquetReplayFeed(root, kinds=["trades"], check=False).chunks())


def test_t0_is_plausible():
    assert 946_684_800 * SEC < T0


@pytest.mark.slow
def test_no_flipped_byte_anywhere_in_a_file_replays_silently(tmp_path):
    """Every byte of a small catalog file (data pages, page headers, footer) flipped in turn:
    the replay refuses it with a one-line CatalogError naming the file, or replays the same
    events. Found by the corruption matrix: a damaged page header made Arrow's batch reader
    stop without an error (the whole file silently empty), and a damaged name in the footer
    raised a bare UnicodeDecodeError."""
    from helpers import events_of

    from framework.data.replay import ParquetReplayFeed

    quotes = [{"ts": 10 + i, "ticker": "A-1", "yes_bid": 40 + i % 3, "no_bid": 50, "yes_bid_size": 5 + i,
               "no_bid_size": 5} for i in range(20)]
    root = make_catalog(tmp_path, markets=[market("A-1", close_ts=3000, settle_ts=3600, result="yes")],
                        quotes=quotes)
    path = kind_files(root, "quotes")[0]
    clean = path.read_bytes()
    before = events_of(ParquetReplayFeed(root))
    silent, refused = [], 0
    for pos in range(4, len(clean) - 4):  # the magic bytes at both ends are not data
        b = bytearray(clean)
        b[pos] ^= 0x81
        path.write_bytes(bytes(b))
        try:
            after = events_of(ParquetReplayFeed(root))
        except CatalogError as exc:
            assert str(path) in str(exc) and "\n" not in str(exc), (pos, str(exc))
            refused += 1
            continue
        if after != before:
            silent.append(pos)
    assert silent == [] and refused > len(clean) // 2



def _many_small_files(root: Path, n_files: int = 20) -> Path:
    """Enough one-batch quote files for the replay's many-file scan (and check_group): one
    market per file, one with prices in cents, one with crossed quotes."""
    files = []
    for f in range(n_files):
        yb, nb = (40, 55) if f not in (3, 7) else (("0.4", "0.5") if f == 3 else (50, 60))
        files.append([{"ts": 10 + i * 2 + (f % 2), "ticker": f"M-{f:02d}", "yes_bid": yb, "no_bid": nb,
                       "yes_bid_size": 1 + i, "no_bid_size": 2} for i in range(5 + f)])
    with __import__("warnings").catch_warnings():
        __import__("warnings").simplefilter("ignore", CatalogWarning)  # the cents file
        make_catalog(root, markets=[market(f"M-{f:02d}", close_ts=3000) for f in range(n_files)], quotes=files)
    return root


def _state(feed):
    return [(c.path, c.rows, c.last_ts, c.col_max, c.max_price, c.crossed, c.quotes) for c in feed._checks]


def test_group_checks_of_many_small_files_equal_the_per_file_checks(tmp_path, monkeypatch):
    from helpers import events_of

    from framework.backtest import _market_windows
    from framework.data import replay

    root = _many_small_files(tmp_path)
    real, used = replay.check_group, []
    monkeypatch.setattr(replay, "check_group", lambda pairs: used.append(real(pairs)) or used[-1])
    feed = replay.ParquetReplayFeed(root, windows=_market_windows(root))
    events = events_of(feed)
    assert used == [True]  # the 20 files were checked as one group
    grouped = _state(feed)
    warnings = feed.finish_checks().items
    monkeypatch.setattr(replay, "check_group", lambda pairs: False)  # file by file
    feed = replay.ParquetReplayFeed(root, windows=_market_windows(root))
    assert events_of(feed) == events
    assert _state(feed) == grouped
    assert feed.finish_checks().items == warnings
    assert [w["code"] for w in warnings] == ["cents", "crossed"]


def test_group_checks_leave_the_exact_error_to_the_file(tmp_path):
    from framework.data.replay import ParquetReplayFeed

    root = _many_small_files(tmp_path)
    bad = kind_files(root, "quotes")[12]
    _rewrite(bad, lambda t: _set(t, "ts", t.column("ts").cast(pa.int64()).to_pylist()[::-1]))
    with pytest.raises(CatalogError, match=rf"^{bad}: row 1: ts goes backwards"):
        list(ParquetReplayFeed(root).chunks())
