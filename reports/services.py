"""Write operations of reports: marking service-weeks stale and recomputing them."""

from __future__ import annotations

import datetime as dt
import logging
import zlib
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import F, Max, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from ingest.models import Result, Run, Service, Test
from ingest.weeks import week_start
from reports import alerts
from reports.history import ServiceHistory, run_facts_derive, service_history
from reports.metrics import budgets as budget_metrics
from reports.metrics.cascades import cascade_followers, detect_cascades
from reports.metrics.changepoints import SLOWDOWN, changes_by_test
from reports.metrics.data import PASSED, RunMeta, TestRun, is_fail
from reports.metrics.durations import TestDurations, durations_by_test, service_week_durations
from reports.metrics.flaky import CONFIRMED, SUSPECTED
from reports.metrics.isolation import IsolationResult, analyze_isolation, history_start
from reports.metrics.params import ALGORITHM_VERSION, MetricParams
from reports.metrics.passrates import pass_rates_by_test, service_week_counts
from reports.metrics.regressions import (
    Observation,
    earlier_history_needed,
    failed_observed,
    observe,
    regression_findings,
    removed_at,
    removed_week,
)
from reports.models import Finding, ProjectSettings, RunFacts, ServiceWeek, TestWeek
from reports.staleness import ended_in_progress, run_facts_lock

log = logging.getLogger(__name__)


def project_params(project_id: int) -> tuple[MetricParams, list[budget_metrics.Budget]]:
    from ingest.models import Project

    settings_row = ProjectSettings.objects.filter(project_id=project_id).first()
    overrides = dict(settings_row.params) if settings_row else {}
    overrides.setdefault(
        "reference_branch",
        Project.objects.values_list("default_branch", flat=True).get(pk=project_id),
    )
    params = MetricParams.from_dict(overrides)
    budgets = [
        budget_metrics.Budget(
            budget_ms=float(b["budget_ms"]),
            test_glob=b.get("test_glob"),
            file_glob=b.get("file_glob"),
        )
        for b in (settings_row.budgets if settings_row else [])
    ]
    return params, budgets


@dataclass
class _NewFinding:
    kind: str
    test: int
    related: int | None
    week: dt.date
    status: str
    score: float | None
    evidence: dict[str, object]
    first_run: int | None
    last_run: int | None
    # When the episode began (a regression's first failure, a fix's first pass, a slowdown's
    # first commit after the change): orders two episodes of one test in one week.
    at: dt.datetime | None = None


_EARLIEST = dt.datetime.min.replace(tzinfo=dt.UTC)


def _base_key(f: _NewFinding) -> str:
    return Finding.make_key(f.kind, f.test, f.related, f.week)


@dataclass(frozen=True)
class _Owner:
    """The stored row of a plain key: its episode's first run, and when it ended (a fix, or a
    resolved regression: its last run's start), else None."""

    first_run: int | None
    ended: dt.datetime | None

    @classmethod
    def of(cls, row: Finding) -> _Owner:
        done = row.kind == Finding.Kind.FIXED or (
            row.kind == Finding.Kind.REGRESSION and row.status == Finding.Status.RESOLVED
        )
        return cls(row.first_run_id, getattr(row, "last_run_started", None) if done else None)

    def holds(self, f: _NewFinding) -> bool:
        """Whether `f` is this row's episode: the same first run, or (a late run moved its
        first run) not one that began after this one ended."""
        return self.first_run == f.first_run or not (
            self.ended is not None and f.at is not None and self.ended < f.at
        )


def _keyed(new: list[_NewFinding], owners: dict[str, _Owner]) -> dict[str, _NewFinding]:
    """The findings by key: kind:test:related:week (Finding.make_key) for one episode of a test
    in a week, the usual case. Another episode of the test in that week (broken, fixed and
    broken again) adds its first run, `:r<run>`, so its key is the same whichever windows see
    which of them. `owners`: the stored rows of the plain keys; a row keeps its key for its own
    episode, and a plain key no row holds goes to the week's earliest episode."""
    groups: dict[str, list[_NewFinding]] = defaultdict(list)
    for f in new:
        groups[_base_key(f)].append(f)
    out = {}
    for key, same in groups.items():
        owner = owners.get(key)
        single = len(same) == 1 and (owner is None or owner.holds(same[0]))
        if same[0].kind in Finding.WEEKLY_KINDS or single:
            out[key] = same[0]
            continue
        same.sort(key=lambda f: (f.at or _EARLIEST, f.first_run or 0))
        plain: _NewFinding | None
        if owner is None:
            plain = same[0]
        else:
            plain = next((f for f in same if owner.first_run == f.first_run), None) or next(
                (f for f in same if owner.holds(f)), None
            )
        for f in same:
            if f is plain:
                out[key] = f
            elif f.first_run:
                out[f"{key}:r{f.first_run}"] = f
            else:  # a slowdown whose first commit has no run on the branch: by its time
                out[f"{key}:t{int(f.at.timestamp()) if f.at else 0}"] = f
    return out


def service_week_recompute(*, service_id: int, week: dt.date, force: bool = False) -> bool:
    """Recompute one service-week's rollups and findings from the data.

    Idempotent: the same data gives the same rows (findings are keyed, rollups replaced).
    Concurrent recomputes of one service-week serialize on a transaction-level advisory lock
    (PostgreSQL) and the row lock of the ServiceWeek. Returns False if the service is gone.
    """
    service = Service.objects.filter(pk=service_id).select_related("project").first()
    if service is None:
        return False
    with transaction.atomic():
        # The RunFacts lock first: a forget (tests moved) holding it may be waiting to mark
        # this service-week stale.
        run_facts_lock(service.project_id, shared=True)
        _lock(service_id, week)
        row, _ = ServiceWeek.objects.select_for_update().get_or_create(
            service=service, week=week, defaults={"project_id": service.project_id}
        )
        covered = row.dirty
        if row.computed >= covered and not force:
            return True  # an earlier task already covered every mark
        params, budgets = project_params(service.project_id)
        changed_weeks = _compute(service, row, params, budgets)
        row.computed = covered
        row.computed_at = timezone.now()
        row.save()
        # Late data: a report of this week (or of the next, which compares with it) is redone,
        # and so is the report of every earlier week whose findings or speed-ups this window
        # changed (a slowdown is found weeks after the commit it belongs to).
        from reports.report_services import reports_mark_stale

        reports_mark_stale(
            project_id=service.project_id,
            weeks={week, week + dt.timedelta(weeks=1), *changed_weeks},
        )
    return True


