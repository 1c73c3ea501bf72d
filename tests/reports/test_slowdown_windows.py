"""A duration regression found by one window and out of sight of a later one, on the real
database: uploads parsed by ingest's services, service-weeks recomputed by reports' own recompute.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import random
import re

import pytest

from ingest.models import Service
from ingest.services import UploadMeta, run_create, run_parse
from reports.metrics.params import MetricParams
from reports.models import Finding, ServiceWeek
from reports.services import service_week_recompute

MONDAY = dt.datetime(2026, 8, 24, tzinfo=dt.UTC)  # 2026-W35
CHANGE = MONDAY + dt.timedelta(days=15)  # Tuesday of 2026-W37: test_s goes from 100 to 200 ms


def _upload(project, i: int, started: dt.datetime, seconds: float | None) -> None:
    """Run i of test_s (taking `seconds`; left out when None) and test_ok, on commit i."""
    slow = (
        f'<testcase classname="tests.test_api" name="test_s" time="{seconds:.4f}"/>'
        if seconds is not None
        else ""
    )
    data = (
        f'<testsuite name="pytest" tests="{2 if slow else 1}">{slow}'
        '<testcase classname="tests.test_api" name="test_ok" time="0.010"/>'
        "</testsuite>"
    ).encode()
    meta = UploadMeta(
        commit=hashlib.sha1(str(i).encode()).hexdigest(), branch="main", build_id=str(i),
        job="test", service="api", started_at=started,
    )  # fmt: skip
    run_parse(
        run_id=run_create(project=project, meta=meta, files=[("r.xml", io.BytesIO(data))]).run.pk
    )


@pytest.mark.django_db
def test_a_slowdown_stays_when_a_later_window_holds_too_few_commits_before_it(project) -> None:
    # Three commits a day for seven weeks. The windows of 2026-W37 to W39 hold at least five
    # commits before the change; W40's (from W37's Monday on) holds three, too few to tell.
    rnd = random.Random(1)
    for i in range(7 * 7 * 3):
        started = MONDAY + dt.timedelta(hours=8 * i, minutes=30)
        base = 0.2 if started >= CHANGE else 0.1
        _upload(project, i, started, base * (1 + rnd.uniform(-0.05, 0.05)))
    service = Service.objects.get(project=project, name="api")

    def slowdowns() -> list[tuple[str, dt.date]]:
        return list(
            Finding.objects.filter(kind="duration_regression").values_list("test__name", "week")
        )

    found = [("test_s", dt.date(2026, 9, 7))]
    for week in (dt.date(2026, 9, 7), dt.date(2026, 9, 28), dt.date(2026, 10, 5)):
        service_week_recompute(service_id=service.pk, week=week, force=True)
        assert slowdowns() == found, week
    # Whatever the order the weeks are computed in.
    for week in (dt.date(2026, 9, 7), dt.date(2026, 10, 5), dt.date(2026, 9, 7)):
        service_week_recompute(service_id=service.pk, week=week, force=True)
        assert slowdowns() == found, week


@pytest.mark.django_db
def test_a_slowdown_no_longer_found_by_a_window_that_can_judge_it_is_removed(project) -> None:
    from ingest.models import Run
    from ingest.services import run_delete

    rnd = random.Random(2)
    for i in range(4 * 7 * 3):  # 2026-W35 to W38, three commits a day
        started = MONDAY + dt.timedelta(hours=8 * i, minutes=30)
        base = 0.2 if started >= CHANGE else 0.1
        _upload(project, i, started, base * (1 + rnd.uniform(-0.05, 0.05)))
    service = Service.objects.get(project=project, name="api")
    w38 = dt.date(2026, 9, 14)
    service_week_recompute(service_id=service.pk, week=w38, force=True)
    assert Finding.objects.filter(kind="duration_regression").exists()
    # The slow runs turn out to be of another machine and are deleted: the window holds the
    # commits before the change, so it can tell that there is no change any more.
    for run in Run.objects.filter(project=project, started_at__gte=CHANGE):
        run_delete(run_id=run.pk)
    service_week_recompute(service_id=service.pk, week=w38, force=True)
    assert not Finding.objects.filter(kind="duration_regression").exists()


REVERT = MONDAY + dt.timedelta(days=29)  # Tuesday of 2026-W39


def _history(project, seed: int, seconds, weeks: int = 7) -> list[dt.datetime]:
    """Three commits a day for `weeks` weeks from 2026-W35; test_s takes seconds(start) (None:
    absent), with 5% noise. Returns the runs' start times."""
    rnd = random.Random(seed)
    starts = []
    for i in range(weeks * 7 * 3):
        started = MONDAY + dt.timedelta(hours=8 * i, minutes=30)
        base = seconds(started)
        noisy = None if base is None else base * (1 + rnd.uniform(-0.05, 0.05))
        _upload(project, i, started, noisy)
        starts.append(started)
    return starts


