"""Plotly figures for the pages and the PDF report, built from selector data.

Every builder is a pure function with keyword-only arguments: it takes lists of the small
dataclasses below and returns a Plotly figure as a plain dict ({"data": [...], "layout": {...}}),
ready for `json_script` in a page or `plotly.io` in a report. Nothing here knows about the ORM or
the request, and nothing imports plotly: a figure dict is all plotly.js and kaleido need.

Clicking a point goes to its evidence: `customdata` of each point holds the target URL (first
element when customdata carries more values for the hover text); static/js/charts.js follows it.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

# --- Data shapes (what the selectors hand over) ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class WeekPoint:
    """One service's headline numbers for one ISO week, with where each number comes from."""

    series: str  # the service
    week: str  # "2026-W44"
    runs: int
    passed: int | None = None  # first attempts
    failed: int | None = None
    pass_rate: float | None = None  # 0..1
    final_pass_rate: float | None = None
    isolation_score: float | None = None  # 0..100
    clean_runs: int | None = None
    scored_runs: int | None = None  # runs in the score's denominator (outages left out)
    outage_runs: int = 0  # infra-outage runs: left out of isolation, kept in the pass rate
    p50_ms: float | None = None  # test medians: p50 and p95 over the per-test medians
    p95_ms: float | None = None
    wall_p50_ms: float | None = None  # suite wall clock per run
    wall_p95_ms: float | None = None
    runs_url: str = ""  # the runs list of this service and week
    unclean_url: str = ""  # the runs that cost this week its isolation score
    week_url: str = ""  # the service page of this week (slowest tests)
    wall_url: str = ""  # the runs behind the wall-clock figures, longest first


@dataclass(frozen=True, slots=True)
class CauseCount:
    """How many tests were flaky for one cause in one week (findings of that kind)."""

    week: str
    cause: str  # flaky | order_dependent | cascade
    count: int
    url: str  # the findings table filtered to this kind and week


@dataclass(frozen=True, slots=True)
class AttemptPoint:
    """One attempt of one test in one run."""

    started_at: dt.datetime
    run: int
    commit: str
    branch: str
    attempt: int
    outcome: str  # passed | failed | error | skipped
    duration_ms: int | None
    url: str  # the run page


@dataclass(frozen=True, slots=True)
class ChangeMark:
    """A duration change point of a test (a duration_regression finding or an improvement)."""

    time: dt.datetime
    kind: str  # slowdown | speedup
    before_ms: float
    after_ms: float
    ratio: float
    commit: str
    url: str  # the finding's evidence


@dataclass(frozen=True, slots=True)
class OrderCell:
    """One first attempt in a run's execution order."""

    timeline: str
    position: int  # index within its timeline, 0-based
    outcome: str
    test: str
    duration_ms: int | None
    url: str  # the test page
    row: int | None = None  # its position in the upload, from 1: the results table's "#"


# --- Look ---------------------------------------------------------------------------------------

FONT = "Inter, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
INK = "#1f2933"
MUTED = "#7b8794"
GRID = "#e4e7eb"
# Distinguishable for the common colour-vision deficiencies (Okabe-Ito, without the yellow).
PALETTE = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#000000", "#999999")
OUTCOME_COLORS = {
    "passed": "#2f9e62",
    "failed": "#d64545",
    "error": "#9b2c6f",
    "skipped": "#9aa5b1",
}
CAUSE_COLORS = {"flaky": "#e69f00", "order_dependent": "#cc79a7", "cascade": "#0072b2"}
CAUSE_LABELS = {
    "flaky": "non-deterministic",
    "order_dependent": "order-dependent",
    "cascade": "cascade root",
}
# Heatmap: red (bad) through amber to green (good), the same for both metrics.
HEAT_SCALE = [
    [0.0, "#c0392b"],
    [0.6, "#e67e22"],
    [0.85, "#f1c40f"],
    [0.95, "#a3d977"],
    [1.0, "#2f9e62"],
]


def series_colors(names: Sequence[str]) -> dict[str, str]:
    """A stable colour per series name: sorted names take the palette in order."""
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(sorted(set(names)))}


