"""The pages: function views, selectors -> ctx -> render. Login required everywhere; a project the
user is not a member of is "not found" (404), never "forbidden"."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import sys
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import DisallowedHost
from django.core.paginator import Page
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.template import loader
from django.urls import Resolver404, ResolverMatch, resolve, reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.safestring import mark_safe
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from django.views.defaults import bad_request as defaults_bad_request
from django.views.defaults import page_not_found

from dashboard import selectors as sel
from dashboard.forms import (
    PARAM_FIELDS,
    MetricSettingsForm,
    ServiceRulesForm,
    SubscriptionForm,
    TokenCreateForm,
)
from dashboard.paging import page_of
from dashboard.services import project_metric_settings_update
from ingest.dberrors import connection_lost, sqlite_busy
from ingest.models import Project, Run
from ingest.services import service_rules_replace, token_create, token_revoke
from ingest.weeks import in_progress, week_label
from reports import charts
from reports.alerts import alert_delivery_list, alert_delivery_retry
from reports.metrics.evidence import MAX_CELL_RUNS
from reports.models import AlertDelivery, Finding
from reports.subscriptions import subscription_create, subscription_delete, subscription_list

FINDINGS_PER_PAGE = 50
RUNS_PER_PAGE = 50
RESULTS_PER_PAGE = 50  # a run's or a test's results, each with its failure message
NEW_KEY_SESSION = "dashboard.new_ingest_key"
NEW_SECRET_SESSION = "dashboard.new_webhook_secret"
# The settings page lists the latest deliveries and the latest failed ones, not all of them.
DELIVERIES_SHOWN = 15
FAILED_SHOWN = 10
# Seconds a client is asked to wait after a 503 (database unreachable) before sending again.
UNAVAILABLE_RETRY_AFTER_SECONDS = 30


def _page(request: HttpRequest, items: QuerySet[Any] | list[Any], per_page: int) -> Page:
    return page_of(items, per_page, request.GET.get("page"))


def _base(
    request: HttpRequest, project: Project | None, section: str, projects: list | None = None
) -> dict[str, object]:
    """What base.html needs: the project switcher and the active section."""
    return {
        "nav_projects": projects
        if projects is not None
        else sel.project_list_for_user(user=request.user),
        "project": project,
        "section": section,
    }


def _project(request: HttpRequest, slug: str) -> tuple[Project, list[Project]]:
    """The page's project and the user's projects for the switcher, in one query."""
    projects = sel.project_list_for_user(user=request.user)
    return sel.project_pick(projects=projects, slug=slug), projects


def _choice(value: str | None, allowed: list[str] | tuple[str, ...]) -> str | None:
    return value if value in allowed else None


# --- Overview -----------------------------------------------------------------------------------


@login_required
def overview(request: HttpRequest) -> HttpResponse:
    projects = sel.project_list_for_user(user=request.user)
    metric = "pass_rate" if request.GET.get("metric") == "pass_rate" else "isolation"
    cards = []
    figures = {}
    overviews = list(sel.overview_list(projects=projects))
    runs = sel.project_runs_by_week(
        projects=[ov.project for ov in overviews], weeks={w for ov in overviews for w in ov.weeks}
    )
    for ov in overviews:
        fig_id = f"heat-{ov.project.slug}"
        if ov.summaries:
            figures[fig_id] = _heatmap(ov, metric)
        trend = sel.project_trend(ov.summaries, ov.weeks, runs[ov.project.pk])
        partial = bool(ov.latest and in_progress(ov.latest, timezone.now().date()))
        sparks: dict[str, tuple[list[float | None], float | None, float | None]] = {
            "runs": ([t.runs for t in trend], 0, None),
            "pass rate": ([t.pass_rate for t in trend], None, None),
            "isolation": ([t.isolation_score for t in trend], 0, 100),
        }
        cards.append(
            {
                "overview": ov,
                "fig_id": fig_id,
                "latest": trend[-1] if trend else None,
                "latest_label": week_label(ov.latest) if ov.latest else None,
                "sparks": [
                    (name, *charts.sparkline_paths(values=values, partial=partial, low=lo, high=hi))
                    for name, (values, lo, hi) in sparks.items()
                ],
            }
        )
    ctx = {**_base(request, None, "overview", projects), "cards": cards, "figures": figures,
           "metric": metric}  # fmt: skip
    return render(request, "dashboard/overview.html", ctx)


def _heatmap(ov: sel.ProjectOverview, metric: str) -> dict:
    """Services x weeks of one project: the metric, where a click leads (the week's runs for a
    pass rate, its unclean runs for an isolation score) and the counts behind it."""
    cells = {(s.service, s.week): s.point for s in ov.summaries}
    values: list[list[float | None]] = []
    urls: list[list[str | None]] = []
    details: list[list[str]] = []
    for service in ov.services:
        points = [cells.get((service, week)) for week in ov.weeks]
        if metric == "pass_rate":
            values.append([p.pass_rate if p else None for p in points])
            urls.append([p.runs_url if p else None for p in points])
            details.append(
                [f"{p.passed} passed / {p.failed} failed · {p.runs} runs" if p else "no runs"
                 for p in points]
            )  # fmt: skip
        else:
            values.append([p.isolation_score if p else None for p in points])
            urls.append([p.unclean_url if p else None for p in points])
            details.append(
                [f"{p.clean_runs} clean of {p.scored_runs} runs" if p else "no runs"
                 for p in points]
            )  # fmt: skip
    figure = charts.heatmap_figure(
        rows=ov.services, weeks=ov.week_labels, values=values, urls=urls, details=details,
        metric=metric,
    )  # fmt: skip
    return charts.mark_in_progress(figure, week_label(sel.current_week()), shade=False)


# --- Project ------------------------------------------------------------------------------------


def _pick_week(request: HttpRequest, weeks: list[dt.date]) -> tuple[dt.date | None, bool]:
    """(the week the page is about, whether findings are shown for every week): the `week`
    parameter, else the latest computed week, which a week asked for and not computed (or not
    a week) gets with a message saying so."""
    raw = request.GET.get("week")
    all_weeks = raw == "all"
    latest = weeks[0] if weeks else None
    if not raw or all_weeks:
        return latest, all_weeks
    picked = sel.week_or_none(raw)
    if picked is None or picked not in weeks:
        instead = f"; showing {week_label(latest)}, the latest" if latest else ""
        what = (
            f"No metrics computed for {week_label(picked)}" if picked
            else f"“{raw[:40]}” is not a week (write it as 2026-W45)"
        )  # fmt: skip
        messages.warning(request, f"{what}{instead}.")
        return latest, False
    return picked, False


def _trend_figures(
    summaries: list[sel.WeekSummary],
    causes: list[charts.CauseCount],
    labels: list[str],
    *,
    wall_clock: bool,
) -> dict[str, dict]:
    """The trend charts of the project and service pages, from the same week summaries."""
    points = [s.point for s in summaries]
    figures = {
        "pass-rate": charts.pass_rate_figure(points=points, weeks=labels),
        "isolation": charts.isolation_figure(points=points, weeks=labels),
        "causes": charts.causes_figure(counts=causes, weeks=labels),
        "durations": charts.durations_figure(points=points, weeks=labels),
        "runs": charts.runs_figure(points=points, weeks=labels),
    }
    if wall_clock:
        figures["wall-clock"] = charts.durations_figure(
            points=points, weeks=labels, wall_clock=True
        )
    under_way = week_label(sel.current_week())
    return {k: charts.mark_in_progress(f, under_way) for k, f in figures.items()}


@login_required
def project_detail(request: HttpRequest, slug: str) -> HttpResponse:
    project, projects = _project(request, slug)
    weeks = sel.computed_weeks(project=project)
    week, all_weeks = _pick_week(request, weeks)
    services = sel.service_list(project=project, with_tests=True)
    window = sel.week_window(week) if week else []
    summaries, counts = [], {}
    if week:
        summaries = sel.week_summaries(project=project, start=window[0], end=week)
        counts = sel.finding_counts(project=project, start=window[0], end=week)
    window = sel.trim_window(window, summaries)
    labels = [week_label(w) for w in window]
    figures = _trend_figures(
        summaries, sel.cause_counts(project=project, counts=counts, weeks=window), labels,
        wall_clock=False,
    )  # fmt: skip
    this_week = {s.service: s for s in summaries if s.week == week}
    table = [
        {
            "service": svc.name,
            "summary": this_week.get(svc.name),
            "counts": _kind_counts(counts, svc.name, week),
            "url": sel.service_url(project, svc.name, week=week_label(week) if week else None),
        }
        for svc in services
    ]
    kind = _choice(request.GET.get("kind"), Finding.Kind.values)
    service = _choice(request.GET.get("service"), [s.name for s in services])
    status = _choice(request.GET.get("status"), [*Finding.Status.values, sel.OPEN_AT_END])
    if status == sel.OPEN_AT_END:  # a status of regressions: the kind filter shows it
        kind = Finding.Kind.REGRESSION
    table_qs = sel.finding_table(project=project, kind=kind, service=service,
                                 week=None if all_weeks else week, status=status)  # fmt: skip
    findings = _page(request, table_qs, FINDINGS_PER_PAGE)
    # The tables above count order-dependent victims; the list has a finding per polluter.
    victims = (
        table_qs.order_by().values("test").distinct().count()
        if kind == Finding.Kind.ORDER_DEPENDENT else None
    )  # fmt: skip
    ctx = {
        **_base(request, project, "project", projects),
        "weeks": weeks,
        "week": week,
        "week_label": week_label(week) if week else "",
        "trend_weeks": len(labels),
        "prev_week": _neighbour(weeks, week, +1),
        "next_week": _neighbour(weeks, week, -1),
        "services": services,
        "table": table,
        "figures": figures,
        "findings": findings,
        "finding_rows": sel.finding_rows(project, findings.object_list),
        "victims": victims,
        "filters": {"kind": kind or "", "service": service or "", "status": status or "",
                    "week": "all" if all_weeks else (week_label(week) if week else "")},
        "kinds": [(k, sel.KIND_LABELS[k]) for k in sel.KIND_ORDER],
        "stale": sel.stale_count(project=project),
    }  # fmt: skip
    return render(request, "dashboard/project.html", ctx)


def _kind_counts(
    counts: dict[tuple[str, dt.date, str], int], service: str, week: dt.date | None
) -> dict[str, int]:
    """The tests with a finding of each kind in `service` and `week` (none without a week)."""
    if week is None:
        return dict.fromkeys(Finding.Kind.values, 0)
    return {k: counts.get((service, week, k), 0) for k in Finding.Kind.values}


def _bigint(text: str | None) -> int | None:
    """An id from a query string, if it is one a database column can hold (64-bit signed)."""
    text = (text or "").strip()
    if not re.fullmatch(r"-?[0-9]{1,19}", text):
        return None
    value = int(text)
    return value if -(2**63) <= value < 2**63 else None


def _neighbour(weeks: list[dt.date], week: dt.date | None, step: int) -> dt.date | None:
    """The computed week before (+1: weeks are newest first) or after (-1) `week`."""
    if week not in weeks:
        return None
    i = weeks.index(week) + step
    return weeks[i] if 0 <= i < len(weeks) else None


# --- Service ------------------------------------------------------------------------------------


@login_required
def service_detail(request: HttpRequest, slug: str, name: str) -> HttpResponse:
    project, projects = _project(request, slug)
    service = sel.service_get(project=project, name=name)
    weeks = sel.computed_weeks(project=project, service=service)
    week, _ = _pick_week(request, weeks)
    window = sel.week_window(week) if week else []
    summaries, counts, detail = [], {}, None
    if week:
        summaries = sel.week_summaries(
            project=project, service=service, start=window[0], end=week, with_improvements=True
        )
        counts = sel.finding_counts(project=project, service=service, start=window[0], end=week)
        detail = sel.service_detail(
            project=project, service=service, week=week, start=window[0], summaries=summaries
        )
    window = sel.trim_window(window, summaries)
    labels = [week_label(w) for w in window]
    causes = sel.cause_counts(project=project, counts=counts, weeks=window, service=service.name)
    figures = _trend_figures(summaries, causes, labels, wall_clock=True)
    current = next((s for s in summaries if s.week == week), None)
    label = week_label(week) if week else ""
    pairs = []
    if detail:
        for row in detail.order_dependent:
            f = row.finding
            pairs.append(
                {"row": row, "command": sel.reproduce_command(f.test, f.related_test)}
                if f.related_test else {"row": row, "command": ""}
            )  # fmt: skip
    ctx = {
        **_base(request, project, "project", projects),
        "service": service,
        "weeks": weeks,
        "week": week,
        "week_label": label,
        "trend_weeks": len(labels),
        "prev_week": _neighbour(weeks, week, +1),
        "next_week": _neighbour(weeks, week, -1),
        "current": current,
        "counts": _kind_counts(counts, service.name, week),
        "figures": figures,
        "detail": detail,
        "pairs": pairs,
        "links": {
            "runs": sel.runs_url(project, service=service.name, week=label),
            "unclean": sel.runs_url(project, service=service.name, week=label, unclean=1),
            "outages": sel.runs_url(project, service=service.name, week=label, outages=1),
            **{
                k: sel.findings_url(project, kind=k, service=service.name, week=label)
                for k in Finding.Kind.values
            },
        },  # fmt: skip
    }
    return render(request, "dashboard/service.html", ctx)


# --- Test ---------------------------------------------------------------------------------------


@login_required
def test_detail(request: HttpRequest, slug: str, test_id: int) -> HttpResponse:
    project, projects = _project(request, slug)
    test = sel.test_get(project=project, test_id=test_id)
    recent = sel.test_weeks(test=test, limit=sel.TREND_WEEKS)
    end = recent[-1].week if recent else sel.current_week()
    window = sel.week_window(end)
    attempts = sel.test_attempts(project=project, test=test, start=window[0], end=end)
    findings = sel.test_findings(project=project, test=test)
    changes = sel.change_marks(project, test, findings)
    outcome = request.GET.get("outcome", "failures")
    outcome = outcome if outcome in sel.OUTCOME_FILTERS else "all"
    results_week = sel.week_or_none(request.GET.get("week"))
    attempt = _choice(request.GET.get("attempt"), sel.ATTEMPT_FILTERS) or "any"
    branch = _text(request, "branch", limit=BRANCH_MAX) or None
    # A regression's failures: the results from its first failing run to its latest (or fix).
    span = sel.run_span(
        project=project, first=_bigint(request.GET.get("from_run")),
        last=_bigint(request.GET.get("to_run")),
    )  # fmt: skip
    # Over every week a test's results grow with the history: paged without a count then.
    # One week's are counted (one partition), so the week-by-week figures match their lists;
    # so are a span's (a regression's failures, which its evidence counts).
    results = page_of(
        sel.test_results(test=test, week=results_week, outcome=outcome, attempt=attempt,
                         branch=branch, span=span),
        RESULTS_PER_PAGE, request.GET.get("page"),
        count=results_week is not None or span is not None,
    )  # fmt: skip
    ctx = {
        **_base(request, project, "project", projects),
        "test": test,
        "node_id": sel.pytest_node_id(test),
        "service_url": sel.service_url(project, test.service.name),
        "recent": recent,
        "figures": {
            "timeline": charts.outcome_timeline_figure(attempts=attempts),
            "duration": charts.test_duration_figure(
                attempts=attempts, changes=changes, reference_branch=project.default_branch
            ),
        },
        "attempt_count": len(attempts),
        "attempts_capped": len(attempts) >= sel.ATTEMPTS_LIMIT,
        "window": (window[0], end),
        "findings": findings,
        "results": results,
        "outcome": outcome,
        "outcomes": ["failures", "failed", "error", "passed", "skipped", "all"],
        "attempt": attempt,
        "attempts": sel.ATTEMPT_FILTERS,
        "results_week": week_label(results_week) if results_week else "",
        "branch": branch or "",
        "span": span,
        "clear_span": _without(request, "from_run", "to_run", "page"),
        "results_weeks": [r.week for r in reversed(recent)],
    }
    return render(request, "dashboard/test.html", ctx)


# --- Test search --------------------------------------------------------------------------------

TESTS_PER_PAGE = 50


@login_required
def test_search(request: HttpRequest, slug: str) -> HttpResponse:
    project, projects = _project(request, slug)
    services = sel.service_list(project=project, with_tests=True)
    text = _text(request, "q")
    name = _choice(request.GET.get("service"), [s.name for s in services])
    service = next((s for s in services if s.name == name), None)
    tests = None
    if text:
        tests = page_of(
            sel.test_search(project=project, text=text, service=service), TESTS_PER_PAGE,
            request.GET.get("page"), max_rows=sel.SEARCH_MAX_ROWS,
        )  # fmt: skip
    ctx = {
        **_base(request, project, "project", projects),
        "q": text,
        "services": services,
        "service": service,
        "tests": tests,
        "rows": [(t, sel.test_url(project, t.pk)) for t in tests.object_list] if tests else [],
    }
    return render(request, "dashboard/tests.html", ctx)


# --- Runs ---------------------------------------------------------------------------------------


@login_required
def run_list(request: HttpRequest, slug: str) -> HttpResponse:
    project, projects = _project(request, slug)
    services = sel.service_list(project=project)
    week = sel.week_or_none(request.GET.get("week"))
    service = _choice(request.GET.get("service"), [s.name for s in services])
    status = _choice(request.GET.get("status"), Run.Status.values)
    branch = _text(request, "branch", limit=BRANCH_MAX) or None
    commit = _text(request, "commit", limit=100) or None
    if (
        commit
        and sel.is_short_sha(commit)
        and not sel.commit_exists(project=project, commit=commit)
    ):
        messages.warning(
            request, f"“{commit}” is too short a commit sha: give at least "
            f"{sel.COMMIT_PREFIX_MIN} of its characters. Showing every commit.",
        )  # fmt: skip
        commit = None
    causes: dict[int, list[str]] = {}
    walls: dict[int, float] | None = {}
    drill = None
    ids = None
    cell = None
    cell_total = None
    cell_listed = None
    finding = None
    test_id = _bigint(request.GET.get("test"))
    if service and week and request.GET.get("wall"):
        drill = "wall"
        walls = sel.wall_clock_runs(project=project, service=service, week=week)
        ids = list(walls or {})
    elif service and week and (request.GET.get("unclean") or request.GET.get("outages")):
        drill = "outages" if request.GET.get("outages") else "unclean"
        causes = sel.unclean_runs(
            project=project, service=service, week=week, outages=drill == "outages"
        )
        ids = list(causes)
    elif request.GET.get("cell") in sel.ORDER_CELLS and (
        finding := sel.order_finding_get(
            project=project, finding_id=_bigint(request.GET.get("finding"))
        )
    ):
        drill, cell = "cell", request.GET["cell"]
        listed = sel.order_cell_runs(finding.evidence)[cell]  # newest first; None: not kept
        ids = (listed or [])[: sel.RUN_LIST_IDS_LIMIT]  # what run_list looks at
        cell_listed = None if listed is None else len(ids)
        cell_total = int((finding.evidence or {}).get(cell) or 0)
        test_id = finding.test_id  # the cell counts the victim's first attempts
    elif request.GET.get("ids"):
        ids = [i for i in map(_bigint, request.GET["ids"].split(",")) if i is not None]
        drill = "ids"
    # (a cell's victim came with its finding)
    test = finding.test if finding else sel.test_in_project(project=project, test_id=test_id)
    runs = _page(
        request,
        sel.run_list(project=project, branch=branch, status=status, service=service, week=week,
                     ids=ids, longest_first=drill == "wall", commit=commit),
        RUNS_PER_PAGE,
    )  # fmt: skip
    # With a test named, each run links to that test's results in it, and the list shows the
    # test's own outcome there: its first attempt (what isolation evidence counts) and its final.
    outcomes = (
        sel.test_outcomes_in_runs(test_id=test.pk, runs=list(runs.object_list)) if test else {}
    )
    ctx = {
        **_base(request, project, "runs", projects),
        "runs": runs,
        "rows": [
            {
                "run": r,
                "causes": causes.get(r.pk, []),
                "wall_ms": (walls or {}).get(r.pk),
                "url": sel.run_url(project, r.pk),
                "test_url": sel.run_url(project, r.pk, test=test.pk) + "#results" if test else "",
                "outcomes": outcomes.get(r.pk, ("", "")),
                "commit_url": sel.runs_url(project, commit=r.commit),
                # None until the run is parsed (its counts are empty while received or parsing).
                "failed": r.counts.get("failed", 0) if r.counts else None,
                "errors": r.counts.get("error", 0) if r.counts else None,
            }
            for r in runs.object_list
        ],  # fmt: skip
        "services": services,
        "weeks": sel.run_weeks(project=project),
        "statuses": Run.Status.values,
        "filters": {
            "service": service or "",
            "status": status or "",
            "branch": branch or "",
            "commit": commit or "",
            "week": week_label(week) if week else "",
        },  # fmt: skip
        "drill": drill,
        "test": test,
        "test_page": sel.test_url(project, test.pk) if test else "",
        "finding": finding,
        "cell": cell,
        "cell_text": sel.ORDER_CELLS.get(cell or ""),
        "cell_window": (finding.params or {}).get("od_window_days", 28) if finding else None,
        "cell_total": cell_total,
        "cell_listed": cell_listed,
        # An old finding's cell a is its explained_runs (MAX_EVIDENCE_RUNS, not MAX_CELL_RUNS).
        "cell_runs_kept": bool(finding and "cell_runs" in (finding.evidence or {})),
        "cell_filtered": bool(service or week or status or branch or commit),
        "cell_cap": MAX_CELL_RUNS,
        "walls_unstored": drill == "wall" and walls is None,
        # The runs found: an id may name a run deleted since, or of another project.
        "drill_count": runs.paginator.count if ids is not None else None,
        "cell_gone": (cell_listed or 0) - runs.paginator.count if drill == "cell" else 0,
        "clear_commit": _without(request, "commit", "page"),
        "commit_is_prefix": bool(commit) and sel.is_sha_prefix(commit or ""),
        "clear_test": _without(request, "test", "page"),
    }
    return render(request, "dashboard/runs.html", ctx)


# As long as a run's branch may be (ingest.models.Run.branch): a filter must reach every one.
BRANCH_MAX = Run._meta.get_field("branch").max_length or 255


def _text(request: HttpRequest, name: str, limit: int = 200) -> str:
    """A free-text query parameter as filters use it: trimmed, cut to `limit`, without NUL
    characters (PostgreSQL text cannot hold them, and no name stored here has one)."""
    return (request.GET.get(name) or "").replace("\x00", "").strip()[:limit]


def _without(request: HttpRequest, *names: str) -> str:
    """The page's URL less some of its query parameters (an active filter's "clear" link)."""
    query = request.GET.copy()
    for name in names:
        query.pop(name, None)
    return f"{request.path}?{query.urlencode()}" if query else request.path


@login_required
def run_detail(request: HttpRequest, slug: str, run_id: int) -> HttpResponse:
    project, projects = _project(request, slug)
    run = sel.run_get(project=project, run_id=run_id)
    timelines = sel.run_timelines(run=run)
    outcome = _choice(request.GET.get("outcome"), list(sel.OUTCOME_FILTERS))
    timeline = request.GET.get("timeline")
    timeline = timeline if timeline in timelines else None
    test_id = _bigint(request.GET.get("test"))
    retried = bool(request.GET.get("retried"))
    final = bool(request.GET.get("final"))
    passed_on_retry = bool(request.GET.get("passed_on_retry"))
    results = _page(
        request,
        sel.run_results(run=run, outcome=outcome, timeline=timeline, test_id=test_id,
                        retried=retried, final=final, passed_on_retry=passed_on_retry),
        RESULTS_PER_PAGE,
    )  # fmt: skip
    for r in results:  # (the page keeps the rows it read: the template iterates the same ones)
        r.test_url = sel.test_url(project, r.test_id)
    cells = sel.run_order_cells(project=project, run=run)
    counts = run.counts or {}
    base = sel.run_url(project, run.pk)
    # Each count links to exactly the rows it counts: one per test (its final attempt) where
    # it counts tests. `flaky` here is a test that failed and passed on retry in this run; the
    # isolation pages also count a failure another run of the commit passed.
    count_links = [
        (key, label, counts.get(key), f"{base}?{q}#results" if q else f"{base}#results")
        for key, label, q in (
            ("tests", "tests", "final=1"), ("results", "results", ""),
            ("passed", "passed", "final=1&outcome=passed"),
            ("failed", "failed", "final=1&outcome=failed"),
            ("error", "error", "final=1&outcome=error"),
            ("skipped", "skipped", "final=1&outcome=skipped"),
            ("retried", "retried", "retried=1&final=1"),
            ("flaky", "passed on retry", "passed_on_retry=1&final=1"),
        )
        if key in counts
    ]  # fmt: skip
    ctx = {
        **_base(request, project, "runs", projects),
        "run": run,
        "files": sel.run_files(run=run),
        "count_links": count_links,
        "timelines": timelines,
        "results": results,
        "figures": {"order": charts.run_order_figure(cells=cells)} if cells else {},
        "filters": {
            "outcome": outcome or "",
            "timeline": timeline or "",
            "test": test_id or "",
            "retried": retried,
            "final": final,
            "passed_on_retry": passed_on_retry,
        },  # fmt: skip
        "outcomes": list(sel.OUTCOME_FILTERS),
        "runs_url": sel.runs_url(project, week=run.week_label),
        "commit_url": sel.runs_url(project, commit=run.commit),
    }
    return render(request, "dashboard/run.html", ctx)


@login_required
def run_file(request: HttpRequest, slug: str, run_id: int, index: int) -> HttpResponse:
    """The raw uploaded file as stored: gzip-compressed, served as NAME.gz."""
    project = sel.project_get_for_user(user=request.user, slug=slug)
    run = sel.run_get(project=project, run_id=run_id)
    file = sel.run_file_get(run=run, index=index)
    name = os.path.basename(file.name.replace("\\", "/")) or f"run-{run.pk}-{index}"
    if not name.endswith(".gz"):
        name += ".gz"
    response = HttpResponse(bytes(file.content), content_type="application/gzip")
    response["Content-Disposition"] = content_disposition_header(True, name)
    return response


# --- Settings -----------------------------------------------------------------------------------


@login_required
def project_settings(request: HttpRequest, slug: str) -> HttpResponse:
    project, projects = _project(request, slug)
    return _render_settings(request, project, projects=projects)


def _render_settings(
    request: HttpRequest,
    project: Project,
    *,
    rules_form: ServiceRulesForm | None = None,
    metrics_form: MetricSettingsForm | None = None,
    subscription_form: SubscriptionForm | None = None,
    status: int = 200,
    projects: list[Project] | None = None,
) -> HttpResponse:
    rules = sel.service_rule_list(project=project)
    settings_row = sel.metric_settings_get(project=project)
    if rules_form is None:
        text = "\n".join(f"{r.service.name} {r.pattern}" for r in rules)
        rules_form = ServiceRulesForm(initial={"rules": text})
    if metrics_form is None:
        params = settings_row.params if settings_row else {}
        budgets = settings_row.budgets if settings_row else []
        initial: dict[str, object] = {
            "reference_branch": project.default_branch,
            # One budget a line: readable, and still the JSON the form parses.
            "budgets": "[\n" + ",\n".join(f"  {json.dumps(b)}" for b in budgets) + "\n]"
            if budgets
            else "",
        }
        initial.update({f"param_{f.name}": params.get(f.name) for f in PARAM_FIELDS})
        metrics_form = MetricSettingsForm(initial=initial)
    if subscription_form is None:
        subscription_form = _subscription_form(project)
    # One more row than shown tells whether older ones exist, without a count query.
    deliveries = list(alert_delivery_list(project=project, limit=DELIVERIES_SHOWN + 1))
    failed = list(
        alert_delivery_list(
            project=project, status=AlertDelivery.Status.FAILED, limit=FAILED_SHOWN + 1
        )
    )
    ctx = {
        **_base(request, project, "settings", projects),
        "tokens": sel.token_list(project=project),
        "new_key": request.session.pop(NEW_KEY_SESSION, None),
        "token_form": TokenCreateForm(),
        "rules": rules,
        "rules_form": rules_form,
        "metrics_form": metrics_form,
        "subscriptions": list(subscription_list(project=project)),
        "subscription_form": subscription_form,
        "new_secret": request.session.pop(NEW_SECRET_SESSION, None),
        "deliveries": deliveries[:DELIVERIES_SHOWN],
        "more_deliveries": len(deliveries) > DELIVERIES_SHOWN,
        "failed": failed[:FAILED_SHOWN],
        "more_failed": len(failed) > FAILED_SHOWN,
        "kind_labels": sel.KIND_LABELS,
    }
    return render(request, "dashboard/settings.html", ctx, status=status)


def _subscription_form(project: Project, data: object = None) -> SubscriptionForm:
    return SubscriptionForm(
        data, project=project, services=sel.service_list(project=project),
        kind_labels=sel.KIND_LABELS,
    )  # fmt: skip


@login_required
@require_POST
def token_create_view(request: HttpRequest, slug: str) -> HttpResponse:
    project = sel.project_get_for_user(user=request.user, slug=slug)
    form = TokenCreateForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give the key a name of at most 100 characters.")
        return redirect("pages:settings", slug=project.slug)
    token, key = token_create(project=project, name=form.cleaned_data["name"])
    # Kept server-side in the session until the next page view shows it: the key is never
    # stored anywhere else and is shown exactly once.
    request.session[NEW_KEY_SESSION] = {"name": token.name, "key": key}
    return redirect("pages:settings", slug=project.slug)


@login_required
@require_POST
def token_revoke_view(request: HttpRequest, slug: str, token_id: int) -> HttpResponse:
    project = sel.project_get_for_user(user=request.user, slug=slug)
    token = sel.token_get(project=project, token_id=token_id)
    token_revoke(token=token)
    messages.success(request, f"Ingest key “{token.name}” ({token.hint}…) revoked.")
    return redirect("pages:settings", slug=project.slug)


@login_required
@require_POST
def service_rules_update(request: HttpRequest, slug: str) -> HttpResponse:
    project = sel.project_get_for_user(user=request.user, slug=slug)
    form = ServiceRulesForm(request.POST)
    if not form.is_valid():
        return _render_settings(request, project, rules_form=form, status=400)
    rules = service_rules_replace(project=project, rules=form.cleaned_data["rules"])
    messages.success(
        request,
        f"{len(rules)} service rule(s) saved. Tests are re-mapped in the background, and the "
        "services they leave or join are recomputed.",
    )
    return redirect("pages:settings", slug=project.slug)


@login_required
@require_POST
def metric_settings_update(request: HttpRequest, slug: str) -> HttpResponse:
    project = sel.project_get_for_user(user=request.user, slug=slug)
    form = MetricSettingsForm(request.POST)
    if not form.is_valid():
        return _render_settings(request, project, metrics_form=form, status=400)
    project_metric_settings_update(
        project=project,
        reference_branch=form.cleaned_data["reference_branch"].strip(),
        params=form.params(),
        budgets=form.cleaned_data["budgets"],
    )
    messages.success(
        request, "Metric settings saved. Weeks computed from now on use them; each computed "
        "week keeps the settings it was computed with."
    )  # fmt: skip
    return redirect("pages:settings", slug=project.slug)


@login_required
@require_POST
def subscription_create_view(request: HttpRequest, slug: str) -> HttpResponse:
    project = sel.project_get_for_user(user=request.user, slug=slug)
    form = _subscription_form(project, request.POST)
    if not form.is_valid():
        return _render_settings(request, project, subscription_form=form, status=400)
    data = form.cleaned_data
    sub, created = subscription_create(
        project=project, target=data["target"], service=data["service"] or None,
        kinds=data["kinds"] or [],
    )  # fmt: skip
    scope = sub.service.name if sub.service is not None else "all services"
    if created and sub.secret:
        # Shown once, like a new ingest key: the receiver needs it to verify signatures.
        request.session[NEW_SECRET_SESSION] = {"target": sub.target, "secret": sub.secret}
    verb = "subscribed" if created else "updated"
    messages.success(request, f"{sub.target} {verb} to alerts of {scope}.")
    return redirect(f"{reverse('pages:settings', args=[project.slug])}#alerts")


@login_required
@require_POST
def subscription_delete_view(request: HttpRequest, slug: str, subscription_id: int) -> HttpResponse:
    project = sel.project_get_for_user(user=request.user, slug=slug)
    subscription_delete(project=project, subscription_id=subscription_id)
    messages.success(request, "Subscription removed; its pending alerts will not be sent.")
    return redirect(f"{reverse('pages:settings', args=[project.slug])}#alerts")


@login_required
@require_POST
def alert_delivery_retry_view(request: HttpRequest, slug: str, delivery_id: int) -> HttpResponse:
    project = sel.project_get_for_user(user=request.user, slug=slug)
    count = alert_delivery_retry(project=project, delivery_id=delivery_id)
    if count:
        messages.success(request, f"Sending again: {count} alert(s) queued.")
    else:
        messages.error(
            request, "Nothing to retry: that delivery is not a failure known to have "
            "delivered nothing (it was sent, is under way, or may already have arrived).",
        )  # fmt: skip
    return redirect(f"{reverse('pages:settings', args=[project.slug])}#alerts")


# --- Reports ------------------------------------------------------------------------------------


@login_required
def report_list(request: HttpRequest, slug: str) -> HttpResponse:
    project = sel.project_get_for_user(user=request.user, slug=slug)
    weeks = sel.computed_weeks(project=project)
    ctx = {
        **_base(request, project, "reports"),
        "report_weeks": sel.report_weeks(project=project),
        "weeks": weeks,
        "services": sel.service_list(project=project),
        "default_week": weeks[1] if len(weeks) > 1 else (weeks[0] if weeks else None),
    }
    return render(request, "dashboard/reports.html", ctx)


@login_required
@require_POST
def report_generate_view(request: HttpRequest, slug: str) -> HttpResponse:
    """Generate a week's Markdown and PDF reports (a task: in-process without a broker)."""
    from django.db import transaction

    from reports.tasks import report_generate

    project = sel.project_get_for_user(user=request.user, slug=slug)
    week = sel.week_or_none(request.POST.get("week"))
    if week is None or week not in sel.computed_weeks(project=project):
        messages.error(request, "Choose a week with computed metrics.")
        return redirect("pages:reports", slug=project.slug)
    service = None
    if request.POST.get("service"):
        service = sel.service_get(project=project, name=request.POST["service"])
    started = timezone.now()
    transaction.on_commit(
        lambda: report_generate.delay(project.pk, week.isoformat(), service.pk if service else None)
    )
    scope = f"The {week_label(week)} report" + (f" of {service.name}" if service else "")
    from dashboard.celery import app

    if not app.conf.task_always_eager:
        messages.success(request, f"{scope} is being generated by a worker; it appears below in "
                                  "a few seconds (reload the page).")  # fmt: skip
    # In-process tasks (embedded mode) ran when the request's work committed, above.
    elif sel.report_made_since(project=project, week=week, service=service, since=started):
        messages.success(request, f"{scope} is ready below.")
    else:
        messages.error(request, f"{scope} could not be made; the server's log says why.")
    return redirect("pages:reports", slug=project.slug)


