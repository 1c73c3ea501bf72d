"""The weekly report as PDF: an HTML template (templates/reports/weekly.html) rendered by
WeasyPrint, with the trend charts as vector SVG drawn from the same Plotly figure builders the
pages use (reports/charts.py) by kaleido.

kaleido drives a headless Chromium; starting it costs a couple of seconds, so every figure of a
report is exported in one batch on one browser. Without a usable browser the PDF is still made,
with a note in place of the charts (and a logged warning).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import logging
import os
import shutil
import threading
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from django.conf import settings
from django.template.loader import render_to_string
from django.utils.html import escape
from django.utils.safestring import mark_safe

from reports.render import Inline, Table, report_blocks
from reports.weekly import WeeklyReport

log = logging.getLogger(__name__)

_T = TypeVar("_T")

CHART_WIDTH = 760
CHART_HEIGHT = 300
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome")


@dataclass
class ChartImage:
    title: str
    url: str
    svg_data_uri: str | None


def browser_path() -> str | None:
    """The browser kaleido uses: the setting, BROWSER_PATH, or one on PATH."""
    for candidate in (settings.SUITEHEALTH_CHART_BROWSER, os.environ.get("BROWSER_PATH")):
        if candidate:
            return candidate if os.path.exists(candidate) else None
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return None


def figures_to_svg(figures: list[dict], *, width: int = CHART_WIDTH,
                   height: int = CHART_HEIGHT) -> list[bytes]:  # fmt: skip
    """Every figure as SVG bytes, exported in one batch on one browser. Raises RuntimeError when
    no browser is found, or kaleido's own error when the export fails."""
    import kaleido

    path = browser_path()
    if path is None:
        raise RuntimeError(
            "no Chromium or Chrome found for kaleido (set SUITEHEALTH_CHART_BROWSER)"
        )
    prepared = [_static(f) for f in figures]

    async def export() -> list[bytes]:
        async with kaleido.Kaleido(n=1, mathjax=False, path=path) as k:
            return [
                await k.calc_fig(fig, opts={"format": "svg", "width": width, "height": height})
                for fig in prepared
            ]

    return _run(export())


def _run(coro: Coroutine[Any, Any, _T]) -> _T:
    """asyncio.run, also from code that already runs an event loop (in a thread then)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    result: dict[str, object] = {}

    def target() -> None:
        try:
            result["value"] = asyncio.run(coro)
        except BaseException as exc:  # noqa: BLE001 (re-raised below)
            result["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]  # type: ignore[misc]
    return cast(_T, result["value"])


def _isolated(values: Sequence[float | None]) -> bool:
    """A value with no value beside it: a line draws nothing there."""
    padded = [None, *values, None]
    return any(
        padded[i] is not None and padded[i - 1] is None and padded[i + 1] is None
        for i in range(1, len(padded) - 1)
    )


def _static(figure: dict) -> dict:
    """A page figure made for paper: white background, legend below, lines without point
    markers (each marker would be one more drawing for the PDF to lay out; on paper nobody
    hovers or clicks) unless a point has no neighbour to draw a line to, no hover or click
    data."""
    fig = copy.deepcopy(figure)
    for trace in fig.get("data", []):
        trace.pop("customdata", None)
        trace.pop("hovertemplate", None)
        if trace.get("type") == "scatter" and "lines" in str(trace.get("mode", "")):
            trace["mode"] = "lines+markers" if _isolated(list(trace.get("y") or [])) else "lines"
    layout = fig.setdefault("layout", {})
    layout.pop("height", None)
    layout.update(
        paper_bgcolor="#ffffff",
        plot_bgcolor="#ffffff",
        font={"family": "DejaVu Sans, sans-serif", "size": 11, "color": "#1f2933"},
        legend={"orientation": "h", "y": -0.18, "x": 0, "font": {"size": 10}},
        margin={"l": 56, "r": 40, "t": 12, "b": 70},
    )
    return fig


def chart_images(report: WeeklyReport) -> tuple[list[ChartImage], str]:
    """The report's charts as SVG data URIs, and a note when they could not be drawn."""
    try:
        svgs = figures_to_svg([c.figure for c in report.charts])
    except Exception as exc:  # noqa: BLE001 (any failure of the browser: the PDF goes on)
        log.warning("weekly report %s %s: charts left out: %s", report.project, report.week, exc)
        note = (f"Charts could not be drawn here ({exc}); they are on the dashboard: "
                f"{report.links['trends']}")  # fmt: skip
        return [ChartImage(c.title, c.url, None) for c in report.charts], note
    images = [
        ChartImage(c.title, c.url, "data:image/svg+xml;base64," + base64.b64encode(svg).decode())
        for c, svg in zip(report.charts, svgs, strict=True)
    ]
    return images, ""