def _slowdown() -> Finding:
    [finding] = Finding.objects.filter(kind="duration_regression", test__name="test_s")
    return finding


def _weeks_in_order(project, check, weeks: int = 7) -> None:
    """Compute every week oldest first, as the runs came in, calling check(week) after each."""
    service = Service.objects.get(project=project, name="api")
    for n in range(weeks):
        week = MONDAY.date() + dt.timedelta(weeks=n)
        service_week_recompute(service_id=service.pk, week=week, force=True)
        check(week)


def _ended(week: dt.date) -> dt.datetime:
    return dt.datetime.combine(week + dt.timedelta(days=7), dt.time(), tzinfo=dt.UTC)


@pytest.mark.django_db
def test_a_slowdown_reverted_by_a_speed_up_back_to_where_it_was_is_resolved(project) -> None:
    # 100 ms, 200 ms from CHANGE, 100 ms again from REVERT.
    starts = _history(project, 3, lambda t: 0.2 if CHANGE <= t < REVERT else 0.1)
    first_fast = min(t for t in starts if t >= REVERT)

    def check(week: dt.date) -> None:
        if week < CHANGE.date() - dt.timedelta(days=1):
            return
        f = _slowdown()
        # Five commits after the speed-up are needed to accept it: the week of REVERT holds them.
        assert f.status == ("resolved" if _ended(week) > REVERT + dt.timedelta(days=2) else "open")

    _weeks_in_order(project, check)
    f = _slowdown()
    reverted = f.evidence["reverted_by"]
    assert reverted["time"] == first_fast.isoformat()
    assert reverted["after_median_ms"] <= f.evidence["before_median_ms"] * 1.10
    assert f.week == dt.date(2026, 9, 7) and "removed" not in f.evidence
    from reports.selectors import finding_summary

    assert "back to" in finding_summary("duration_regression", f.evidence)


@pytest.mark.django_db
def test_a_speed_up_only_part_of_the_way_back_leaves_the_slowdown_open(project) -> None:
    # 100 ms, 200 ms from CHANGE, 150 ms from REVERT: faster, but not back to where it was.
    _history(project, 4, lambda t: 0.1 if t < CHANGE else 0.2 if t < REVERT else 0.15)
    _weeks_in_order(project, lambda week: None)
    f = _slowdown()
    assert f.status == "open" and "reverted_by" not in f.evidence
    # The speed-up itself was seen: it is recorded with the week it happened in.
    improvements = ServiceWeek.objects.get(week=dt.date(2026, 9, 21)).metrics[
        "duration_improvements"
    ]
    assert [i["commit"] for i in improvements] == [hashlib.sha1(b"87").hexdigest()]


@pytest.mark.django_db
def test_a_slowdown_of_a_test_that_left_the_suite_is_resolved_as_removed(project) -> None:
    # 100 ms, 200 ms from CHANGE, gone from REVERT on (test_ok keeps running, 3 commits a day).
    starts = _history(project, 5, lambda t: None if t >= REVERT else 0.2 if t >= CHANGE else 0.1)
    last_seen = max(t for t in starts if t < REVERT)
    removed = last_seen + dt.timedelta(days=MetricParams().removed_after_days)

    def check(week: dt.date) -> None:
        if week >= CHANGE.date() - dt.timedelta(days=1):
            assert _slowdown().status == ("resolved" if _ended(week) > removed else "open")

    _weeks_in_order(project, check)
    e = _slowdown().evidence
    assert e["removed"]["last_seen_at"] == last_seen.isoformat()
    assert e["removed"]["removed_at"] == removed.isoformat()


