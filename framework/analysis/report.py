"""``report.html``: one self-contained page per run folder, rebuilt from the folder's files.

Reads ``metrics.json``, ``equity_path.parquet`` (else the sampled ``equity.parquet``),
``fills.parquet``, ``settlements.parquet``, ``markets.parquet``, ``events.parquet`` and, when
present, ``config.toml`` (the run's config), ``run.json`` (catalog location, for price paths),
``fidelity.json`` (the simulation models used) and ``warnings.json`` (warnings logged during the
run). Figures are PNGs embedded as base64 ``data:`` URIs and the CSS is inline, so the page needs
no network and no other file. ``kalshi report RUN_DIR`` rebuilds it.
"""

from __future__ import annotations

import base64
import contextlib
import html
import json
import logging
import time
import warnings
from pathlib import Path
from typing import Any

from ..units import DOLLAR, fmt_money

__all__ = ["ReportError", "build_report", "collect_warnings", "write_report", "write_run_files"]

PRICE_MARKETS = 3  # markets whose price path is drawn (largest |PnL| first)
EXPOSURE_MARKETS = 8
EVENT_BARS = 25
TABLE_ROWS = 50


class ReportError(ValueError):
    """The folder is not a run folder (or is missing a file the report needs)."""


@contextlib.contextmanager
def collect_warnings():
    """Collect WARNING-and-above log records and Python warnings raised inside the block into
    the yielded list (one line each), for ``warnings.json``; they are still shown as usual."""
    got: list[str] = []

    class _Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            got.append(f"{record.levelname.lower()}: {record.name}: {record.getMessage()}")

    handler = _Keep(logging.WARNING)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")
            yield got
        for w in caught:
            got.append(f"warning: {w.category.__name__}: {w.message}")
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    finally:
        root.removeHandler(handler)


def write_run_files(out: str | Path, *, catalog: str | Path | None = None, config: str | Path | None = None,
                    warnings: list[str] | None = None) -> None:
    """Files the report reads besides the results: ``run.json`` (catalog, config path),
    ``config.toml`` (a copy of the config) and ``warnings.json``."""
    out = Path(out)
    info = {"catalog": str(Path(catalog).resolve()) if catalog else None,
            "config": str(Path(config).resolve()) if config else None}
    (out / "run.json").write_text(json.dumps(info, indent=2) + "\n")
    if config and Path(config).is_file():
        (out / "config.toml").write_text(Path(config).read_text())
    (out / "warnings.json").write_text(json.dumps(list(warnings or []), indent=2) + "\n")


def write_report(run_dir: str | Path, price_markets: int = PRICE_MARKETS) -> tuple[Path, float]:
    """Write ``run_dir/report.html``; returns its path and the seconds it took."""
    t0 = time.perf_counter()
    run_dir = Path(run_dir)
    page = build_report(run_dir, price_markets)
    path = run_dir / "report.html"
    path.write_text(page, encoding="utf-8")
    return path, time.perf_counter() - t0


# ---- loading ----------------------------------------------------------------------------------

def _read_json(path: Path, default: Any = None) -> Any:
    if not path.is_file():
        return default
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ReportError(f"{path}: not readable JSON ({exc})") from None


def _read_parquet(path: Path):
    import pandas as pd

    if not path.is_file():
        return None
    return pd.read_parquet(path)


def _ns(col) -> list[int]:
    return [int(v) for v in col.astype("int64")] if len(col) else []


def _load(run_dir: Path) -> dict[str, Any]:
    if not run_dir.is_dir():
        raise ReportError(f"run folder not found: {run_dir}")
    metrics = _read_json(run_dir / "metrics.json")
    if metrics is None:
        raise ReportError(f"{run_dir} is not a run folder (no metrics.json); run `kalshi backtest` first")
    d = {"dir": run_dir, "metrics": metrics,
         "fidelity": _read_json(run_dir / "fidelity.json"),
         "warnings": _read_json(run_dir / "warnings.json", []),
         "run": _read_json(run_dir / "run.json", {}),
         "config": (run_dir / "config.toml").read_text() if (run_dir / "config.toml").is_file() else None}
    for name in ("equity_path", "equity", "fills", "settlements", "markets", "events"):
        d[name] = _read_parquet(run_dir / f"{name}.parquet")
    return d


# ---- page -------------------------------------------------------------------------------------

