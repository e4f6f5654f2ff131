"""Event kinds and the columnar chunk layout that feeds hand to the engine.

Feeds do not allocate one object per market event: they yield *chunks*, ``(kind, columns)``
where ``columns`` is a tuple of equally long Python lists, already in replay order. The engine
iterates them with ``zip`` (the cheapest per-row loop CPython has).

Column layouts (``ts`` int ns UTC; prices and sizes int framework units):

* ``QUOTE``: ``ts, ticker, yes_bid, no_bid, yes_bid_size, no_bid_size`` (0 = side empty,
  size ``None`` = unknown)
* ``BOOK``: ``ts, ticker, is_yes, price, size, seq, snapshot`` (size = new total at the level)
* ``TRADE``: ``ts, ticker, trade_id, yes_price, count, taker_side``
* ``CANDLE``: ``ts, ticker, period, open, high, low, close, volume, yes_bid_close,
  yes_ask_close`` (one bar per row, ``ts`` = the bar's end, ``period`` in minutes; prices
  ``None`` when the bar has none; the layout of ``framework.model.bars.Bar``). Candles are
  replayed alone, never mixed with other kinds (see docs/simulation.md "Candles").
* ``MIXED``: ``ts, kind, ticker, a, b, c, d, e``: rows of several kinds interleaved; ``a..e``
  are that kind's columns after ``ticker`` in the order above (``e`` is ``None`` when unused).
* ``IDLE``: ``ts``: live feeds only. No market data, but time has passed: the engine fires due
  timers and polls the broker. A live feed yields one at least every ~100 ms while quiet, so a
  strategy's timers and order updates never wait for market data.

Ordering is deterministic: by timestamp, then by kind rank (book and quotes before trades at
the same instant), then by source (file path order), then by row order within the file.
"""

from __future__ import annotations

QUOTE = 0
BOOK = 1
TRADE = 2
MIXED = 3
IDLE = 4
CANDLE = 5

KIND_NAMES = {QUOTE: "quotes", BOOK: "book", TRADE: "trades", CANDLE: "candles"}
# rank used to break timestamp ties between kinds: book state first, then the trades
# (candles never share a run with another kind; their rank only orders candle files)
KIND_RANK = {BOOK: 0, QUOTE: 1, TRADE: 2, CANDLE: 3}
