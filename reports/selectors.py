"""Read operations of reports: what the API and pages show. Scoped by project."""

from __future__ import annotations

import datetime as dt
import functools
import re
import shlex
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django.db import connection
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Count, F, FloatField, Func, JSONField, Max, QuerySet
from django.db.models.expressions import Combinable
from django.db.models.functions import Collate
from django.db.models.sql.compiler import SQLCompiler
from django.http import Http404
from django.urls import get_script_prefix, reverse

from ingest.models import Project, Run, Service, Test
from ingest.weeks import week_label
from reports.charts import WeekPoint
from reports.metrics.regressions import removed_week
from reports.models import Finding, ServiceWeek

if TYPE_CHECKING:
    from django.db.models.sql.compiler import _AsSqlType


def stale_service_weeks_count(project: Project) -> int:
    return ServiceWeek.objects.filter(project=project, dirty__gt=F("computed")).count()


def service_list(*, project: Project) -> list[dict[str, object]]:
    """Each service with its latest computed week."""
    services = list(Service.objects.filter(project=project).order_by("name"))
    latest = {
        row["service_id"]: row["week"]
        for row in ServiceWeek.objects.filter(project=project, computed__gt=0)
        .values("service_id")
        .annotate(week=Max("week"))
    }
    rows = {
        (sw.service_id, sw.week): sw
        for sw in ServiceWeek.objects.filter(project=project, week__in=set(latest.values())).only(
            "service_id", "week", "pass_rate", "final_pass_rate", "isolation_score", "runs"
        )
    }
    out: list[dict[str, object]] = []
    for service in services:
        week = latest.get(service.pk)
        sw = rows.get((service.pk, week)) if week else None
        out.append({"service": service, "latest": sw})
    return out


def service_get(*, project: Project, name: str) -> Service:
    service = Service.objects.filter(project=project, name=name).first()
    if service is None:
        raise Http404("no such service in this project")
    return service


def service_week_get(*, service: Service, week: dt.date) -> ServiceWeek:
    row = ServiceWeek.objects.filter(service=service, week=week).first()
    if row is None:
        raise Http404("no results of this service in that week")
    return row


def finding_list(
    *,
    project: Project,
    kind: str | None = None,
    service: str | None = None,
    week: dt.date | None = None,
    status: str | None = None,
) -> QuerySet[Finding]:
    qs = Finding.objects.filter(project=project).select_related("service", "test", "related_test")
    if kind:
        qs = qs.filter(kind=kind)
    if service:
        qs = qs.filter(service__name=service)
    if week:
        qs = qs.filter(week=week)
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-week", "kind", "service__name", "id")


def quarantine_list(
    *, project: Project, service: Service | None = None
) -> list[tuple[Finding, Test]]:
    """Tests flaky in their service's latest computed week (of every service, or of
    `service`): flaky tests and order-dependent victims (cascade roots break others and are
    reported, not quarantined)."""
    weeks = ServiceWeek.objects.filter(project=project, computed__gt=0)
    if service is not None:
        weeks = weeks.filter(service=service)
    latest = dict(
        weeks.values("service_id").annotate(week=Max("week")).values_list("service_id", "week")
    )
    if not latest:
        return []
    findings = (
        Finding.objects.filter(
            project=project,
            kind__in=[Finding.Kind.FLAKY, Finding.Kind.ORDER_DEPENDENT],
            service_id__in=latest,
            week__in=set(latest.values()),
        )  # fmt: skip
        .select_related("service", "test")
        .order_by("service__name", "test__classname", "test__name", "kind")
    )
    seen: set[int] = set()
    out = []
    for f in findings:
        if latest.get(f.service_id) != f.week or f.test_id in seen:
            continue
        seen.add(f.test_id)
        out.append((f, f.test))
    return out


_PYTEST_MODULE = re.compile(r"^(test_\w*|\w+_test)$")  # pytest's default test file names
_PACKAGE = re.compile(r"^[a-z_][a-z0-9_]*$")


