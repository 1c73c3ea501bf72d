"""A duration regression found by one window and out of sight of a later one, on the real
database: uploads parsed by ingest's services, service-weeks recomputed by reports' own recompute.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import random

import pytest

from ingest.models import Service
from ingest.services import UploadMeta, run_create, run_parse
from reports.models import Finding
from reports.services import service_week_recompute

MONDAY = dt.datetime(2026, 8, 24, tzinfo=dt.UTC)  # 2026-W35
CHANGE = MONDAY + dt.timedelta(days=15)  # Tuesday of 2026-W37: test_s goes from 100 to 200 ms


def _upload(project, i: int, started: dt.datetime, seconds: float) -> None:
    data = (
        '<testsuite name="pytest" tests="2">'
        f'<testcase classname="tests.test_api" name="test_s" time="{seconds:.4f}"/>'
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
