"""The weekly status report's content: one plain data structure built from the rollups and
findings of a project's ISO week (optionally one service), then rendered as Markdown
(reports/render.py) or PDF (reports/pdf.py). Nothing here renders; nothing there queries.

Every figure is taken from the stored service-weeks and findings (the numbers the API
publishes), comes with its coverage, and links to its evidence on the dashboard.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db.models import F, Max
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from ingest.models import Project, Run, Service, Test
from ingest.selectors import runs_of_service
from ingest.weeks import days_to_go, week_label, week_start
from reports import charts
from reports.models import Finding, ServiceWeek, TestWeek
from reports.selectors import (
    CAUSES,
    OPEN_AT_END,
    TREND_WEEKS,
    WeekSummary,
    finding_impact,
    finding_impact_label,
    finding_summary,
    findings_url,
    open_regressions_at,
    plural,
    project_runs_by_week,
    project_trend,
    pytest_node_id,
    removed_in,
    reproduce_command,
    run_url,
    runs_url,
    service_url,
    test_url,
    trim_window,
    week_summaries,
    week_window,
)

SLOWEST_LIMIT = 10
CAUSE_NAMES = {"flaky": "non-deterministic", "order_dependent": "order-dependent",
               "cascade": "cascade root"}  # fmt: skip


class ReportNotFound(LookupError):
    """No computed metrics for that project, week (and service)."""


def absolute(path: str) -> str:
    return f"{settings.SITE_URL}{path}"


# --- The data structure -------------------------------------------------------------------------


@dataclass
class Figure:
    """A number with the previous week's for its Δ and the link to its evidence."""

    value: float | None
    previous: float | None
    url: str

    @property
    def delta(self) -> float | None:
        if self.value is None or self.previous is None:
            return None
        return self.value - self.previous


@dataclass
class ServiceRow:
    service: str
    url: str
    runs: int
    runs_url: str
    tests: int | None
    pass_rate: Figure  # 0..1
    final_pass_rate: Figure  # 0..1
    isolation_score: Figure  # 0..100
    flaky: dict[str, int]  # cause -> tests
    flaky_urls: dict[str, str]
    p50_ms: Figure
    p95_ms: Figure
    budget_violations: int
    budget_url: str
    open_regressions: int
    regressions_url: str
    stale: bool


@dataclass
class TestRef:
    id: int
    name: str  # node id
    url: str


@dataclass
class Item:
    """One finding (or improvement) in a section's list."""

    kind: str
    service: str
    test: TestRef
    summary: str
    url: str
    related: TestRef | None = None
    count: int | None = None
    command: str = ""
    cause: str = ""
    followers: list[TestRef] = field(default_factory=list)
    before_ms: float | None = None
    after_ms: float | None = None
    ratio: float | None = None
    confidence: str = ""
    commit: str = ""
    run: int | None = None
    run_url: str = ""
    week: str = ""
    status: str = ""
    impact: str = ""  # what the item is ranked by in its section (finding_impact_label)


@dataclass
class Slowest:
    service: str
    test: TestRef
    runs: int
    p50_ms: float | None
    p95_ms: float | None


@dataclass
class Coverage:
    runs: int
    commits: int
    services_reporting: int
    services_total: int
    days_without_runs: list[str]  # up to the day the report was made
    runs_url: str
    days_to_go: int = 0  # days of the week after the day the report was made


@dataclass
class Chart:
    key: str
    title: str
    figure: dict
    url: str


@dataclass
class WeeklyReport:
    project: str
    project_name: str
    week: str
    week_start: dt.date
    service: str | None
    generated_at: dt.datetime  # the week's latest computation: the same data, the same report
    coverage: Coverage
    pass_rate: Figure
    isolation_score: Figure
    services: list[ServiceRow]
    new_flaky: dict[str, list[Item]]  # cause -> findings new this week
    flaky: list[Item]
    pairs: list[Item]
    cascades: list[Item]
    slowest: list[Slowest]
    slowdowns: list[Item]
    improvements: list[Item]
    budget: list[Item]
    new_regressions: list[Item]
    open_regressions: list[Item]
    fixed: list[Item]
    removed: list[Item]  # regressions resolved this week because their test stopped running
    charts: list[Chart]
    params: dict[str, object]
    params_differ: list[str]
    version: str
    links: dict[str, str]
    summary: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        scope = f" · {self.service}" if self.service else ""
        return f"{self.project_name}{scope} — week {self.week}"