def pytest_node_id(test: Test) -> str:
    """`file::Class::name` (or `file::name`) when the test looks like a pytest test; else the
    classname and name joined by `::`. Without a file (pytest's default JUnit output has none),
    a classname whose lower-case dotted path ends in a test module (`tests.test_math`, then
    classes) reads as that module's file."""
    file, classname = test.file, test.classname
    if not file and classname:
        parts = classname.split(".")
        for i in range(len(parts) - 1, -1, -1):
            if _PYTEST_MODULE.match(parts[i]) and all(_PACKAGE.match(p) for p in parts[: i + 1]):
                file = "/".join(parts[: i + 1]) + ".py"
                break
    if file.endswith(".py"):
        module = file[:-3].replace("/", ".")
        if classname == module or not classname:
            return f"{file}::{test.name}"
        if classname.startswith(module + "."):
            return f"{file}::{classname[len(module) + 1 :].replace('.', '::')}::{test.name}"
    return f"{classname}::{test.name}" if classname else test.name


# --- Shared with the pages: week summaries, links, finding lines --------------------------------

TREND_WEEKS = 12
CAUSES = ("flaky", "order_dependent", "cascade")
EPISODE_KINDS = ("regression", "duration_regression")
# Findings kinds in the order the pages list them.
KIND_ORDER = (
    "regression", "order_dependent", "cascade", "flaky", "duration_regression",
    "budget_violation", "fixed",
)  # fmt: skip
KIND_PLURALS = {
    "regression": "regressions",
    "order_dependent": "order-dependent",
    "cascade": "cascades",
    "flaky": "flaky",
    "duration_regression": "slowdowns",
    "budget_violation": "over budget",
    "fixed": "fixed",
}
KIND_LABELS = {
    "regression": "regression",
    "order_dependent": "order-dependent",
    "cascade": "cascade",
    "flaky": "flaky",
    "duration_regression": "slowdown",
    "budget_violation": "over budget",
    "fixed": "fixed",
}


# --- Ranking: what matters first ----------------------------------------------------------------
#
# Within a week and a kind, findings are listed by impact, largest first (docs/metrics.md
# "Ranking"), then by service, test and id so that equal impacts keep one order. Each kind's
# measure is a number its evidence already holds, in runs or failures it cost:
IMPACT_MEASURES = {
    "regression": "failures on the reference branch so far (`failures`)",
    "fixed": "failures of the episode it ended (`failures`)",
    "order_dependent": "victim failures after the polluter (`a`)",
    "cascade": "follower failures (`followers`)",
    "flaky": "flaky results in the flaky window (`flaky_results_in_window` = flake rate × "
    "decided runs); a suspected test without one: its failures in the reference-branch series",
    "duration_regression": "time added: the shift × passed runs since the change "
    "(`shift_ms` × `n_after_durations`)",
    "budget_violation": "how far over budget (`score`: p95, or the maximum, ÷ budget)",
}


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def finding_impact(kind: str, evidence: dict, score: float | None = None) -> float | None:
    """The measure a finding is ranked by within its week and kind (IMPACT_MEASURES); None when
    its evidence lacks it (ranked last). finding_impact_order is the same in SQL."""
    e = evidence or {}
    if kind in ("regression", "fixed"):
        return _number(e.get("failures"))
    if kind == "order_dependent":
        return _number(e.get("a"))
    if kind == "cascade":
        return _number(e.get("followers"))
    if kind == "flaky":
        if e.get("status") == "suspected":
            return _number((e.get("series") or {}).get("failures"))
        return _number(e.get("flaky_results_in_window"))
    if kind == "duration_regression":
        shift, n = _number(e.get("shift_ms")), _number(e.get("n_after_durations"))
        return None if shift is None or n is None else shift * n
    if kind == "budget_violation":
        return score
    return None


def finding_impact_label(kind: str, evidence: dict, score: float | None = None) -> str:
    """The impact as the tables show it: "12 failures", "5 flaky runs", "+2.1 min over 40 runs"."""
    value = finding_impact(kind, evidence, score)
    if value is None:
        return "–"
    e = evidence or {}
    n = int(value)
    if kind in ("regression", "fixed"):
        return plural(n, "failure")
    if kind == "order_dependent":
        return plural(n, "failure") + " after it"
    if kind == "cascade":
        return plural(n, "follower failure")
    if kind == "flaky":
        if e.get("status") == "suspected":
            return plural(n, "failure") + " on the reference branch"
        return plural(n, "flaky run")
    if kind == "duration_regression":
        runs = int(e.get("n_after_durations") or 0)
        return f"+{_ms(value)} over {plural(runs, 'run')}"
    if kind == "budget_violation":
        return f"×{value:.2f} budget"
    return f"{value:g}"


