"""Regression episodes longer than a recompute's window, on the real database.

Histories of one service on `main` are uploaded and parsed by ingest's own services and
recomputed by reports' own recompute. A test breaks, stays broken for weeks, and is fixed: the
`regression` finding (the week it broke) and the `fixed` finding (the week it was fixed) are read
back and held to the planted history: the same episode, from its first failure after its last
pass, with the same runs, whichever weeks were computed and in whatever order.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from collections.abc import Callable

import pytest
from django.db.models import F

from ingest.models import Run, Service
from ingest.services import UploadMeta, run_create, run_parse
from ingest.weeks import week_start
from reports.models import Finding, ServiceWeek
from reports.selectors import finding_summary, open_regressions_at
from reports.services import project_recompute, service_week_recompute
from tests.resultfiles import junit_xml

START = dt.datetime(2026, 9, 7, 6, 0, tzinfo=dt.UTC)  # Monday of 2026-W37
TESTS = 8
REGRESSED = 3  # passes, breaks, stays broken for weeks, is fixed
BROKEN = 6  # fails from its first run, is fixed at the same time


def _commit(i: int) -> str:
    return hashlib.sha1(f"commit {i}".encode()).hexdigest()


def _history(project, *, runs: int, hours: int, failing: Callable[[int], set[int]]) -> list[Run]:
    """Run i of service `api` on main, `hours` after run i-1, with tests failing(i) failing."""
    return [
        _upload(project, i, START + dt.timedelta(hours=hours * i), failing(i)) for i in range(runs)
    ]


def _upload(project, i: int, started: dt.datetime, failing: set[int], branch: str = "main") -> Run:
    """Run i (commit i, build i) of service `api` on `branch`, with these tests failing."""
    data = junit_xml(
        TESTS, failed=failing, prefix="tests.test_api.TestApi",
        timestamp=started.isoformat().replace("+00:00", "Z"),
    )  # fmt: skip
    meta = UploadMeta(
        commit=_commit(i), branch=branch, build_id=str(i), job="test", service="api",
        started_at=started,
    )  # fmt: skip
    run = run_create(project=project, meta=meta, files=[("results.xml", io.BytesIO(data))]).run
    run_parse(run_id=run.pk)
    return run


def _finding(project, kind: str, test_name: str) -> Finding:
    [finding] = Finding.objects.filter(project=project, kind=kind, test__name=test_name)
    return finding


# Two runs a day from Monday 2026-09-07 to Sunday 2026-12-13 (2026-W50): test_3 passes runs 0-20,
# fails on runs 21-139 (from Thursday 2026-09-17, 2026-W38, to Sunday 2026-11-15) and passes
# again from run 140 (Monday 2026-11-16, 2026-W47). test_6 fails from run 0 to run 139 and passes
# from run 140. The recompute of 2026-W50 reads from 2026-W47 on: none of the failures is in it.
RUNS, HOURS, BREAKS, FIXED_AT = 196, 12, 21, 140


def _failing(i: int) -> set[int]:
    regressed = {REGRESSED} if BREAKS <= i < FIXED_AT else set()
    return regressed | ({BROKEN} if i < FIXED_AT else set())


@pytest.fixture
def long_regression(project) -> list[Run]:
    return _history(project, runs=RUNS, hours=HOURS, failing=_failing)


@pytest.fixture
def daily_regression(project) -> list[Run]:
    """One run a day: test_3 passes runs 0-9, fails on runs 10-69 (from Thursday 2026-09-17,
    2026-W38) and passes from run 70 (Monday 2026-11-16, 2026-W47)."""
    return _history(
        project, runs=80, hours=24, failing=lambda i: {REGRESSED} if 10 <= i < 70 else set()
    )


def _assert_episode(project, runs: list[Run]) -> None:
    ids = [r.pk for r in runs]
    broke_week = week_start(runs[BREAKS].started_at)
    fixed_week = week_start(runs[FIXED_AT].started_at)
    assert (broke_week, fixed_week) == (dt.date(2026, 9, 14), dt.date(2026, 11, 16))
    last_pass = (ids[BREAKS - 1], _commit(BREAKS - 1))
    first_failure = (ids[BREAKS], _commit(BREAKS))

    # The fix: passing again from run 140, broken since run 21 (after its last pass, run 20),
    # not since its first run.
    fixed = _finding(project, "fixed", f"test_{REGRESSED}")
    assert fixed.week == fixed_week and fixed.status == "resolved"
    assert fixed.first_run_id == ids[FIXED_AT] and fixed.last_run_id == ids[FIXED_AT + 2]
    e = fixed.evidence
    assert e["broken_since_first_run"] is False
    assert (e["first_failing_run"], e["first_failing_commit"]) == first_failure
    assert (e["last_passing_run"], e["last_passing_commit"]) == last_pass
    assert (e["fixing_run"], e["fixing_commit"]) == (ids[FIXED_AT], _commit(FIXED_AT))
    assert e["confirmed"] is True
    assert e["failures"] == FIXED_AT - BREAKS
    assert e["failing_runs"] == ids[BREAKS : BREAKS + 20]
    assert e["passing_runs"] == ids[FIXED_AT : FIXED_AT + 3]
    summary = finding_summary("fixed", e)
    assert summary == f"regression, passing again since {_commit(FIXED_AT)[:10]}"

    # The regression it ends: the same first failure and last pass, resolved by runs 140-142.
    regression = _finding(project, "regression", f"test_{REGRESSED}")
    assert regression.week == broke_week and regression.status == "resolved"
    assert (regression.first_run_id, regression.last_run_id) == (ids[BREAKS], ids[FIXED_AT - 1])
    r = regression.evidence
    assert (r["first_failing_run"], r["first_failing_commit"]) == first_failure
    assert (r["last_passing_run"], r["last_passing_commit"]) == last_pass
    assert r["baseline_runs"] == ids[BREAKS - 5 : BREAKS]
    assert r["fixing_runs"] == ids[FIXED_AT : FIXED_AT + 3]
    assert r["failures"] == FIXED_AT - BREAKS

    # test_6 really was broken since its first run, run 0.
    regressions = Finding.objects.filter(project=project, kind="regression")
    assert not regressions.filter(test__name=f"test_{BROKEN}").exists()
    from_start = _finding(project, "fixed", f"test_{BROKEN}")
    assert from_start.week == fixed_week
    b = from_start.evidence
    assert b["broken_since_first_run"] is True and b["last_passing_run"] is None
    assert (b["first_failing_run"], b["first_failing_commit"]) == (ids[0], _commit(0))
    assert b["failures"] == FIXED_AT
    assert b["failing_runs"] == ids[:20]


@pytest.mark.django_db
def test_a_fix_weeks_after_the_regression_names_the_episode_it_ends(
    project, long_regression
) -> None:
    # Week by week, oldest first, as the runs came in: from the fix week on, and after the weeks
    # whose windows hold the fix but none of the failures.
    service = Service.objects.get(project=project, name="api")
    fixed_week = week_start(long_regression[FIXED_AT].started_at)
    for week in sorted({week_start(r.started_at) for r in long_regression}):
        service_week_recompute(service_id=service.pk, week=week, force=True)
        if week >= fixed_week:
            _assert_episode(project, long_regression)


@pytest.mark.django_db
def test_the_fix_week_computed_alone_finds_where_the_episode_began(
    project, long_regression
) -> None:
    # Nothing computed before: the fix week's recompute alone reads back to the episode's start.
    service = Service.objects.get(project=project, name="api")
    fixed_week = week_start(long_regression[FIXED_AT].started_at)
    service_week_recompute(service_id=service.pk, week=fixed_week, force=True)
    _assert_episode(project, long_regression)
    # Every week computed afterwards, oldest first, the fix week again: the same findings.
    project_recompute(project_id=project.pk)
    _assert_episode(project, long_regression)


def _assert_daily_episode(project, runs: list[Run]) -> tuple[Finding, Finding]:
    """The daily history's episode as planted: baseline runs 5-9, failures from run 10 (60 of
    them), fixed in the week of run 70. Returns its regression and fixed findings."""
    ids = [r.pk for r in runs]
    regression = _finding(project, "regression", f"test_{REGRESSED}")
    assert regression.evidence["baseline_runs"] == ids[5:10]
    assert regression.evidence["first_failing_run"] == ids[10]
    assert regression.evidence["failures"] == 60
    fixed = _finding(project, "fixed", f"test_{REGRESSED}")
    assert fixed.week == week_start(runs[70].started_at)
    assert (fixed.evidence["first_failing_run"], fixed.evidence["last_passing_run"]) == (
        ids[10], ids[9]
    )  # fmt: skip
    return regression, fixed


@pytest.mark.django_db
def test_a_regression_whose_baseline_began_before_a_later_window_is_kept(
    project, daily_regression
) -> None:
    # The recompute of 2026-W41 reads from Monday 2026-09-14 (run 7): three of the five passes
    # before the first failure (run 10) are in its window, the other two before it.
    project_recompute(project_id=project.pk)
    regression, fixed = _assert_daily_episode(project, daily_regression)
    assert regression.week == dt.date(2026, 9, 14) and regression.status == "resolved"
    assert fixed.evidence["broken_since_first_run"] is False


@pytest.mark.django_db
def test_runs_of_other_branches_inside_an_episode_change_nothing(project, daily_regression) -> None:
    # The daily history with a run of a feature branch every day in between, where test_3
    # passes and, every fifth day, half the tests fail (an outage there). The episode on main is
    # read back across them.
    runs = daily_regression
    ids = [r.pk for r in runs]
    for i in range(80):
        broken = set(range(TESTS // 2 + 1)) - {REGRESSED} if i % 5 == 0 else set()
        _upload(project, 1000 + i, runs[i].started_at + dt.timedelta(hours=12), broken, "feature")
    project_recompute(project_id=project.pk)
    regression, fixed = _assert_daily_episode(project, runs)
    assert fixed.evidence["failures"] == 60
    assert regression.evidence["fixing_runs"] == ids[70:73]


@pytest.mark.django_db
def test_a_late_run_inside_an_episode_reaches_the_fix_weeks_later(
    project, daily_regression
) -> None:
    # The daily history, everything computed as the runs came.
    runs = daily_regression
    ids = [r.pk for r in runs]
    project_recompute(project_id=project.pk)
    fixed = _finding(project, "fixed", f"test_{REGRESSED}")
    assert fixed.week == dt.date(2026, 11, 16) and fixed.evidence["first_failing_run"] == ids[10]

    # Uploaded late: five passes on Monday 2026-09-21 (2026-W39), between runs 14 and 15, eight
    # weeks before the fix. They end the first episode; run 15 opens another, the one run 70 ends.
    late = [
        _upload(project, 100 + k, runs[14].started_at + dt.timedelta(hours=1 + k), set())
        for k in range(5)
    ]
    service = Service.objects.get(project=project, name="api")
    stale = list(
        ServiceWeek.objects.filter(service=service, dirty__gt=F("computed"))
        .order_by("week").values_list("week", flat=True)
    )  # fmt: skip
    # The late week, the six after it, and the week whose recompute last wrote the fix.
    writer = week_start(fixed.as_of - dt.timedelta(days=1))
    assert stale[0] == dt.date(2026, 9, 21) and writer in stale, stale
    for week in stale:  # what the workers do with the marks
        service_week_recompute(service_id=service.pk, week=week)

    fixed = Finding.objects.get(kind="fixed", test__name=f"test_{REGRESSED}", week=fixed.week)
    assert fixed.evidence["first_failing_run"] == ids[15]
    assert fixed.evidence["last_passing_run"] == late[-1].pk
    assert fixed.evidence["failures"] == 70 - 15
    # The first episode, ended by the late passes: its regression and a fix of its own.
    first_fix = Finding.objects.get(kind="fixed", test__name=f"test_{REGRESSED}", week=stale[0])
    assert first_fix.evidence["first_failing_run"] == ids[10]
    assert first_fix.evidence["passing_runs"] == [r.pk for r in late[:3]]
    regressions = Finding.objects.filter(kind="regression", test__name=f"test_{REGRESSED}")
    first, second = regressions.order_by("week")
    assert (first.week, first.status) == (dt.date(2026, 9, 14), "resolved")
    assert first.evidence["failures"] == 5
    assert first.evidence["fixing_runs"] == [r.pk for r in late[:3]]
    assert (second.week, second.status) == (dt.date(2026, 9, 21), "resolved")
    assert second.evidence["first_failing_run"] == ids[15]
    assert second.evidence["baseline_runs"] == [r.pk for r in late]


@pytest.mark.django_db
def test_an_episode_older_than_the_read_back_bound_is_reported_as_begun_before_it(
    project, long_regression
) -> None:
    from reports.models import ProjectSettings

    # Followed back 2 weeks before a window at most. The last window that holds failures before
    # the fix (it wrote the fix; later ones keep it) starts the week before the fix week, so the
    # runs read begin 2 weeks before that, long after test_3 broke (run 21) and test_6's first run.
    ProjectSettings.objects.create(project=project, params={"regression_read_back_weeks": 2})
    project_recompute(project_id=project.pk)
    runs, ids = long_regression, [r.pk for r in long_regression]
    fixed_week = week_start(runs[FIXED_AT].started_at)
    read_from = dt.datetime.combine(fixed_week - dt.timedelta(weeks=3), dt.time(), tzinfo=dt.UTC)
    first_read = next(i for i, r in enumerate(runs) if r.started_at >= read_from)
    assert BREAKS < first_read < FIXED_AT

    for name in (f"test_{REGRESSED}", f"test_{BROKEN}"):
        fixed = _finding(project, "fixed", name)
        assert fixed.week == fixed_week and fixed.first_run_id == ids[FIXED_AT]
        e = fixed.evidence
        assert e["broken_since_first_run"] is False  # not known: its start was not read
        assert e["broken_before_run"] == e["first_failing_run"] == ids[first_read]
        assert e["failures"] == FIXED_AT - first_read
        assert finding_summary("fixed", e).startswith(f"broken since before run #{ids[first_read]}")
    # The regression written by the windows that held test_3's first failure is ended by the fix.
    regression = _finding(project, "regression", f"test_{REGRESSED}")
    assert regression.evidence["first_failing_run"] == ids[BREAKS]
    assert regression.status == "resolved"
    assert not Finding.objects.filter(project=project, kind="regression", status="open").exists()
    # Past weeks list it open from the week it broke to the week before the fix, as they did
    # before it was fixed, although the fix names a later first failure.
    for week, listed in (
        (regression.week - dt.timedelta(weeks=1), False), (regression.week, True),
        (fixed_week - dt.timedelta(weeks=1), True), (fixed_week, False),
    ):  # fmt: skip
        assert (regression in open_regressions_at(project=project, week=week)) is listed, week


@pytest.mark.django_db
def test_two_episodes_of_one_test_in_one_week_are_two_regressions_and_two_fixes(
    project,
) -> None:
    # Runs every 4 hours of 2026-W37 (Monday to Saturday): test_3 passes runs 0-5, fails 6-7,
    # passes 8-13 (fixed by 8-10; five passes before its next failure), fails 14-15 and passes
    # from 16 on. Both episodes begin and end in the same week.
    episodes = [(6, 8), (14, 16)]

    def failing(i: int) -> set[int]:
        return {REGRESSED} if any(a <= i < b for a, b in episodes) else set()

    runs = _history(project, runs=30, hours=4, failing=failing)
    ids = [r.pk for r in runs]
    assert {week_start(r.started_at) for r in runs} == {dt.date(2026, 9, 7)}
    project_recompute(project_id=project.pk)

    name = f"test_{REGRESSED}"
    regressions = Finding.objects.filter(project=project, kind="regression", test__name=name)
    fixes = Finding.objects.filter(project=project, kind="fixed", test__name=name)
    assert sorted(f.evidence["first_failing_run"] for f in regressions) == [ids[6], ids[14]]
    assert {f.status for f in regressions} == {"resolved"}
    assert sorted((f.evidence["first_failing_run"], f.first_run_id) for f in fixes) == [
        (ids[6], ids[8]),
        (ids[14], ids[16]),
    ]
    assert {f.week for f in [*regressions, *fixes]} == {dt.date(2026, 9, 7)}
    # Computing again changes nothing.
    keys = sorted(Finding.objects.filter(project=project).values_list("key", "updated_at"))
    project_recompute(project_id=project.pk)
    assert sorted(Finding.objects.filter(project=project).values_list("key", "updated_at")) == keys


@pytest.mark.django_db
@pytest.mark.parametrize("fixed_first", [True, False])
def test_a_fixed_regression_stays_when_the_test_turns_flaky_later(project, fixed_first) -> None:
    # 2026-W37, twice a day: test_3 passes runs 0-7 and fails 8-10 (a confirmed regression),
    # then passes 11-13 (fixed) or fails on. 2026-W38: it passes 14-17, then fails run 18 while
    # another run of the same commit passes it (a flaky result: the test is flaky from then on).
    monday = dt.datetime(2026, 9, 7, 6, 0, tzinfo=dt.UTC)

    def failing(i: int) -> set[int]:
        broken = 8 <= i < 11 if fixed_first else 8 <= i < 14
        return {REGRESSED} if broken or i == 18 else set()

    for i in range(20):
        _upload(project, i, monday + dt.timedelta(hours=12 * i), failing(i))
    _upload(project, 18, monday + dt.timedelta(hours=12 * 18 + 1), set())
    project_recompute(project_id=project.pk)
    name = f"test_{REGRESSED}"
    assert Finding.objects.filter(project=project, kind="flaky", test__name=name)
    regressions = Finding.objects.filter(project=project, kind="regression", test__name=name)
    if fixed_first:
        # Found and fixed while the test was not flaky: the week it broke still shows both.
        [regression] = regressions
        assert (regression.status, regression.week) == ("resolved", monday.date())
        assert Finding.objects.filter(project=project, kind="fixed", test__name=name).count() == 1
    else:
        # Still open when it turned flaky: nothing would resolve it, so it is not kept open.
        assert not regressions.filter(status="open").exists()


@pytest.mark.django_db
def test_a_second_episode_of_the_week_that_outlasts_the_window_keeps_its_own_finding(
    project,
) -> None:
    # Twice a day from 2026-W37: test_3 fails runs 6-7, passes 8-12 (fixed), fails 13-79 (a
    # second regression of the same week, weeks long) and passes from 80 on. The windows after
    # the first fix see the second episode alone.
    runs = _history(project, runs=90, hours=12,
                    failing=lambda i: {REGRESSED} if 6 <= i < 8 or 13 <= i < 80 else set())  # fmt: skip
    ids = [r.pk for r in runs]
    project_recompute(project_id=project.pk)
    name = f"test_{REGRESSED}"
    regressions = Finding.objects.filter(project=project, kind="regression", test__name=name)
    assert sorted((f.evidence["first_failing_run"], f.status) for f in regressions) == [
        (ids[6], "resolved"),
        (ids[13], "resolved"),
    ]
    fixes = Finding.objects.filter(project=project, kind="fixed", test__name=name)
    assert sorted(f.first_run_id for f in fixes) == [ids[8], ids[80]]
    last = week_start(runs[-1].started_at)
    assert open_regressions_at(project=project, week=last) == []
    # While the second one lasted, each week lists it once.
    middle = week_start(runs[40].started_at)
    assert [
        f.evidence["first_failing_run"] for f in open_regressions_at(project=project, week=middle)
    ] == [ids[13]]