@login_required
def report_download(request: HttpRequest, slug: str, report_id: int) -> HttpResponse:
    project = sel.project_get_for_user(user=request.user, slug=slug)
    row = sel.report_get(project=project, report_id=report_id)
    download = request.GET.get("download") == "1"
    if row.format == "md" and not download:
        # Viewed: the Markdown as a page, as it would read on a code host.
        from reports.render import markdown_html

        ctx = {
            **_base(request, project, "reports"),
            "report": row,
            "week_label": week_label(row.week),
            "html": mark_safe(markdown_html(bytes(row.content).decode())),  # noqa: S308 (escaped)
        }
        return render(request, "dashboard/report_view.html", ctx)
    response = HttpResponse(bytes(row.content), content_type=row.CONTENT_TYPES[row.format])
    disposition = content_disposition_header(as_attachment=download, filename=row.filename)
    assert disposition is not None  # None only without a filename, and a report always has one
    response["Content-Disposition"] = disposition
    return response


def _resolve_or_none(path: str) -> ResolverMatch | None:
    try:
        return resolve(path)
    except Resolver404:
        return None


@csrf_exempt  # changes nothing; a mistyped POST (CI's upload) gets this JSON, not a CSRF page
def api_not_found(request: HttpRequest) -> HttpResponse:
    """The API's JSON error shape for a path under /api/ that names no endpoint (a page of it
    read without its final slash, /api/docs, is sent to it, as CommonMiddleware would)."""
    if request.method in ("GET", "HEAD") and not request.path.endswith("/"):
        match = _resolve_or_none(f"{request.path_info}/")
        if match is not None and match.func is not api_not_found:
            return HttpResponsePermanentRedirect(request.get_full_path(force_append_slash=True))
    return JsonResponse(
        {
            "error": "not_found",
            "detail": f"No API endpoint at {request.path}; the endpoints are at /api/docs/.",
        },
        status=404,
    )


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """404: the API's JSON error shape under /api/ (a CI script reads it), else the page."""
    if request.path.startswith("/api/"):
        return api_not_found(request)
    return page_not_found(request, exception)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """400 raised before any view (a Host not allowed, a malformed request): the API's JSON
    error shape under /api/, which the uploader shows, else Django's page."""
    if not request.path.startswith("/api/"):
        return defaults_bad_request(request, exception)
    if isinstance(exception, DisallowedHost):
        body = {
            "error": "host_not_allowed",
            "detail": "This server does not answer to the host name in the URL; use the name "
            "it is configured with, or add this one to its ALLOWED_HOSTS.",
        }
    else:
        body = {"error": "bad_request", "detail": "The request is malformed."}
    return JsonResponse(body, status=400)


def server_error(request: HttpRequest) -> HttpResponse:
    """500, or 503 when the database cannot be reached (a client should retry: nothing was
    stored): the API's JSON error shape under /api/, else a page that needs no database."""
    error = sys.exc_info()[1]
    # The database cannot answer now: unreachable, or (embedded) its file busy past the timeout.
    unavailable = error is not None and (connection_lost(error) or sqlite_busy(error))
    status = 503 if unavailable else 500
    if request.path.startswith("/api/"):
        if unavailable:
            body = {
                "error": "service_unavailable",
                "detail": "The database cannot be reached; nothing was stored. Retry later.",
            }
        else:
            body = {"error": "server_error", "detail": "The server failed to answer; it is logged."}
        response: HttpResponse = JsonResponse(body, status=status)
    else:
        response = HttpResponse(loader.render_to_string(f"{status}.html"), status=status)
    if unavailable:
        response["Retry-After"] = str(UNAVAILABLE_RETRY_AFTER_SECONDS)
    return response