# --- Formatting shared by both renderers -------------------------------------------------------


def short_of_100(value: float, digits: int = 1) -> float:
    """`value` (a percentage or a 0..100 score) to be written with `digits` decimals, cut instead
    of rounded where rounding would make it 100: 99.96% is not 100%, and 100 is a claim."""
    if value < 100 and round(value, digits) >= 100:
        return math.floor(value * 10**digits) / 10**digits
    return value


def pct(rate: float | None, scale: float = 100.0) -> str:
    """A rate as a percentage with one decimal ("95.7%"), never rounded up to 100%; `scale` 1
    for 0..100 scores."""
    return "–" if rate is None else f"{short_of_100(rate * scale):.1f}%"


def pp(delta: float | None, scale: float = 100.0) -> str:
    """A change of a percentage in points ("+1.2 pp")."""
    if delta is None:
        return "–"
    v = delta * scale
    return "±0.0 pp" if round(v, 1) == 0 else f"{v:+.1f} pp"


def ms(value: float | None) -> str:
    """A duration with its unit: "850 ms", "1.25 s", "2 min 5 s"."""
    if value is None:
        return "–"
    if value >= 60_000:
        minutes, seconds = divmod(round(value / 1000), 60)
        return f"{minutes} min {seconds} s"
    if value >= 1000:
        return f"{value / 1000:,.2f} s"
    return f"{value:,.0f} ms"


def ms_delta(delta: float | None) -> str:
    """A change of a duration: "+12 ms", "-1.20 s", "±0 ms"."""
    if delta is None:
        return "–"
    text = ms(abs(delta))
    if text in ("0 ms", "-0 ms"):
        return "±0 ms"
    return ("+" if delta > 0 else "-") + text


# --- Building -----------------------------------------------------------------------------------