def build_report(run_dir: str | Path, price_markets: int = PRICE_MARKETS) -> str:
    """The report page as a string (see the module docstring for what it reads)."""
    from . import figures

    d = _load(Path(run_dir))
    m = d["metrics"]
    run = m.get("run", {})
    notes: list[str] = []
    sections: list[str] = []

    # equity and drawdown: the exact path when the folder has it
    path, eq = d["equity_path"], d["equity"]
    if path is not None and len(path):
        ts, values = _ns(path["ts"]), [int(v) for v in path["equity"]]
        source = f"exact equity path ({len(ts):,} points: every fill, settlement and mark change)"
    elif eq is not None and len(eq):
        ts, values = _ns(eq["ts"]), [int(v) for v in eq["equity"]]
        source = "equity sampled on the clock (this folder has no equity_path.parquet)"
        notes.append("drawdown plot drawn from sampled equity: the folder predates the exact equity path")
    else:
        ts, values, source = [], [], None
    start_cash = int(round(float(m.get("starting_cash", 0)) * DOLLAR))
    if ts:
        sections.append(_figure_section("Equity and drawdown", figures.equity_figure(ts, values, start_cash),
                                        f"From the {source}. Max drawdown {_money(m.get('max_drawdown'))}"
                                        f" ({_pct(m.get('max_drawdown_pct'))}), lasting"
                                        f" {_duration(m.get('max_drawdown_duration_s'))}"
                                        f"{'' if m.get('max_drawdown_recovered') else ' (not recovered)'}."))

    fills, settlements, markets = d["fills"], d["settlements"], d["markets"]
    settled_at = {}
    if settlements is not None:
        for t, r, s_ts in zip(settlements["ticker"], settlements["result"], _ns(settlements["ts"])):
            settled_at[t] = (s_ts, r)
    if fills is not None and len(fills):
        exposure = _exposure(fills, settled_at, ts[-1] if ts else None)
        shown = dict(sorted(exposure.items(), key=lambda kv: -max(abs(q) for q in kv[1][1]))[:EXPOSURE_MARKETS])
        more = len(exposure) - len(shown)
        sections.append(_figure_section("Exposure by market", figures.exposure_figure(shown),
                                        "Contracts held per market (YES or NO, stacked), from the fills and settlements."
                                        + (f" The {len(shown)} largest of {len(exposure)} markets;"
                                           f" {more} more not drawn." if more else "")))
        sections.append(_price_section(d, fills, markets, settled_at, price_markets, notes))
    events = d["events"]
    if events is not None and len(events):
        top = events.reindex(events["pnl"].abs().sort_values(ascending=False).index)[:EVENT_BARS]
        bars = [(str(e), int(p)) for e, p in zip(top["event_ticker"], top["pnl"])]
        sections.append(_figure_section("PnL by event", figures.pnl_by_event_figure(bars),
                                        f"After fees; the {len(bars)} events with the largest |PnL| of"
                                        f" {len(events)}."))
    calib = m.get("calibration") or {}
    if calib:
        sections.append(_figure_section("Calibration", figures.calibration_figure(calib),
                                        "Share of markets that settled YES against the forecast, in 10 bins:"
                                        " the strategy's predictions and the market's mid before close."
                                        + _score_line(m)))
    sections.append(_metrics_section(m))
    if markets is not None and len(markets):
        sections.append(_table_section("Markets", markets, _MARKET_COLS))
    if events is not None and len(events):
        sections.append(_table_section("Events", events, _EVENT_COLS))
    sections.append(_config_section(d, run))
    sections.append(_models_section(d, run))
    sections.append(_warnings_section(d, m, notes))
    title = f"{run.get('strategy', 'run')} — {d['dir'].name}"
    return _PAGE.format(title=html.escape(title), css=_CSS, header=_header(m, run, d), body="\n".join(sections))


def _exposure(fills, settled_at: dict, end: int | None) -> dict[str, tuple[list[int], list[int]]]:
    series: dict[str, tuple[list[int], list[int]]] = {}
    for t, side, action, qty, f_ts in zip(fills["ticker"], fills["side"], fills["action"], fills["qty"],
                                          _ns(fills["ts"])):
        sign = 1 if (side == "yes") == (action == "buy") else -1
        s = series.setdefault(t, ([], []))
        s[0].append(f_ts)
        s[1].append((s[1][-1] if s[1] else 0) + sign * int(qty))
    for t, (tss, qs) in series.items():
        if t in settled_at:
            tss.append(settled_at[t][0])
            qs.append(0)
        elif end is not None and end > tss[-1]:
            tss.append(end)
            qs.append(qs[-1])
    return series