class JSONNumber(Func):
    """The number at a key path of a JSON field (`JSONNumber("evidence__series__failures")`),
    NULL when the key is missing or holds no number (null, a boolean, a string, a list), as
    _number reads it in Python. A cast of the key's text would not agree: SQLite reads JSON
    null as 0.0 and a string as its leading number or 0.0, PostgreSQL fails on a boolean."""

    output_field = FloatField()

    def _when_number(self, compiler: SQLCompiler, test: str, cast: str) -> _AsSqlType:
        value, params = compiler.compile(self.get_source_expressions()[0])
        return f"(CASE WHEN {test.format(value)} THEN {cast.format(value)} END)", (*params, *params)

    def as_postgresql(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra_context: Any
    ) -> _AsSqlType:
        # The key's jsonb value (-> or #>), typed.
        return self._when_number(compiler, "jsonb_typeof({}) = 'number'", "({})::double precision")

    def as_sqlite(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra_context: Any
    ) -> _AsSqlType:
        # The key's value as Django reads it: a number as an SQL number; null, true and false
        # as the text of their JSON type; a string as its text; a list or an object as JSON text.
        return self._when_number(compiler, "typeof({}) IN ('integer', 'real')", "CAST({} AS REAL)")


def finding_impact_order() -> object:
    """finding_impact as an SQL expression over Finding rows (PostgreSQL and SQLite alike)."""
    from django.db.models import Case, Value, When

    def num(path: str) -> JSONNumber:
        return JSONNumber(f"evidence__{path}")

    return Case(
        When(kind__in=("regression", "fixed"), then=num("failures")),
        When(kind="order_dependent", then=num("a")),
        When(kind="cascade", then=num("followers")),
        When(kind="flaky", evidence__status="suspected", then=num("series__failures")),
        When(kind="flaky", then=num("flaky_results_in_window")),
        When(kind="duration_regression", then=num("shift_ms") * num("n_after_durations")),
        When(kind="budget_violation", then=F("score")),
        default=Value(None, output_field=FloatField()),
        output_field=FloatField(),
    )


class CodePoint(Collate):
    """A text expression compared character by character by code point, as Python compares
    strings, whatever the collation of its column or database: PostgreSQL's "C" collation
    (a database created with LC_COLLATE en_US.UTF-8 would put `testa` before `test_b`, Python
    after) and SQLite's BINARY (its default; "C" is no collation there)."""

    def __init__(self, expression: str) -> None:
        super().__init__(expression, "C")

    def as_sqlite(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra_context: Any
    ) -> _AsSqlType:
        return super().as_sql(compiler, connection, collation="BINARY", **extra_context)


def finding_tie_order() -> list[str | Combinable]:
    """How equal impacts keep one order in SQL: by service, test name and id, names by code
    point, as the weekly report sorts them in Python."""
    return [CodePoint("service__name"), CodePoint("test__name"), "id"]


# --- URLs (every number on a page links to the list it was computed from) -----------------------


def _url(name: str, *args: object, **query: object) -> str:
    # A page links to the same few hundred lists over and over (every service-week's runs, its
    # unclean runs, ...): reversing each one every time was most of a page's Python time.
    return _url_cached(get_script_prefix(), name, args, tuple(query.items()))


@functools.lru_cache(maxsize=16384)
def _url_cached(prefix: str, name: str, args: tuple, query: tuple) -> str:
    base = reverse(f"pages:{name}", args=args)
    params = {k: v for k, v in query if v not in (None, "", False)}
    return f"{base}?{urlencode(params)}" if params else base


def page_url(name: str, *args: object) -> str:
    """reverse("pages:NAME", args=args), memoised (the `{% page_url %}` tag of the pages)."""
    return _url(name, *args)


def runs_url(project: Project, **query: object) -> str:
    return _url("runs", project.slug, **query)


OPEN_AT_END = "open_at_end"  # the findings list's status filter: open at the end of its week