def weekly_report_build(
    *,
    project: Project,
    week: dt.date,
    service: Service | None = None,
    now: dt.datetime | None = None,
) -> WeeklyReport:
    """The report of `project` for the ISO week starting `week` (a Monday), as of `now` (the
    current time when None: a week still in progress is reported so far). Raises
    ReportNotFound when that week has no computed service-week."""
    window = week_window(week, TREND_WEEKS)
    summaries = week_summaries(project=project, start=window[0], end=week, service=service)
    this = [s for s in summaries if s.week == week]
    if not this:
        scope = f" for service {service.name!r}" if service else ""
        raise ReportNotFound(f"no computed metrics for {week_label(week)}{scope}")
    previous_week = week - dt.timedelta(weeks=1)
    prev = {s.service: s for s in summaries if s.week == previous_week}
    label = week_label(week)
    scope_service = service.name if service else None

    rows_qs = ServiceWeek.objects.filter(project=project, week=week, computed__gt=0)
    if service is not None:
        rows_qs = rows_qs.filter(service=service)
    meta = list(rows_qs.order_by("service__name").values("service__name", "params", "version"))
    generated_at = rows_qs.aggregate(at=Max("computed_at"))["at"]

    findings = _findings(project, week, service)
    tests = _tests(project, findings)
    items = _items(project, findings, tests, week)

    open_episodes = _ranked(open_regressions_at(project=project, week=week, service=service))
    open_items = _items(project, open_episodes, tests, week)
    removed_episodes = _ranked(_removed_in(project, week, service))
    removed_items = _items(project, removed_episodes, tests, week)
    open_by_service: dict[str, int] = defaultdict(int)
    for f in open_episodes:
        open_by_service[f.service.name] += 1

    flaky_counts: dict[tuple[str, str], set[int]] = defaultdict(set)
    for f in findings:
        if f.kind in CAUSES and f.week == week:
            flaky_counts[(f.service.name, f.kind)].add(f.test_id)

    services = []
    for s in this:
        p = prev.get(s.service)
        name = s.service
        services.append(
            ServiceRow(
                service=name,
                url=absolute(service_url(project, name, week=label)),
                runs=s.point.runs,
                runs_url=absolute(runs_url(project, service=name, week=label)),
                tests=s.tests_executed,
                pass_rate=Figure(s.point.pass_rate,
                                 p.point.pass_rate if p is not None else None,
                                 absolute(runs_url(project, service=name, week=label))),
                final_pass_rate=Figure(s.point.final_pass_rate,
                                       p.point.final_pass_rate if p is not None else None,
                                       absolute(runs_url(project, service=name, week=label))),
                isolation_score=Figure(s.point.isolation_score,
                                       p.point.isolation_score if p is not None else None,
                                       absolute(s.point.unclean_url)),
                flaky={c: len(flaky_counts.get((name, c), ())) for c in CAUSES},
                flaky_urls={c: absolute(findings_url(project, kind=c, week=label, service=name))
                            for c in CAUSES},
                p50_ms=Figure(s.point.p50_ms,
                              p.point.p50_ms if p is not None else None,
                              absolute(s.point.week_url)),
                p95_ms=Figure(s.point.p95_ms,
                              p.point.p95_ms if p is not None else None,
                              absolute(s.point.week_url)),
                budget_violations=s.budget_violations or 0,
                budget_url=absolute(findings_url(project, kind="budget_violation", week=label,
                                                 service=name)),
                open_regressions=open_by_service.get(name, 0),
                regressions_url=absolute(findings_url(project, kind="regression",
                                                      status=OPEN_AT_END, week=label,
                                                      service=name)),
                stale=s.stale,
            )
        )  # fmt: skip

    weeks = [previous_week, week]
    trend = project_trend(
        summaries, weeks, project_runs_by_week(projects=[project], weeks=weeks)[project.pk]
    )
    project_url = absolute(_project_url(project, label, scope_service))
    report = WeeklyReport(
        project=project.slug,
        project_name=project.name or project.slug,
        week=label,
        week_start=week,
        service=scope_service,
        generated_at=generated_at,
        coverage=_coverage(project, week, this, service, (now or timezone.now()).date()),
        pass_rate=Figure(trend[1].pass_rate, trend[0].pass_rate, project_url + "#pass-rate"),
        isolation_score=Figure(trend[1].isolation_score, trend[0].isolation_score,
                               project_url + "#isolation"),
        services=services,
        new_flaky=_new_flaky(findings, items, week),
        flaky=[i for i in items["this"] if i.kind == "flaky"],
        pairs=[i for i in items["this"] if i.kind == "order_dependent"],
        cascades=[i for i in items["this"] if i.kind == "cascade"],
        slowest=_slowest(project, week, service),
        slowdowns=[i for i in items["this"] if i.kind == "duration_regression"],
        improvements=_improvements(project, week, service),
        budget=[i for i in items["this"] if i.kind == "budget_violation"],
        new_regressions=[i for i in items["this"] if i.kind == "regression"],
        open_regressions=[i for i in open_items["all"] if i.week != label],
        fixed=[i for i in items["this"] if i.kind == "fixed"],
        removed=removed_items["all"],
        charts=_charts(project, summaries, window, scope_service, label),
        params=dict(meta[0]["params"]) if meta else {},
        params_differ=_params_differ(meta),
        version=meta[0]["version"] if meta else "",
        links={
            "health": project_url,
            "findings": absolute(findings_url(project, week=label, service=scope_service)),
            "runs": absolute(runs_url(project, week=label, service=scope_service)),
            "isolation": absolute(_project_url(project, label, scope_service)) + "#isolation",
            "performance": absolute(findings_url(project, kind="duration_regression",
                                                 week=label, service=scope_service)),
            "regressions": absolute(findings_url(project, kind="regression", week="all",
                                                 service=scope_service)),
            "trends": project_url + "#pass-rate",
            "method": absolute(reverse("pages:settings", args=[project.slug])),
        },
    )  # fmt: skip
    report.summary = _summary_sentences(report)
    return report


def _project_url(project: Project, label: str, service: str | None) -> str:
    if service:
        return service_url(project, service, week=label)
    return reverse("pages:project", args=[project.slug]) + f"?week={label}"


def _removed_in(project: Project, week: dt.date, service: Service | None) -> list[Finding]:
    """Regressions resolved because their test stopped running, in this week (removed_in)."""
    qs = Finding.objects.filter(
        project=project, kind=Finding.Kind.REGRESSION, status=Finding.Status.RESOLVED,
        week__lte=week, evidence__has_key="removed",
    ).select_related("service", "test")  # fmt: skip
    if service is not None:
        qs = qs.filter(service=service)
    return [f for f in qs if removed_in(f) == week]


