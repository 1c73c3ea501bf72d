"""Read operations of the pages. Every lookup is scoped to a project the user may see.

Pages read rollups (ServiceWeek, TestWeek) and findings, never aggregate raw results: only the
test page reads one test's results, by the (test_id, run_week) index, and the run page one run's
results, by the (run_id, timeline, position) index, both paginated. Each selector runs a fixed
number of queries whatever the size of the history, which tests/dashboard/test_views.py checks.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.models import User as AuthUser
from django.db.models import Case, Count, Exists, F, Max, OuterRef, Q, QuerySet, Value, When
from django.db.models.functions import Length
from django.http import Http404

from ingest.models import IngestToken, Project, Result, Run, RunFile, Service, ServiceRule, Test
from ingest.parsers.records import Outcome
from ingest.selectors import runs_of_service
from ingest.weeks import parse_week, week_label
from reports.charts import AttemptPoint, CauseCount, ChangeMark, OrderCell
from reports.models import Finding, ProjectSettings, Report, ServiceWeek, TestWeek
from reports.selectors import (  # noqa: F401 (shared with the reports, used as sel.NAME)
    CAUSES,
    EPISODE_KINDS,
    FLAKY_REASONS,
    KIND_LABELS,
    KIND_ORDER,
    KIND_PLURALS,
    OPEN_AT_END,
    TREND_WEEKS,
    ProjectTrend,
    WeekSummary,
    _summary,
    _sw_rows,
    finding_impact,
    finding_impact_label,
    finding_impact_order,
    finding_summary,
    finding_tie_order,
    findings_url,
    open_regressions_at,
    order_cell_runs,
    project_runs_by_week,
    project_trend,
    pytest_node_id,
    reproduce_command,
    run_url,
    runs_url,
    service_url,
    test_url,
    trim_window,
    week_summaries,
    week_window,
)

User = AuthUser | AnonymousUser

OUTCOME_FILTERS = {
    "passed": [Outcome.PASSED],
    "failed": [Outcome.FAILED],
    "error": [Outcome.ERROR],
    "skipped": [Outcome.SKIPPED],
    "failures": [Outcome.FAILED, Outcome.ERROR],
}
# The timeline chart of a test and the order chart of a run stay readable, and cheap, up to here.
ATTEMPTS_LIMIT = 3000
ORDER_CHART_LIMIT = 5000


# --- Access -------------------------------------------------------------------------------------


def project_list_for_user(*, user: User) -> list[Project]:
    """The projects the user is a member of (every project for a superuser)."""
    if not user.is_authenticated:
        return []
    qs = Project.objects.all() if user.is_superuser else Project.objects.filter(members=user)
    return list(qs.only("id", "slug", "name", "default_branch").order_by("name", "slug"))


def project_get_for_user(*, user: User, slug: str) -> Project:
    """The project, if the user may see it. "Not yours" is "not found": a 404, never a 403."""
    if not user.is_authenticated:
        raise Http404("no such project")
    qs = Project.objects.filter(slug=slug)
    if not user.is_superuser:
        qs = qs.filter(members=user)
    project = qs.first()
    if project is None:
        raise Http404("no such project")
    return project


def project_pick(*, projects: Sequence[Project], slug: str) -> Project:
    """The project `slug` among the user's projects (project_list_for_user): the pages need that
    list for their project switcher anyway, so the project costs no query of its own."""
    for project in projects:
        if project.slug == slug:
            return project
    raise Http404("no such project")


# --- Weeks --------------------------------------------------------------------------------------


def week_or_none(label: str | None) -> dt.date | None:
    """The Monday of an ISO week label, or None for anything that is not one."""
    if not label:
        return None
    try:
        return parse_week(label)
    except ValueError:
        return None


def computed_weeks(*, project: Project, service: Service | None = None) -> list[dt.date]:
    """Weeks with at least one computed service-week, newest first (the week pickers)."""
    qs = ServiceWeek.objects.filter(project=project, computed__gt=0)
    if service is not None:
        qs = qs.filter(service=service)
    return list(qs.order_by("-week").values_list("week", flat=True).distinct())


# --- Overview -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class KindCount:
    kind: str
    label: str
    count: int
    url: str


@dataclass
class ProjectOverview:
    project: Project
    weeks: list[dt.date]
    summaries: list[WeekSummary]
    open_findings: list[KindCount]
    services: list[str]
    latest: dt.date | None

    @property
    def week_labels(self) -> list[str]:
        return [week_label(w) for w in self.weeks]


def overview_list(*, projects: Sequence[Project]) -> list[ProjectOverview]:
    """For each project: its last TREND_WEEKS weeks of service-weeks (ending at its latest
    computed week) and its open findings by kind. Three queries for any number of projects."""
    if not projects:
        return []
    latest = dict(
        ServiceWeek.objects.filter(project__in=projects, computed__gt=0)
        .values("project_id")
        .annotate(latest=Max("week"))
        .order_by()
        .values_list("project_id", "latest")
    )
    windows = {pid: week_window(end) for pid, end in latest.items()}
    earliest = min((w[0] for w in windows.values()), default=None)
    by_project: dict[int, list[WeekSummary]] = defaultdict(list)
    by_slug = {p.slug: p for p in projects}
    if earliest is not None:
        rows = _sw_rows(
            ServiceWeek.objects.filter(
                project__in=projects, computed__gt=0, week__gte=earliest
            ).order_by("service__name", "week"),
            "project_id",
        )
        for row in rows:
            window = windows.get(row["project_id"])
            if window and window[0] <= row["week"] <= window[-1]:
                project = by_slug[row["project__slug"]]
                by_project[project.pk].append(_summary(project, row))
    # Open now: the weekly kinds of the project's latest week, and episodes still open.
    weekly = Q()
    for pid, week in latest.items():
        weekly |= Q(project_id=pid, week=week, kind__in=Finding.WEEKLY_KINDS)
    episodes = Q(project__in=projects, status=Finding.Status.OPEN, kind__in=EPISODE_KINDS)
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    if latest:
        for count in (
            Finding.objects.filter(weekly | episodes)
            .values("project_id", "kind")
            # Tests, as the pages' tables count them: a victim with two polluters is one.
            .annotate(n=Count("test", distinct=True))
            .order_by()
        ):
            counts[count["project_id"]][count["kind"]] = count["n"]
    out = []
    for project in projects:
        end = latest.get(project.pk)
        summaries = by_project.get(project.pk, [])
        kinds = []
        for kind in KIND_ORDER:
            n = counts[project.pk].get(kind)
            if not n:
                continue
            if kind in EPISODE_KINDS:
                url = findings_url(project, kind=kind, status="open", week="all")
            else:
                url = findings_url(project, kind=kind, week=week_label(end) if end else "")
            label = KIND_LABELS[kind] if n == 1 else KIND_PLURALS[kind]
            kinds.append(KindCount(kind, label, n, url))
        out.append(
            ProjectOverview(
                project=project,
                weeks=trim_window(windows.get(project.pk, []), summaries),
                summaries=summaries,
                open_findings=kinds,
                services=sorted({s.service for s in summaries}),
                latest=end,
            )
        )
    return out


# --- Findings -----------------------------------------------------------------------------------


def service_list(*, project: Project, with_tests: bool = False) -> list[Service]:
    """The project's services by name; `with_tests`: those holding tests (a service whose tests
    all moved to others by rules or pinning has nothing to show)."""
    qs = Service.objects.filter(project=project)
    if with_tests:
        qs = qs.filter(Exists(Test.objects.filter(service=OuterRef("pk"))))
    return list(qs.only("id", "name").order_by("name"))


def service_get(*, project: Project, name: str) -> Service:
    service = Service.objects.filter(project=project, name=name).first()
    if service is None:
        raise Http404("no such service in this project")
    return service


def finding_counts(
    *, project: Project, start: dt.date, end: dt.date, service: Service | None = None
) -> dict[tuple[str, dt.date, str], int]:
    """Tests with a finding, by (service, week, kind), from `start` to `end`. A test counts once
    per kind and week (an order-dependent victim with two polluters is one victim)."""
    qs = Finding.objects.filter(project=project, week__gte=start, week__lte=end)
    if service is not None:
        qs = qs.filter(service=service)
    rows = qs.values("service__name", "week", "kind").annotate(n=Count("test", distinct=True))
    return {(r["service__name"], r["week"], r["kind"]): r["n"] for r in rows.order_by()}


def cause_counts(
    *,
    project: Project,
    counts: dict[tuple[str, dt.date, str], int],
    weeks: Sequence[dt.date],
    service: str | None = None,
) -> list[CauseCount]:
    """Flaky tests per cause and week for the causes chart (summed over services unless one is
    named), each linking to the findings it counts."""
    totals: dict[tuple[dt.date, str], int] = defaultdict(int)
    for (svc, week, kind), n in counts.items():
        if kind in CAUSES and (service is None or svc == service):
            totals[(week, kind)] += n
    out = []
    for week in weeks:
        for cause in CAUSES:
            n = totals.get((week, cause), 0)
            out.append(
                CauseCount(
                    week=week_label(week),
                    cause=cause,
                    count=n,
                    url=findings_url(project, kind=cause, week=week_label(week), service=service),
                )
            )
    return out


@dataclass
class FindingRow:
    finding: Finding
    label: str
    summary: str
    test_url: str
    related_url: str | None
    node_id: str
    related_node_id: str | None
    impact: float | None = None  # what the tables rank by (reports.selectors.IMPACT_MEASURES)
    impact_label: str = "–"
    evidence_url: str = ""  # the runs or results the summary's main figure counts
    cascade_runs: list[int] = field(default_factory=list)
    failures_url: str = ""  # a regression's failures on the reference branch


def finding_evidence_url(project: Project, f: Finding) -> tuple[str, list[int], str]:
    """(where a finding's main figure leads, a cascade's runs, a regression's failures list).
    No query: everything comes from the finding's own row."""
    e = f.evidence or {}
    cascade_runs: list[int] = []
    failures = ""
    if f.kind == Finding.Kind.ORDER_DEPENDENT:
        url = runs_url(project, finding=f.pk, cell="a")
    elif f.kind == Finding.Kind.CASCADE:
        cascade_runs = cascade_run_ids(f)
        url = runs_url(project, ids=",".join(map(str, cascade_runs)), test=f.test_id)
    elif f.kind in (Finding.Kind.REGRESSION, Finding.Kind.FIXED):
        branch = (f.params or {}).get("reference_branch") or project.default_branch
        first = e.get("first_failing_run") or f.first_run_id
        last = e.get("fixing_run") if f.kind == Finding.Kind.FIXED else f.last_run_id
        failures = test_url(
            project, f.test_id, branch=branch, outcome="failures", attempt="final",
            from_run=first, to_run=last,
        ) + "#results"  # fmt: skip
        url = failures
    elif f.kind == Finding.Kind.FLAKY:
        url = f"{test_url(project, f.test_id)}#finding-{f.pk}"
    elif f.kind == Finding.Kind.BUDGET_VIOLATION:
        week = week_label(f.week)
        url = test_url(project, f.test_id, week=week, outcome="passed", attempt="first")
        url += "#results"
    else:
        url = f"{test_url(project, f.test_id)}#duration"
    return url, cascade_runs, failures


def finding_rows(project: Project, findings: Iterable[Finding]) -> list[FindingRow]:
    """Findings (loaded with their service, test and related test) with their label, one-line
    summary, impact and links, ready for a table."""
    rows = []
    for f in findings:
        url, cascade_runs, failures = finding_evidence_url(project, f)
        rows.append(
            FindingRow(
                finding=f,
                label=KIND_LABELS.get(f.kind, f.kind),
                summary=finding_summary(f.kind, f.evidence),
                test_url=test_url(project, f.test_id),
                related_url=test_url(project, f.related_test_id) if f.related_test_id else None,
                node_id=pytest_node_id(f.test),
                related_node_id=pytest_node_id(f.related_test) if f.related_test else None,
                impact=finding_impact(f.kind, f.evidence, f.score),
                impact_label=finding_impact_label(f.kind, f.evidence, f.score),
                evidence_url=url,
                cascade_runs=cascade_runs,
                failures_url=failures,
            )
        )
    return rows


def finding_table(
    *,
    project: Project,
    kind: str | None,
    service: str | None,
    week: dt.date | None,
    status: str | None,
) -> QuerySet[Finding]:
    """The project's findings, filtered, newest week first (paginated by the view). Status
    OPEN_AT_END: the regressions open at the end of `week` (begun by then, fixed later or not
    yet), whatever week they began; with no week, those open now."""
    qs = Finding.objects.filter(project=project).select_related("service", "test", "related_test")
    if status == OPEN_AT_END:
        kind, status = Finding.Kind.REGRESSION, (None if week else Finding.Status.OPEN)
        if week:
            scope = (
                Service.objects.filter(project=project, name=service).first() if service else None
            )
            ids = [f.pk for f in open_regressions_at(project=project, week=week, service=scope)]
            qs, week = qs.filter(pk__in=ids), None
    if kind:
        qs = qs.filter(kind=kind)
    if service:
        qs = qs.filter(service__name=service)
    if week:
        qs = qs.filter(week=week)
    if status:
        qs = qs.filter(status=status)
    # Within a week, the kinds in the order a reader acts on them (regressions first), then
    # each kind by its impact, largest first (docs/metrics.md "Ranking"); equal impacts keep
    # one order by service, test and id, as the weekly report's.
    rank = Case(*(When(kind=k, then=Value(i)) for i, k in enumerate(KIND_ORDER)), default=Value(99))
    impact = finding_impact_order()
    return qs.annotate(impact=impact).order_by(
        "-week", rank, F("impact").desc(nulls_last=True), *finding_tie_order()
    )


def stale_count(*, project: Project) -> int:
    """Service-weeks waiting for a recompute: their numbers are about to change."""
    return ServiceWeek.objects.filter(project=project, dirty__gt=F("computed")).count()


# --- Service page -------------------------------------------------------------------------------


@dataclass
class ServiceDetail:
    slowest: list[TestWeek]
    flaky: list[FindingRow]
    order_dependent: list[FindingRow]
    cascades: list[FindingRow]
    regressions: list[FindingRow]
    slowdowns: list[FindingRow]
    improvements: list[dict]
    budget_violations: list[FindingRow]
    tests: dict[int, Test]  # tests named in evidence (cascade followers, improvements)

    @property
    def polluters(self) -> int:
        """Polluters the week's order-dependent findings name (victims: one finding each)."""
        return len({r.finding.related_test_id for r in self.order_dependent} - {None})


WINDOW_KINDS = ("regression", "fixed", "duration_regression")


def service_detail(
    *, project: Project, service: Service, week: dt.date, start: dt.date,
    summaries: Sequence[WeekSummary],
) -> ServiceDetail:  # fmt: skip
    """The week's slowest tests and isolation findings, and the duration and regression
    episodes of the trend window. Three queries."""
    slowest = list(
        TestWeek.objects.filter(service=service, week=week)
        .select_related("test")
        .only("test__id", "test__classname", "test__name", "test__file", "runs", "passed",
              "failed", "n_durations", "p50_ms", "p95_ms", "pass_rate", "week")
        # As the weekly report and durations.slowest_tests rank them: by p50, then p95.
        .order_by(F("p50_ms").desc(nulls_last=True), F("p95_ms").desc(nulls_last=True), "test_id")
        [:15]
    )  # fmt: skip
    # The week's isolation findings and budget violations; the window's regressions, fixes and
    # duration changes (the episodes listed across weeks). Not every earlier week's flaky tests.
    findings = list(
        Finding.objects.filter(service=service, week__gte=start, week__lte=week)
        .filter(Q(week=week) | Q(kind__in=WINDOW_KINDS))
        .select_related("test", "related_test")
        .annotate(impact=finding_impact_order())
        .order_by("-week", "kind", F("impact").desc(nulls_last=True), *finding_tie_order())
    )
    rows = finding_rows(project, findings)
    this_week = [r for r in rows if r.finding.week == week]

    def of(kind: str, source: list[FindingRow]) -> list[FindingRow]:
        return [r for r in source if r.finding.kind == kind]

    # Every later week repeats the improvements found before it: keep each (test, commit) once.
    seen: set[tuple[object, object]] = set()
    improvements = []
    for s in sorted(summaries, key=lambda s: s.week, reverse=True):
        for imp in s.improvements:
            key = (imp.get("test"), imp.get("commit"))
            if key not in seen:
                seen.add(key)
                improvements.append(imp)
    improvements.sort(key=lambda i: str(i.get("time", "")), reverse=True)
    wanted: set[int] = {int(i["test"]) for i in improvements if i.get("test")}
    for r in of("cascade", this_week):
        for cascade in r.finding.evidence.get("cascades") or []:
            wanted.update(int(t) for t in cascade.get("followers") or [])
    tests = {
        t.pk: t
        for t in Test.objects.filter(project=project, pk__in=wanted).only(
            "id", "classname", "name", "file"
        )
    } if wanted else {}  # fmt: skip
    return ServiceDetail(
        slowest=slowest,
        flaky=of("flaky", this_week),
        order_dependent=of("order_dependent", this_week),
        cascades=of("cascade", this_week),
        regressions=[r for r in rows if r.finding.kind in ("regression", "fixed")],
        slowdowns=of("duration_regression", rows),
        improvements=improvements,
        budget_violations=of("budget_violation", this_week),
        tests=tests,
    )


# --- Test page ----------------------------------------------------------------------------------


def test_get(*, project: Project, test_id: int) -> Test:
    test = Test.objects.filter(project=project, pk=test_id).select_related("service").first()
    if test is None:
        raise Http404("no such test in this project")
    return test


def test_weeks(*, test: Test, limit: int = TREND_WEEKS) -> list[TestWeek]:
    """The test's last `limit` computed weeks, oldest first."""
    return list(reversed(TestWeek.objects.filter(test=test).order_by("-week")[:limit]))


def current_week() -> dt.date:
    from django.utils import timezone

    from ingest.weeks import week_start

    return week_start(timezone.now())


def test_attempts(
    *, project: Project, test: Test, start: dt.date, end: dt.date
) -> list[AttemptPoint]:
    """Every attempt of the test in runs of weeks `start`..`end` (newest ATTEMPTS_LIMIT), read
    by the (test_id, run_week) index, then their runs by primary key: two queries of plain
    rows, no join and no model instances (a test has hundreds of attempts in the window)."""
    rows = list(
        Result.objects.filter(test_id=test.pk, run_week__gte=start, run_week__lte=end)
        .order_by("-run_week", "-run_id", "attempt")
        .values_list("run_id", "attempt", "outcome", "duration_ms")[:ATTEMPTS_LIMIT]
    )
    runs = {
        pk: (started_at, commit, branch)
        for pk, started_at, commit, branch in Run.objects.filter(
            pk__in={row[0] for row in rows}
        ).values_list("pk", "started_at", "commit", "branch")
    }
    labels = {o.value: o.label for o in Outcome}
    url = run_url(project, 0, test=test.pk)
    head, tail = url.split("/0/", 1)
    points = []
    for run_id, attempt, outcome, duration_ms in reversed(rows):
        if run_id not in runs:  # its run deleted (in the admin): nothing to link to
            continue
        started_at, commit, branch = runs[run_id]
        points.append(
            AttemptPoint(
                started_at=started_at, run=run_id, commit=commit, branch=branch,
                attempt=attempt, outcome=labels[outcome], duration_ms=duration_ms,
                url=f"{head}/{run_id}/{tail}#results",
            )
        )  # fmt: skip
    return points


def test_findings(*, project: Project, test: Test) -> list[FindingRow]:
    """Findings about the test, or naming it as a polluter, newest first."""
    qs = (
        Finding.objects.filter(project=project)
        .filter(Q(test=test) | Q(related_test=test))
        .select_related("service", "test", "related_test")
        .order_by("-week", "kind", "id")
    )
    return finding_rows(project, qs)


def change_marks(project: Project, test: Test, rows: Sequence[FindingRow]) -> list[ChangeMark]:
    """The test's duration change points, from its duration_regression findings."""
    from django.utils.dateparse import parse_datetime

    marks = []
    speedups: set[dt.datetime] = set()
    for r in rows:
        f = r.finding
        if f.kind != "duration_regression" or f.test_id != test.pk:
            continue
        e = f.evidence
        when = parse_datetime(str(e.get("time", "")))
        if when is None or e.get("before_median_ms") is None:
            continue
        marks.append(
            ChangeMark(
                time=when, kind=str(e.get("kind", "slowdown")),
                before_ms=float(e["before_median_ms"]), after_ms=float(e["after_median_ms"]),
                ratio=float(e.get("ratio", 0)), commit=str(e.get("commit", "")),
                url=f"#finding-{f.pk}",
            )
        )  # fmt: skip
        back = e.get("reverted_by")
        back_at = parse_datetime(str(back.get("time", ""))) if isinstance(back, dict) else None
        # The speed-up that resolved it, drawn once when it reverted two slowdowns.
        if isinstance(back, dict) and back_at is not None and back_at not in speedups:
            speedups.add(back_at)
            marks.append(
                ChangeMark(
                    time=back_at, kind="speedup",
                    before_ms=float(back.get("before_median_ms") or e["after_median_ms"]),
                    after_ms=float(back["after_median_ms"]), ratio=float(back.get("ratio") or 0),
                    commit=str(back.get("commit", "")), url=f"#finding-{f.pk}",
                )
            )  # fmt: skip
    return marks


ATTEMPT_FILTERS = ("any", "first", "final")


def run_span(*, project: Project, first: int | None, last: int | None) -> tuple[Run, Run] | None:
    """Two runs of the project, the bounds of a span of runs (a regression's failures), or None
    when either is not one of its runs."""
    if not first or not last:
        return None
    runs = {r.pk: r for r in Run.objects.filter(project=project, pk__in=(first, last))
            .only("id", "started_at", "week")}  # fmt: skip
    if first not in runs or last not in runs:
        return None
    return runs[first], runs[last]


def test_results(
    *, test: Test, week: dt.date | None, outcome: str | None, attempt: str = "any",
    branch: str | None = None, span: tuple[Run, Run] | None = None,
) -> QuerySet[Result]:  # fmt: skip
    """The test's results, newest first, by the (test_id, run_week) index (paginated by the
    view); the failure messages list. `attempt`: "first" keeps each run's first attempt (what
    the week-by-week counts count), "final" its last. `branch`: in runs of that branch only;
    `span`: in runs started from the first run of the pair to the second, both included."""
    qs = Result.objects.filter(test_id=test.pk)
    if week:
        qs = qs.filter(run_week=week)
    if branch:
        qs = qs.filter(run__branch=branch)
    if span:
        first, last = span
        qs = qs.filter(
            run_week__gte=first.week, run_week__lte=last.week,
            run__started_at__gte=first.started_at, run__started_at__lte=last.started_at,
        )  # fmt: skip
    if outcome in OUTCOME_FILTERS:
        qs = qs.filter(outcome__in=OUTCOME_FILTERS[outcome])
    if attempt == "first":
        qs = qs.filter(attempt=1)
    elif attempt == "final":
        later = Result.objects.filter(
            test_id=test.pk, run_id=OuterRef("run_id"), run_week=OuterRef("run_week"),
            attempt__gt=OuterRef("attempt"),
        )  # fmt: skip
        qs = qs.exclude(Exists(later))
    return (
        qs.select_related("run")
        .only("id", "run_id", "run_week", "attempt", "outcome", "duration_ms", "message",
              "timeline", "position", "run__commit", "run__branch", "run__started_at")
        .order_by("-run_week", "-run_id", "-attempt")
    )  # fmt: skip


# --- Runs ---------------------------------------------------------------------------------------

RUN_LIST_IDS_LIMIT = 1000


COMMIT_PREFIX_MIN = 7  # a shorter sha prefix names too many commits to be a filter
_SHA = re.compile(rf"[0-9a-fA-F]{{{COMMIT_PREFIX_MIN},64}}")


def is_short_sha(text: str) -> bool:
    """Hexadecimal, but shorter than a sha prefix the runs list filters by."""
    return len(text) < COMMIT_PREFIX_MIN and re.fullmatch(r"[0-9a-fA-F]+", text) is not None


def is_sha_prefix(text: str) -> bool:
    """What the runs list matches as the start of commits (else: one commit exactly)."""
    return _SHA.fullmatch(text) is not None


def commit_exists(*, project: Project, commit: str) -> bool:
    """Whether a run has exactly this commit (a revision number such as 2024 is one)."""
    return Run.objects.filter(project=project, commit=commit).exists()


def run_list(
    *,
    project: Project,
    branch: str | None = None,
    status: str | None = None,
    service: str | None = None,
    week: dt.date | None = None,
    ids: Sequence[int] | None = None,
    longest_first: bool = False,
    commit: str | None = None,
) -> QuerySet[Run]:
    """The project's runs, newest first, filtered; with `longest_first`, in the order of `ids`
    (a service-week's wall clocks, longest first). `commit`: a sha or its prefix.

    A run belongs to a service as ingest.selectors.runs_of_service says."""
    qs = Run.objects.filter(project=project)
    order: tuple = ("-started_at", "-id")
    if ids is not None:
        ids = list(ids)[:RUN_LIST_IDS_LIMIT]
        qs = qs.filter(pk__in=ids)
        if longest_first and ids:
            order = (Case(*(When(pk=pk, then=Value(i)) for i, pk in enumerate(ids))), "-id")
    if branch:
        qs = qs.filter(branch=branch)
    if commit and is_sha_prefix(commit):
        # A sha prefix, as a range the (project, commit) index answers under any collation
        # (LIKE 'abc%' uses a plain btree index only under the C collation): every sha that
        # starts with it sorts from it to it + "g", the character after the hex digits.
        # Commits are compared as uploaded (their case kept).
        qs = qs.filter(commit__gte=commit, commit__lt=f"{commit}g", commit__startswith=commit)
    elif commit:
        qs = qs.filter(commit=commit)  # a commit that is not a sha (a tag, a version): as is
    if status:
        qs = qs.filter(status=status)
    if week:
        # The same runs as week=..., by the (project, started_at) index.
        start = dt.datetime.combine(week, dt.time(), tzinfo=dt.UTC)
        qs = qs.filter(started_at__gte=start, started_at__lt=start + dt.timedelta(days=7))
    if service:
        qs = runs_of_service(qs, project=project, service=service)
    return qs.only(
        "id", "commit", "branch", "build_id", "job", "build_url", "environment", "service",
        "started_at", "week", "status", "counts", "error",
    ).order_by(*order)  # fmt: skip


def run_weeks(*, project: Project) -> list[dt.date]:
    """Weeks with parsed runs, newest first (the runs filter): read from the service-weeks, a
    row per service and week, rather than from every run."""
    return list(
        ServiceWeek.objects.filter(project=project)
        .order_by("-week")
        .values_list("week", flat=True)
        .distinct()
    )


def unclean_runs(
    *, project: Project, service: str, week: dt.date, outages: bool = False
) -> dict[int, list[str]]:
    """The runs behind a service-week's isolation score: run id -> causes of the unclean runs
    (or, with `outages`, the infra-outage runs the score leaves out)."""
    key = "metrics__outage_run_ids" if outages else "metrics__unclean_runs"
    value = (
        ServiceWeek.objects.filter(project=project, service__name=service, week=week)
        .values_list(key, flat=True)
        .first()
    )
    if not value:
        return {}
    if outages:
        return {int(run): ["infra outage"] for run in value}
    return {int(run): list(causes) for run, causes in value}


def wall_clock_runs(*, project: Project, service: str, week: dt.date) -> dict[int, float] | None:
    """The runs behind a service-week's wall-clock percentiles: run id -> wall clock in ms,
    longest first; None when the service-week was computed before they were stored."""
    value = (
        ServiceWeek.objects.filter(project=project, service__name=service, week=week)
        .values_list("metrics__wall_clock_runs", flat=True)
        .first()
    )
    return None if value is None else {int(run): float(ms) for run, ms in value}


def run_get(*, project: Project, run_id: int) -> Run:
    run = Run.objects.filter(project=project, pk=run_id).first()
    if run is None:
        raise Http404("no such run in this project")
    return run


def run_files(*, run: Run) -> list[RunFile]:
    return list(run.files.only("id", "run_id", "index", "name", "format", "size").order_by("index"))


def run_file_get(*, run: Run, index: int) -> RunFile:
    file = RunFile.objects.filter(run=run, index=index).first()
    if file is None:
        raise Http404("no such file in this run")
    return file


def run_timelines(*, run: Run) -> list[str]:
    return list(
        Result.objects.filter(run_id=run.pk, run_week=run.week)
        .order_by("timeline")
        .values_list("timeline", flat=True)
        .distinct()
    )


def run_results(
    *,
    run: Run,
    outcome: str | None = None,
    timeline: str | None = None,
    test_id: int | None = None,
    retried: bool = False,
    final: bool = False,
    passed_on_retry: bool = False,
) -> QuerySet[Result]:
    """One run's results in execution order (timeline, position, attempt), filtered:
    `retried` keeps every attempt of the tests that ran more than once, `passed_on_retry` those
    of the tests that failed and then passed (the run's `flaky` count), `final` keeps each
    test's last attempt (what the run's counts are computed from)."""
    qs = Result.objects.filter(run_id=run.pk, run_week=run.week)
    if outcome in OUTCOME_FILTERS:
        qs = qs.filter(outcome__in=OUTCOME_FILTERS[outcome])
    if timeline:
        qs = qs.filter(timeline=timeline)
    if test_id:
        qs = qs.filter(test_id=test_id)
    same_test = Result.objects.filter(run_id=run.pk, run_week=run.week, test_id=OuterRef("test_id"))
    if retried:
        qs = qs.filter(Exists(same_test.filter(attempt=2)))
    if passed_on_retry:
        later_pass = Result.objects.filter(
            run_id=run.pk, run_week=run.week, test_id=OuterRef("test_id"), outcome=Outcome.PASSED,
            attempt__gt=OuterRef("attempt"),
        )  # fmt: skip
        failed = same_test.filter(outcome__in=(Outcome.FAILED, Outcome.ERROR))
        qs = qs.filter(Exists(failed.filter(Exists(later_pass))))
    if final:
        qs = qs.exclude(Exists(same_test.filter(attempt__gt=OuterRef("attempt"))))
    return (
        qs.select_related("test")
        .only("id", "test_id", "attempt", "outcome", "duration_ms", "timeline", "position",
              "message", "test__classname", "test__name", "test__file")
        .order_by("timeline", "position", "attempt")
    )  # fmt: skip


def run_order_cells(*, project: Project, run: Run) -> list[OrderCell]:
    """First attempts of the run in order on each timeline, for the order chart (runs up to
    ORDER_CHART_LIMIT results; larger runs get the table only)."""
    if (run.counts or {}).get("results", 0) > ORDER_CHART_LIMIT:
        return []
    rows = (
        Result.objects.filter(run_id=run.pk, run_week=run.week, attempt=1)
        .order_by("timeline", "position")
        .values_list("test_id", "timeline", "outcome", "duration_ms", "test__classname",
                     "test__name", "position")
    )  # fmt: skip
    cells = []
    index: dict[str, int] = defaultdict(int)
    labels = {o.value: o.label for o in Outcome}
    for test_id, timeline, outcome, duration_ms, classname, name, position in rows:
        i = index[timeline]
        index[timeline] += 1
        cells.append(
            OrderCell(
                timeline=timeline or "file", position=i, outcome=labels[outcome],
                test=f"{classname}::{name}" if classname else name, duration_ms=duration_ms,
                url=test_url(project, test_id), row=position + 1,
            )
        )  # fmt: skip
    return cells


# --- Settings -----------------------------------------------------------------------------------


def token_list(*, project: Project) -> list[IngestToken]:
    return list(IngestToken.objects.filter(project=project).order_by("revoked_at", "-created_at"))


def token_get(*, project: Project, token_id: int) -> IngestToken:
    token = IngestToken.objects.filter(project=project, pk=token_id).first()
    if token is None:
        raise Http404("no such token in this project")
    return token


def service_rule_list(*, project: Project) -> list[ServiceRule]:
    return list(
        ServiceRule.objects.filter(project=project)
        .select_related("service")
        .order_by("order", "id")
    )


def metric_settings_get(*, project: Project) -> ProjectSettings | None:
    return ProjectSettings.objects.filter(project=project).first()


# --- Reports ------------------------------------------------------------------------------------


@dataclass
class ReportScope:
    """A week's reports of all services or of one service: its Markdown and PDF."""

    service: Service | None
    md: Report | None = None
    pdf: Report | None = None

    @property
    def latest(self) -> Report | None:
        rows = [r for r in (self.md, self.pdf) if r is not None]
        return max(rows, key=lambda r: r.generated_at) if rows else None

    @property
    def stale(self) -> bool:
        return any(r.outdated for r in (self.md, self.pdf) if r is not None)


@dataclass
class ReportWeek:
    week: dt.date
    scopes: list[ReportScope]

    @property
    def label(self) -> str:
        return week_label(self.week)


def report_weeks(*, project: Project) -> list[ReportWeek]:
    """Stored reports of the project by week, newest first, all services before each service
    (content left unread). One query."""
    rows = (
        Report.objects.filter(project=project)
        .select_related("service")
        .defer("content")
        .annotate(size=Length("content"))
        .order_by("-week", F("service__name").asc(nulls_first=True), "format")
    )
    weeks: dict[dt.date, dict[int | None, ReportScope]] = defaultdict(dict)
    for row in rows:
        scope = weeks[row.week].setdefault(row.service_id, ReportScope(row.service))
        setattr(scope, row.format, row)
    return [ReportWeek(week, list(scopes.values())) for week, scopes in weeks.items()]


def report_made_since(
    *, project: Project, week: dt.date, service: Service | None, since: dt.datetime
) -> bool:
    return Report.objects.filter(
        project=project, week=week, service=service, generated_at__gte=since
    ).exists()


def report_get(*, project: Project, report_id: int) -> Report:
    row = Report.objects.filter(project=project, pk=report_id).select_related("service").first()
    if row is None:
        raise Http404("no such report in this project")
    return row


# --- Test search ----------------------------------------------------------------------------------

SEARCH_MAX_ROWS = 1000  # a search is refined, not paged through: past this, say "more than"


def test_search(*, project: Project, text: str, service: Service | None = None) -> QuerySet[Test]:
    """The project's tests (or one service's) whose name, class or file holds `text`, any
    case, by name. One query a page, with the service joined (no query per row); the pages
    count at most SEARCH_MAX_ROWS of them. A substring match cannot use a btree index, so it
    reads the project's (or the service's, by test_service_name) test rows: about 100 ms at
    100,000 tests on PostgreSQL. A trigram index would serve it from the index (see
    docs/metrics.md "Finding a test")."""
    qs = Test.objects.filter(project=project)
    if service is not None:
        qs = qs.filter(service=service)
    qs = qs.filter(Q(name__icontains=text) | Q(classname__icontains=text) | Q(file__icontains=text))
    return (
        qs.select_related("service")
        .only("id", "classname", "name", "file", "line", "service__name")
        .order_by("name", "classname", "id")
    )


# --- Evidence behind a finding --------------------------------------------------------------------

# The cells of an order-dependent finding's 2×2 table, as the runs list describes them.
ORDER_CELLS = {
    "a": ("the polluter ran earlier on the victim's worker", "failed"),
    "b": ("the polluter ran earlier on the victim's worker", "passed"),
    "c": ("the polluter ran in the run, not earlier on the victim's worker", "failed"),
    "d": ("the polluter ran in the run, not earlier on the victim's worker", "passed"),
}


def order_finding_get(*, project: Project, finding_id: int | None) -> Finding | None:
    """An order-dependent finding of the project, with its victim and polluter, or None."""
    if finding_id is None:
        return None
    return (
        Finding.objects.filter(project=project, pk=finding_id, kind=Finding.Kind.ORDER_DEPENDENT)
        .select_related("service", "test", "related_test")
        .first()
    )


def cascade_run_ids(finding: Finding) -> list[int]:
    """The runs of a cascade finding's listed cascades (the latest MAX_EVIDENCE_RUNS), once each."""
    cascades = (finding.evidence or {}).get("cascades") or []
    return list(dict.fromkeys(int(c["run"]) for c in cascades if c.get("run")))


def test_outcomes_in_runs(*, test_id: int, runs: Sequence[Run]) -> dict[int, tuple[str, str]]:
    """The test's first-attempt and final outcome labels in each of these runs (one query, by
    the (test_id, run_week) index)."""
    if not runs:
        return {}
    rows = (
        Result.objects.filter(
            test_id=test_id, run_id__in=[r.pk for r in runs], run_week__in={r.week for r in runs}
        )
        .order_by("run_id", "attempt")
        .values_list("run_id", "attempt", "outcome")
    )
    labels = {o.value: o.label for o in Outcome}
    first: dict[int, str] = {}
    final: dict[int, str] = {}
    for run_id, attempt, outcome in rows:
        if attempt == 1:
            first[run_id] = labels[outcome]
        final[run_id] = labels[outcome]
    return {run_id: (first.get(run_id, ""), label) for run_id, label in final.items()}


def test_in_project(*, project: Project, test_id: int | None) -> Test | None:
    if test_id is None:
        return None
    return Test.objects.filter(project=project, pk=test_id).only("id", "classname", "name").first()