LATE_REVERT = MONDAY + dt.timedelta(days=57)  # Tuesday of 2026-W43


@pytest.mark.django_db
def test_a_speed_up_weeks_after_the_slowdown_resolves_it_from_a_later_window(project) -> None:
    # 200 ms for six weeks: the window that sees the speed-up (2026-W43) no longer holds the
    # slowdown; it resolves the stored finding. Then 2026-W38, computed again (as after a late
    # upload), rewrites the slowdown and keeps the speed-up it cannot see.
    starts = _history(project, 6, lambda t: 0.2 if CHANGE <= t < LATE_REVERT else 0.1, weeks=9)
    _weeks_in_order(project, lambda week: None, weeks=9)
    f = _slowdown()
    assert f.status == "resolved"
    assert (
        f.evidence["reverted_by"]["time"] == min(t for t in starts if t >= LATE_REVERT).isoformat()
    )
    service = Service.objects.get(project=project, name="api")
    service_week_recompute(service_id=service.pk, week=dt.date(2026, 9, 14), force=True)
    again = _slowdown()
    assert again.status == "resolved" and again.evidence["reverted_by"] == f.evidence["reverted_by"]


@pytest.mark.django_db
def test_every_open_slowdown_of_a_removed_test_is_resolved_at_once(project) -> None:
    # 100 ms, 200 ms from CHANGE, 400 ms from three weeks later, gone from 2026-W43 on: removed
    # 14 days after its last run, on Sunday 2026-11-01, the last day of the last week.
    second, gone = CHANGE + dt.timedelta(days=21), MONDAY + dt.timedelta(days=56)
    _history(project, 7, lambda t: None if t >= gone else 0.4 if t >= second else
             0.2 if t >= CHANGE else 0.1, weeks=10)  # fmt: skip
    service = Service.objects.get(project=project, name="api")
    weeks = [MONDAY.date() + dt.timedelta(weeks=n) for n in range(10)]
    for week in weeks[:-1]:
        service_week_recompute(service_id=service.pk, week=week, force=True)
    slowdowns = Finding.objects.filter(kind="duration_regression", test__name="test_s")
    assert sorted(slowdowns.values_list("status", flat=True)) == ["open", "open"]
    service_week_recompute(service_id=service.pk, week=weeks[-1], force=True)
    state = sorted(slowdowns.values_list("pk", "status", "evidence", "updated_at"))
    assert {status for _pk, status, _e, _u in state} == {"resolved"}
    assert all("removed" in e for _pk, _s, e, _u in state)
    service_week_recompute(service_id=service.pk, week=weeks[-1], force=True)  # changes nothing
    assert sorted(slowdowns.values_list("pk", "status", "evidence", "updated_at")) == state


def test_the_test_page_marks_the_speed_up_that_reverted_a_slowdown() -> None:
    from types import SimpleNamespace

    from dashboard.selectors import change_marks

    evidence = {
        "kind": "slowdown", "time": "2026-09-08T00:30:00+00:00", "commit": "a" * 40,
        "before_median_ms": 100.0, "after_median_ms": 200.0, "ratio": 2.0,
        "reverted_by": {"commit": "b" * 40, "time": "2026-09-22T00:30:00+00:00",
                        "before_median_ms": 201.0, "after_median_ms": 99.0, "ratio": 0.49},
    }  # fmt: skip
    finding = SimpleNamespace(pk=7, kind="duration_regression", test_id=3, evidence=evidence)
    marks = change_marks(None, SimpleNamespace(pk=3), [SimpleNamespace(finding=finding)])
    assert [(m.kind, m.time.isoformat(), m.before_ms, m.after_ms, m.commit) for m in marks] == [
        ("slowdown", evidence["time"], 100.0, 200.0, "a" * 40),
        ("speedup", "2026-09-22T00:30:00+00:00", 201.0, 99.0, "b" * 40),
    ]
    # A second slowdown (200 -> 400 ms) reverted by the same speed-up: the speed-up once.
    second = {**evidence, "time": "2026-09-15T00:30:00+00:00", "before_median_ms": 200.0,
              "after_median_ms": 400.0}  # fmt: skip
    both = [finding, SimpleNamespace(pk=8, kind="duration_regression", test_id=3, evidence=second)]
    marks = change_marks(None, SimpleNamespace(pk=3), [SimpleNamespace(finding=f) for f in both])
    assert [m.kind for m in marks] == ["slowdown", "speedup", "slowdown"]