def open_regressions_at(
    *, project: Project, week: dt.date, service: Service | None = None
) -> list[Finding]:
    """Regressions open at the end of the week: begun that week or before, and not fixed by
    then (still open, or fixed by a fix of a later week), so a past week reads the same after
    the fix.

    A fix names the episode it ends by its first failing run. A fix of an episode that began
    before the earliest run its window read (`broken_before_run` in its evidence, see
    regression_read_back_weeks) names a later one: it ends the test's regression that no fix
    names, begun before it (the one services._write_findings resolves). A regression resolved
    because its test stopped running is open until the week it counted as removed."""
    scope = {"service": service} if service is not None else {}
    episodes = list(
        Finding.objects.filter(project=project, kind=Finding.Kind.REGRESSION, week__lte=week,
                               **scope)
        .select_related("service", "test", "related_test")
        .order_by("service__name", "week", "test__name", "id")
    )  # fmt: skip
    resolved = {f.test_id for f in episodes if f.status != Finding.Status.OPEN}
    named: dict[tuple[int, str], dt.date] = {}  # (test, first failing run) -> the fix's week
    unnamed: dict[int, list[dt.date]] = defaultdict(list)  # test -> weeks of such fixes
    for test, fix_week, first_failing, broken_before in Finding.objects.filter(
        project=project, kind=Finding.Kind.FIXED, test_id__in=resolved, **scope
    ).values_list("test_id", "week", "evidence__first_failing_run", "evidence__broken_before_run"):
        if broken_before is not None:
            unnamed[test].append(fix_week)
        else:
            named[(test, str(first_failing))] = fix_week

    def fixed_in(f: Finding) -> dt.date | None:
        gone = removed_in(f)  # resolved as removed: whatever fix came after, it ended then
        if gone is not None:
            return gone
        fix_week = named.get((f.test_id, str(f.evidence.get("first_failing_run"))))
        if fix_week is None:
            fix_week = min((w for w in unnamed.get(f.test_id, ()) if w >= f.week), default=None)
        return fix_week

    return [
        f for f in episodes
        if f.status == Finding.Status.OPEN or (fixed_in(f) or week) > week
    ]  # fmt: skip


def removed_in(f: Finding) -> dt.date | None:
    """The week a regression's test counted as removed (regressions.removed_at), if it did."""
    return removed_week(f.evidence or {})


def findings_url(project: Project, **query: object) -> str:
    return _url("project", project.slug, **query) + "#findings"


def service_url(project: Project, service: str, **query: object) -> str:
    return _url("service", project.slug, service, **query)


def _object_url(name: str, project: Project, pk: int, query: dict[str, object]) -> str:
    """The page of one test or run. Pages link to hundreds of distinct ones (a run's results, a
    test's attempts): the id is the last path segment, so one reversed URL serves them all."""
    base = _url(name, project.slug, 0)
    url = f"{base[: -len('0/')]}{int(pk)}/"
    params = {k: v for k, v in query.items() if v not in (None, "", False)}
    return f"{url}?{urlencode(params)}" if params else url


def test_url(project: Project, test_id: int, **query: object) -> str:
    return _object_url("test", project, test_id, query)


def run_url(project: Project, run_id: int, **query: object) -> str:
    return _object_url("run", project, run_id, query)


def week_window(end: dt.date, weeks: int = TREND_WEEKS) -> list[dt.date]:
    """The `weeks` Mondays ending with `end`, oldest first."""
    return [end - dt.timedelta(weeks=weeks - 1 - i) for i in range(weeks)]


def trim_window(window: Sequence[dt.date], summaries: Iterable[WeekSummary]) -> list[dt.date]:
    """The window from its first week with data on: a young project's charts start at its first
    week rather than with empty columns."""
    weeks = [s.week for s in summaries]
    if not weeks:
        return []
    first = min(weeks)
    return [w for w in window if w >= first]


# --- Service-week rollups -----------------------------------------------------------------------


@dataclass(frozen=True)
class WeekSummary:
    """A service-week's published numbers for tables, with the chart point they also feed."""

    service: str
    week: dt.date
    point: WeekPoint
    commits: int | None
    tests_executed: int | None
    isolation_tests_executed: int | None  # the flaky tests' denominator
    flaky_tests: int | None
    flaky_results: int | None
    victims: int | None
    polluters: int | None
    cascade_timelines: int | None
    outage_runs: int | None
    budget_violations: int | None
    stale: bool
    improvements: list[dict] = field(default_factory=list)

    @property
    def label(self) -> str:
        return week_label(self.week)