def _layout(*, title: str = "", y_title: str = "", height: int = 300, **extra: object) -> dict:
    layout: dict[str, object] = {
        "height": height,
        "margin": {"l": 56, "r": 16, "t": 36 if title else 12, "b": 40},
        "font": {"family": FONT, "size": 12, "color": INK},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "hovermode": "closest",
        "hoverlabel": {"font": {"family": FONT, "size": 12}},
        "legend": {"orientation": "h", "y": -0.18, "x": 0, "font": {"size": 11}},
        "xaxis": {"gridcolor": GRID, "linecolor": GRID, "zeroline": False},
        "yaxis": {
            "gridcolor": GRID,
            "linecolor": GRID,
            "zeroline": False,
            "title": {"text": y_title, "font": {"size": 11, "color": MUTED}},
        },
    }
    if title:
        layout["title"] = {"text": title, "x": 0, "xanchor": "left", "font": {"size": 14}}
    layout.update(extra)
    for axis in ("xaxis", "yaxis"):
        # Room for the tick labels and the axis title, however long ("3,000 ms").
        if isinstance(layout.get(axis), dict):
            layout[axis] = {"automargin": True, **layout[axis]}  # type: ignore[dict-item]
    return layout


def _week_figure(data: list[dict], weeks: Sequence[str], yaxis: dict, **layout: Any) -> dict:
    """A figure over the week axis; `yaxis` is laid over the common grid colour."""
    return {
        "data": data,
        "layout": _layout(xaxis=_week_axis(weeks), yaxis={"gridcolor": GRID, **yaxis}, **layout),
    }


_Outcomed = TypeVar("_Outcomed", "AttemptPoint", "OrderCell")


def _by_outcome(items: Sequence[_Outcomed]) -> list[tuple[str, list[_Outcomed]]]:
    """Items with an `outcome`, one group per outcome that occurs, in legend order."""
    groups = [(o, [i for i in items if i.outcome == o]) for o in OUTCOME_COLORS]
    return [(o, pts) for o, pts in groups if pts]


def _week_axis(weeks: Sequence[str]) -> dict[str, object]:
    # Categorical, in the given order, so a week without data keeps its place on the axis.
    return {
        "type": "category",
        "categoryorder": "array",
        "categoryarray": list(weeks),
        "gridcolor": GRID,
        "linecolor": GRID,
        "tickangle": "auto",  # slanted when the labels would overlap (a narrow screen)
    }


def mark_in_progress(figure: dict, week: str, *, shade: bool = True) -> dict:
    """Mark `week` on a figure's week axis as still under way: its tick reads "so far" and, with
    `shade`, its column is shaded, so a partial week is not read as a full one."""
    xaxis = figure["layout"]["xaxis"]
    weeks = list(xaxis.get("categoryarray", []))
    if week not in weeks:
        return figure
    xaxis.update(tickmode="array", tickvals=weeks,
                 ticktext=[f"{w}<br>so far" if w == week else w for w in weeks])  # fmt: skip
    margin = figure["layout"]["margin"]
    margin["b"] = max(margin["b"], 44)  # room for the second line of the tick
    if shade:
        i = weeks.index(week)
        figure["layout"].setdefault("shapes", []).append(
            {"type": "rect", "xref": "x", "yref": "paper", "x0": i - 0.5, "x1": i + 0.5, "y0": 0,
             "y1": 1, "fillcolor": GRID, "opacity": 0.45, "line": {"width": 0}, "layer": "below"}
        )  # fmt: skip
    return figure


def _by_series(points: Sequence[WeekPoint]) -> dict[str, list[WeekPoint]]:
    out: dict[str, list[WeekPoint]] = {}
    for p in points:
        out.setdefault(p.series, []).append(p)
    return dict(sorted(out.items()))


def _pct(value: float | None) -> float | None:
    return None if value is None else round(value * 100, 4)


# --- Week trends (overview, project and service pages) -------------------------------------------


def _cell_label(value: float | None) -> str:
    """A 0-100 cell's whole number, except that only 100 reads "100" and only 0 reads "0":
    99.92 is "99.9", 0.3 is "0.3" (rounding must not turn one failure into a clean cell)."""
    if value is None:
        return ""
    if 99.5 <= value < 100:
        return f"{math.floor(value * 10) / 10:.1f}"
    if 0 < value < 0.5:
        return f"{math.ceil(value * 10) / 10:.1f}"
    return f"{value:.0f}"