def _findings(project: Project, week: dt.date, service: Service | None) -> list[Finding]:
    qs = Finding.objects.filter(project=project, week__gte=week - dt.timedelta(weeks=1),
                                week__lte=week)  # fmt: skip
    if service is not None:
        qs = qs.filter(service=service)
    return _ranked(qs.select_related("service", "test", "related_test"))


def _ranked(findings: Iterable[Finding]) -> list[Finding]:
    """Findings by impact, largest first (each section holds one kind: docs/metrics.md
    "Ranking", as the pages rank them), then by service, test name and id, names by code
    point (finding_tie_order); no impact (None, not 0) ranks last."""

    def key(f: Finding) -> tuple[bool, float, str, str, int]:
        impact = finding_impact(f.kind, f.evidence, f.score)
        return (impact is None, -(impact or 0.0), f.service.name, f.test.name, f.pk)

    return sorted(findings, key=key)


def _tests(project: Project, findings: list[Finding]) -> dict[int, Test]:
    """Tests named in evidence (cascade followers)."""
    wanted: set[int] = set()
    for f in findings:
        if f.kind == "cascade":
            for cascade in f.evidence.get("cascades") or []:
                wanted.update(int(t) for t in cascade.get("followers") or [])
    if not wanted:
        return {}
    return {t.pk: t for t in Test.objects.filter(project=project, pk__in=wanted)}


def _ref(project: Project, test: Test) -> TestRef:
    return TestRef(test.pk, pytest_node_id(test), absolute(test_url(project, test.pk)))


def _items(
    project: Project, findings: list[Finding], tests: dict[int, Test], week: dt.date
) -> dict[str, list[Item]]:
    out: dict[str, list[Item]] = {"this": [], "previous": [], "all": []}
    for f in findings:
        e = f.evidence or {}
        label = week_label(f.week)
        item = Item(
            kind=f.kind,
            service=f.service.name,
            test=_ref(project, f.test),
            summary=finding_summary(f.kind, e),
            url=absolute(test_url(project, f.test_id)) + f"#finding-{f.pk}",
            week=label,
            status=f.status,
            impact=finding_impact_label(f.kind, e, f.score),
        )
        if f.kind == "order_dependent" and f.related_test is not None:
            item.related = _ref(project, f.related_test)
            item.count = int(e.get("a") or 0)
            item.command = reproduce_command(f.test, f.related_test)
        elif f.kind == "cascade":
            followers: list[int] = []
            for cascade in e.get("cascades") or []:
                followers.extend(int(t) for t in cascade.get("followers") or [])
            item.count = int(e.get("count") or 0)
            item.followers = [_ref(project, tests[t]) for t in dict.fromkeys(followers)
                              if t in tests]  # fmt: skip
        elif f.kind == "flaky":
            item.cause = str(e.get("status") or "")
        elif f.kind == "duration_regression":
            item.before_ms = _float(e.get("before_median_ms"))
            item.after_ms = _float(e.get("after_median_ms"))
            item.ratio = _float(e.get("ratio"))
            item.commit = str(e.get("commit") or "")
            item.confidence = _confidence(e)
            item.run = f.first_run_id
        elif f.kind in ("regression", "fixed"):
            commit = e.get("fixing_commit") if f.kind == "fixed" else e.get("first_failing_commit")
            item.commit = str(commit or e.get("commit") or "")
            run = e.get("fixing_run") if f.kind == "fixed" else e.get("first_failing_run")
            item.run = int(run) if run else f.first_run_id
        if item.run:
            item.run_url = absolute(run_url(project, item.run, test=f.test_id)) + "#results"
        out["all"].append(item)
        out["this" if f.week == week else "previous"].append(item)
    return out