def _lock(service_id: int, week: dt.date) -> None:
    if connection.vendor != "postgresql":
        return
    key = zlib.crc32(f"serviceweek:{service_id}:{week.isoformat()}".encode())
    with connection.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def _compute(
    service: Service, row: ServiceWeek, params: MetricParams, budgets: list[budget_metrics.Budget]
) -> set[dt.date]:
    """Fill `row` and write the window's findings; returns the weeks whose findings or speed-ups
    this changed."""
    week = row.week
    start = dt.datetime.combine(week, dt.time(), tzinfo=dt.UTC)
    end = start + dt.timedelta(days=7)
    # The window loaded is the same whenever the week is computed: the weeks whose data the
    # windows ending at the week's end read.
    window_start = week_start(history_start(end, params))
    history = service_history(
        project_id=service.project_id, service_id=service.pk, start=window_start, end=week
    )
    runs = history.runs
    # A week that has ended is judged at its end; the week in progress now ("flaky: a flaky
    # result in the last 14 days" must not count days that have not come), or at its latest run
    # when that run's clock is ahead of ours. Its windows then start no earlier than the loaded
    # window does: the longest (28 days of order data) are up to 6 days short until it ends.
    as_of, now = end, timezone.now()
    if now < end:
        latest = max((r.started_at for r in runs.values() if r.started_at < end), default=now)
        as_of = min(end, max(now, latest) + dt.timedelta(microseconds=1))
    row.as_of, row.in_progress = as_of, as_of < end
    known = [rid for rid, r in runs.items() if r.started_at < as_of]
    all_trs = history.test_runs_of(known)
    iso = analyze_isolation(
        runs, (), week_start=start, week_end=end, as_of=as_of, params=params, test_runs=all_trs,
        outages=history.outage_runs(known, params),
        later_passes=_later_passes(
            service, as_of, params,
            # failures a pass after the week can still be evidence for
            failed_commits={
                runs[tr.run].commit for tr in all_trs if is_fail(tr.first)
                and runs[tr.run].started_at >= as_of - dt.timedelta(days=params.same_commit_days)
            },  # fmt: skip
        ),
    )  # fmt: skip
    week_trs = history.test_runs_of(rid for rid in known if runs[rid].started_at >= start)
    # New tests: not seen in the window's earlier weeks; removed: seen in the latest of them that
    # had runs (passrates.service_week_counts).
    earlier = [rid for rid in known if runs[rid].started_at < start]
    seen_before = history.tests_of(earlier)
    previous = week_start(max((runs[rid].started_at for rid in earlier), default=start))
    seen_previous = history.tests_of(
        rid for rid in earlier if week_start(runs[rid].started_at) == previous
    )
    counts = service_week_counts(
        runs, week_trs, seen_before=seen_before, seen_previous=seen_previous
    )
    by_test = durations_by_test(week_trs, params)
    svc_durations = service_week_durations(week_trs, params, by_test)
    flaky_tests = {t for t, s in iso.statuses.items() if s.status in (CONFIRMED, SUSPECTED)}

    findings: list[_NewFinding] = []
    for f in iso.findings:
        findings.append(
            _NewFinding(
                f.kind, f.test, f.related_test, week, Finding.Status.OPEN, f.score,
                dict(f.evidence), f.first_run, f.last_run,
            )
        )  # fmt: skip
    since = dt.datetime.combine(window_start, dt.time(), tzinfo=dt.UTC)
    failing = {tr.test for tr in all_trs if is_fail(tr.first)}
    pending = failed_observed(
        all_trs, runs, cascade_followers=iso.cascade_followers, outage_runs=iso.all_outage_runs,
        reference_branch=params.reference_branch,
    ) - flaky_tests  # fmt: skip
    reg_runs, reg_trs, followers, outages, in_part = _regression_history(
        service, history, known, all_trs, pending, iso, params, since=since, as_of=as_of
    )
    for reg in regression_findings(
        reg_runs, reg_trs, flaky_tests=flaky_tests, cascade_followers=followers,
        outage_runs=outages, params=params, since=since, read_in_part=in_part,
    ):  # fmt: skip
        if reg.kind == "regression" and not reg.confirmed:
            # One failure that did not repeat on the same or the next commit is a suspicion, not
            # a regression (DESIGN: confirmed when it fails again); it is not published.
            continue
        evidence = {
            **reg.evidence,
            "confirmed": reg.confirmed,
            "commit": reg.commit,
            "first_failing_run": reg.first_failing_run,
            "first_failing_commit": reg.first_failing_commit,
            "last_passing_run": reg.last_passing_run,
            "last_passing_commit": reg.last_passing_commit,
            "fixing_run": reg.fixing_run,
            "fixing_commit": reg.fixing_commit,
        }
        findings.append(
            _NewFinding(
                reg.kind, reg.test, None, week_start(reg.started_at), reg.status, None, evidence,
                reg.first_run, reg.last_run, reg.started_at,
            )
        )  # fmt: skip
    findings = _removed_stays_removed(service, findings, reg_runs, params, since=since)
    improvements = []
    series = history.commit_points(known, reference_branch=params.reference_branch)
    for test, changes in changes_by_test(series, params).items():
        for change in changes:
            if change.time >= as_of:
                continue
            if change.kind != SLOWDOWN:
                improvements.append({"test": test, **change.evidence()})
                continue
            first_run = _first_run_of_commit(runs, change.commit, params.reference_branch)
            findings.append(
                _NewFinding(
                    Finding.Kind.DURATION_REGRESSION, test, None, week_start(change.time),
                    Finding.Status.OPEN, change.ratio, change.evidence(), first_run, first_run,
                    change.time,
                )
            )  # fmt: skip
    # What ends an episode besides its own rule: a speed-up back to where a slowdown began, and
    # for both kinds the test's removal.
    speedups = _speedups_by_test(improvements)
    slow = {
        f.test for f in findings
        if f.kind == Finding.Kind.DURATION_REGRESSION and f.status == Finding.Status.OPEN
    }  # fmt: skip
    if slow:
        # And those the later weeks computed before this one saw: whichever order the weeks are
        # computed in, a slowdown written open here is resolved by a speed-up they hold.
        # (Only a recompute of a past week that writes a slowdown open reads them: one row a
        # later week, their speed-ups only.)
        for stored in ServiceWeek.objects.filter(
            service=service, week__gt=week, computed__gt=0
        ).values_list("metrics__duration_improvements", flat=True):
            for imp in stored or ():
                if isinstance(imp, dict) and imp.get("test") in slow:
                    speedups[int(str(imp["test"]))].append(imp)
    for new in findings:
        if new.kind == Finding.Kind.DURATION_REGRESSION and new.status == Finding.Status.OPEN:
            reverted = _reverted_by(new.evidence, speedups.get(new.test, []), params)
            if reverted is not None:
                new.status = Finding.Status.RESOLVED
                new.evidence = {**new.evidence, "reverted_by": reverted}
    window_results = _WindowResults(all_trs, runs, params.reference_branch)
    removals = _removals(
        service, week, as_of, params, findings, window_start=window_start, seen=window_results
    )
    for new in findings:
        removal = removals.found.get((new.kind, new.test))
        if removal is not None and new.status == Finding.Status.OPEN:
            new.status = Finding.Status.RESOLVED
            new.evidence = {**new.evidence, "removed": removal[0]}
    violations = []
    if budgets:
        labels = {
            t.pk: budget_metrics.TestLabel(t.pk, t.classname, t.name, t.file or None)
            for t in Test.objects.filter(pk__in={tr.test for tr in week_trs}).only(
                "id", "classname", "name", "file"
            )
        }
        violations = budget_metrics.budget_violations(budgets, labels, week_trs, params)
        for v in violations:
            findings.append(
                _NewFinding(
                    Finding.Kind.BUDGET_VIOLATION, v.test, None, week, Finding.Status.OPEN,
                    v.severity, v.evidence(), None, None,
                )
            )  # fmt: skip

    def judged(kind: str, test: int, status: str, time: object) -> bool:
        """Whether this window can tell that a stored episode finding (in its weeks, not found
        again) is not there, so that it goes. A fix of a test that did not fail in the window,
        or is flaky, cannot: its failures are all before the window, whose recompute wrote it.
        A regression found and fixed before its test turned flaky cannot: regressions are not
        looked for in a flaky test (one still open goes: nothing would ever resolve it). A
        slowdown can only with the cp_min_points commits before it that a change point there
        needs."""
        if kind == Finding.Kind.FIXED:
            return test in failing and test not in flaky_tests
        if kind == Finding.Kind.REGRESSION:
            return not (test in flaky_tests and status == Finding.Status.RESOLVED)
        if kind == Finding.Kind.DURATION_REGRESSION:
            when = parse_datetime(str(time))
            points = series.get(test, ())
            return when is not None and sum(p.time < when for p in points) >= params.cp_min_points
        return True

    used = params.as_dict()  # recorded on the service-week and on every finding it writes
    _write_test_weeks(service, week, week_trs, by_test, iso)
    # Stored episodes this window does not write again, first (their alerts are told with the
    # window's own, in one message per recipient): removals judged, then speed-ups.
    # A speed-up first (as for the window's own findings), then removals; a row a late upload
    # took back from removal may be reverted too. The states before any of it feed the alerts.
    changed_weeks, (told, before) = _resolve_reverted(service, week, as_of, params, improvements)
    removed_weeks, reopened, removed_before = _resolve_removed(service, week, as_of, removals)
    changed_weeks |= removed_weeks
    if reopened:
        again, (told_again, _) = _resolve_reverted(
            service, week, as_of, params, improvements, only=reopened
        )
        changed_weeks |= again
        told += told_again
    changed_weeks |= _write_findings(
        service, week, as_of, findings, window_start=window_start, judged=judged, params=used,
        seen_after=window_results.after, told_too=(told, {**removed_before, **before}),
    )  # fmt: skip
    stored = (row.metrics or {}).get("duration_improvements")
    changed_weeks |= _improvement_weeks(stored, improvements)

    row.version = ALGORITHM_VERSION
    row.params = used
    row.runs = counts.runs
    row.pass_rate = counts.pass_rate
    row.final_pass_rate = counts.final_pass_rate
    row.isolation_score = iso.score
    row.flake_rate = iso.flake_rate
    row.p50_ms = svc_durations.test_median_p50_ms
    row.p95_ms = svc_durations.test_median_p95_ms
    rates = counts.rates
    row.metrics = {
        "runs": counts.runs,
        "commits": counts.commits,
        "tests_executed": counts.tests_executed,
        "results": counts.results,
        "new_tests": len(counts.new_tests),
        "removed_tests": len(counts.removed_tests),
        "passed": rates.passed,
        "failed": rates.failed,
        "skipped": rates.skipped,
        "final_passed": rates.final_passed,
        "final_failed": rates.final_failed,
        "pass_rate": counts.pass_rate,
        "final_pass_rate": counts.final_pass_rate,
        # The score's own counts leave outage runs (and skipped first attempts) out: published
        # as isolation_runs and isolation_tests_executed, so they never shadow the week's counts.
        **{
            (f"isolation_{k}" if k in ("runs", "tests_executed") else k): v
            for k, v in iso.components().items()
        },
        "unclean_runs": [[run, list(causes)] for run, causes in iso.unclean_runs],
        "outage_run_ids": list(iso.outage_runs),
        "duration": {
            "tests_with_p50": svc_durations.n_tests,
            "test_median_p50_ms": svc_durations.test_median_p50_ms,
            "test_median_p95_ms": svc_durations.test_median_p95_ms,
            "runs_with_wall_clock": svc_durations.n_runs,
            "wall_clock_p50_ms": svc_durations.wall_clock_p50_ms,
            "wall_clock_p95_ms": svc_durations.wall_clock_p95_ms,
        },
        "budget_violations": len(violations),
        "duration_improvements": improvements,
        # The runs behind the wall-clock percentiles, longest first (the runs list shows them).
        "wall_clock_runs": [
            [run, round(ms, 1)]
            for run, ms in sorted(svc_durations.wall_clocks.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
    }
    return changed_weeks


def _later_passes(
    service: Service, as_of: dt.datetime, params: MetricParams, *, failed_commits: set[str]
) -> dict[tuple[str, int], list[tuple[dt.datetime, int]]]:
    """First-attempt passes of the service's runs in the same_commit_days after `as_of`, by
    (commit, test), outage runs left out: a failure before `as_of` whose commit passed then is a
    flaky result (DESIGN: another run of the same commit within 7 days passed it). The week's
    upload of such a pass marks the failure's week stale (receivers)."""
    until = as_of + dt.timedelta(days=params.same_commit_days)
    if as_of > timezone.now() or not failed_commits:
        return {}  # the week is not over (nothing came after it yet), or nothing failed
    if not Run.objects.filter(
        project_id=service.project_id, status=Run.Status.PARSED, started_at__gte=as_of,
        started_at__lt=until, commit__in=sorted(failed_commits),
    ).exists():  # fmt: skip
        return {}  # no later run of a commit that failed: the usual case, one query
    later = service_history(
        project_id=service.project_id, service_id=service.pk, start=week_start(as_of),
        end=week_start(until - dt.timedelta(microseconds=1)),
    )  # fmt: skip
    ids = [rid for rid, r in later.runs.items() if as_of <= r.started_at < until]
    outages = later.outage_runs(ids, params)
    out: dict[tuple[str, int], list[tuple[dt.datetime, int]]] = defaultdict(list)
    for tr in later.test_runs_of(rid for rid in ids if rid not in outages):
        if tr.first == PASSED:
            run = later.runs[tr.run]
            out[(run.commit, tr.test)].append((run.started_at, run.id))
    return out


def _improvement_weeks(before: list[dict] | None, after: list[dict]) -> set[dt.date]:
    """The weeks of the speed-ups found by one computation of a service-week and not the other
    (a speed-up is its test, first commit after the change and that commit's time; its other
    evidence moving with new commits leaves past reports as they were made)."""

    def keyed(items: list[dict]) -> set[tuple[str, str, str]]:
        return {(str(i.get("test")), str(i.get("commit")), str(i.get("time", ""))) for i in items}

    weeks = set()
    for _, _, time in keyed(before or []) ^ keyed(after):
        when = parse_datetime(time)
        if when is not None:
            weeks.add(week_start(when))
    return weeks


def _removed_stays_removed(
    service: Service,
    findings: list[_NewFinding],
    runs: Mapping[int, RunMeta],
    params: MetricParams,
    *,
    since: dt.datetime,
) -> list[_NewFinding]:
    """`findings` with the fixes of regressions resolved as removed taken back where the window
    of the week the fix completes in does not reach the test's last result before its removal.

    That window, which sees the return but not the failures, finds no fix, and the regression
    stays resolved as removed. A later failure makes a window read back to the old failures (to
    know whether an episode is going on) and see failures, passes, failures: it must not record
    the fix after all. The regression is written as it was stored (resolved as removed, no
    fixing runs) and its fixed finding is left out."""
    fixed = [
        f
        for f in findings
        if f.kind == Finding.Kind.REGRESSION
        and f.status == Finding.Status.RESOLVED
        and f.at is not None
        and f.at < since  # begun before the window: only then can its failures be out of sight
        and f.evidence.get("fixing_runs")
    ]
    if not fixed:
        return findings
    stored: dict[tuple[int, int | None], object] = {
        (test, first_run): removed
        for test, first_run, removed in Finding.objects.filter(
            service=service, kind=Finding.Kind.REGRESSION, test_id__in={f.test for f in fixed},
            evidence__has_key="removed",
        ).values_list("test_id", "first_run_id", "evidence__removed")
    }  # fmt: skip
    dropped: set[tuple[int, object]] = set()
    for f in fixed:
        removed = stored.get((f.test, f.first_run))
        if not isinstance(removed, dict):
            continue
        last = parse_datetime(str(removed.get("last_seen_at")))
        passes = f.evidence["fixing_runs"]
        assert isinstance(passes, list)
        done = runs[passes[-1]].started_at  # the pass that completed the fix
        # The window of the week the fix completes in, as _compute loads it.
        end = dt.datetime.combine(week_start(done), dt.time(), tzinfo=dt.UTC) + dt.timedelta(7)
        window = dt.datetime.combine(week_start(history_start(end, params)), dt.time(), dt.UTC)
        if last is None or last >= window:
            continue  # that window holds the failures: the fix is found there too
        f.evidence = {
            **f.evidence, "fixing_run": None, "fixing_commit": None, "fixing_runs": [],
            "removed": removed,
        }  # fmt: skip
        dropped.add((f.test, f.first_run))
    return [
        f
        for f in findings
        if not (f.kind == Finding.Kind.FIXED and (f.test, f.evidence.get("first_failing_run"))
                in dropped)
    ]  # fmt: skip


def _regression_history(
    service: Service,
    history: ServiceHistory,
    known: list[int],
    window_trs: list[TestRun],
    pending: set[int],
    iso: IsolationResult,
    params: MetricParams,
    *,
    since: dt.datetime,
    as_of: dt.datetime,
) -> tuple[dict[int, RunMeta], list[TestRun], frozenset[tuple[int, int]], frozenset[int], set[int]]:
    """The runs, test-runs, cascade followers and outage runs regression_findings reads, and the
    tests read only in part. `window_trs` are the window's test-runs (of the `known` runs),
    `pending` the tests observed to fail in them (regressions.failed_observed) that are not
    flaky.

    The window's, and the earlier history of the tests that failed in the window whose findings
    from the window's start on depend on it (regressions.earlier_history_needed), so that an
    episode that began before the window is found whole, from its first failure after its last
    pass. (A fix in the window of a test that did not fail in it is kept as the window that held
    its failures wrote it: see _write_findings.) Earlier weeks with runs are read four, then
    eight and so on at a time, until no test needs more, no earlier run is left or
    `regression_read_back_weeks` are read (the tests that still need more are read in part: a
    recompute's cost stays bounded whatever the history); their runs are judged as the window's
    are: outages run by run, cascades against the window's baselines.
    """
    runs = {rid: history.runs[rid] for rid in known}
    followers, outages = iso.cascade_followers, iso.all_outage_runs
    # An open regression an earlier window wrote is read back to its opening, so this window
    # writes it again with its failures so far; a test failing with none open (broken since its
    # first run, say) is not: it has no regression to extend. One resolved because its test
    # stopped running is open again if the test is back and still failing.
    open_regressions = set(
        Finding.objects.filter(
            Q(status=Finding.Status.OPEN) | Q(evidence__has_key="removed"),
            service=service, kind=Finding.Kind.REGRESSION, test_id__in=list(pending),
        ).values_list("test_id", flat=True)
    ) if pending else set()  # fmt: skip

    def observed(trs: list[TestRun], metas: dict[int, RunMeta]) -> dict[int, list[Observation]]:
        by_test: dict[int, list[tuple[RunMeta, TestRun]]] = defaultdict(list)
        for tr in trs:
            if tr.test in pending:
                by_test[tr.test].append((metas[tr.run], tr))
        return {
            test: observe(pairs, cascade_followers=followers, outage_runs=outages,
                          reference_branch=params.reference_branch)
            for test, pairs in by_test.items()
        }  # fmt: skip

    # Each test's observations, earliest chunk first: a chunk's runs are all earlier than the
    # ones read before it, and its outages and cascades change nothing in those.
    seen = observed(window_trs, runs)
    earlier_runs: dict[int, RunMeta] = {}
    earlier_trs: list[TestRun] = []
    read_back: set[int] = set()
    in_part: set[int] = set()
    limit = since.date() - dt.timedelta(weeks=params.regression_read_back_weeks)
    earlier_weeks: list[dt.date] | None = None  # with runs on the reference branch, latest first
    chunk = 4  # weeks with runs read at once, doubled each time
    while pending:
        pending = {
            test for test in pending
            if earlier_history_needed(seen.get(test, []), since=since, params=params,
                                      all_fixes=False, extend_open=test in open_regressions)
        }  # fmt: skip
        if not pending:
            break
        if earlier_weeks is None:
            earlier_weeks = list(
                Run.objects.filter(
                    project_id=service.project_id, branch=params.reference_branch,
                    status=Run.Status.PARSED, week__lt=since.date(), week__gte=limit,
                ).values_list("week", flat=True).distinct().order_by("-week")
            )  # fmt: skip
        if not earlier_weeks:
            # Read in part where runs before the bound remain, else read back to the first run.
            in_part = set(pending) if Run.objects.filter(
                project_id=service.project_id, branch=params.reference_branch,
                status=Run.Status.PARSED, week__lt=limit,
            ).exists() else set()  # fmt: skip
            break
        latest, start = earlier_weeks[0], earlier_weeks[:chunk][-1]
        earlier_weeks, chunk = earlier_weeks[chunk:], chunk * 2
        # Runs of the reference branch only: observations skip the others, and cascade
        # baselines come from the window alone (its start is a cascade window before as_of).
        older = service_history(
            project_id=service.project_id, service_id=service.pk, start=start, end=latest,
            branch=params.reference_branch,
        )  # fmt: skip
        read_back |= pending
        earlier_runs.update(older.runs)
        earlier_trs = older.test_runs + earlier_trs
        outages = outages | older.outage_runs(older.runs, params)
        # Cascades in the runs just read, against the window's baselines.
        cascades = detect_cascades(
            {**older.runs, **runs}, older.test_runs + window_trs, as_of=as_of, params=params,
            exclude_runs=outages, only_runs=older.runs.keys(),
        )  # fmt: skip
        followers = followers | cascade_followers(cascades)
        for test, before in observed(older.test_runs, older.runs).items():
            seen[test] = before + seen.get(test, [])
    if not read_back:
        return runs, window_trs, followers, outages, in_part
    trs = [tr for tr in earlier_trs if tr.test in read_back] + window_trs
    return {**earlier_runs, **runs}, trs, followers, outages, in_part


# Episode kinds that stay open until something ends them: a regression by passes (or its test's
# removal), a slowdown by a speed-up back to where it was (or its test's removal).
_OPEN_UNTIL_ENDED = (Finding.Kind.REGRESSION, Finding.Kind.DURATION_REGRESSION)


class _WindowResults:
    """The window's reference-branch runs that hold each test (any outcome), read from its
    test-runs on first use: whether a test ran after a moment, and its latest run in a span."""

    def __init__(self, test_runs: list[TestRun], runs: dict[int, RunMeta], branch: str) -> None:
        self._test_runs, self._runs, self._branch = test_runs, runs, branch
        self._by_test: dict[int, list[RunMeta]] | None = None

    def _of(self, test: int) -> list[RunMeta]:
        if self._by_test is None:
            self._by_test = defaultdict(list)
            for tr in self._test_runs:
                run = self._runs[tr.run]
                if run.branch == self._branch:
                    self._by_test[tr.test].append(run)
        return self._by_test.get(test, [])

    def after(self, test: int, when: dt.datetime) -> bool:
        return any(run.started_at > when for run in self._of(test))

    def latest_between(self, test: int, start: dt.datetime, end: dt.datetime) -> RunMeta | None:
        inside = [r for r in self._of(test) if start < r.started_at < end]
        return max(inside, key=lambda r: (r.started_at, r.id), default=None)


@dataclass
class _Removals:
    """What the test removal rule (regressions.removed_at) says at this window's `as_of` of the
    service's open regressions and slowdowns, and of those it resolved as removed before."""

    # This window's open findings whose test counts as removed: (kind, test) -> `removed`, and
    # whether the stored row was open (resolving it changes the reports from then on).
    found: dict[tuple[str, int], tuple[dict[str, object], bool]] = field(default_factory=dict)
    # Stored rows this window does not write again: pk -> `removed` now, or None when the test
    # is not removed (any more) at `as_of`.
    stored: dict[int, dict[str, object] | None] = field(default_factory=dict)


def _removals(
    service: Service,
    week: dt.date,
    as_of: dt.datetime,
    params: MetricParams,
    findings: list[_NewFinding],
    *,
    window_start: dt.date,
    seen: _WindowResults,
) -> _Removals:
    """Judge at `as_of` the removal of the tests of the open regressions and slowdowns: those
    open in this window's findings and every stored open one this window does not write again
    (its test did not fail, or change speed, in the window). A stored one resolved as removed is
    judged again only when the window holds a result of its test between the last one it named
    and its removal (a late upload): the removal then moves to that result, or is taken back. A
    test that came back after its removal leaves it as it was (failing again, the window writes
    its episode open). One query when the service has no open episode; else one for their
    tests' last results in the window, and a few for each test not seen for removed_after_days.
    """
    found = {
        (f.kind, f.test) for f in findings
        if f.kind in _OPEN_UNTIL_ENDED and f.status == Finding.Status.OPEN
    }  # fmt: skip
    episodes = {(f.kind, f.test, f.first_run) for f in findings if f.kind in _OPEN_UNTIL_ENDED}
    stored: dict[int, int] = {}  # pk -> test, open rows
    late: dict[int, RunMeta] = {}  # pk -> the late run, rows resolved as removed before it
    stored_late_tests: dict[int, int] = {}
    open_rows: set[tuple[str, int]] = set()
    for pk, kind, test, first_run, status, removed in (
        Finding.objects.filter(
            Q(status=Finding.Status.OPEN) | Q(evidence__has_key="removed"),
            service=service, kind__in=_OPEN_UNTIL_ENDED, week__lte=week, as_of__lte=as_of,
        ).order_by("week", "pk").values_list(
            "pk", "kind", "test_id", "first_run_id", "status", "evidence__removed"
        )
    ):  # fmt: skip
        if (kind, test, first_run) in episodes:
            if status == Finding.Status.OPEN:
                open_rows.add((kind, test))
            continue
        if status == Finding.Status.OPEN:
            open_rows.add((kind, test))
            stored[pk] = test
            continue
        removed = removed if isinstance(removed, dict) else {}
        last = parse_datetime(str(removed.get("last_seen_at")))
        gone_at = parse_datetime(str(removed.get("removed_at")))
        run = seen.latest_between(test, last, gone_at) if last and gone_at else None
        if run is not None:
            late[pk] = run
            stored_late_tests[pk] = test
    out = _Removals()
    if found or stored:
        tests = {test for _kind, test in found} | set(stored.values())
        last_seen = _last_seen(tests, week, as_of, params, window_start=window_start)
        gone = {
            test: run for test, run in last_seen.items()
            if run.started_at + dt.timedelta(days=params.removed_after_days) < as_of
        }  # fmt: skip
        if gone:
            earliest = week_start(min(run.started_at for run in gone.values()))
            if earliest < window_start:  # the window's own runs have their facts already
                run_facts_derive(project_id=service.project_id, start=earliest, end=window_start)
        removed_now = {
            test: _test_removal(service, week, as_of, params, run) for test, run in gone.items()
        }
        for kind, test in sorted(found):
            evidence = removed_now.get(test)
            if evidence is not None:
                out.found[(kind, test)] = (evidence, (kind, test) in open_rows)
        out.stored = {pk: removed_now.get(test) for pk, test in stored.items()}
    for pk, run in late.items():  # the window's own runs: their facts are there
        test = stored_late_tests[pk]
        while True:  # to the last result before the moment it counts as removed, if any
            evidence = _test_removal(service, week, as_of, params, run)
            at = parse_datetime(str(evidence["removed_at"])) if evidence else None
            later = seen.latest_between(test, run.started_at, at) if at else None
            if later is None:
                break
            run = later
        out.stored[pk] = evidence
    return out


def _last_seen(
    tests: set[int],
    week: dt.date,
    as_of: dt.datetime,
    params: MetricParams,
    *,
    window_start: dt.date,
) -> dict[int, RunMeta]:
    """Each test's latest run on the reference branch with a result of it (any outcome),
    started before `as_of`, for the tests last seen more than removed_after_days before it (the
    others cannot count as removed): the latest week with such a result, in the window's weeks
    or else before them (the index on a test's results by week finds it), then its latest run.
    """
    reference = params.reference_branch
    scope = {"run__branch": reference, "run__status": Run.Status.PARSED}
    # When each was last seen in the window, one grouped query: seen lately, the usual case for
    # an open episode, it needs nothing more.
    weeks: dict[int, dt.date] = {}
    for test, run_week in (
        Result.objects.filter(
            test_id__in=sorted(tests), run_week__gte=window_start, run_week__lte=week,
            run__started_at__lt=as_of, **scope,
        ).values("test_id").annotate(last=Max("run_week")).order_by()
        .values_list("test_id", "last")
    ):  # fmt: skip
        weeks[test] = run_week
    out: dict[int, RunMeta] = {}
    for test in sorted(tests):
        last_week = weeks.get(test) or (
            Result.objects.filter(test_id=test, run_week__lt=window_start, **scope)
            .order_by("-run_week")
            .values_list("run_week", flat=True)
            .first()
        )
        if last_week is None:
            continue  # never seen on the reference branch
        monday = dt.datetime.combine(last_week, dt.time(), tzinfo=dt.UTC)
        if monday + dt.timedelta(days=params.removed_after_days) >= as_of:
            continue  # seen too lately to count as removed, whatever its run
        latest = (
            Result.objects.filter(
                test_id=test, run_week=last_week, run__started_at__lt=as_of, **scope
            )
            .order_by("-run__started_at", "-run_id")
            .values_list("run_id", "run__commit", "run__started_at")
            .first()
        )
        if latest is not None:
            out[test] = RunMeta(latest[0], latest[1], reference, latest[2])
    return out


def _test_removal(
    service: Service, week: dt.date, as_of: dt.datetime, params: MetricParams, seen: RunMeta
) -> dict[str, object] | None:
    """The evidence that the test last seen in run `seen` counts as removed at `as_of`
    (regressions.removed_at), or None: the service's runs on the reference branch since then."""
    later = (
        RunMeta(run, commit, params.reference_branch, started)
        for run, commit, started in RunFacts.objects.filter(
            service=service, week__gte=week_start(seen.started_at), week__lte=week,
            run__branch=params.reference_branch, run__status=Run.Status.PARSED,
            run__started_at__gt=seen.started_at, run__started_at__lt=as_of,
        )
        .order_by("run__started_at", "run_id")
        .values_list("run_id", "run__commit", "run__started_at")
        .iterator(chunk_size=500)
    )  # fmt: skip
    at = removed_at(seen, later, params)
    if at is None or at >= as_of:
        return None
    return {
        "last_seen_run": seen.id,
        "last_seen_commit": seen.commit,
        "last_seen_at": seen.started_at.isoformat(),
        "removed_at": at.isoformat(),
        "after_days": params.removed_after_days,
        "after_commits": params.removed_after_commits,
    }


def _resolve_removed(
    service: Service, week: dt.date, as_of: dt.datetime, removals: _Removals
) -> tuple[set[dt.date], list[int], dict[str, alerts.FindingState]]:
    """Apply the removal rule's verdicts to the stored rows this window did not write again:
    resolve an open one whose test counts as removed, update or take back the removal of one
    resolved as removed before. Returns the weeks whose reports change: for a regression, from
    the week its test counted as removed (before or now) to this one (a report lists the
    regressions open at its week's end); for a slowdown, its own week. The regressions this
    window wrote resolved as removed (removals.found) change the same weeks when they were open.
    Also returns the rows it reopened, and the state before of those it changed (alerts)."""
    now = timezone.now()
    changed: set[dt.date] = set()
    reopened: list[int] = []

    def weeks_from(first: dt.date | None, kind: str, own: dt.date) -> set[dt.date]:
        if kind != Finding.Kind.REGRESSION:
            return {own}
        return _report_weeks(kind, first, week) if first is not None and first <= week else set()

    for (kind, _test), (found, was_open) in removals.found.items():
        if was_open:
            changed |= weeks_from(removed_week({"removed": found}), kind, week)
    rows = list(Finding.objects.filter(pk__in=list(removals.stored)).order_by("pk"))
    states = alerts.findings_state(rows)
    changed_states: dict[str, alerts.FindingState] = {}
    for row in rows:
        evidence = removals.stored[row.pk]
        before = row.evidence.get("removed") if isinstance(row.evidence, dict) else None
        if evidence == before:
            continue
        if row.status == Finding.Status.OPEN and evidence is None:
            continue
        if row.status != Finding.Status.OPEN and before is None:
            continue  # resolved otherwise since it was judged (a speed-up, just now)
        changed_states[row.key] = states[row.key]
        if evidence is None:
            reopened.append(row.pk)
        if evidence is not None:
            row.status = Finding.Status.RESOLVED
            row.evidence = {**row.evidence, "removed": evidence}
        else:  # not removed after all: a late upload shows the test since
            row.status = Finding.Status.OPEN
            row.evidence = {k: v for k, v in row.evidence.items() if k != "removed"}
        gone = [w for w in (removed_week({"removed": e}) for e in (before, evidence) if e) if w]
        changed |= weeks_from(min(gone, default=None), row.kind, row.week)
        row.updated_at = now
        row.save(update_fields=["status", "evidence", "updated_at"])
    return changed, reopened, changed_states


def _resolve(row: Finding, why: str, evidence: dict[str, object], now: dt.datetime) -> None:
    """Resolve a stored open episode this window did not write again. Its `as_of` stays that of
    the window that wrote it: an earlier window may still bring its counts up to date, and
    keeps the ending, whose own `as_of` is this window's (_carry_ending)."""
    row.status = Finding.Status.RESOLVED
    row.evidence = {**row.evidence, why: evidence}
    row.updated_at = now
    row.save(update_fields=["status", "evidence", "updated_at"])


def _speedups_by_test(improvements: list[dict[str, object]]) -> dict[int, list[dict[str, object]]]:
    """A window's duration improvements (changepoints' evidence with its `test`), by test."""
    out: dict[int, list[dict[str, object]]] = defaultdict(list)
    for imp in improvements:
        out[int(str(imp["test"]))].append(imp)
    return out


def _reverted_by(
    slowdown: dict[str, object], improvements: list[dict[str, object]], params: MetricParams
) -> dict[str, object] | None:
    """The first speed-up after a slowdown that brings the test back to where it was: a change
    point after the slowdown's whose median is within cp_min_ratio of the median before the
    slowdown (the smallest change a slowdown must be to count). None if no speed-up did."""
    when, before = slowdown.get("time"), slowdown.get("before_median_ms")
    if not isinstance(before, int | float) or not isinstance(when, str):
        return None
    for imp in sorted(improvements, key=lambda i: str(i.get("time"))):
        after = imp.get("after_median_ms")
        if str(imp.get("time")) > when and isinstance(after, int | float):
            if after <= before * params.cp_min_ratio:
                return {
                    "commit": imp.get("commit"),
                    "time": imp.get("time"),
                    "before_median_ms": imp.get("before_median_ms"),
                    "after_median_ms": after,
                    "ratio": imp.get("ratio"),
                }
    return None


def _resolve_reverted(
    service: Service,
    week: dt.date,
    as_of: dt.datetime,
    params: MetricParams,
    improvements: list[dict[str, object]],
    *,
    only: list[int] | None = None,
) -> tuple[set[dt.date], tuple[list[str], dict[str, alerts.FindingState]]]:
    """Resolve the stored open slowdowns that a speed-up of this window reverted
    (_reverted_by); returns their weeks, and their keys with their state before, for the alerts
    hook (told as recovered)."""
    by_test = _speedups_by_test(improvements)
    if not by_test:
        return set(), ([], {})
    now = timezone.now()
    changed: set[dt.date] = set()
    candidates = Finding.objects.filter(
        service=service, kind=Finding.Kind.DURATION_REGRESSION, status=Finding.Status.OPEN,
        test_id__in=list(by_test), week__lte=week, as_of__lte=as_of,
    )  # fmt: skip
    if only is not None:
        candidates = candidates.filter(pk__in=only)
    rows = list(candidates.order_by("pk"))
    before = alerts.findings_state(rows)
    resolved = []
    for row in rows:
        reverted = _reverted_by(row.evidence or {}, by_test[row.test_id], params)
        if reverted is not None:
            _resolve(row, "reverted_by", reverted, now)
            changed.add(row.week)
            resolved.append(row.key)
    return changed, (resolved, {key: before[key] for key in resolved})


def _first_run_of_commit(runs: dict[int, RunMeta], commit: str, branch: str) -> int | None:
    candidates = [r for r in runs.values() if r.commit == commit and r.branch == branch]
    return min(candidates, key=lambda r: (r.started_at, r.id)).id if candidates else None


def _write_test_weeks(
    service: Service,
    week: dt.date,
    week_trs: Sequence[TestRun],
    by_test: dict[int, TestDurations],
    iso: IsolationResult,
) -> None:
    # The week's flaky results, as the service-week counts them (`iso.flaky_results` spans the
    # whole analysis window; outage runs are not scored).
    week_runs = {tr.run for tr in week_trs} - set(iso.outage_runs)
    flaky_counts: dict[int, int] = {}
    for attributed in iso.flaky_results:
        if attributed.result.run in week_runs:
            test = attributed.result.test
            flaky_counts[test] = flaky_counts.get(test, 0) + 1
    runs_by_test: dict[int, set[int]] = {}
    final_failed: dict[int, int] = {}
    for tr in week_trs:
        runs_by_test.setdefault(tr.test, set()).add(tr.run)
        if tr.final in (1, 2):
            final_failed[tr.test] = final_failed.get(tr.test, 0) + 1
    rows = []
    for test, rates in pass_rates_by_test(week_trs).items():
        d = by_test.get(test)
        rows.append(
            TestWeek(
                test_id=test, service=service, week=week, runs=len(runs_by_test[test]),
                passed=rates.passed, failed=rates.failed, skipped=rates.skipped,
                final_failed=final_failed.get(test, 0), flaky_results=flaky_counts.get(test, 0),
                pass_rate=rates.pass_rate, n_durations=d.n if d else 0,
                p50_ms=d.p50_ms if d else None, p95_ms=d.p95_ms if d else None,
            )
        )  # fmt: skip
    TestWeek.objects.filter(service=service, week=week).delete()
    TestWeek.objects.bulk_create(rows, batch_size=2000)


def _write_findings(
    service: Service,
    week: dt.date,
    as_of: dt.datetime,
    new: list[_NewFinding],
    *,
    window_start: dt.date,
    judged: Callable[[str, int, str, object], bool],
    params: dict[str, object],
    seen_after: Callable[[int, dt.datetime], bool],
    told_too: tuple[list[str], dict[str, alerts.FindingState]] = ([], {}),
) -> set[dt.date]:
    """Upsert by key. Weekly kinds of this week are replaced; episode kinds are written only by a
    recompute whose window ends no earlier than the one that last wrote them, and a stored one
    of the window's weeks that it did not find again goes only if `judged` (kind, test, status,
    evidence time) says the window can tell it is not there. Returns the weeks whose reports
    this changes (see _report_weeks; a weekly finding changing status changes its week's)."""
    now = timezone.now()
    bases = {_base_key(f) for f in new}
    existing: dict[str, Finding] = {
        f.key: f
        for f in Finding.objects.filter(service=service, key__in=list(bases)).annotate(
            last_run_started=F("last_run__started_at")
        )
    }
    wanted = _keyed(new, {key: _Owner.of(row) for key, row in existing.items()})
    suffixed = [key for key in wanted if key not in existing and key not in bases]
    if suffixed:  # a second episode in a week: rare
        existing.update(
            (f.key, f) for f in Finding.objects.filter(service=service, key__in=suffixed)
        )
    existing = {key: row for key, row in existing.items() if key in wanted}
    stale_weekly = Finding.objects.filter(
        service=service, week=week, kind__in=Finding.WEEKLY_KINDS
    ).exclude(key__in=list(wanted))
    stale_episodes = [
        (pk, kind, first)
        for pk, kind, first, test, status, time in Finding.objects.filter(
            service=service, week__gte=window_start, week__lte=week, as_of__lte=as_of
        )
        .exclude(kind__in=Finding.WEEKLY_KINDS)
        .exclude(key__in=list(wanted))
        .values_list("pk", "kind", "week", "test_id", "status", "evidence__time")
        if judged(kind, test, status, time)
    ]
    changed_weeks: set[dt.date] = set()
    for _, kind, first in stale_episodes:
        changed_weeks |= _report_weeks(kind, first, week)
    if stale_weekly.delete()[0]:
        changed_weeks.add(week)
    if stale_episodes:
        Finding.objects.filter(pk__in=[pk for pk, _, _ in stale_episodes]).delete()
    alert_before = alerts.findings_state(existing.values())  # alerts hook (1/2): before
    to_create = []
    for key, f in sorted(wanted.items()):
        row = existing.get(key)
        if row is None:
            to_create.append(
                Finding(
                    project_id=service.project_id, service=service, kind=f.kind, test_id=f.test,
                    related_test_id=f.related, week=f.week, key=key, status=f.status,
                    score=f.score, evidence=f.evidence, first_run_id=f.first_run,
                    last_run_id=f.last_run, as_of=as_of, version=ALGORITHM_VERSION,
                    params=params, created_at=now, updated_at=now,
                )
            )  # fmt: skip
            continue
        if row.kind not in Finding.WEEKLY_KINDS and row.as_of > as_of:
            continue  # a newer window already wrote this episode
        f = _carry_ending(row, f, as_of, seen_after)
        if "removed" in row.evidence and "removed" not in f.evidence:
            # Back again (failing, or fixed): the weeks since its removal list it open again.
            gone = removed_week(row.evidence)
            if gone is not None and row.kind == Finding.Kind.REGRESSION:
                changed_weeks |= _report_weeks(row.kind, gone, week)
        changed = (
            row.status != f.status or row.score != f.score or row.evidence != f.evidence
            or row.first_run_id != f.first_run or row.last_run_id != f.last_run
        )  # fmt: skip
        recorded = (row.version, row.params) == (ALGORITHM_VERSION, params)
        if changed or row.as_of != as_of or not recorded:
            row.first_run_id, row.last_run_id, row.as_of = f.first_run, f.last_run, as_of
            row.version, row.params = ALGORITHM_VERSION, params
            if changed:
                row.updated_at = now
            if row.status != f.status and row.kind not in _EPISODE_LISTS:
                changed_weeks.add(row.week)
            row.status, row.score, row.evidence = f.status, f.score, f.evidence
            row.save()
    Finding.objects.bulk_create(to_create, batch_size=500)
    for created in to_create:
        changed_weeks |= _report_weeks(created.kind, created.week, week)
    # A fix of an episode that began before the earliest run read (see regression_read_back_weeks)
    # ends the regression written by the window that held its first failure, the test's only one
    # still open: this window cannot rewrite it.
    for f in new:
        if f.kind == Finding.Kind.FIXED and "broken_before_run" in f.evidence:
            Finding.objects.filter(
                service=service, kind=Finding.Kind.REGRESSION, test_id=f.test,
                status=Finding.Status.OPEN, week__lt=window_start, as_of__lte=as_of,
            ).update(status=Finding.Status.RESOLVED, as_of=as_of, updated_at=now)  # fmt: skip
    # Hook (2/2), with the stored rows this window resolved before writing (told_too): one
    # message per recipient for the whole recompute.
    alerts.findings_changed(
        service=service, keys=[*wanted, *told_too[0]], before={**alert_before, **told_too[1]}
    )
    return changed_weeks


# What ends an open episode besides its own rule, as its evidence records it (key, and the key of
# the moment it ended): the test's removal, a speed-up back to where a slowdown began.
_ENDINGS = (("removed", "removed_at"), ("reverted_by", "time"))


def _carry_ending(
    row: Finding,
    f: _NewFinding,
    as_of: dt.datetime,
    seen_after: Callable[[int, dt.datetime], bool],
) -> _NewFinding:
    """`f` as this window writes it over `row`, keeping the ending a later window recorded when
    this one cannot see it: a removal at or after `as_of` (unless the window holds a result of
    the test after its last one: a late upload, and the removal goes), a speed-up at or after
    it. The window brings the episode's counts up to date; a later window, which can see the
    ending, judges it again."""
    if f.status != Finding.Status.OPEN or not isinstance(row.evidence, dict):
        return f
    for key, moment in _ENDINGS:
        ending = row.evidence.get(key)
        at = parse_datetime(str(ending.get(moment))) if isinstance(ending, dict) else None
        if ending is None or at is None or at < as_of:
            continue
        if key == "removed":
            last = parse_datetime(str(ending.get("last_seen_at")))
            if last is None or seen_after(f.test, last):
                continue
        f.status = Finding.Status.RESOLVED
        f.evidence = {**f.evidence, key: ending}
        return f
    return f


# Kinds whose findings enter every report from their week on: a report lists the regressions
# open at its week's end (begun by then, fixed after it).
_EPISODE_LISTS = (Finding.Kind.REGRESSION, Finding.Kind.FIXED)


def _report_weeks(kind: str, first: dt.date, week: dt.date) -> set[dt.date]:
    """The weeks whose reports change when a finding of `kind` and week `first` is created or
    deleted by the recompute of `week`: its own week, and for a regression or a fix every week
    from it to `week`. (A regression's status follows its fix, whose creation or deletion marks
    the weeks that change; the weeks between the two still list it open. A change of evidence
    alone leaves past reports as they were made.)"""
    if kind not in _EPISODE_LISTS or first >= week:
        return {first}
    return {first + dt.timedelta(weeks=n) for n in range((week - first).days // 7 + 1)}


# How old a computation of the week in progress may get before the sweeper has it judged again
# without new data (days pass: a flaky result leaves the 14-day window).
IN_PROGRESS_REFRESH = dt.timedelta(hours=6)


def service_weeks_sweep_stale(*, older_than_seconds: int = 300, limit: int = 200) -> int:
    """Re-enqueue recomputes of service-weeks stale for longer than the threshold (a lost
    message, a killed worker), after marking the weeks computed in progress that have ended
    since, or whose computation is older than IN_PROGRESS_REFRESH. Safe to run twice:
    recomputes are idempotent."""
    from reports.tasks import recompute_service_week

    now = timezone.now()
    due = ServiceWeek.objects.filter(
        ended_in_progress(now) | Q(in_progress=True, computed_at__lte=now - IN_PROGRESS_REFRESH),
        dirty__lte=F("computed"),
    )
    marked = list(due.order_by("week").values_list("pk", "service_id", "week")[:limit])
    ServiceWeek.objects.filter(pk__in=[pk for pk, _s, _w in marked]).update(
        dirty=F("dirty") + 1, marked_at=now
    )
    cutoff = now - dt.timedelta(seconds=older_than_seconds)
    # each once: a row just marked is also old enough when the threshold is 0
    stale = list(
        dict.fromkeys(
            [(s, w) for _pk, s, w in marked]
            + list(
                ServiceWeek.objects.filter(dirty__gt=F("computed"), marked_at__lte=cutoff)
                .order_by("marked_at")
                .values_list("service_id", "week")[:limit]
            )
        )
    )
    for service_id, week in stale:
        recompute_service_week.delay(service_id, week.isoformat())
    return len(stale)


def project_recompute(
    *,
    project_id: int,
    service_id: int | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
    progress: Callable[[Service, dt.date], None] | None = None,
) -> int:
    """Recompute every service-week of a project (or one service) that has runs, from week
    `since` to week `until` (Mondays; both included, default: all), oldest first, with the
    project's current settings. `progress` is called before each one. The demo loader and the
    `recompute` command use it. Returns the service-weeks computed."""
    from ingest.models import Run

    runs = Run.objects.filter(project_id=project_id)
    if since is not None:
        runs = runs.filter(week__gte=since)
    if until is not None:
        runs = runs.filter(week__lte=until)
    weeks = sorted(set(runs.values_list("week", flat=True)))
    chosen = Service.objects.filter(project_id=project_id).order_by("name")
    if service_id is not None:
        chosen = chosen.filter(pk=service_id)
    services = list(chosen)
    done = 0
    for week in weeks:
        for service in services:
            exists = ServiceWeek.objects.filter(service=service, week=week).exists()
            if not exists and not _service_has_runs(service.pk, week):
                continue
            if progress is not None:
                progress(service, week)
            ServiceWeek.objects.get_or_create(
                service=service, week=week, defaults={"project_id": project_id}
            )
            service_week_recompute(service_id=service.pk, week=week, force=True)
            done += 1
    return done


def _service_has_runs(service_id: int, week: dt.date) -> bool:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT 1 FROM ingest_result r JOIN ingest_test t ON t.id = r.test_id "
            "WHERE t.service_id = %s AND r.run_week = %s LIMIT 1",
            [service_id, week],
        )
        return cur.fetchone() is not None