_SW_FIELDS = (
    "project__slug", "service__name", "week", "runs", "pass_rate", "final_pass_rate",
    "isolation_score", "p50_ms", "p95_ms", "dirty", "computed",
)  # fmt: skip
# The scalars read from a service-week's `metrics` JSON, by the name the pages use. They come
# back as one small JSON object per row (one decode) rather than one column per key.
_SW_METRICS = {
    "runs": "metrics__runs", "isolation_runs": "metrics__isolation_runs",
    "passed": "metrics__passed", "failed": "metrics__failed", "commits": "metrics__commits",
    "tests_executed": "metrics__tests_executed",
    "isolation_tests_executed": "metrics__isolation_tests_executed",
    "clean_runs": "metrics__clean_runs",
    "outage_runs": "metrics__outage_runs", "flaky_tests": "metrics__flaky_tests",
    "flaky_results": "metrics__flaky_results", "victims": "metrics__victims",
    "polluters": "metrics__polluters", "cascade_timelines": "metrics__cascade_timelines",
    "budget_violations": "metrics__budget_violations",
    "wall_p50_ms": "metrics__duration__wall_clock_p50_ms",
    "wall_p95_ms": "metrics__duration__wall_clock_p95_ms",
}  # fmt: skip


# Keys of `metrics` holding lists, which no service-week row shows.
_SW_LISTS = ("unclean_runs", "duration_improvements", "wall_clock_runs")
_SW_PATHS = {k: tuple(path.split("__")[1:]) for k, path in _SW_METRICS.items()}


class _MetricsWithoutLists(Func):
    """PostgreSQL: the metrics less their lists. A JSON object of one `->` per key decompresses
    the whole stored value once per key (20 times a row); this decompresses it once."""

    template = "(%(expressions)s - '{" + ",".join(_SW_LISTS) + "}'::text[])"
    output_field = JSONField()


def _sw_rows(qs: QuerySet[ServiceWeek], *fields: str) -> Iterator[dict]:
    """Service-week rows as dicts: `fields`, _SW_FIELDS and the metrics scalars as `m`."""
    # SQLite (embedded mode, small data) reads the whole value: a JSON object of key lookups
    # there turns a JSON null into the string 'null'.
    metrics = _MetricsWithoutLists("metrics") if connection.vendor == "postgresql" else F("metrics")
    for row in qs.annotate(m=metrics).values(*fields, *_SW_FIELDS, "m"):
        row["m"] = {k: _dig(row["m"], path) for k, path in _SW_PATHS.items()}
        yield row


def _dig(value: object, path: tuple[str, ...]) -> object:
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _int(value: object) -> int | None:
    return None if value is None else int(value)  # type: ignore[call-overload]


def _summary(project: Project, row: dict) -> WeekSummary:
    service, week = row["service__name"], row["week"]
    label = week_label(week)
    runs = row["runs"]
    m = row["m"] or {}
    outages = _int(m.get("outage_runs")) or 0
    # The score's denominator (the week's runs less infra outages) is published as
    # `isolation_runs`; rows computed before that name carried it as metrics["runs"].
    scored = _int(m.get("isolation_runs"))
    if scored is None:
        scored = _int(m.get("runs"))
    point = WeekPoint(
        series=service,
        week=label,
        runs=runs,
        passed=_int(m.get("passed")),
        failed=_int(m.get("failed")),
        pass_rate=row["pass_rate"],
        final_pass_rate=row["final_pass_rate"],
        isolation_score=row["isolation_score"],
        clean_runs=_int(m.get("clean_runs")),
        scored_runs=scored if scored is not None else runs - outages,
        outage_runs=outages,
        p50_ms=row["p50_ms"],
        p95_ms=row["p95_ms"],
        wall_p50_ms=m.get("wall_p50_ms"),
        wall_p95_ms=m.get("wall_p95_ms"),
        runs_url=runs_url(project, service=service, week=label),
        unclean_url=runs_url(project, service=service, week=label, unclean=1),
        week_url=service_url(project, service, week=label) + "#slowest",
        wall_url=runs_url(project, service=service, week=label, wall=1),
    )
    return WeekSummary(
        service=service,
        week=week,
        point=point,
        commits=_int(m.get("commits")),
        tests_executed=_int(m.get("tests_executed")),
        # Rows computed before the name carried the isolation count as metrics["tests_executed"].
        isolation_tests_executed=_int(
            m.get("tests_executed")
            if m.get("isolation_tests_executed") is None
            else m["isolation_tests_executed"]
        ),
        flaky_tests=_int(m.get("flaky_tests")),
        flaky_results=_int(m.get("flaky_results")),
        victims=_int(m.get("victims")),
        polluters=_int(m.get("polluters")),
        cascade_timelines=_int(m.get("cascade_timelines")),
        outage_runs=outages,
        budget_violations=_int(m.get("budget_violations")),
        stale=row["dirty"] > row["computed"],
        improvements=list(row.get("metrics__duration_improvements") or []),
    )


