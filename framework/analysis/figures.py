"""The report's figures, drawn with matplotlib's Agg backend and returned as PNG bytes.

matplotlib is imported inside each function (``import framework`` stays fast and the engine
never imports it); figures are ``matplotlib.figure.Figure`` objects, not pyplot state. Inputs are
plain lists in framework units (ns times, $0.0001 money, 0.01-contract quantities); long series
are thinned to at most ``MAX_POINTS`` per line, keeping each bucket's first, min, max and last
points so peaks and troughs survive.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from ..units import CONTRACT, DOLLAR

__all__ = ["calibration_figure", "equity_figure", "exposure_figure", "pnl_by_event_figure", "price_figure"]

MAX_POINTS = 4000
_DPI = 90


def _figure(height: float, rows: int = 1, sharex: bool = True, width: float = 9.5, left: float = 0.8):
    """A figure with fixed margins (``left`` inches for tick labels): cheaper than constrained
    layout, which measured at a third of the report's drawing time."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=_DPI)
    fig.subplots_adjust(left=left / width, right=1 - 0.2 / width, top=1 - 0.25 / height, bottom=0.55 / height,
                        hspace=0.12)
    axes = fig.subplots(rows, 1, sharex=sharex, squeeze=False)[:, 0]
    return fig, list(axes)


def _png(fig) -> bytes:
    buf = io.BytesIO()
    # zlib level 1: a third of the encode time of the default, files ~20 % larger
    fig.savefig(buf, format="png", dpi=_DPI, pil_kwargs={"compress_level": 1})
    return buf.getvalue()


def _times(ts: Sequence[int]):
    import numpy as np

    return np.asarray(ts, dtype="int64").astype("datetime64[ns]")


def thin(ts: Sequence[int], ys: Sequence[float], max_points: int = MAX_POINTS) -> tuple[list, list]:
    """At most ~``max_points`` points of a step series, keeping every bucket's extremes."""
    n = len(ts)
    if n <= max_points:
        return list(ts), list(ys)
    size = -(-n * 4 // max_points)
    out_t, out_y = [], []
    for lo in range(0, n, size):
        hi = min(lo + size, n)
        seg = range(lo, hi)
        keep = sorted({lo, hi - 1, min(seg, key=ys.__getitem__), max(seg, key=ys.__getitem__)})
        out_t.extend(ts[i] for i in keep)
        out_y.extend(ys[i] for i in keep)
    return out_t, out_y


def _dates(ax) -> None:
    import matplotlib.dates as mdates

    lo, hi = ax.get_xlim()  # days; a run of one instant still gets a readable one-hour axis
    if hi - lo < 1 / 1440:
        mid = (lo + hi) / 2
        ax.set_xlim(mid - 1 / 48, mid + 1 / 48)
    loc = mdates.AutoDateLocator(maxticks=8)
    ax.xaxis.set_major_locator(loc)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc))


def equity_figure(ts: Sequence[int], equity: Sequence[int], starting_cash: int) -> bytes:
    """Equity (exact path, step) over starting cash, and the drawdown below it."""
    fig, (ax, dd_ax) = _figure(4.6, rows=2)
    ys = [e / DOLLAR for e in equity]
    peak, dd = None, []
    for v in ys:
        peak = v if peak is None or v > peak else peak
        dd.append(v - peak)
    t1, y1 = thin(ts, ys)
    t2, y2 = thin(ts, dd)
    ax.step(_times(t1), y1, where="post", color="#1f77b4", lw=1.2, label="equity (cash + open at bid)")
    ax.axhline(starting_cash / DOLLAR, color="#888", lw=0.8, ls="--", label="starting cash")
    ax.set_ylabel("equity, $")
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    dd_ax.fill_between(_times(t2), y2, 0, step="post", color="#d62728", alpha=0.35, lw=0)
    dd_ax.step(_times(t2), y2, where="post", color="#d62728", lw=0.8)
    dd_ax.set_ylabel("drawdown, $")
    dd_ax.grid(alpha=0.3)
    _dates(dd_ax)
    return _png(fig)