def heatmap_figure(
    *,
    rows: Sequence[str],
    weeks: Sequence[str],
    values: Sequence[Sequence[float | None]],
    urls: Sequence[Sequence[str | None]],
    details: Sequence[Sequence[str]],
    metric: str,
) -> dict:
    """Services (rows) x weeks heatmap of the isolation score (0-100) or the pass rate (0-1,
    shown in %). `details[i][j]` is the hover line with the counts behind the cell."""
    percent = metric == "pass_rate"
    z = [[(_pct(v) if percent else v) for v in row] for row in values]
    text = [[_cell_label(v) for v in row] for row in z]
    label = "pass rate (first attempt), %" if percent else "isolation score"
    return {
        "data": [
            {
                "type": "heatmap",
                "x": list(weeks),
                "y": [_h(r) for r in rows],
                "z": z,
                "zmin": 0,
                "zmax": 100,
                "colorscale": HEAT_SCALE,
                "text": text,
                "texttemplate": "%{text}",
                "textfont": {"size": 11},
                "customdata": [list(r) for r in urls],
                "hovertext": [list(r) for r in details],
                "hovertemplate": "<b>%{y}</b> · %{x}<br>"
                + label
                + ": %{z:.2f}<br>%{hovertext}<extra></extra>",
                "xgap": 2,
                "ygap": 2,
                "colorbar": {"thickness": 10, "len": 0.9, "outlinewidth": 0},
                "hoverongaps": False,
            }
        ],
        "layout": _layout(
            height=max(140, 44 + 30 * len(rows)),
            margin={"l": 110, "r": 10, "t": 8, "b": 30},
            plot_bgcolor="#f3f5f8",  # a week without runs shows as an empty cell
            xaxis={**_week_axis(weeks), "side": "bottom", "showgrid": False},
            yaxis={"autorange": "reversed", "showgrid": False, "type": "category"},
        ),
    }


def _outage_note(runs: int) -> str:
    if not runs:
        return ""
    return f"<br>includes {runs} infra-outage run{'' if runs == 1 else 's'} (see the week's runs)"


def pass_rate_figure(
    *, points: Sequence[WeekPoint], weeks: Sequence[str], final: bool = True
) -> dict:
    """Per service and week: first-attempt pass rate (solid) and, if `final`, the final pass
    rate after retries (dotted). A click opens that week's runs of the service. A week with
    infra-outage runs (counted in the pass rate, by definition) has a diamond marker and says
    so in its hover: a dip there may be the outage, not the tests."""
    colors = series_colors([p.series for p in points])
    data: list[dict[str, object]] = []
    for name, pts in _by_series(points).items():
        custom = [
            [p.runs_url, p.passed if p.passed is not None else "–",
             p.failed if p.failed is not None else "–", p.runs,
             _outage_note(p.outage_runs)]
            for p in pts
        ]  # fmt: skip
        symbols = ["diamond" if p.outage_runs else "circle" for p in pts]
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": _h(name),
                "legendgroup": name,
                "x": [p.week for p in pts],
                "y": [_pct(p.pass_rate) for p in pts],
                "customdata": custom,
                "line": {"color": colors[name], "width": 2},
                "marker": {"size": 7, "symbol": symbols},
                "hovertemplate": f"<b>{_h(name)}</b> · %{{x}}<br>"
                "first-attempt pass rate: %{y:.2f}%"
                "<br>%{customdata[1]} passed / %{customdata[2]} failed"
                " · %{customdata[3]} runs%{customdata[4]}<extra></extra>",
            }
        )
        if final:
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines+markers",
                    "name": f"{_h(name)} (final)",
                    "legendgroup": name,
                    "showlegend": False,
                    "x": [p.week for p in pts],
                    "y": [_pct(p.final_pass_rate) for p in pts],
                    "customdata": custom,
                    "line": {"color": colors[name], "width": 1.5, "dash": "dot"},
                    "marker": {"size": 5, "symbol": "circle-open"},
                    "hovertemplate": f"<b>{_h(name)}</b> · %{{x}}<br>"
                    "final pass rate (after retries):"
                    " %{y:.2f}%<extra></extra>",
                }
            )
    if any(p.outage_runs for p in points):  # the diamond's meaning, as a legend entry
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": "week with infra-outage runs",
                "x": [None],
                "y": [None],
                "marker": {"symbol": "diamond", "size": 7, "color": MUTED},
                "hoverinfo": "skip",
            }
        )
    return _week_figure(
        data,
        weeks,
        {"ticksuffix": "%", "rangemode": "normal", "title": {"text": "", "font": {"size": 11}}},
        y_title="pass rate, %  (dotted: after retries)",
    )