def _price_section(d, fills, markets, settled_at, n: int, notes: list[str]) -> str:
    from . import figures
    from .price_path import price_paths

    if markets is not None and len(markets):
        order = markets.reindex(markets["pnl"].abs().sort_values(ascending=False).index)
        chosen = [str(t) for t in order["ticker"][:n]]
    else:
        chosen = sorted(set(fills["ticker"]))[:n]
    catalog = (d["run"] or {}).get("catalog")
    paths: dict[str, list] = {}
    if catalog and Path(catalog).is_dir():
        run = d["metrics"].get("run", {})
        try:
            paths = price_paths(catalog, chosen, run.get("start"), run.get("end"))
        except Exception as exc:  # the report still renders without price paths
            notes.append(f"price paths not drawn: reading the catalog failed ({type(exc).__name__}: {exc})")
    else:
        notes.append("price paths not drawn: the catalog is unknown or gone (run.json)"
                     if chosen else "no market to draw")
    images = []
    for t in chosen:
        sel = fills[fills["ticker"] == t]
        pts = []
        for side, action, price, f_ts in zip(sel["side"], sel["action"], sel["price"], _ns(sel["ts"])):
            if side == "yes":
                pts.append((f_ts, int(price), action))
            else:  # a NO buy at p is a YES sell at $1 - p
                pts.append((f_ts, DOLLAR - int(price), "sell" if action == "buy" else "buy"))
        images.append(_img(figures.price_figure(t, paths.get(t, []), pts, settled_at.get(t)), f"price path of {t}"))
    text = (f"YES bid and ask of the {len(chosen)} markets with the largest |PnL|, with our fills in YES terms"
            " (a NO buy at p shows as a YES sell at $1 − p).")
    return f"<section><h2>Fills on the price path</h2><p>{html.escape(text)}</p>{''.join(images)}</section>"


def _score_line(m: dict) -> str:
    parts = []
    if m.get("brier") is not None:
        parts.append(f" Strategy Brier {m['brier']:.4f} over {m.get('n_predictions', 0)} predictions")
        if m.get("brier_market") is not None:
            parts.append(f", the market's mid at the same moments {m['brier_market']:.4f}"
                         f" (skill {m.get('brier_skill') or 0:+.4f})")
        parts.append(".")
    for h, s in (m.get("market_scores") or {}).items():
        if s.get("n"):
            parts.append(f" Market {h} before close: Brier {s['brier']:.4f} (n={s['n']}).")
    return "".join(parts)


# ---- formatting ---------------------------------------------------------------------------------

_MONEY_KEYS = {"pnl", "fees", "realized_pnl", "settled_pnl", "unrealized_pnl", "open_value", "open_cost",
               "starting_cash", "final_cash", "final_equity", "max_drawdown", "turnover"}
_PCT_KEYS = {"return_on_capital", "max_drawdown_pct", "win_rate", "fill_ratio", "qty_fill_ratio"}
_GROUPS = [
    ("PnL", ["pnl", "realized_pnl", "settled_pnl", "unrealized_pnl", "fees", "open_value", "open_cost",
             "starting_cash", "final_cash", "final_equity"]),
    ("Returns and risk", ["return_on_capital", "returns_grid", "n_periods", "sharpe", "sortino", "max_drawdown",
                          "max_drawdown_pct", "max_drawdown_peak", "max_drawdown_trough", "max_drawdown_recovered",
                          "max_drawdown_duration_s", "longest_drawdown_s", "equity_points"]),
    ("Trading", ["n_orders", "n_fills", "fill_ratio", "qty_fill_ratio", "contracts_traded", "turnover",
                 "turnover_ratio", "edge_per_contract", "edge_per_contract_net", "n_markets_traded",
                 "n_markets_won", "win_rate", "n_settlements", "open_positions", "n_events"]),
    ("Forecasts", ["n_predictions", "brier", "log_loss", "n_predictions_paired", "brier_paired", "brier_market",
                   "log_loss_market", "brier_skill"]),
]
_MARKET_COLS = [("ticker", None), ("event_ticker", None), ("result", None), ("n_fills", None),
                ("qty_traded", "qty"), ("fees", "money"), ("realized", "money"), ("settled", "money"),
                ("unrealized", "money"), ("pnl", "money"), ("position", "qty")]