def _inline(inline: Inline) -> str:
    parts = []
    for cell in inline:
        text: str = escape(cell.text)
        if cell.code:
            # Long test ids break after their separators, not anywhere.
            for sep in ("/", "::"):
                text = text.replace(sep, sep + "<wbr>")
            text = f"<code>{text}</code>"
        parts.append(f'<a href="{escape(cell.url)}">{text}</a>' if cell.url else text)
    return "".join(parts)


def _table(table: Table) -> str:
    align = table.align or "l" * len(table.header)
    # Short columns (weeks, commits, counts) never wrap.
    short = [all(len("".join(c.text for c in row[i])) <= 14 for row in table.rows)
             for i in range(len(table.header))]  # fmt: skip
    cls = [' class="num"' if a == "r" else ' class="short"' if short[i] else ""
           for i, a in enumerate(align)]  # fmt: skip
    head = "".join(f"<th{c}>{escape(h)}</th>" for h, c in zip(table.header, cls, strict=True))
    body = "".join(
        "<tr>"
        + "".join(f"<td{c}>{_inline(cell)}</td>" for cell, c in zip(row, cls, strict=True))
        + "</tr>"
        for row in table.rows
    )
    wide = " wide" if len(table.header) > 8 else ""
    return f'<table class="data{wide}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _body(report: WeeklyReport, images: dict[str, ChartImage], note: str) -> str:
    out = []
    for block in report_blocks(report):
        if block.kind in ("h1", "h2", "h3"):
            if block.kind == "h2" and block.text.startswith("Trends") and note:
                out.append(f'<h2>{escape(block.text)}</h2><p class="note">{escape(note)}</p>')
                continue
            out.append(f"<{block.kind}>{escape(block.text)}</{block.kind}>")
        elif block.kind == "p":
            out.append(f"<p>{_inline(block.inline)}</p>")
        elif block.kind == "ul":
            out.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in block.items) + "</ul>")
        elif block.kind == "table" and block.table is not None:
            out.append(_table(block.table))
        elif block.kind == "chart" and block.chart is not None:
            image = images.get(block.chart.key)
            title = f'<a href="{escape(block.chart.url)}">{escape(block.chart.title)}</a>'
            if image is not None and image.svg_data_uri:
                out.append(f'<figure class="chart"><figcaption>{title}</figcaption>'
                           f'<img src="{image.svg_data_uri}" alt="{escape(block.chart.title)}">'
                           "</figure>")  # fmt: skip
            else:
                out.append(f'<p class="chart-missing">{title}: on the dashboard.</p>')
    return "\n".join(out)


def weekly_report_html(report: WeeklyReport, *, page_size: str | None = None,
                       charts: tuple[list[ChartImage], str] | None = None) -> str:  # fmt: skip
    images, note = charts if charts is not None else chart_images(report)
    by_key = {c.key: img for c, img in zip(report.charts, images, strict=True)}
    computed = report.generated_at.strftime("%Y-%m-%d %H:%M UTC") if report.generated_at else ""
    return render_to_string(
        "reports/weekly.html",
        {
            "r": report,
            "page_size": page_size or settings.SUITEHEALTH_REPORT_PAGE_SIZE,
            "computed": computed,
            "body": mark_safe(_body(report, by_key, note)),  # noqa: S308 (escaped above)
        },
    )


def weekly_report_pdf(report: WeeklyReport, *, page_size: str | None = None) -> bytes:
    """The PDF bytes of the report (A4 by default, or Letter)."""
    from weasyprint import HTML

    html = weekly_report_html(report, page_size=page_size)
    return HTML(string=html, base_url=settings.SITE_URL).write_pdf()
