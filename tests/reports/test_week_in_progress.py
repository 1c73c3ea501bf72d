"""The week in progress is judged now, not at its end (DESIGN: a flaky test has a flaky result
"in the last 14 days"), and a week computed in progress is computed again once it has ended.
Real database; runs placed around the real clock."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.utils import timezone

from ingest.models import Service
from ingest.services import UploadMeta, run_create, run_parse
from ingest.weeks import week_start
from reports.models import Finding, ServiceWeek
from reports.selectors import quarantine_list
from reports.services import service_week_recompute, service_weeks_sweep_stale

MONDAY = dt.datetime(2026, 9, 7, tzinfo=dt.UTC)  # 2026-W37, long over


def _upload(project, i: int, started: dt.datetime, *, flaky: bool = False):
    """Two tests; `flaky`: test_y fails, then passes on retry in the same run."""
    retry = (
        '<testcase classname="tests.test_api" name="test_y" time="0.01">'
        '<failure message="boom">tb</failure></testcase>'
        if flaky
        else ""
    )
    data = (
        f'<testsuite name="pytest">{retry}'
        '<testcase classname="tests.test_api" name="test_y" time="0.01"/>'
        '<testcase classname="tests.test_api" name="test_ok" time="0.01"/></testsuite>'
    ).encode()
    meta = UploadMeta(commit=f"{i:040x}", branch="main", build_id=str(i), job="unit",
                      service="api", started_at=started)  # fmt: skip
    run = run_create(project=project, meta=meta, files=[("r.xml", io.BytesIO(data))]).run
    run_parse(run_id=run.pk)
    return run


def _flaky_tests(project, week: dt.date) -> set[str]:
    return set(
        Finding.objects.filter(project=project, kind="flaky", week=week).values_list(
            "test__name", flat=True
        )
    )


@pytest.mark.django_db
def test_the_week_in_progress_counts_a_flaky_result_of_13_days_ago(project, ci_client) -> None:
    now = timezone.now()
    monday = week_start(now)
    end = dt.datetime.combine(monday, dt.time(), tzinfo=dt.UTC) + dt.timedelta(days=7)
    # Less than 14 days before now, more than 14 days before the week's end.
    flaky_at = now - dt.timedelta(days=14) + (end - now) / 2
    _upload(project, 0, flaky_at, flaky=True)
    # Passes since, the last one in this week: by the week's end the test would be cleared.
    since_monday = now - dt.datetime.combine(monday, dt.time(), tzinfo=dt.UTC)
    moments = [flaky_at + (now - flaky_at) * k / 8 for k in range(1, 7)]
    moments.append(now - min(dt.timedelta(seconds=30), since_monday / 2))
    for i, moment in enumerate(moments, start=1):
        _upload(project, i, moment)
    service = Service.objects.get(project=project, name="api")

    assert service_week_recompute(service_id=service.pk, week=monday, force=True)
    row = ServiceWeek.objects.get(service=service, week=monday)
    assert row.in_progress and moments[-1] < row.as_of <= timezone.now()
    assert _flaky_tests(project, monday) == {"test_y"}
    assert [t.name for _f, t in quarantine_list(project=project)] == ["test_y"]
    body = ci_client.get(
        f"/api/v1/projects/{project.slug}/services/api/weeks/{row.week_label}"
    ).json()
    assert body["in_progress"] is True
    assert dt.datetime.fromisoformat(body["as_of"].replace("Z", "+00:00")) == row.as_of


@pytest.mark.django_db
def test_a_week_computed_in_progress_is_computed_again_once_it_has_ended(project) -> None:
    for day in range(3):
        _upload(project, day, MONDAY + dt.timedelta(days=day, hours=1))
    service = Service.objects.get(project=project, name="api")
    assert service_week_recompute(service_id=service.pk, week=MONDAY.date(), force=True)
    row = ServiceWeek.objects.get(service=service, week=MONDAY.date())
    assert (row.in_progress, row.as_of) == (False, MONDAY + dt.timedelta(days=7))
    assert service_weeks_sweep_stale(older_than_seconds=0) == 0  # nothing due

    # As it is left when computed on its Wednesday (the data is the same: it ended since).
    ServiceWeek.objects.filter(pk=row.pk).update(
        in_progress=True, as_of=MONDAY + dt.timedelta(days=2)
    )
    assert service_weeks_sweep_stale(older_than_seconds=3600) == 1
    row.refresh_from_db()
    assert row.is_stale
    assert service_week_recompute(service_id=service.pk, week=MONDAY.date())
    row.refresh_from_db()
    assert not row.is_stale and not row.in_progress and row.as_of == MONDAY + dt.timedelta(days=7)

    # A threshold of 0: the row just marked is also old enough, and is queued once.
    ServiceWeek.objects.filter(pk=row.pk).update(in_progress=True)
    assert service_weeks_sweep_stale(older_than_seconds=0) == 1
    assert service_week_recompute(service_id=service.pk, week=MONDAY.date())

    # Embedded mode has no sweeper: the service's next upload marks such a week too.
    ServiceWeek.objects.filter(pk=row.pk).update(in_progress=True)
    _upload(project, 9, MONDAY + dt.timedelta(days=15))
    row.refresh_from_db()
    assert row.is_stale