@pytest.mark.django_db
def test_a_slowdown_written_after_the_week_of_its_speed_up_was_computed_is_resolved(
    project,
) -> None:
    # The same history computed newest week first (a backlog recomputed in parallel): the
    # slowdown is first written after the week that saw the speed-up.
    starts = _history(project, 6, lambda t: 0.2 if CHANGE <= t < LATE_REVERT else 0.1, weeks=9)
    service = Service.objects.get(project=project, name="api")
    for n in reversed(range(9)):
        week = MONDAY.date() + dt.timedelta(weeks=n)
        service_week_recompute(service_id=service.pk, week=week, force=True)
    f = _slowdown()
    assert f.status == "resolved"
    assert (
        f.evidence["reverted_by"]["time"] == min(t for t in starts if t >= LATE_REVERT).isoformat()
    )


def _sent() -> None:
    from reports.alerts import alert_batch_send
    from reports.models import AlertDelivery

    for batch in set(
        AlertDelivery.objects.filter(status="pending").values_list("batch", flat=True)
    ):
        alert_batch_send(batch=str(batch))


@pytest.mark.django_db
@pytest.mark.parametrize("revert", [REVERT, LATE_REVERT], ids=["in-window", "later-window"])
def test_a_subscriber_hears_of_the_slowdown_and_then_of_its_revert(project, revert) -> None:
    from django.core import mail

    from reports.subscriptions import subscription_create

    starts = _history(project, 8, lambda t: 0.2 if CHANGE <= t < revert else 0.1, weeks=9)
    subscription_create(project=project, target="perf@example.com",
                        kinds=["duration_regression"])  # fmt: skip
    seen: list[str] = []

    def check(week: dt.date) -> None:
        _sent()
        seen.extend(m.subject for m in mail.outbox[len(seen) :])

    _weeks_in_order(project, check, weeks=9)
    assert seen == [
        "[mediaserver] Slowdown in api: tests.test_api::test_s",
        "[mediaserver] Slowdown reverted in api: tests.test_api::test_s",
    ]
    body = mail.outbox[-1].body
    first_fast = starts.index(min(t for t in starts if t >= revert))
    back_to = re.search(r"back to: (\d+) ms", body)
    assert back_to is not None and int(back_to.group(1)) <= 110  # within ×1.10 of 100 ms
    assert f"speed-up commit: {hashlib.sha1(str(first_fast).encode()).hexdigest()[:12]}" in body
    # Computed again: nothing new to tell.
    _weeks_in_order(project, lambda week: _sent(), weeks=9)
    assert len(mail.outbox) == 2


@pytest.mark.django_db
def test_no_recovery_is_told_to_a_subscriber_who_never_heard_of_the_slowdown(project) -> None:
    from django.core import mail

    from reports.subscriptions import subscription_create

    _history(project, 8, lambda t: 0.2 if CHANGE <= t < LATE_REVERT else 0.1, weeks=9)
    service = Service.objects.get(project=project, name="api")
    weeks = [MONDAY.date() + dt.timedelta(weeks=n) for n in range(9)]
    for week in weeks[:6]:  # the slowdown is found and open
        service_week_recompute(service_id=service.pk, week=week, force=True)
    assert _slowdown().status == "open"
    subscription_create(project=project, target="late@example.com",
                        kinds=["duration_regression"])  # fmt: skip
    for week in weeks[6:]:
        service_week_recompute(service_id=service.pk, week=week, force=True)
        _sent()
    assert _slowdown().status == "resolved" and mail.outbox == []