def isolation_figure(*, points: Sequence[WeekPoint], weeks: Sequence[str]) -> dict:
    """Isolation score per service and week; a click lists the week's unclean runs."""
    colors = series_colors([p.series for p in points])
    data = []
    for name, pts in _by_series(points).items():
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": _h(name),
                "x": [p.week for p in pts],
                "y": [p.isolation_score for p in pts],
                "customdata": [
                    [
                        p.unclean_url,
                        "–" if p.clean_runs is None else p.clean_runs,
                        "–" if p.scored_runs is None else p.scored_runs,
                    ]
                    for p in pts
                ],  # fmt: skip
                "line": {"color": colors[name], "width": 2},
                "marker": {"size": 7},
                "hovertemplate": f"<b>{_h(name)}</b> · %{{x}}<br>isolation score: %{{y:.2f}}"
                "<br>%{customdata[1]} clean of %{customdata[2]} runs<extra></extra>",
            }
        )
    return _week_figure(data, weeks, {"range": [0, 102], "title": {"text": ""}})


def causes_figure(*, counts: Sequence[CauseCount], weeks: Sequence[str]) -> dict:
    """Flaky tests by cause, stacked per week; a click opens the findings of that cause and week."""
    data = []
    for cause in ("flaky", "order_dependent", "cascade"):
        rows = [c for c in counts if c.cause == cause]
        if not rows:
            continue
        data.append(
            {
                "type": "bar",
                "name": CAUSE_LABELS[cause],
                "x": [c.week for c in rows],
                "y": [c.count for c in rows],
                "customdata": [[c.url] for c in rows],
                "marker": {"color": CAUSE_COLORS[cause]},
                "hovertemplate": f"%{{x}}<br>{CAUSE_LABELS[cause]}: %{{y}} tests<extra></extra>",
            }
        )
    yaxis = {"rangemode": "tozero", "title": {"text": "tests"}, "dtick": None}
    if not any(c.count for c in counts):
        # Empty axes would read as a chart that failed to draw.
        none = _note("no flaky tests, victims or cascade roots in these weeks")
        return _week_figure(data, weeks, {**yaxis, "range": [0, 1], "dtick": 1}, barmode="stack",
                            annotations=[none])  # fmt: skip
    return _week_figure(data, weeks, yaxis, barmode="stack")


def _note(text: str) -> dict[str, object]:
    """A line of text in the middle of an empty plot."""
    return {"text": text, "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5,
            "showarrow": False, "font": {"size": 12, "color": MUTED}}  # fmt: skip


def durations_figure(
    *, points: Sequence[WeekPoint], weeks: Sequence[str], wall_clock: bool = False
) -> dict:
    """p50 (solid) and p95 (dashed) per service and week: of the per-test medians, or of the
    suite's wall clock per run. A click opens the service's week (slowest tests), or for the
    wall clock the week's runs, longest first."""
    colors = series_colors([p.series for p in points])
    data = []
    for name, pts in _by_series(points).items():
        for pct, dash in (("p50", "solid"), ("p95", "dash")):
            if wall_clock:
                ys = [p.wall_p50_ms if pct == "p50" else p.wall_p95_ms for p in pts]
            else:
                ys = [p.p50_ms if pct == "p50" else p.p95_ms for p in pts]
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines+markers",
                    "name": f"{_h(name)} {pct}",
                    "legendgroup": name,
                    "showlegend": pct == "p50",
                    "x": [p.week for p in pts],
                    "y": ys,
                    "customdata": [[p.wall_url if wall_clock else p.week_url] for p in pts],
                    "line": {
                        "color": colors[name],
                        "width": 2 if pct == "p50" else 1.5,
                        "dash": dash,
                    },
                    "marker": {"size": 6 if pct == "p50" else 4},
                    "hovertemplate": f"<b>{_h(name)}</b> · %{{x}}<br>{pct}: %{{y:,.1f}} ms"
                    "<extra></extra>",
                }  # fmt: skip
            )
    what = "suite wall clock per run" if wall_clock else "per-test median"
    return _week_figure(
        data,
        weeks,
        {
            "rangemode": "tozero",
            "ticksuffix": " ms",
            "title": {"text": f"{what} (dashed: p95)", "font": {"size": 11}},
        },
    )


