"""The weekly report as a document (headings, paragraphs, tables of cells that link to their
evidence), and that document as GitHub-flavored Markdown. The PDF's HTML template walks the same
blocks (reports/pdf.py), so both formats state the same figures.

Markdown: tables, readable as plain text, every figure a link to its evidence, charts as links to
the dashboard. Deterministic: the same report data gives the same bytes (the only time in it is
the week's latest computation, taken from the data)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from reports.metrics.params import MetricParams
from reports.selectors import TREND_WEEKS, plural
from reports.weekly import (
    CAUSE_NAMES,
    Chart,
    Figure,
    Item,
    TestRef,
    WeeklyReport,
    ms,
    ms_delta,
    pct,
    pp,
)

# What each threshold of the settings snapshot means (docs/metrics.md has the full definitions).
PARAM_NOTES = {
    "reference_branch": "branch that regressions and duration changes are read on",
    "same_commit_days": "a failure that passed on the same commit within this many days is flaky",
    "flaky_window_days": "a test stays confirmed flaky this many days after a flaky result",
    "suspect_runs": "reference-branch runs a suspected flaky test is judged on",
    "suspect_min_runs": "fewest runs for a suspicion",
    "suspect_flip_rate": "pass/fail flip rate that makes a test suspected flaky",
    "suspect_min_failures": "fewest failures for a suspicion",
    "clear_days": "days without a flaky result before a test is cleared",
    "clear_passes": "consecutive passes before a test is cleared",
    "od_window_days": "days of order data a polluter is inferred from",
    "od_min_failures": "fewest failures of a victim",
    "od_min_passes": "fewest passes of a victim",
    "od_q": "false-discovery rate (Benjamini–Hochberg q) of polluter candidates",
    "od_min_risk_difference": "lower bound of the risk difference a polluter must cause",
    "od_min_cooccurrence": "failures the polluter must have preceded",
    "od_max_polluters": "polluters reported per victim",
    "cascade_min_length": "consecutive failures on one worker that make a cascade",
    "cascade_alpha": "chance probability below which the followers' failures are a cascade",
    "cascade_window_days": "days of failure rates a cascade is judged on",
    "outage_share": "share of failing tests that makes a run an infra outage",
    "p50_min_n": "passed durations needed for a p50",
    "p95_min_n": "passed durations needed for a p95",
    "cp_window": "commits a change-point search looks at",
    "cp_pvalue": "significance of a duration change point",
    "cp_min_points": "commits needed on each side of a change",
    "cp_min_ratio": "smallest slowdown ratio reported",
    "cp_min_shift_ms": "smallest slowdown reported, in ms",
    "cp_improvement_ratio": "ratio at or under which a change is a speed-up",
    "cp_mwu_pvalue": "Mann–Whitney significance a change must also reach",
    "budget_min_n": "durations needed to judge a budget by p95",
    "budget_min_over": "executions over budget that make a violation when n is smaller",
    "regression_baseline_runs": "passing runs before a failure that make it a regression",
    "fixed_passes": "consecutive passes that make a regression fixed",
    "regression_read_back_weeks": "weeks before the window an episode going on is followed back",
    "removed_after_days": "days without a result after which an open regression's test is removed",
    "removed_after_commits": "commits run without the test before its open regression is removed",
}
DEFINITIONS = (
    ("Pass rate", "passed ÷ (passed + failed) over first attempts; skips never count. The final "
     "pass rate reads the last attempt (what CI showed after retries)."),
    ("Isolation score", "100 × clean runs ÷ runs (infra-outage runs left out); a run is clean "
     "with no flaky result, no polluter-explained failure and no cascade."),
    ("Flaky test", "failed and then passed on a retry, or on another run of the same commit; "
     "each failure gets one cause: order-dependent (a polluter ran earlier on the worker), "
     "cascade (a follower of an earlier failure), or non-deterministic."),
    ("Duration", "of passed first attempts only; a service's p50/p95 are over its tests' "
     "median durations."),
    ("Duration regression", "a change point in a test's per-commit median duration on the "
     "reference branch, confirmed by a Mann–Whitney test; it belongs to the week of the first "
     "commit after the change."),
    ("Regression", "a test that failed every attempt on the reference branch after passing its "
     "baseline runs, confirmed by failing again; fixed after consecutive passes, closed when "
     "its test stops running (removed_after_days and removed_after_commits below)."),
    ("Ranking", "each table lists the largest impact first: regressions and fixes by failures "
     "on the reference branch, order-dependent pairs by failures after the polluter, cascades "
     "by follower failures, flaky tests by flaky runs in the flaky window, duration "
     "regressions by the time added (shift × passed runs since), budget violations by how far "
     "over budget; then by service and test."),
)  # fmt: skip


# --- The document -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """A run of text, a link when `url` is set, in code type when `code`."""

    text: str
    url: str = ""
    code: bool = False


Inline = list[Cell]  # a paragraph, a list item or a table cell


@dataclass
class Table:
    header: list[str]
    rows: list[list[Inline]]
    align: str = ""  # one letter per column: l or r


@dataclass
class Block:
    kind: str  # h1 h2 h3 p ul table chart
    text: str = ""
    inline: Inline = field(default_factory=list)
    items: list[Inline] = field(default_factory=list)
    table: Table | None = None
    chart: Chart | None = None


def _t(text: str, url: str = "") -> Inline:
    return [Cell(text, url)]


def _test(ref: TestRef, url: str | None = None) -> Inline:
    return [Cell(ref.name, url or ref.url, code=True)]


def _rate(f: Figure, scale: float = 100.0) -> Inline:
    return _t(pct(f.value, scale), f.url)


def _none(what: str, r: WeeklyReport) -> Block:
    """ "0 X in N runs over M commits": a nil statement always carries its coverage."""
    c = r.coverage
    return Block("p", inline=_t(f"0 {what} in {plural(c.runs, 'run')} over "
                                f"{plural(c.commits, 'commit')}."))  # fmt: skip


def _table_or_none(table: Table, what: str, r: WeeklyReport) -> Block:
    return Block("table", table=table) if table.rows else _none(what, r)


def sunday(r: WeeklyReport) -> dt.date:
    return r.week_start + dt.timedelta(days=6)


def report_blocks(r: WeeklyReport) -> list[Block]:
    """The report, section by section."""
    b: list[Block] = []
    at = r.generated_at.strftime("%Y-%m-%d %H:%M UTC") if r.generated_at else "–"
    scope = f"service {r.service} of " if r.service else ""
    b.append(Block("h1", r.title))
    b.append(Block("p", inline=[
        Cell(f"Weekly status of {scope}project {r.project}, ISO week {r.week} "
             f"({r.week_start:%a %d %b %Y} to {sunday(r):%a %d %b %Y}). Metrics computed {at}; "),
        Cell("open on the dashboard", r.links["health"]), Cell("."),
    ]))  # fmt: skip

    b.append(Block("h2", "Summary"))
    b.append(Block("ul", items=[_t(s) for s in r.summary]))
    c = r.coverage
    b.append(Block("table", table=Table(
        ["Runs", "Commits", "Services reporting", "Days without runs", "Pass rate", "Δ",
         "Isolation score", "Δ"],
        [[_t(str(c.runs), c.runs_url), _t(str(c.commits)),
          _t(f"{c.services_reporting} of {c.services_total}"),
          _t((", ".join(c.days_without_runs) or "none")
             + (f" (in progress: {plural(c.days_to_go, 'day')} to go)" if c.days_to_go else "")), _rate(r.pass_rate),
          _t(pp(r.pass_rate.delta)), _rate(r.isolation_score, 1),
          _t(pp(r.isolation_score.delta, 1))]],
        "rrrlrrrr",
    )))  # fmt: skip

    b.append(Block("h2", "Services"))
    rows = []
    for s in r.services:
        flaky: Inline = []
        for k in ("flaky", "order_dependent", "cascade"):
            if flaky:
                flaky.append(Cell(" / "))
            flaky.append(Cell(str(s.flaky[k]), s.flaky_urls[k]))
        rows.append([
            [Cell(s.service, s.url)] + ([Cell(" (recomputing)")] if s.stale else []),
            _t(str(s.runs), s.runs_url), _t("–" if s.tests is None else str(s.tests)),
            _rate(s.pass_rate), _t(pp(s.pass_rate.delta)),
            _rate(s.final_pass_rate), _t(pp(s.final_pass_rate.delta)),
            _rate(s.isolation_score, 1), _t(pp(s.isolation_score.delta, 1)), flaky,
            _t(ms(s.p50_ms.value), s.p50_ms.url), _t(ms_delta(s.p50_ms.delta)),
            _t(ms(s.p95_ms.value), s.p95_ms.url), _t(ms_delta(s.p95_ms.delta)),
            _t(str(s.budget_violations), s.budget_url),
            _t(str(s.open_regressions), s.regressions_url),
        ])  # fmt: skip
    b.append(Block("table", table=Table(
        ["Service", "Runs", "Tests", "Pass rate", "Δ", "Final", "Δ", "Isolation", "Δ",
         "Flaky n / o / c", "p50", "Δ", "p95", "Δ", "Over budget", "Open regr."],
        rows, "lrrrrrrrrlrrrrrr",
    )))  # fmt: skip
    b.append(
        Block(
            "p",
            inline=_t(
                "Pass rate of first attempts, and final: after retries; Δ against the week before, in "
                "percentage points for rates; flaky tests by cause: n non-deterministic, o "
                "order-dependent victims, c cascade roots; p50/p95 over the per-test medians of passed "
                "first attempts; regressions open at the end of the week, whenever they began."
            ),
        )
    )

    b.append(Block("h2", "Isolation"))
    b.append(Block("p", inline=[Cell("Evidence: "),
                                Cell(f"isolation findings of {r.week}", r.links["isolation"]),
                                Cell(".")]))  # fmt: skip
    # The tests counted as "became flaky this week" in the summary.
    new = {(i.kind, i.service, i.test.id) for items in r.new_flaky.values() for i in items}

    def since(i: Item) -> str:
        return "new this week" if (i.kind, i.service, i.test.id) in new else "before too"

    b.append(Block("h3", "Flaky tests"))
    b.append(_table_or_none(Table(
        ["Service", "Test", "Cause", "Since", "Evidence"],
        [[_t(i.service), _test(i.test, i.url), _t(f"{CAUSE_NAMES['flaky']} ({i.cause})"),
          _t(since(i)), _t(i.summary)] for i in r.flaky],
    ), "non-deterministic flaky tests", r))  # fmt: skip
    b.append(Block("h3", "Order-dependent tests (polluter → victim)"))
    b.append(_table_or_none(Table(
        ["Service", "Polluter → victim", "Victim since", "Failures after the polluter", "Evidence",
         "Reproduce"],
        [[_t(i.service), _test(i.related) + [Cell(" → ")] + _test(i.test, i.url),  # type: ignore[arg-type]
          _t(since(i)), _t(str(i.count)), _t(i.summary), [Cell(i.command, code=True)]]
         for i in r.pairs],
        "lllrll",
    ), "order-dependent tests", r))  # fmt: skip
    b.append(Block("h3", "Cascades (root → followers)"))
    cascade_rows = []
    for i in r.cascades:
        followers: Inline = []
        for t in i.followers:
            if followers:
                followers.append(Cell(", "))
            followers.extend(_test(t))
        cascade_rows.append([_t(i.service), _test(i.test, i.url), _t(since(i)), _t(str(i.count)),
                             followers or _t("–"), _t(i.impact)])  # fmt: skip
    b.append(_table_or_none(Table(["Service", "Root", "Since", "Cascades", "Followers",
                                   "Follower failures"],
                                  cascade_rows, "lllrlr"), "cascades", r))  # fmt: skip

    b.append(Block("h2", "Performance"))
    b.append(Block("p", inline=[Cell("Evidence: "),
                                Cell(f"duration findings of {r.week}", r.links["performance"]),
                                Cell(".")]))  # fmt: skip
    b.append(Block("h3", "Slowest tests"))
    if r.slowest:
        b.append(Block("table", table=Table(
            ["Service", "Test", "Passed runs", "p50", "p95"],
            [[_t(s.service), _test(s.test), _t(str(s.runs)), _t(ms(s.p50_ms)), _t(ms(s.p95_ms))]
             for s in r.slowest],
            "llrrr",
        )))  # fmt: skip
    else:
        b.append(Block("p", inline=_t("No test had enough passed runs for a median this week.")))
    for title, items, what in (
        ("Duration regressions", r.slowdowns, "duration regressions"),
        ("Duration improvements", r.improvements, "duration improvements"),
    ):
        b.append(Block("h3", title))
        b.append(_table_or_none(_change_table(items, impact=items is r.slowdowns), what, r))
    b.append(Block("h3", "Budget violations"))
    b.append(_table_or_none(Table(
        ["Service", "Test", "Evidence"],
        [[_t(i.service), _test(i.test, i.url), _t(i.summary)] for i in r.budget],
    ), "budget violations", r))  # fmt: skip

    b.append(Block("h2", "Regressions"))
    b.append(Block("p", inline=[Cell("Evidence: "), Cell("regressions", r.links["regressions"]),
                                Cell(".")]))  # fmt: skip
    for title, items, what in (
        ("New this week", r.new_regressions, "new regressions"),
        ("Still open from earlier weeks", r.open_regressions, "regressions still open"),
        ("Fixed this week", r.fixed, "fixed tests"),
        # Shown only in a week that has some: most never do.
        *([("Test removed while failing", r.removed, "removed tests")] if r.removed else []),
    ):
        b.append(Block("h3", title))
        b.append(_table_or_none(_regression_table(items, fixed=what == "fixed tests"), what, r))

    b.append(Block("h2", f"Trends (last {TREND_WEEKS} weeks)"))
    for chart in r.charts:
        b.append(Block("chart", chart=chart))

    b.append(Block("h2", "Method"))
    b.append(
        Block(
            "p",
            inline=_t(
                "Definitions as in the product's docs/metrics.md, computed with algorithm version "
                f"{r.version or '–'} and the settings below (the snapshot stored with the metrics)."
            ),
        )
    )
    b.append(Block("ul", items=[[Cell(f"{name}: ", code=False), Cell(text)]
                                for name, text in DEFINITIONS]))  # fmt: skip
    b.append(Block("table", table=Table(["Setting", "Value", "Meaning"], _param_rows(r))))
    if r.params_differ:
        b.append(
            Block(
                "p",
                inline=_t(
                    f"Computed with other settings: {', '.join(r.params_differ)} (see their pages)."
                ),
            )
        )
    b.append(Block("p", inline=_t("Pages behind each section:")))
    b.append(Block("ul", items=[
        [Cell(f"{name}: "), Cell(r.links[key], r.links[key])]
        for name, key in (("Summary", "health"), ("Services", "runs"),
                          ("Isolation", "isolation"), ("Performance", "performance"),
                          ("Regressions", "regressions"), ("Trends", "trends"),
                          ("Settings", "method"), ("All findings", "findings"))
    ]))  # fmt: skip
    return b


def _change_table(items: list[Item], *, impact: bool = False) -> Table:
    """Duration changes; `impact`: with the time each added (what slowdowns are ranked by)."""
    return Table(
        ["Service", "Test", "Before", "After", "Ratio", "Confidence", "First commit after",
         *(["Time added"] if impact else [])],
        [[_t(i.service), _test(i.test, i.url), _t(ms(i.before_ms)), _t(ms(i.after_ms)),
          _t("–" if i.ratio is None else f"×{i.ratio:.2f}"), _t(i.confidence or "–"),
          [Cell(i.commit[:10], i.run_url, code=True)], *([_t(i.impact)] if impact else [])]
         for i in items],
        "llrrrllr" if impact else "llrrrll",
    )  # fmt: skip


def _regression_table(items: list[Item], *, fixed: bool) -> Table:
    return Table(
        ["Service", "Test", "Week", "Fixing commit" if fixed else "First failing commit", "Run",
         "Evidence"],
        [[_t(i.service), _test(i.test, i.url), _t(i.week), [Cell(i.commit[:10], code=True)],
          _t(f"#{i.run}", i.run_url) if i.run else _t("–"), _t(i.summary)] for i in items],
        "llllrl",
    )  # fmt: skip


def _param_rows(r: WeeklyReport) -> list[list[Inline]]:
    defaults = MetricParams().as_dict()
    rows = []
    for name in defaults:
        if name not in r.params:
            continue
        value = r.params[name]
        note = PARAM_NOTES.get(name, "")
        if value != defaults[name]:
            note += f" (default {defaults[name]})"
        rows.append([[Cell(name, code=True)], [Cell(str(value), code=True)], _t(note)])
    return rows


# --- Markdown -----------------------------------------------------------------------------------


def _esc(text: str) -> str:
    """Text safe in Markdown prose, table cells and link labels."""
    for ch in "\\|[]*_<>":
        text = text.replace(ch, "\\" + ch)
    return text


def _md_inline(inline: Inline) -> str:
    out = []
    for cell in inline:
        text = ("`" + cell.text.replace("`", "'") + "`").replace("|", "\\|") if cell.code \
            else _esc(cell.text)  # fmt: skip
        if cell.url and cell.url == cell.text:
            out.append(f"<{cell.url}>")  # an autolink: the address as it is
        else:
            out.append(f"[{text}]({cell.url})" if cell.url else text)
    return "".join(out)


def _md_table(t: Table) -> list[str]:
    align = t.align or "l" * len(t.header)
    out = ["| " + " | ".join(_esc(h) for h in t.header) + " |",
           "| " + " | ".join("---:" if a == "r" else "---" for a in align) + " |"]  # fmt: skip
    out += ["| " + " | ".join(_md_inline(c) for c in row) + " |" for row in t.rows]
    return out


def weekly_report_markdown(r: WeeklyReport) -> str:
    out: list[str] = []
    blocks = report_blocks(r)
    for n, block in enumerate(blocks):
        next_kind = blocks[n + 1].kind if n + 1 < len(blocks) else ""
        if block.kind in ("h1", "h2", "h3"):
            out.append("#" * int(block.kind[1]) + " " + _esc(block.text))
        elif block.kind == "p":
            out.append(_md_inline(block.inline))
        elif block.kind == "ul":
            out.extend("- " + _md_inline(item) for item in block.items)
        elif block.kind == "table" and block.table is not None:
            out.extend(_md_table(block.table))
        elif block.kind == "chart" and block.chart is not None:
            out.append(f"- Chart: [{_esc(block.chart.title)}]({block.chart.url})")
            if next_kind == "chart":
                continue  # one list
        out.append("")
    return "\n".join(out)


def markdown_html(text: str) -> str:
    """A stored Markdown report as HTML for a page: tables, links and code as written, any HTML
    in it (a test name is uploaded text) escaped, links only to http(s) and relative URLs."""
    import mistune

    return str(mistune.create_markdown(escape=True, plugins=["table"])(text))
