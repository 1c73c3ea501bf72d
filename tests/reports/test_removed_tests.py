"""A regression whose test stops running, on the real database.

One service on `main`, one run a day on a new commit, uploaded and parsed by ingest's own
services and recomputed by reports' own recompute. test_3 passes, breaks, and then leaves the
suite while broken (deleted, or renamed): nothing will ever pass it three times, so without a
rule of its own its regression would stay open for good. It is resolved as removed once
removed_after_days have passed since its last result and the service ran on
removed_after_commits other commits without it (docs/metrics.md "Regressions"); a test missing
for less, or from fewer commits, or back again, keeps its regression open.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io

import pytest
from django.contrib.auth import get_user_model

from ingest.models import Run, Service
from ingest.services import UploadMeta, run_create, run_parse
from ingest.weeks import week_start
from reports.metrics.params import MetricParams
from reports.metrics.regressions import removed_week
from reports.models import Finding, Report
from reports.render import weekly_report_markdown
from reports.selectors import finding_summary, open_regressions_at
from reports.services import project_recompute, service_week_recompute
from reports.weekly import weekly_report_build
from tests.resultfiles import junit_xml

START = dt.datetime(2026, 9, 7, 6, 0, tzinfo=dt.UTC)  # Monday of 2026-W37
TESTS = 6
GONE = 3
BREAKS, LAST_SEEN = 10, 29  # test_3 passes runs 0-9, fails runs 10-29
DEFAULTS = MetricParams()


def _upload(project, i: int, *, failing: set[int], absent: set[int], commit: int) -> Run:
    started = START + dt.timedelta(days=i)
    data = junit_xml(
        TESTS, failed=failing, absent=absent, prefix="tests.test_api.TestApi",
        timestamp=started.isoformat().replace("+00:00", "Z"),
    )  # fmt: skip
    meta = UploadMeta(
        commit=hashlib.sha1(f"commit {commit}".encode()).hexdigest(), branch="main",
        build_id=str(i), job="test", service="api", started_at=started,
    )  # fmt: skip
    run = run_create(project=project, meta=meta, files=[("results.xml", io.BytesIO(data))]).run
    run_parse(run_id=run.pk)
    return run


def _history(project, runs: int, *, absent_from: int, back_at: int | None = None,
             back_failing: bool = True, commit_every: int = 1) -> list[Run]:  # fmt: skip
    """Runs 0..runs-1, a day apart: test_3 breaks at run 10, is missing from run `absent_from`
    (until `back_at`, then failing or passing again); during its absence the commit changes
    every `commit_every` runs, otherwise with every run."""
    out = []
    for i in range(runs):
        missing = absent_from <= i and (back_at is None or i < back_at)
        back = back_at is not None and i >= back_at
        failing = {GONE} if BREAKS <= i and not missing and (not back or back_failing) else set()
        commit = absent_from + (i - absent_from) // commit_every if missing else i + 1000
        out.append(
            _upload(project, i, failing=failing, absent={GONE} if missing else set(), commit=commit)
        )
    return out


def _regression(project) -> Finding:
    [finding] = Finding.objects.filter(project=project, kind="regression", test__name="test_3")
    return finding


def _ended(week: dt.date) -> dt.datetime:
    return dt.datetime.combine(week + dt.timedelta(days=7), dt.time(), tzinfo=dt.UTC)


def _open_at(project, week: dt.date) -> bool:
    return any(f.test.name == "test_3" for f in open_regressions_at(project=project, week=week))


@pytest.mark.django_db
def test_a_regression_whose_test_left_the_suite_is_resolved_as_removed(project, client) -> None:
    runs = _history(project, 70, absent_from=LAST_SEEN + 1)
    ids = [r.pk for r in runs]
    service = Service.objects.get(project=project, name="api")
    weeks = sorted({week_start(r.started_at) for r in runs})
    # Removed when both hold: 14 days after its last result (run 29 + 14 days, the start of run
    # 43) and 5 other commits without it (runs 30-34): the later of the two.
    removed = runs[LAST_SEEN].started_at + dt.timedelta(days=DEFAULTS.removed_after_days)
    assert removed == runs[LAST_SEEN + DEFAULTS.removed_after_days].started_at
    assert DEFAULTS.removed_after_commits < DEFAULTS.removed_after_days
    for week in weeks:  # as the runs came in
        service_week_recompute(service_id=service.pk, week=week, force=True)
        if week < week_start(runs[BREAKS + 1].started_at):
            continue  # not confirmed yet
        regression = _regression(project)
        assert regression.status == ("resolved" if _ended(week) > removed else "open"), week
    e = regression.evidence
    assert e["first_failing_run"] == ids[BREAKS] and e["failures"] == LAST_SEEN - BREAKS + 1
    assert e["removed"] == {
        "last_seen_run": ids[LAST_SEEN],
        "last_seen_commit": runs[LAST_SEEN].commit,
        "last_seen_at": runs[LAST_SEEN].started_at.isoformat(),
        "removed_at": removed.isoformat(),
        "after_days": DEFAULTS.removed_after_days,
        "after_commits": DEFAULTS.removed_after_commits,
    }
    # Never seen passing again: no fix is announced.
    assert not Finding.objects.filter(project=project, kind="fixed").exists()
    assert "test removed: no result since run #" in finding_summary("regression", e)
    # Open at the end of every week from the one it broke in to the one before its removal.
    assert [w for w in weeks if _open_at(project, w)] == [
        w for w in weeks if week_start(runs[BREAKS].started_at) <= w < week_start(removed)
    ]
    # The weekly report of the week it counted as removed says so; the week before lists it
    # still open; later weeks do neither.
    removal_week = week_start(removed)
    for week, section in (
        (removal_week - dt.timedelta(weeks=1), "### Still open from earlier weeks"),
        (removal_week, "### Test removed while failing"),
        (removal_week + dt.timedelta(weeks=1), None),
    ):
        text = weekly_report_markdown(weekly_report_build(project=project, week=week))
        mentions = [line for line in text.splitlines() if "test_3" in line]
        if section is None:
            assert mentions == [] and "Test removed while failing" not in text
            continue
        [line] = mentions
        assert text.index(section) < text.index(line) and section in text
        following = text[text.index(section) + len(section) :]
        assert following.index(line) < following.index("\n#")  # in that section
    # The test's page says when and why it was closed, and links the run it was last seen in.
    user = get_user_model().objects.create_user("ada", "ada@example.com", "pw-for-ada-1")
    project.members.add(user)
    client.force_login(user)
    page = client.get(f"/p/{project.slug}/t/{regression.test_id}/").content.decode()
    closed = (
        f"closed {removed.date().isoformat()}, after {DEFAULTS.removed_after_days} days and runs "
        f"on {DEFAULTS.removed_after_commits} other commits without it"
    )
    assert closed in page
    assert f"/p/{project.slug}/runs/{ids[LAST_SEEN]}/?test={regression.test_id}" in page
    # The same rows when every week is computed again, oldest first.
    before = Finding.objects.filter(project=project).values_list(
        "key", "status", "evidence", "updated_at"
    )
    before = sorted(before)
    project_recompute(project_id=project.pk)
    assert (
        sorted(
            Finding.objects.filter(project=project).values_list(
                "key", "status", "evidence", "updated_at"
            )
        )
        == before
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("missing_days", "commit_every"),
    [
        (20, 5),  # long enough, but the service ran on 4 other commits only
        (10, 1),  # 10 other commits, but 10 days only
    ],
)
def test_a_test_missing_for_less_keeps_its_regression_open(
    project, missing_days: int, commit_every: int
) -> None:
    back = LAST_SEEN + 1 + missing_days
    runs = _history(project, back + 10, absent_from=LAST_SEEN + 1, back_at=back,
                    commit_every=commit_every)  # fmt: skip
    service = Service.objects.get(project=project, name="api")
    for week in sorted({week_start(r.started_at) for r in runs}):  # open all along the gap
        service_week_recompute(service_id=service.pk, week=week, force=True)
        if week >= week_start(runs[BREAKS + 1].started_at):
            assert _regression(project).status == "open", week
    regression = _regression(project)
    assert regression.status == "open" and "removed" not in regression.evidence
    assert regression.evidence["failures"] == (LAST_SEEN - BREAKS + 1) + 10
    assert all(_open_at(project, w) for w in {week_start(r.started_at) for r in runs[BREAKS:]})


@pytest.mark.django_db
def test_a_removed_test_that_comes_back_broken_reopens_its_regression(project) -> None:
    runs = _history(project, 70, absent_from=LAST_SEEN + 1, back_at=60)
    ids = [r.pk for r in runs]
    service = Service.objects.get(project=project, name="api")
    for week in sorted({week_start(r.started_at) for r in runs}):
        service_week_recompute(service_id=service.pk, week=week, force=True)
        if week == week_start(runs[59].started_at) - dt.timedelta(weeks=1):
            assert _regression(project).status == "resolved"  # removed by then, not yet back
            removal_week = removed_week(_regression(project).evidence)
            assert removal_week is not None
            report = Report.objects.create(project=project, week=removal_week, format="md",
                                           content=b"# made while it was removed")  # fmt: skip
    regression = _regression(project)
    # The same episode, open again, with the failures from both sides of the gap; the report of
    # the week it had counted as removed in no longer holds (it lists it open again).
    assert Report.objects.get(pk=report.pk).stale
    assert regression.status == "open" and "removed" not in regression.evidence
    assert regression.evidence["first_failing_run"] == ids[BREAKS]
    assert regression.evidence["failures"] == (LAST_SEEN - BREAKS + 1) + 10
    assert _open_at(project, week_start(runs[-1].started_at))


@pytest.mark.django_db
def test_a_removed_test_back_and_passing_while_its_failures_are_in_the_window_is_fixed(
    project,
) -> None:
    # Missing from run 30 (2026-10-07), removed on 2026-10-20 (14 days after run 29), back and
    # passing from run 50 (Tuesday 2026-10-27): the week of run 50 reads its 28 days from Monday
    # 2026-10-05, which holds the last failures (runs 28-29).
    runs = _history(project, 56, absent_from=LAST_SEEN + 1, back_at=50, back_failing=False)
    ids = [r.pk for r in runs]
    service = Service.objects.get(project=project, name="api")
    for week in sorted({week_start(r.started_at) for r in runs}):
        service_week_recompute(service_id=service.pk, week=week, force=True)
        if week == week_start(runs[50].started_at) - dt.timedelta(weeks=1):
            regression = _regression(project)  # removed, not back yet
            assert regression.status == "resolved" and "removed" in regression.evidence
    regression = _regression(project)
    assert regression.status == "resolved" and "removed" not in regression.evidence
    assert regression.evidence["fixing_runs"] == ids[50:53]
    [fixed] = Finding.objects.filter(project=project, kind="fixed", test__name="test_3")
    assert fixed.evidence["first_failing_run"] == ids[BREAKS]
    assert fixed.week == week_start(runs[50].started_at)
    # The reports from the removal week on list it open again until the fix (it never was gone).
    removal_week = week_start(runs[LAST_SEEN].started_at + dt.timedelta(days=14))
    assert _open_at(project, removal_week) and not _open_at(project, fixed.week)


def _episode(project, runs: list[Run]) -> tuple:
    """The regression of test_3 with its run ids read as indices into `runs`."""
    index = {r.pk: i for i, r in enumerate(runs)}

    def plain(value: object) -> object:
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value

    f = _regression(project)
    e = plain(f.evidence)
    assert isinstance(e, dict)
    for key in ("first_failing_run", "last_passing_run", "confirmed_by_run", "fixing_run"):
        if e.get(key) is not None:
            e[key] = index[e[key]]
    for key in ("baseline_runs", "failing_runs", "fixing_runs"):
        e[key] = [index[r] for r in e.get(key) or []]
    if "removed" in e:
        e["removed"]["last_seen_run"] = index[e["removed"]["last_seen_run"]]
    return f.status, index[f.last_run_id], e


@pytest.mark.django_db
def test_an_earlier_week_computed_after_the_removal_brings_the_counts_up_and_keeps_it(
    project, other_project
) -> None:
    # As after a late upload or a re-parse, which mark many weeks stale at once: the weeks to
    # 2026-W40 are computed (failures to run 27), then the last week (its window holds none of
    # the failures: the removal is decided on the stored row), then 2026-W41 (runs 28-29).
    runs = _history(project, 70, absent_from=LAST_SEEN + 1)
    service = Service.objects.get(project=project, name="api")
    weeks = sorted({week_start(r.started_at) for r in runs})
    w41 = week_start(runs[LAST_SEEN].started_at)
    for week in [w for w in weeks if w < w41] + [weeks[-1], w41]:
        service_week_recompute(service_id=service.pk, week=week, force=True)
    status, last_run, evidence = _episode(project, runs)
    assert status == "resolved" and "removed" in evidence
    assert evidence["failures"] == LAST_SEEN - BREAKS + 1 and last_run == LAST_SEEN
    # The same history in another project, every week computed oldest first: the same finding.
    fresh = _history(other_project, 70, absent_from=LAST_SEEN + 1)
    project_recompute(project_id=other_project.pk)
    assert _episode(other_project, fresh) == (status, last_run, evidence)


@pytest.mark.django_db
def test_a_late_result_of_the_test_takes_the_removal_back_or_moves_it(project) -> None:
    runs = _history(project, 70, absent_from=LAST_SEEN + 1)
    project_recompute(project_id=project.pk)
    assert _regression(project).evidence["removed"]["last_seen_run"] == runs[LAST_SEEN].pk
    # A late upload: a run of 2026-10-09 (2026-W41) where test_3 still failed.
    late = _upload(project, LAST_SEEN + 3, failing={GONE}, absent=set(), commit=5000)
    service = Service.objects.get(project=project, name="api")
    # Its week, which cannot see the removal any more (the test ran after the run it named),
    # writes the regression open with the late failure...
    service_week_recompute(service_id=service.pk, week=week_start(late.started_at), force=True)
    regression = _regression(project)
    assert regression.status == "open" and "removed" not in regression.evidence
    assert regression.last_run_id == late.pk
    # ...and the latest week judges the removal again: 14 days after the late run.
    last = max(week_start(r.started_at) for r in runs)
    service_week_recompute(service_id=service.pk, week=last, force=True)
    removed = _regression(project).evidence["removed"]
    assert removed["last_seen_run"] == late.pk
    assert removed["removed_at"] == (late.started_at + dt.timedelta(days=14)).isoformat()


@pytest.mark.django_db
@pytest.mark.parametrize("late_day", [LAST_SEEN + 3, LAST_SEEN + 14], ids=["moved", "taken-back"])
def test_a_later_week_that_holds_a_late_result_judges_the_removal_again(project, late_day) -> None:
    runs = _history(project, 70, absent_from=LAST_SEEN + 1)
    project_recompute(project_id=project.pk)
    # A late pass of test_3 on 2026-10-09 (3 days after its last run) or on 2026-10-20 (the day
    # it counted as removed). 2026-W44 holds it in its window and ends after the removal.
    late = _upload(project, late_day, failing=set(), absent=set(), commit=5000)
    service = Service.objects.get(project=project, name="api")
    w44 = dt.date(2026, 10, 26)
    service_week_recompute(service_id=service.pk, week=w44, force=True)
    regression = _regression(project)
    service_week_recompute(service_id=service.pk, week=w44, force=True)  # changes nothing
    again = _regression(project)
    assert (again.status, again.evidence, again.updated_at) == (
        regression.status, regression.evidence, regression.updated_at
    )  # fmt: skip
    moved = late.started_at + dt.timedelta(days=14)
    if moved < _ended(w44):  # 2026-10-23: removed 14 days after the late pass
        assert regression.status == "resolved"
        assert regression.evidence["removed"]["last_seen_run"] == late.pk
        assert regression.evidence["removed"]["removed_at"] == moved.isoformat()
    else:  # 2026-11-03, after the week's end: not removed as of 2026-W44 any more
        assert regression.status == "open" and "removed" not in regression.evidence
    # The latest week, whose window does not hold the late run: a moved removal stays as it is;
    # one taken back is open, and it judges it as any open one (removed 14 days after the pass).
    service_week_recompute(service_id=service.pk, week=weeks_of(runs)[-1], force=True)
    after = _regression(project)
    assert after.status == "resolved"
    assert after.evidence["removed"]["last_seen_run"] == late.pk
    assert after.evidence["removed"]["removed_at"] == moved.isoformat()


@pytest.mark.django_db
def test_a_removed_test_back_and_passing_long_after_stays_removed(project) -> None:
    # Gone from run 30, removed on 2026-10-20, back and passing from run 70 (2026-11-16): no
    # window holds both its failures and its return, so no fix is found; it stays removed.
    runs = _history(project, 80, absent_from=LAST_SEEN + 1, back_at=70, back_failing=False)
    project_recompute(project_id=project.pk)
    regression = _regression(project)
    assert regression.status == "resolved"
    assert regression.evidence["removed"]["last_seen_run"] == runs[LAST_SEEN].pk
    assert not Finding.objects.filter(project=project, kind="fixed").exists()
    assert not _open_at(project, weeks_of(runs)[-1])


def weeks_of(runs: list[Run]) -> list[dt.date]:
    return sorted({week_start(r.started_at) for r in runs})


@pytest.mark.django_db
@pytest.mark.parametrize("passes", [3, 6], ids=["fixed-passes", "a-baseline"])
def test_a_removed_test_back_passing_long_after_and_failing_again_stays_removed(
    project, passes
) -> None:
    """As above, then failing again after `passes` passes: the new failures make a window read
    back to the old ones (to know whether an episode is going on), which must not turn the
    return into a fix of the removed regression. After a baseline of passes they are a new
    regression of their own."""
    back, again = 70, 70 + passes
    runs = []
    for i in range(again + 4):
        missing = LAST_SEEN < i < back
        failing = {GONE} if BREAKS <= i <= LAST_SEEN or i >= again else set()
        absent = {GONE} if missing else set()
        runs.append(_upload(project, i, failing=failing, absent=absent, commit=i + 1000))
    project_recompute(project_id=project.pk)
    regressions = Finding.objects.filter(project=project, kind="regression", test__name="test_3")
    old = regressions.get(first_run=runs[BREAKS])
    assert old.status == "resolved"
    assert old.evidence["removed"]["last_seen_run"] == runs[LAST_SEEN].pk
    assert not old.evidence["fixing_runs"]
    assert not Finding.objects.filter(project=project, kind="fixed").exists()
    new = [(f.first_run_id, f.status) for f in regressions.exclude(pk=old.pk)]
    assert new == (
        [(runs[again].pk, "open")] if passes >= DEFAULTS.regression_baseline_runs else []
    )