def runs_figure(*, points: Sequence[WeekPoint], weeks: Sequence[str]) -> dict:
    """Runs per service and week, stacked; a click opens the runs list of that service and week."""
    colors = series_colors([p.series for p in points])
    data = []
    for name, pts in _by_series(points).items():
        data.append(
            {
                "type": "bar",
                "name": _h(name),
                "x": [p.week for p in pts],
                "y": [p.runs for p in pts],
                "customdata": [[p.runs_url] for p in pts],
                "marker": {"color": colors[name]},
                "hovertemplate": f"<b>{_h(name)}</b> · %{{x}}<br>%{{y}} runs<extra></extra>",
            }
        )
    return _week_figure(
        data, weeks, {"rangemode": "tozero", "title": {"text": "runs"}}, barmode="stack"
    )


# --- One test -------------------------------------------------------------------------------------


def outcome_timeline_figure(*, attempts: Sequence[AttemptPoint]) -> dict:
    """Every attempt of a test by run start time: y is the attempt number, colour the outcome,
    so a retry that passed shows as a red point under a green one. A click opens the run."""
    data = []
    for outcome, pts in _by_outcome(attempts):
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": outcome,
                "x": [a.started_at.isoformat() for a in pts],
                "y": [a.attempt for a in pts],
                "customdata": [
                    [
                        a.url,
                        a.run,
                        _h(a.commit[:10]),
                        _h(a.branch),
                        "–" if a.duration_ms is None else f"{a.duration_ms:,} ms",
                    ]
                    for a in pts
                ],  # fmt: skip
                "marker": {
                    "color": OUTCOME_COLORS[outcome],
                    "size": 8,
                    "symbol": "square"
                    if outcome == "passed"
                    else "x"
                    if outcome != "skipped"
                    else "circle-open",
                    "line": {"width": 1, "color": OUTCOME_COLORS[outcome]},
                },
                "hovertemplate": f"<b>{outcome}</b> · attempt %{{y}}<br>run #%{{customdata[1]}}"
                " · %{customdata[2]} on %{customdata[3]}<br>%{x|%Y-%m-%d %H:%M} UTC"
                " · %{customdata[4]}<extra></extra>",
            }
        )
    top = max((a.attempt for a in attempts), default=1)
    return {
        "data": data,
        "layout": _layout(
            height=220,
            xaxis={"type": "date", "gridcolor": GRID, "linecolor": GRID},
            yaxis={
                "gridcolor": GRID,
                "title": {"text": "attempt"},
                "dtick": 1,
                "range": [0.5, top + 0.5],
                "zeroline": False,
            },
        ),  # fmt: skip
    }


