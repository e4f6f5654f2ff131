"""Model-driven trading: trade when a forecast's probability beats the price by more than the fees.

Reads a file of forecasts (CSV or Parquet) with columns ``ts`` (when the forecast was made: ISO
time with a zone, or int ns UTC), ``ticker`` and ``probability`` (of YES, in [0, 1]). At each
book update it uses the **latest forecast made at or before now** (``self.now``; plus
``delay``, the time a forecast takes to reach you), so a forecast is never used before it
existed: no look-ahead. It buys YES when ``p - ask - fee >= min_edge`` and NO when
``(1 - p) - NO ask - fee >= min_edge``, up to ``max_position``, and calls
``self.predict(ticker, p)`` once per forecast it uses, so the run scores the model (Brier score,
log loss) against the settlements.

The bundled ``data/forecasts/sample_forecasts.csv`` (``python data/make_forecasts.py``) is a
toy model of the synthetic sample: every 30 minutes, each market's mid normalised so that the
mids of its event sum to 1. It uses only prices known at that time.

It shows: loading side data once in ``on_start`` (never in the per-event path), an as-of join by
``bisect``, fees in the decision, and ``predict``.

Risks: a model is only as good as its calibration (read the run's Brier score and calibration
table); forecasts that arrive late (set ``delay``); edges smaller than fees plus the spread.
"""

from __future__ import annotations

import bisect
from pathlib import Path

from framework import CONTRACT, DOLLAR, Strategy, cents
from framework.core.engine import parse_duration
from framework.model.fees import fee_for

_REPO = Path(__file__).resolve().parent.parent  # where the bundled data lives


class ForecastTrader(Strategy):
    params = {
        "forecasts": "data/forecasts/sample_forecasts.csv",  # relative: to the cwd, else the repo
        "min_edge_cents": 3,  # after fees, per contract
        "qty": 5,  # contracts per order
        "max_position": 20,  # contracts per market
        "delay": "0s",  # a forecast is usable this long after its ts
        "taker_fee": "0.07",
    }

    def on_start(self) -> None:
        p = self.params
        self.min_edge = cents(p["min_edge_cents"])
        self.qty = p["qty"] * CONTRACT
        self.max_pos = p["max_position"] * CONTRACT
        self.delay = 0 if str(p["delay"]).strip() in ("0", "0s", "") else parse_duration(p["delay"])
        self.times: dict[str, list[int]] = {}
        self.probs: dict[str, list[float]] = {}
        self.predicted: dict[str, int] = {}  # ticker -> ts of the last forecast scored
        self.load(self._path(p["forecasts"]))

    @staticmethod
    def _path(value: str) -> Path:
        path = Path(value).expanduser()
        if path.is_absolute() or path.exists():
            return path
        return _REPO / path

    def load(self, path: Path) -> None:
        """Forecasts per ticker, sorted by time (loaded once; pandas is fine outside the loop)."""
        import pandas as pd

        if not path.is_file():
            raise ValueError(f"forecasts file not found: {path}; set the 'forecasts' parameter "
                             "(CSV or Parquet with columns ts, ticker, probability)")
        df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
        missing = {"ts", "ticker", "probability"} - set(df.columns)
        if missing:
            raise ValueError(f"{path}: forecasts need columns ts, ticker, probability; missing {sorted(missing)}")
        ts = df["ts"]
        if ts.dtype.kind in "iu":
            ns = ts.astype("int64")
        else:
            parsed = pd.to_datetime(ts, utc=False)
            if getattr(parsed.dt, "tz", None) is None:
                raise ValueError(f"{path}: forecast times have no time zone; write them as UTC "
                                 "(e.g. 2026-11-19T14:00:00Z) or as int ns")
            ns = parsed.dt.tz_convert("UTC").dt.as_unit("ns").astype("int64")  # pandas may parse to s resolution
        probs = df["probability"].astype(float)
        if ((probs < 0) | (probs > 1)).any() or probs.isna().any():
            raise ValueError(f"{path}: probabilities must be within [0, 1]")
        rows = sorted(zip(df["ticker"], ns.tolist(), probs.tolist()))
        for ticker, t, prob in rows:
            self.times.setdefault(ticker, []).append(t)
            self.probs.setdefault(ticker, []).append(prob)

    def forecast(self, ticker: str) -> tuple[int, float] | None:
        """The latest forecast usable now: made at or before ``now - delay``."""
        times = self.times.get(ticker)
        if not times:
            return None
        i = bisect.bisect_right(times, self.now - self.delay) - 1
        return (times[i], self.probs[ticker][i]) if i >= 0 else None

    def on_book(self, book) -> None:
        t = book.ticker
        f = self.forecast(t)
        if f is None:
            return
        made, prob = f
        if self.predicted.get(t) != made:
            self.predicted[t] = made
            self.predict(t, prob)
        if self.open_orders(t):
            return
        fair_yes = round(prob * DOLLAR)
        held = self.position(t)
        for side, ask, fair, holding in (("yes", book.yes_ask, fair_yes, held),
                                         ("no", book.no_ask, DOLLAR - fair_yes, -held)):
            if ask is None or holding >= self.max_pos:
                continue
            qty = min(self.qty, self.max_pos - holding)
            fee_per = -(-fee_for(ask, qty, self.params["taker_fee"]) * CONTRACT // qty)
            if fair - ask - fee_per >= self.min_edge:
                self.buy(t, qty, price=ask, side=side, tif="ioc")
                return