_EVENT_COLS = [("event_ticker", None), ("n_markets", None), ("n_won", None), ("n_fills", None),
               ("qty_traded", "qty"), ("fees", "money"), ("realized", "money"), ("settled", "money"),
               ("unrealized", "money"), ("pnl", "money")]


def _money(v) -> str:
    return "—" if v is None else fmt_money(int(round(float(v) * DOLLAR)))


def _pct(v) -> str:
    return "—" if v is None else f"{float(v) * 100:.2f} %"


def _duration(s) -> str:
    if s is None:
        return "—"
    s = float(s)
    if s >= 86_400:
        return f"{s / 86_400:.1f} d"
    if s >= 3600:
        return f"{s / 3600:.1f} h"
    return f"{s:.0f} s" if s >= 60 or s == int(s) else f"{s:.3f} s"


def _fmt(key: str, v) -> str:
    if v is None:
        return "—"
    if key in _MONEY_KEYS:
        return _money(v)
    if key in _PCT_KEYS:
        return _pct(v)
    if key.endswith("_s"):
        return _duration(v)
    if key.startswith("edge_per_contract"):
        return f"${float(v):,.6f}"
    if isinstance(v, float):
        return f"{v:,.4f}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v)


def _metrics_section(m: dict) -> str:
    seen = set()
    blocks = []
    for title, keys in _GROUPS:
        rows = [(k, m[k]) for k in keys if k in m]
        seen.update(keys)
        if rows:
            body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(_fmt(k, v))}</td></tr>" for k, v in rows)
            blocks.append(f"<table class='kv'><caption>{title}</caption>{body}</table>")
    scores = m.get("market_scores") or {}
    if scores:
        body = "".join(f"<tr><th>{html.escape(h)} before close</th><td>{s.get('n', 0)}</td>"
                       f"<td>{_fmt('x', s.get('brier'))}</td><td>{_fmt('x', s.get('log_loss'))}</td></tr>"
                       for h, s in scores.items())
        blocks.append("<table class='kv'><caption>Market mid scores</caption><tr><th></th><th>n</th><th>Brier</th>"
                      f"<th>log loss</th></tr>{body}</table>")
    other = {k: v for k, v in m.items() if k not in seen and k not in ("run", "calibration", "market_scores")}
    if other:
        body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(_fmt(k, v))}</td></tr>"
                       for k, v in sorted(other.items()))
        blocks.append(f"<table class='kv'><caption>Other</caption>{body}</table>")
    return ("<section><h2>Metrics</h2><p>Formulas: docs/results.md. Money in dollars, exact.</p>"
            f"<div class='grid'>{''.join(blocks)}</div></section>")


