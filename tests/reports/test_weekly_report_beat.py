"""The Monday beat entry of the weekly reports, and the task it sends, on a real worker: one
Markdown and one PDF report per project and week, made once even when the task runs twice; late
data that changes a reported week makes its reports stale and regenerates them, and the sweeper
regenerates a stale report whose message was lost."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.dashboard.conftest import load_history, sim_config
from tests.workers import wait_for


def test_the_beat_schedule_runs_the_weekly_reports_on_monday_0600_utc() -> None:
    from celery.schedules import crontab

    from dashboard.celery import app

    entry = app.conf.beat_schedule["reports-weekly-reports"]
    assert entry["task"] == "reports.report_weekly"
    schedule = entry["schedule"]
    assert isinstance(schedule, crontab)
    assert (schedule.minute, schedule.hour, schedule.day_of_week) == ({0}, {6}, {1})
    assert app.conf.timezone == "UTC"
    # Seen from just before Monday 06:00 UTC, the next run is a minute away; from just after
    # it ran, a week away.
    import copy

    monday = dt.datetime(2026, 11, 23, 6, 0, tzinfo=dt.UTC)
    clock = copy.copy(schedule)
    clock.nowfun = lambda: monday - dt.timedelta(minutes=1)
    assert clock.remaining_estimate(monday - dt.timedelta(weeks=1)) == dt.timedelta(minutes=1)
    clock.nowfun = lambda: monday + dt.timedelta(minutes=1)
    assert clock.remaining_estimate(monday) == dt.timedelta(weeks=1, minutes=-1)
    # The task is registered under that name and routed to the reports queue.
    import reports.tasks  # noqa: F401

    assert "reports.report_weekly" in app.tasks
    assert app.amqp.router.route({}, "reports.report_weekly")["queue"].name == "reports"
    assert (
        app.conf.beat_schedule["reports-sweep-stale-reports"]["task"]
        == "reports.report_sweep_stale"
    )


@pytest.mark.timeout(400)
def test_one_report_per_project_and_week_even_when_run_twice(worker) -> None:
    from ingest.services import project_create
    from reports.models import Report, ServiceWeek
    from reports.tasks import report_weekly

    projects = []
    for slug in ("beat-a", "beat-b"):
        project = project_create(slug=slug)
        load_history(project=project, config=sim_config(weeks=2, services=("jwt",)))
        projects.append(project)
    week = min(ServiceWeek.objects.filter(project=projects[0]).values_list("week", flat=True))

    report_weekly.delay(week.isoformat())
    wait_for(lambda: Report.objects.filter(week=week).count() == 4, timeout=180,
             what=f"4 reports; worker log:\n{worker.log()[-3000:]}")  # fmt: skip
    first = {(r.project.slug, r.format): r.generated_at
             for r in Report.objects.filter(week=week).select_related("project")}  # fmt: skip
    assert sorted(first) == [("beat-a", "md"), ("beat-a", "pdf"), ("beat-b", "md"),
                             ("beat-b", "pdf")]  # fmt: skip

    # Twice more, back to back: nothing new is made, nothing made again.
    report_weekly.delay(week.isoformat())
    report_weekly.delay(week.isoformat())
    wait_for(lambda: worker.log().count("weekly reports: 0 generated") >= 2, timeout=120,
             what=f"two more runs; worker log:\n{worker.log()[-3000:]}")  # fmt: skip
    again = {(r.project.slug, r.format): r.generated_at
             for r in Report.objects.filter(week=week).select_related("project")}  # fmt: skip
    assert again == first
    assert Report.objects.count() == 4

    # Late data: a recompute of the week marks its reports stale; the worker regenerates them.
    from reports.services import service_week_recompute

    row = ServiceWeek.objects.filter(project=projects[0], week=week).first()
    service_week_recompute(service_id=row.service_id, week=week, force=True)
    assert Report.objects.filter(project=projects[0], week=week, stale=True).count() == 2
    wait_for(
        lambda: not Report.objects.filter(week=week, stale=True).exists(), timeout=180,
        what=f"stale reports regenerated; worker log:\n{worker.log()[-3000:]}",
    )  # fmt: skip
    redone = {
        r.format: r.generated_at for r in Report.objects.filter(project=projects[0], week=week)
    }
    assert all(redone[fmt] > first[("beat-a", fmt)] for fmt in ("md", "pdf"))
    assert Report.objects.filter(project=projects[1], week=week).count() == 2
    assert Report.objects.count() == 4

    # A regeneration whose message was lost: the sweeper sends it again.
    from django.utils import timezone

    from reports.tasks import report_sweep_stale

    before = Report.objects.get(project=projects[1], week=week, format="md").generated_at
    Report.objects.filter(project=projects[1], week=week, format="md").update(
        stale=True, stale_since=timezone.now() - dt.timedelta(hours=1)
    )
    report_sweep_stale.delay()
    wait_for(
        lambda: not Report.objects.filter(week=week, stale=True).exists(), timeout=120,
        what=f"swept stale report regenerated; worker log:\n{worker.log()[-3000:]}",
    )  # fmt: skip
    assert Report.objects.get(project=projects[1], week=week, format="md").generated_at > before
    assert Report.objects.count() == 4