def test_duration_figure(
    *,
    attempts: Sequence[AttemptPoint],
    changes: Sequence[ChangeMark],
    reference_branch: str,
) -> dict:
    """Durations of passed first attempts over time (the reference branch apart from the other
    branches, as change points read only the reference branch), with each change point marked:
    a vertical line at the first commit after it and the medians before and after."""
    passed = [
        a for a in attempts
        if a.outcome == "passed" and a.attempt == 1 and a.duration_ms is not None
    ]  # fmt: skip
    data: list[dict[str, object]] = []
    for label, pts, color in (
        (reference_branch, [a for a in passed if a.branch == reference_branch], "#0072b2"),
        ("other branches", [a for a in passed if a.branch != reference_branch], "#9aa5b1"),
    ):
        if not pts:
            continue
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": _h(label),
                "x": [a.started_at.isoformat() for a in pts],
                "y": [a.duration_ms for a in pts],
                "customdata": [[a.url, a.run, _h(a.commit[:10]), _h(a.branch)] for a in pts],
                "marker": {"color": color, "size": 6, "opacity": 0.85},
                "hovertemplate": "%{y:,} ms<br>run #%{customdata[1]} · %{customdata[2]} on "
                "%{customdata[3]}<br>%{x|%Y-%m-%d %H:%M} UTC<extra></extra>",
            }
        )
    shapes = []
    if changes:
        # Each change point is a flag above every point, on its vertical line: nothing sits on
        # top of it, so hovering or clicking it always reaches the finding.
        highest = max([a.duration_ms for a in passed if a.duration_ms is not None]
                      + [c.after_ms for c in changes]
                      + [c.before_ms for c in changes])  # fmt: skip
        flag = highest * (1.25 if _wide(passed) else 1.12)
        data.append(
            {
                "type": "scatter",
                "mode": "markers+text",
                "name": "change points",
                "x": [c.time.isoformat() for c in changes],
                "y": [flag for _ in changes],
                "text": [f"×{c.ratio:.2f}" for c in changes],
                "textposition": "middle right",
                "customdata": [
                    [c.url, c.kind, f"{c.before_ms:,.1f}", f"{c.after_ms:,.1f}", _h(c.commit[:10])]
                    for c in changes
                ],
                "marker": {
                    "symbol": "diamond",
                    "size": 13,
                    "color": ["#d64545" if c.kind == "slowdown" else "#2f9e62" for c in changes],
                },
                "hovertemplate": "<b>%{customdata[1]}</b> %{text}<br>median %{customdata[2]} ms"
                " → %{customdata[3]} ms<br>first commit after: %{customdata[4]}<extra></extra>",
            }
        )
        xs = [a.started_at for a in passed] or [c.time for c in changes]
        lo, hi = min(xs), max(xs)
        # Each level runs from the change before it to the change after it (a slowdown and the
        # speed-up that reverted it), or to the ends of the plot.
        times = sorted(c.time for c in changes)
        for c in changes:
            color = "#d64545" if c.kind == "slowdown" else "#2f9e62"
            shapes.append(
                {"type": "line", "xref": "x", "yref": "paper", "x0": c.time.isoformat(),
                 "x1": c.time.isoformat(), "y0": 0, "y1": 1,
                 "line": {"color": color, "width": 1.5, "dash": "dot"}}
            )  # fmt: skip
            start = max((t for t in times if t < c.time), default=min(lo, c.time))
            end = min((t for t in times if t > c.time), default=max(hi, c.time))
            for x0, x1, y in (
                (start, c.time, c.before_ms),
                (c.time, end, c.after_ms),
            ):
                shapes.append(
                    {"type": "line", "xref": "x", "yref": "y", "x0": x0.isoformat(),
                     "x1": x1.isoformat(), "y0": y, "y1": y,
                     "line": {"color": color, "width": 1, "dash": "dash"}, "opacity": 0.6}
                )  # fmt: skip
    return {
        "data": data,
        "layout": _layout(
            height=280,
            shapes=shapes,
            xaxis={"type": "date", "gridcolor": GRID, "linecolor": GRID},
            yaxis={
                "gridcolor": GRID,
                "type": "log" if _wide(passed) else "linear",
                "ticksuffix": " ms",
                "title": {"text": "passed first attempts"},
            },
        ),  # fmt: skip
    }


def _wide(points: Sequence[AttemptPoint]) -> bool:
    # A log axis when durations span more than a factor of 20: a slowdown stays visible next
    # to an outlier, as the change-point method itself works on log durations.
    values = [a.duration_ms for a in points if a.duration_ms]
    return bool(values) and max(values) / max(1, min(values)) > 20


# --- One run --------------------------------------------------------------------------------------