def _float(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def _confidence(e: dict) -> str:
    """The change's confidence from its evidence: the change-point p-value, the Mann-Whitney
    p-value and the Hodges-Lehmann 95% interval, whichever are recorded."""
    parts = []
    for key, name in (("adjusted_pvalue", "p"), ("mwu_pvalue", "Mann–Whitney p")):
        v = e.get(key)
        if isinstance(v, int | float):
            parts.append(f"{name} = {v:.2g}")
    ci = e.get("shift_ci95_ms")
    if isinstance(ci, list | tuple) and len(ci) == 2 and None not in ci:
        parts.append(f"shift 95% CI {ms(ci[0])} to {ms(ci[1])}")
    return ", ".join(dict.fromkeys(parts))


def _new_flaky(
    findings: list[Finding], items: dict[str, list[Item]], week: dt.date
) -> dict[str, list[Item]]:
    """Tests with an isolation finding this week and none of that cause the week before."""
    before = {(f.service_id, f.kind, f.test_id) for f in findings if f.week < week}
    out: dict[str, list[Item]] = {c: [] for c in CAUSES}
    by_key = {(i.kind, i.test.id, i.service): i for i in items["this"]}
    seen: set[tuple[str, int]] = set()
    for f in findings:
        if f.kind not in CAUSES or f.week != week or (f.service_id, f.kind, f.test_id) in before:
            continue
        if (f.kind, f.test_id) in seen:
            continue  # a victim with two polluters is one new order-dependent test
        seen.add((f.kind, f.test_id))
        out[f.kind].append(by_key[(f.kind, f.test_id, f.service.name)])
    return out


def _coverage(
    project: Project,
    week: dt.date,
    this: list[WeekSummary],
    service: Service | None,
    today: dt.date,
) -> Coverage:
    start = dt.datetime.combine(week, dt.time(), tzinfo=dt.UTC)
    runs = Run.objects.filter(project=project, started_at__gte=start,
                              started_at__lt=start + dt.timedelta(days=7))  # fmt: skip
    if service is not None:
        runs = runs_of_service(runs, project=project, service=service.name)
    # Distinct runs: one upload can hold tests of several services.
    seen = list(runs.filter(status=Run.Status.PARSED).values_list("commit", "started_at"))
    days = {started.astimezone(dt.UTC).date() for _, started in seen}
    dates = [week + dt.timedelta(days=i) for i in range(7)]
    missing = [d.strftime("%a %d %b") for d in dates if d <= today and d not in days]
    # Services with data by the week's end: one created later is no gap in this week's coverage.
    total = (
        1
        if service
        else (
            ServiceWeek.objects.filter(project=project, week__lte=week, computed__gt=0)
            .values("service")
            .distinct()
            .count()
        )
    )
    label = week_label(week)
    return Coverage(
        runs=len(seen),
        commits=len({commit for commit, _ in seen}),
        services_reporting=sum(1 for s in this if s.point.runs),
        services_total=total,
        days_without_runs=missing,
        runs_url=absolute(runs_url(project, week=label, service=service.name if service else None)),
        days_to_go=days_to_go(week, today),
    )


def _slowest(project: Project, week: dt.date, service: Service | None) -> list[Slowest]:
    qs = TestWeek.objects.filter(service__project=project, week=week, p50_ms__isnull=False)
    if service is not None:
        qs = qs.filter(service=service)
    rows = qs.select_related("test", "service").order_by(
        "-p50_ms", F("p95_ms").desc(nulls_last=True), "test_id"
    )[:SLOWEST_LIMIT]
    return [
        Slowest(r.service.name, _ref(project, r.test), r.n_durations, r.p50_ms, r.p95_ms)
        for r in rows
    ]


def _improvements(project: Project, week: dt.date, service: Service | None) -> list[Item]:
    """Speed-ups whose first commit after the change ran this week. Each service-week records the
    speed-ups found in its window, so one is found only once enough commits followed it, often in
    a later week; a later window may not see it any more (too few points before it). Every
    service-week whose window holds this week is read, and each test's speed-up is listed once,
    as the latest of them found it (a change point moved to another commit of the week is the
    same speed-up)."""
    from reports.metrics.isolation import history_start
    from reports.services import project_params

    start = dt.datetime.combine(week, dt.time(), tzinfo=dt.UTC)
    end = start + dt.timedelta(days=7)
    params, _ = project_params(project.pk)
    last = week
    while week_start(history_start(end + (last - week) + dt.timedelta(days=7), params)) <= week:
        last += dt.timedelta(weeks=1)
    rows = ServiceWeek.objects.filter(
        project=project, week__gte=week, week__lte=last, computed__gt=0
    )
    if service is not None:
        rows = rows.filter(service=service)
    found: dict[int, tuple[str, dict]] = {}  # test -> (service, speed-up), later rows win
    for name, imps in rows.order_by("week").values_list(
        "service__name", "metrics__duration_improvements"
    ):
        for imp in imps or []:
            when = parse_datetime(str(imp.get("time", "")))
            if when is None or not start <= when < end:
                continue
            found[int(imp["test"])] = (name, imp)
    tests = {t.pk: t for t in Test.objects.filter(project=project, pk__in=set(found))}
    out = []
    for test_id, (name, imp) in sorted(found.items(), key=lambda kv: (kv[1][0], kv[0])):
        commit = str(imp.get("commit", ""))
        if test_id not in tests:
            continue
        out.append(
            Item(
                kind="duration_improvement", service=name, test=_ref(project, tests[test_id]),
                summary=finding_summary("duration_regression", imp),
                url=absolute(test_url(project, test_id)),
                before_ms=_float(imp.get("before_median_ms")),
                after_ms=_float(imp.get("after_median_ms")), ratio=_float(imp.get("ratio")),
                commit=commit, confidence=_confidence(imp), week=week_label(week),
            )
        )  # fmt: skip
    return out


def _charts(
    project: Project,
    summaries: Sequence[WeekSummary],
    window: Sequence[dt.date],
    service: str | None,
    label: str,
) -> list[Chart]:
    weeks = trim_window(window, summaries)
    labels = [week_label(w) for w in weeks]
    points = [s.point for s in summaries if s.week in set(weeks)]
    url = absolute(_project_url(project, label, service))
    return [
        Chart("pass-rate", "Pass rate (first attempt; dotted: after retries)",
              charts.pass_rate_figure(points=points, weeks=labels), url + "#pass-rate"),
        Chart("isolation", "Isolation score",
              charts.isolation_figure(points=points, weeks=labels), url + "#isolation"),
        Chart("durations", "p50 / p95 test duration (per-test medians; dashed: p95)",
              charts.durations_figure(points=points, weeks=labels), url + "#durations"),
    ]  # fmt: skip


def _params_differ(meta: Sequence[Mapping[str, Any]]) -> list[str]:
    """Services whose metrics were computed with other settings than the first service's."""
    if not meta:
        return []
    first = meta[0]["params"]
    return [m["service__name"] for m in meta[1:] if m["params"] != first]


# --- The executive summary ----------------------------------------------------------------------


def _summary_sentences(r: WeeklyReport) -> list[str]:
    c = r.coverage
    coverage = f"{plural(c.runs, 'run')} over {plural(c.commits, 'commit')}"
    scope = r.service or r.project_name
    out = []
    pass_change = (
        f", {pp(r.pass_rate.delta)} from {pct(r.pass_rate.previous)} the week before"
        if r.pass_rate.previous is not None else " (no data the week before)"
    )  # fmt: skip
    iso_change = (
        f", {pp(r.isolation_score.delta, 1)} from {pct(r.isolation_score.previous, 1)}"
        if r.isolation_score.previous is not None else ""
    )  # fmt: skip
    out.append(
        f"In {r.week}, {scope} passed {pct(r.pass_rate.value)} of first attempts{pass_change}; "
        f"its isolation score was {pct(r.isolation_score.value, 1)}{iso_change}."
    )
    fixed = plural(len(r.fixed), "test")
    out.append(
        f"{plural(len(r.new_regressions), 'new regression')} and {fixed} fixed in {coverage}; "
        f"{plural(len(r.open_regressions), 'earlier regression')} still open"
        + (f" ({plural(len(r.removed), 'regression')} closed: test removed)." if r.removed else ".")
    )
    causes = ", ".join(f"{len(r.new_flaky[c])} {CAUSE_NAMES[c]}" for c in CAUSES)
    total_new = sum(len(v) for v in r.new_flaky.values())
    out.append(
        f'{plural(total_new, "test")} became flaky this week ({causes}; "new this week" '
        "in the isolation tables)."
    )
    out.append(
        f"{plural(len(r.slowdowns), 'duration regression')} and "
        f"{plural(len(r.improvements), 'speed-up')} were detected; "
        f"{plural(len(r.budget), 'test')} went over budget."
    )
    days = c.days_without_runs
    gap = f"{plural(len(days), 'day')} without runs ({', '.join(days)})" if days else \
        "runs on every day of the week"  # fmt: skip
    if c.days_to_go:
        gap += f" so far (the week is in progress: {plural(c.days_to_go, 'day')} to go)"
    services = (
        f"{c.services_reporting} of {plural(c.services_total, 'service')} reporting"
        if not r.service
        else "1 service"
    )
    out.append(f"Coverage: {coverage}, {services}, {gap}.")
    return out