def week_summaries(
    *,
    project: Project,
    start: dt.date,
    end: dt.date,
    service: Service | None = None,
    with_improvements: bool = False,
) -> list[WeekSummary]:
    """Computed service-weeks of the project (or one service) from `start` to `end`, by service
    then week. One query; only the JSON keys the pages show are read from `metrics`."""
    qs = ServiceWeek.objects.filter(project=project, computed__gt=0, week__gte=start, week__lte=end)
    if service is not None:
        qs = qs.filter(service=service)
    extra = ("metrics__duration_improvements",) if with_improvements else ()
    rows = _sw_rows(qs.order_by("service__name", "week"), *extra)
    return [_summary(project, row) for row in rows]


@dataclass(frozen=True)
class ProjectTrend:
    """Project-wide figures of one week, from its services' components (exact, not averages)."""

    week: dt.date
    runs: int
    pass_rate: float | None
    isolation_score: float | None


def project_runs_by_week(
    *, projects: Sequence[Project], weeks: Iterable[dt.date]
) -> dict[int, dict[dt.date, int]]:
    """Parsed runs per project and week (one query): one upload holding tests of two services is
    one run, as the runs list and the weekly report count it (not the sum of the services')."""
    out: dict[int, dict[dt.date, int]] = {p.pk: {} for p in projects}
    for project_id, week, n in (
        Run.objects.filter(project__in=projects, week__in=set(weeks), status=Run.Status.PARSED)
        .values("project", "week")
        .annotate(n=Count("id"))
        .values_list("project", "week", "n")
    ):
        out[project_id][week] = n
    return out


def project_trend(
    summaries: Iterable[WeekSummary], weeks: Sequence[dt.date], runs: Mapping[dt.date, int]
) -> list[ProjectTrend]:
    """Sum the services' counts per week: pass rate = sum passed / sum decided, isolation =
    100 x sum clean runs / sum scored runs, as the per-service definitions read. Runs are the
    project's (project_runs_by_week), not a sum: one run can hold several services' tests."""
    acc: dict[dt.date, list[int]] = {w: [0, 0, 0, 0] for w in weeks}
    for s in summaries:
        if s.week not in acc:
            continue
        a = acc[s.week]
        p = s.point
        a[0] += p.passed or 0
        a[1] += (p.passed or 0) + (p.failed or 0)
        a[2] += p.clean_runs or 0
        a[3] += p.scored_runs or 0
    return [
        ProjectTrend(
            week=w,
            runs=runs.get(w, 0),
            pass_rate=a[0] / a[1] if a[1] else None,
            isolation_score=100 * a[2] / a[3] if a[3] else None,
        )
        for w, a in acc.items()
    ]


def _ms(value: object) -> str:
    if value is None:
        return "–"
    v = float(value)  # type: ignore[arg-type]
    return f"{v / 1000:,.2f} s" if v >= 1000 else f"{v:,.0f} ms"


def plural(n: object, word: str, words: str | None = None) -> str:
    """3 -> "3 tests", 1 -> "1 test" (pages, reports and summaries alike)."""
    return f"{n} {word if n == 1 else (words or word + 's')}"


FLAKY_REASONS = {"retry": "passed on retry", "same_commit": "passed on the same commit elsewhere"}