def run_order_figure(*, cells: Sequence[OrderCell]) -> dict:
    """A run's first attempts in execution order, one row per timeline (worker): a failure
    followed by a run of failures on the same row is what a cascade looks like. A click opens
    the test."""
    timelines = sorted({c.timeline for c in cells})
    labels = {t: _h(_short(t)) for t in timelines}
    data = []
    for outcome, pts in _by_outcome(cells):
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": outcome,
                "x": [c.position + 1 for c in pts],
                "y": [labels[c.timeline] for c in pts],
                "customdata": [
                    [
                        c.url,
                        _h(c.test),
                        "–" if c.duration_ms is None else f"{c.duration_ms:,} ms",
                        _h(c.timeline),
                        "" if c.row is None else f" · row #{c.row} of the results",
                    ]
                    for c in pts
                ],  # fmt: skip
                "marker": {"symbol": "square", "size": 9, "color": OUTCOME_COLORS[outcome]},
                "hovertemplate": "%{customdata[1]}<br>" + outcome + " · #%{x} on %{customdata[3]}"
                " · %{customdata[2]}%{customdata[4]}<extra></extra>",
            }
        )
    return {
        "data": data,
        "layout": _layout(
            height=max(150, 70 + 26 * len(timelines)),
            margin={
                "l": 16 + 7 * max((len(v) for v in labels.values()), default=4),
                "r": 16,
                "t": 8,
                "b": 36,
            },
            xaxis={
                "gridcolor": GRID,
                "title": {"text": "order on the worker"},
                "rangemode": "tozero",
            },
            yaxis={
                "type": "category",
                "categoryorder": "array",
                "categoryarray": [labels[t] for t in timelines],
                "autorange": "reversed",
                "gridcolor": GRID,
            },
        ),  # fmt: skip
    }


def _h(text: str) -> str:
    """Text from uploads (service, worker and branch names, commits) as plotly.js shows it:
    it reads a few HTML tags in names and hover text, links included, so `<` and `&` are
    escaped."""
    return html.escape(text, quote=False)


def _short(timeline: str, limit: int = 24) -> str:
    # Worker names can be paths (a Go package): keep their informative end.
    return timeline if len(timeline) <= limit else "…" + timeline[-(limit - 1) :]


# --- Sparklines (inline SVG, no plotly.js: the overview shows many of them) -----------------------


def sparkline_paths(*, values: Sequence[float | None], partial: bool, low: float | None = None,
                    high: float | None = None) -> tuple[str, str]:  # fmt: skip
    """(solid, dashed): with `partial` the stretch to the last value, a week still under way, is
    the dashed path, on the same scale as the rest."""
    known = [v for v in values if v is not None and not math.isnan(v)]
    if not known or not partial or len(values) < 2:
        return sparkline_path(values=values, low=low, high=high), ""
    low = min(known) if low is None else low
    high = max(known) if high is None else high
    return (
        sparkline_path(values=[*values[:-1], None], low=low, high=high),
        sparkline_path(values=[*([None] * (len(values) - 2)), *values[-2:]], low=low, high=high),
    )


def sparkline_path(*, values: Sequence[float | None], width: int = 120, height: int = 28,
                   low: float | None = None, high: float | None = None) -> str:  # fmt: skip
    """An SVG path ("M x y L x y ...") through the values, gaps left open; "" without data.
    `low`/`high` fix the vertical range (e.g. 0-100), else it is the data's own."""
    known = [v for v in values if v is not None and not math.isnan(v)]
    if not known:
        return ""
    lo = min(known) if low is None else low
    hi = max(known) if high is None else high
    span = (hi - lo) or 1.0
    step = width / max(1, len(values) - 1)
    pad = 2
    parts: list[str] = []
    run = 0  # points in the current stretch without a gap
    for i, v in enumerate(values):
        if v is None or math.isnan(v):
            if run == 1:
                parts.append("h0.1")  # a lone point: a dot, drawn by the round line cap
            run = 0
            continue
        x = i * step if len(values) > 1 else width / 2
        y = pad + (height - 2 * pad) * (1 - (v - lo) / span)
        parts.append(f"{'L' if run else 'M'}{x:.1f} {y:.1f}")
        run += 1
    if run == 1:
        parts.append("h0.1")
    return " ".join(parts)