def exposure_figure(series: dict[str, tuple[list[int], list[int]]]) -> bytes:
    """Contracts held per market over time, stacked (absolute size; ``series[ticker] = (ts, qty)``
    with qty signed +YES / -NO, a step function)."""
    import bisect

    fig, (ax,) = _figure(3.4)
    grid = sorted({t for ts, _ in series.values() for t in ts})
    if len(grid) > MAX_POINTS:  # an even time grid is enough for a stacked overview
        lo, hi = grid[0], grid[-1]
        grid = [lo + (hi - lo) * k // MAX_POINTS for k in range(MAX_POINTS + 1)]
    layers, labels = [], []
    for ticker, (ts, qty) in series.items():
        layers.append([abs(qty[i]) / CONTRACT if (i := bisect.bisect_right(ts, t) - 1) >= 0 else 0.0 for t in grid])
        labels.append(ticker)
    if layers:
        ax.stackplot(_times(grid), *layers, labels=labels, step="post", alpha=0.85)
        ax.legend(loc="upper left", fontsize=7, ncol=2)
    ax.set_ylabel("contracts held")
    ax.grid(alpha=0.3)
    _dates(ax)
    return _png(fig)


def price_figure(ticker: str, path: Sequence[tuple[int, int | None, int | None]],
                 fills: Sequence[tuple[int, int, str]], settle: tuple[int, str] | None) -> bytes:
    """YES bid/ask of one market with the run's fills on it: ``fills`` as ``(ts, yes_price,
    "buy"|"sell")`` in YES terms (a NO buy at p shows as a YES sell at $1 - p)."""
    fig, (ax,) = _figure(3.0)
    if path:
        ts = [p[0] for p in path]
        for idx, label, color in ((1, "YES bid", "#2ca02c"), (2, "YES ask", "#ff7f0e")):
            vals = [float("nan") if p[idx] is None else p[idx] / DOLLAR for p in path]
            t, v = thin(ts, vals) if len(ts) > MAX_POINTS else (ts, vals)
            ax.step(_times(t), v, where="post", lw=0.9, color=color, label=label)
    for action, marker, color in (("buy", "^", "#1f77b4"), ("sell", "v", "#d62728")):
        pts = [(t, p / DOLLAR) for t, p, a in fills if a == action]
        if pts:
            ax.scatter(_times([t for t, _ in pts]), [p for _, p in pts], marker=marker, s=36, color=color,
                       edgecolor="black", linewidth=0.4, zorder=3, label=f"our YES {action}s")
    if not path and fills:  # no price path: frame the fills (a date axis needs a span)
        lo, hi = min(f[0] for f in fills), max(f[0] for f in fills)
        pad = max((hi - lo) // 20, 1_800_000_000_000)
        ax.set_xlim(_times([lo - pad])[0], _times([hi + pad])[0])
    if settle is not None:
        ax.axvline(_times([settle[0]])[0], color="#555", ls=":", lw=1, label=f"settled {settle[1].upper()}")
    ax.set_ylim(0, 1)
    ax.set_ylabel("YES price, $")
    ax.set_title(ticker, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=7)
    _dates(ax)
    return _png(fig)


def pnl_by_event_figure(events: Sequence[tuple[str, int]]) -> bytes:
    """Horizontal bars of PnL (after fees) per event, ``(event_ticker, pnl units)``."""
    fig, (ax,) = _figure(max(2.0, 0.28 * len(events) + 1.0), left=2.2)
    names = [e for e, _ in events]
    vals = [p / DOLLAR for _, p in events]
    ax.barh(range(len(vals)), vals, color=["#2ca02c" if v > 0 else "#d62728" for v in vals])
    ax.set_yticks(range(len(vals)), names, fontsize=7)
    ax.invert_yaxis()
    ax.axvline(0, color="#444", lw=0.6)
    ax.set_xlabel("PnL after fees, $")
    ax.grid(alpha=0.3, axis="x")
    return _png(fig)


def calibration_figure(tables: dict[str, list[dict]]) -> bytes:
    """Observed YES frequency against mean forecast per bin, one line per forecaster; marker
    area grows with the bin's count; the diagonal is perfect calibration."""
    fig, (ax,) = _figure(4.6, width=5.6, left=0.7)
    ax.plot([0, 1], [0, 1], color="#888", ls="--", lw=0.8, label="perfectly calibrated")
    for name, rows in tables.items():
        if not rows:
            continue
        xs, ys, ns = [r["mean_p"] for r in rows], [r["freq"] for r in rows], [r["n"] for r in rows]
        top = max(ns)
        ax.plot(xs, ys, marker="o", lw=1, label=f"{name} (n={sum(ns)})", markersize=0)
        ax.scatter(xs, ys, s=[20 + 180 * n / top for n in ns], alpha=0.7)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("forecast probability of YES (bin mean)")
    ax.set_ylabel("share settled YES")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=7)
    return _png(fig)