def finding_summary(kind: str, evidence: dict) -> str:
    """One line that says what the evidence shows."""
    e = evidence or {}
    if kind == "order_dependent":
        return (
            f"failed {e.get('a', '?')} of {(e.get('a') or 0) + (e.get('b') or 0)} times after the "
            f"polluter, {e.get('c', '?')} of {(e.get('c') or 0) + (e.get('d') or 0)} without "
            f"(q = {e.get('q', 0):.2g})"
        )
    if kind == "cascade":
        count, failures, tests = e.get("count", 0), e.get("followers", 0), e.get("follower_tests")
        of = (
            f" of {plural(tests, 'following test')}" if tests is not None else " of following tests"
        )
        return f"{plural(count, 'cascade')}: {plural(failures, 'failure')}{of}"
    if kind == "flaky":
        reasons = ", ".join(
            f"{v}× {FLAKY_REASONS.get(k, k)}" for k, v in sorted((e.get("reasons") or {}).items())
        )
        if not reasons and isinstance((e.get("series") or {}).get("flip_rate"), int | float):
            reasons = f"flip rate {e['series']['flip_rate']:.0%} on the reference branch"
        rate = e.get("flake_rate")
        rate_text = f" · flake rate {rate:.1%}" if isinstance(rate, int | float) else ""
        if e.get("flaky_results_in_window") == 0 and e.get("status") == "confirmed":
            # Still open from older flaky results: not yet passed enough times to be cleared.
            rate_text = (
                f" · none in the flaky window, not cleared yet "
                f"(passing streak {e.get('passing_streak', 0)})"
            )
        return (
            f"{e.get('status', '')}: {reasons}{rate_text}"
            if reasons
            else (f"{e.get('status', '')}{rate_text}")
        )
    if kind == "regression":
        commit = str(e.get("first_failing_commit") or e.get("commit") or "")[:10]
        state = "confirmed" if e.get("confirmed") else "unconfirmed"
        failures = e.get("failures")
        counted = plural(failures, "failure") if isinstance(failures, int) else "? failures"
        text = f"{state}, failing since {commit} ({counted} on the reference branch)"
        removed = e.get("removed")
        if isinstance(removed, dict):
            seen = str(removed.get("last_seen_at") or "")[:10]
            text += f"; test removed: no result since run #{removed.get('last_seen_run')} ({seen})"
        return text
    if kind == "fixed":
        commit = str(e.get("fixing_commit") or "")[:10]
        what = (
            "broken since its first run" if e.get("broken_since_first_run")
            else f"broken since before run #{e['broken_before_run']}" if e.get("broken_before_run")
            else "regression"
        )  # fmt: skip
        return f"{what}, passing again since {commit}"
    if kind == "duration_regression":
        text = (
            f"median {_ms(e.get('before_median_ms'))} → {_ms(e.get('after_median_ms'))} "
            f"(×{e.get('ratio', 0):.2f}) from {str(e.get('commit', ''))[:10]}"
        )
        reverted, removed = e.get("reverted_by"), e.get("removed")
        if isinstance(reverted, dict):
            text += (
                f"; back to {_ms(reverted.get('after_median_ms'))} "
                f"from {str(reverted.get('commit') or '')[:10]}"
            )
        elif isinstance(removed, dict):
            seen = str(removed.get("last_seen_at") or "")[:10]
            text += f"; test removed: no result since run #{removed.get('last_seen_run')} ({seen})"
        return text
    if kind == "budget_violation":
        worst = e.get("p95_ms")
        what = (
            f"p95 {_ms(worst)}"
            if worst is not None
            else f"{e.get('over')} runs over, max {_ms(e.get('max_ms'))}"
        )
        return f"{what} > budget {_ms(e.get('budget_ms'))} (n = {e.get('n')})"
    return ""


def order_cell_runs(evidence: dict) -> dict[str, list[int] | None]:
    """The runs each cell of an order-dependent finding's 2×2 table lists, newest first: those
    the evidence keeps (`cell_runs`, the latest isolation.MAX_CELL_RUNS of the runs the cell
    counts; `a`, `b`, `c`, `d` are the complete counts). A finding computed before the evidence
    kept every cell's runs has cell a's alone, as `explained_runs` (the latest
    MAX_EVIDENCE_RUNS); its other cells are None until a recompute writes them."""
    e = evidence or {}
    kept = e.get("cell_runs")
    if isinstance(kept, dict):
        return {c: [int(r) for r in reversed(kept.get(c) or [])] for c in "abcd"}
    explained = [int(r) for r in reversed(e.get("explained_runs") or [])]
    return {"a": explained, "b": None, "c": None, "d": None}


def reproduce_command(victim: Test, polluter: Test) -> str:
    """How to replay an order-dependent pair: pytest runs the named tests in the given order
    (with pytest-randomly disabled); for other runners, say which runs first."""
    # Quoted for a POSIX shell: node ids hold brackets, and a test name anything at all.
    first, then = shlex.quote(pytest_node_id(polluter)), shlex.quote(pytest_node_id(victim))
    if victim.file.endswith(".py") and polluter.file.endswith(".py"):
        return f"pytest {first} {then} -p no:randomly"
    return f"run {first} before {then} in one process"