def _table_section(title: str, df, cols) -> str:
    df = df.reindex(df["pnl"].abs().sort_values(ascending=False).index)
    head = "".join(f"<th>{html.escape(c)}</th>" for c, _ in cols)
    rows = []
    for rec in df[:TABLE_ROWS].to_dict("records"):
        cells = []
        for c, kind in cols:
            v = rec.get(c)
            if kind == "money":
                text, cls = fmt_money(int(v)), (" class='neg'" if v < 0 else "")
            elif kind == "qty":
                text, cls = f"{int(v) / 100:,.2f}", ""
            else:
                text, cls = ("—" if v is None or v != v else str(v)), ""
            cells.append(f"<td{cls}>{html.escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    more = f"<p>{len(df) - TABLE_ROWS} more rows in the Parquet file.</p>" if len(df) > TABLE_ROWS else ""
    return (f"<section><h2>{title}</h2><p>Sorted by |PnL|; quantities in contracts.</p>"
            f"<table class='data'><tr>{head}</tr>{''.join(rows)}</table>{more}</section>")


def _config_section(d, run: dict) -> str:
    text = d["config"]
    src = "config.toml (a copy of the config the run used)"
    if text is None:
        text, src = json.dumps(run, indent=2, sort_keys=True), "metrics.json run (no config file: flags only)"
    parts = [f"<p>{html.escape(src)}</p><pre>{html.escape(text)}</pre>"]
    if run:
        parts.append("<p>As run (strategy, parameters, selection):</p>"
                     f"<pre>{html.escape(json.dumps(run, indent=2, sort_keys=True))}</pre>")
    return f"<section><h2>Configuration</h2>{''.join(parts)}</section>"


def _models_section(d, run: dict) -> str:
    fid = d["fidelity"]
    if fid is not None:
        return ("<section><h2>Models used</h2><p>fidelity.json: the simulation models this run used.</p>"
                f"<pre>{html.escape(json.dumps(fid, indent=2, sort_keys=True))}</pre></section>")
    opts = run.get("options") or {}
    text = json.dumps(opts, indent=2, sort_keys=True) if opts else "defaults (no broker options set)"
    return ("<section><h2>Models used</h2><p>No fidelity.json in this folder; the simulated broker's options"
            f" as run:</p><pre>{html.escape(text)}</pre></section>")


def _warnings_section(d, m: dict, notes: list[str]) -> str:
    items = [str(w) for w in d["warnings"] or []]
    if m.get("open_positions"):
        items.append(f"{m['open_positions']} position(s) still open at the end, marked at the bid: value "
                     f"{_money(m.get('open_value'))} against cost {_money(m.get('open_cost'))}")
    if m.get("n_predictions") is not None and d["metrics"].get("n_predictions_paired", 0) < m["n_predictions"]:
        items.append(f"{m['n_predictions'] - m['n_predictions_paired']} scored prediction(s) had no two-sided "
                     "book then and are left out of the market comparison")
    for h, s in (m.get("market_scores") or {}).items():
        if not s.get("n"):
            items.append(f"no market scored {h} before close (before the run's start or one-sided books)")
    items += notes
    body = "".join(f"<li>{html.escape(w)}</li>" for w in items) if items else "<li class='ok'>none</li>"
    return f"<section><h2>Warnings</h2><ul>{body}</ul></section>"


def _header(m: dict, run: dict, d) -> str:
    cards = [("PnL", _money(m.get("pnl"))), ("Return", _pct(m.get("return_on_capital"))),
             ("Sharpe (daily)", _fmt("x", m.get("sharpe"))), ("Max drawdown", _money(m.get("max_drawdown"))),
             ("Fills", _fmt("n", m.get("n_fills"))), ("Win rate", _pct(m.get("win_rate"))),
             ("Brier skill", _fmt("x", m.get("brier_skill")))]
    body = "".join(f"<div class='card'><div class='k'>{k}</div><div class='v'>{html.escape(v)}</div></div>"
                   for k, v in cards)
    params = json.dumps(run.get("params", {}), sort_keys=True)
    return (f"<h1>{html.escape(str(run.get('strategy', 'run')))}</h1>"
            f"<p class='sub'>{html.escape(str(d['dir']))} · {run.get('markets', '?')} markets · params "
            f"{html.escape(params)}</p><div class='cards'>{body}</div>")


def _img(png: bytes, alt: str) -> str:
    return f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{base64.b64encode(png).decode()}'>"


def _figure_section(title: str, png: bytes, text: str) -> str:
    return f"<section><h2>{html.escape(title)}</h2><p>{html.escape(text)}</p>{_img(png, title)}</section>"


_CSS = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0 auto;max-width:1000px;padding:16px 24px;
color:#222;background:#fff}
h1{font-size:22px;margin:8px 0 2px}h2{font-size:17px;border-bottom:1px solid #ddd;padding-bottom:3px;margin-top:28px}
.sub{color:#666;margin:0 0 12px}.cards{display:flex;flex-wrap:wrap;gap:8px}
.card{border:1px solid #ddd;border-radius:6px;padding:6px 12px;min-width:110px}.card .k{color:#666;font-size:12px}
.card .v{font-size:18px;font-weight:600}img{max-width:100%;display:block;margin:6px 0}
table{border-collapse:collapse;font-size:12.5px}td,th{padding:2px 8px;text-align:left;border-bottom:1px solid #eee}
table.data td{text-align:right;font-variant-numeric:tabular-nums}table.data td:first-child,table.data td:nth-child(2)
{text-align:left}caption{text-align:left;font-weight:600;padding:4px 0}.kv td{text-align:right;
font-variant-numeric:tabular-nums}.grid{display:flex;flex-wrap:wrap;gap:18px;align-items:flex-start}
.neg{color:#b00}pre{background:#f6f6f6;padding:8px;overflow:auto;font-size:12px}li.ok{color:#080}
"""

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">
<style>{css}</style></head>
<body>
{header}
{body}
<footer><p style="color:#888;font-size:12px">kalshi-framework report · rebuild with
<code>kalshi report RUN_DIR</code></p></footer>
</body></html>
"""
