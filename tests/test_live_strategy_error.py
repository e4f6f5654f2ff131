"""A strategy exception in a live run: one line naming callback, ticker and time, and what the
shutdown did (orders cancelled, none left on the exchange); traceback kept; exit 1."""

from __future__ import annotations

import textwrap

from framework.live import cli as live_cli
from framework.live.testing import write_live_config

T = "KXLOCALTEMP-26JAN01-B1"

SRC = textwrap.dedent('''
    from framework import CENT, CONTRACT, Strategy

    class RestThenBoom(Strategy):
        def on_start(self):
            self.n = 0
            self.subscribe(list(self.markets))

        def on_book(self, book):
            self.n += 1
            if self.n == 1 and book.yes_bid is not None and book.yes_bid > 5 * CENT:
                self.buy(book.ticker, CONTRACT, price=book.yes_bid - 4 * CENT)  # rests on the exchange

        def on_order(self, order):
            if order.status == "accepted":
                raise ZeroDivisionError("bad model")
''')


def test_live_strategy_error_reports_shutdown(tmp_path, exch, capsys):
    ex, kid, priv = exch
    strat = tmp_path / "boom.py"
    strat.write_text(SRC)
    cfg = write_live_config(tmp_path / "live.toml", ex, kid, priv, markets=[T], strategy=f"{strat}:RestThenBoom",
                            live={"duration": "20s"})
    rc = live_cli.main(["live", str(cfg), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    line = next(ln for ln in err.splitlines() if ln.startswith("kalshi: error:"))
    assert rc == 1, err
    assert "ZeroDivisionError: bad model" in line and "in on_order" in line and f"ticker {T}" in line
    assert "shutdown cancelled 1 open order(s), none left open" in line, line
    assert "Traceback" not in err
    assert "ZeroDivisionError" in (tmp_path / "out" / "error.txt").read_text()
    assert not [o for o in ex.engine.account(kid).orders.values() if o.status == "resting"]
    assert "bad model" in (tmp_path / "out" / "run.log").read_text()