@pytest.mark.django_db
def test_a_slowdown_closed_because_its_test_left_tells_nothing(project) -> None:
    from django.core import mail

    from reports.subscriptions import subscription_create

    subscription_create(project=project, target="perf@example.com",
                        kinds=["duration_regression"])  # fmt: skip
    _history(project, 5, lambda t: None if t >= REVERT else 0.2 if t >= CHANGE else 0.1)
    _weeks_in_order(project, lambda week: _sent())
    assert "removed" in _slowdown().evidence
    assert [m.subject for m in mail.outbox] == [
        "[mediaserver] Slowdown in api: tests.test_api::test_s"
    ]


@pytest.mark.django_db
def test_a_slowdown_soon_after_its_revert_is_flapping_and_not_told(project, settings) -> None:
    """The hysteresis window runs from when the previous episode ended, the speed-up: not
    from its change point, days before."""
    from django.core import mail

    from reports.subscriptions import subscription_create

    settings.SUITEHEALTH_ALERT_HYSTERESIS_SECONDS = 5 * 86_400
    again = REVERT + dt.timedelta(days=3)  # slow again 3 days after the speed-up, 17 after CHANGE
    subscription_create(project=project, target="perf@example.com",
                        kinds=["duration_regression"])  # fmt: skip
    _history(project, 6, lambda t: 0.2 if CHANGE <= t < REVERT or t >= again else 0.1)
    _weeks_in_order(project, lambda week: _sent())
    slowdowns = Finding.objects.filter(kind="duration_regression").order_by("first_run__started_at")
    assert [(f.status, f.first_run.started_at >= again) for f in slowdowns] == [
        ("resolved", False),
        ("open", True),
    ], "both slowdowns are found, the first reverted"
    assert [m.subject for m in mail.outbox] == [
        "[mediaserver] Slowdown in api: tests.test_api::test_s",
        "[mediaserver] Slowdown reverted in api: tests.test_api::test_s",
    ]


@pytest.mark.django_db
def test_a_re_estimated_slowdown_told_once_is_told_reverted_too(project) -> None:
    """A slowdown told, then re-estimated into the next week (the Sunday runs that began it are
    deleted: its change point moves to Monday), is the same episode and not told again; its
    revert still reaches the subscriber who heard of it."""
    from django.core import mail

    from ingest.models import Run
    from ingest.services import run_delete
    from reports.models import AlertDelivery
    from reports.subscriptions import subscription_create

    sunday = dt.datetime(2026, 9, 13, tzinfo=dt.UTC)  # last day of 2026-W37
    revert = dt.datetime(2026, 9, 29, tzinfo=dt.UTC)  # Tuesday of 2026-W40
    _history(project, 11, lambda t: 0.2 if sunday <= t < revert else 0.1, weeks=9)
    subscription_create(project=project, target="perf@example.com",
                        kinds=["duration_regression"])  # fmt: skip
    weeks = [MONDAY.date() + dt.timedelta(weeks=n) for n in range(9)]
    service = Service.objects.get(project=project, name="api")

    def compute(chosen: list[dt.date]) -> None:
        for week in chosen:
            service_week_recompute(service_id=service.pk, week=week, force=True)
            _sent()

    compute(weeks[:4])  # to 2026-W38: the slowdown is found on the Sunday of W37
    assert (_slowdown().week, _slowdown().status) == (weeks[2], "open")
    assert [m.subject for m in mail.outbox] == [
        "[mediaserver] Slowdown in api: tests.test_api::test_s"
    ]
    for run in Run.objects.filter(started_at__gte=sunday, started_at__lt=sunday + dt.timedelta(1)):
        run_delete(run_id=run.pk)
    compute(weeks[2:])
    f = _slowdown()
    assert f.week == weeks[3], "the change point moved to the Monday of W38"
    assert f.status == "resolved" and "reverted_by" in f.evidence
    subjects = [m.subject for m in mail.outbox]
    deliveries = list(AlertDelivery.objects.values_list("transition", "status", "finding_id"))
    assert subjects == [
        "[mediaserver] Slowdown in api: tests.test_api::test_s",
        "[mediaserver] Slowdown reverted in api: tests.test_api::test_s",
    ], deliveries
    compute(weeks[2:])  # computed again: nothing new to tell
    assert len(mail.outbox) == 2


@pytest.mark.django_db
def test_two_slowdowns_reverted_by_one_speed_up_are_both_told_reverted(project) -> None:
    """100 ms, 200 ms, 400 ms three weeks later, 100 ms two weeks after that: both slowdowns
    are told, and the one speed-up that reverts both is told for each (a recovery ends an
    episode; the other one's end, the same speed-up, is no earlier episode to flap with)."""
    from reports.models import AlertDelivery
    from reports.subscriptions import subscription_create

    second = CHANGE + dt.timedelta(days=21)  # Tuesday of 2026-W40
    back = second + dt.timedelta(days=14)  # Tuesday of 2026-W42
    _history(project, 7, lambda t: 0.1 if t < CHANGE or t >= back else 0.4 if t >= second else 0.2,
             weeks=9)  # fmt: skip
    subscription_create(project=project, target="perf@example.com",
                        kinds=["duration_regression"])  # fmt: skip
    _weeks_in_order(project, lambda week: _sent(), weeks=9)
    slowdowns = Finding.objects.filter(kind="duration_regression").order_by("week")
    assert [(f.status, "reverted_by" in f.evidence) for f in slowdowns] == [
        ("resolved", True), ("resolved", True)
    ]  # fmt: skip
    told = sorted(AlertDelivery.objects.values_list("transition", "finding_id"))
    assert sorted(t.split(":")[0] for t, _ in told) == ["open", "open", "recovered", "recovered"]
    assert {f for t, f in told if t.startswith("recovered")} == {f.pk for f in slowdowns}


@pytest.mark.django_db
def test_a_revert_taken_back_before_its_notice_was_sent_is_not_told(project) -> None:
    """The speed-up's runs are deleted after the recompute that found it and before its notice
    went out: the slowdown is open again, so "reverted" is not sent. When the speed-up comes
    back (uploaded again), the revert is told after all."""
    from django.core import mail

    from ingest.models import Run
    from ingest.services import run_delete
    from reports.models import AlertDelivery
    from reports.subscriptions import subscription_create

    starts = _history(project, 12, lambda t: 0.2 if CHANGE <= t < REVERT else 0.1)
    subscription_create(project=project, target="perf@example.com",
                        kinds=["duration_regression"])  # fmt: skip
    service = Service.objects.get(project=project, name="api")
    weeks = [MONDAY.date() + dt.timedelta(weeks=n) for n in range(7)]
    for week in weeks[:4]:
        service_week_recompute(service_id=service.pk, week=week, force=True)
        _sent()
    service_week_recompute(service_id=service.pk, week=weeks[4], force=True)  # finds the revert
    assert _slowdown().status == "resolved"
    assert AlertDelivery.objects.filter(transition__startswith="recovered:").count() == 1

    for run in Run.objects.filter(project=project, started_at__gte=REVERT):
        run_delete(run_id=run.pk)
    for week in weeks[4:]:
        service_week_recompute(service_id=service.pk, week=week, force=True)
    assert _slowdown().status == "open"
    _sent()
    assert [m.subject for m in mail.outbox] == [
        "[mediaserver] Slowdown in api: tests.test_api::test_s"
    ]
    [cancelled] = AlertDelivery.objects.filter(transition__startswith="recovered:")
    assert cancelled.status == "cancelled" and "open again" in cancelled.error

    rnd = random.Random(13)
    for i, started in enumerate(starts):
        if started >= REVERT:
            _upload(project, i, started, 0.1 * (1 + rnd.uniform(-0.05, 0.05)))
    for week in weeks[4:]:
        service_week_recompute(service_id=service.pk, week=week, force=True)
        _sent()
    assert _slowdown().status == "resolved"
    assert [m.subject for m in mail.outbox] == [
        "[mediaserver] Slowdown in api: tests.test_api::test_s",
        "[mediaserver] Slowdown reverted in api: tests.test_api::test_s",
    ]
