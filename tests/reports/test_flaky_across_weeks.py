"""A flaky result whose same-commit pass came in the next ISO week, on the real database: the
failure's week counts it (DESIGN: "another run of the same commit (within 7 days) passed it"),
and the upload of the pass marks that week for recompute."""

from __future__ import annotations

import datetime as dt
import io

import pytest

from ingest.models import Service
from ingest.services import UploadMeta, run_create, run_parse
from reports.models import Finding, ServiceWeek
from reports.services import project_recompute, service_week_recompute

MONDAY = dt.datetime(2026, 9, 7, tzinfo=dt.UTC)  # 2026-W37


def _upload(
    project, i: int, started: dt.datetime, test_y: str, commit: str = "", service: str = "api"
):
    body = '<failure message="boom">tb</failure>' if test_y == "failed" else ""
    data = (
        f'<testsuite name="pytest"><testcase classname="tests.test_{service}" name="test_y" time="0.01">{body}'
        f'</testcase><testcase classname="tests.test_{service}" name="test_ok" time="0.01"/></testsuite>'
    ).encode()
    meta = UploadMeta(commit=commit or f"{i:040x}", branch="main", build_id=str(i), job=service,
                      service=service, started_at=started)  # fmt: skip
    run = run_create(project=project, meta=meta, files=[("r.xml", io.BytesIO(data))]).run
    run_parse(run_id=run.pk)
    return run


@pytest.mark.django_db
def test_a_failure_passed_by_its_commit_the_next_week_is_a_flaky_result_of_its_own_week(
    project,
) -> None:
    commit = "ab" * 20
    for day in range(6):
        _upload(project, day, MONDAY + dt.timedelta(days=day, hours=1), "passed")
    failed = _upload(
        project, 6, MONDAY + dt.timedelta(days=6, hours=23), "failed", commit
    )  # Sunday
    project_recompute(project_id=project.pk)
    w37 = ServiceWeek.objects.get(project=project, week=MONDAY.date())
    assert w37.metrics["flaky_results"] == 0  # nothing yet says the failure was flaky

    # Monday 01:00, 2026-W38: the same commit passes.
    passed = _upload(project, 7, MONDAY + dt.timedelta(days=7, hours=1), "passed", commit)
    w37.refresh_from_db()
    assert w37.dirty > w37.computed  # the pass's upload marked the failure's week stale
    service = Service.objects.get(project=project, name="api")
    service_week_recompute(service_id=service.pk, week=MONDAY.date())
    w37.refresh_from_db()
    assert w37.metrics["flaky_results"] == 1
    assert w37.metrics["unclean_runs"] == [[failed.pk, ["flaky"]]]
    assert w37.isolation_score == pytest.approx(100 * 6 / 7)
    [finding] = Finding.objects.filter(project=project, kind="flaky", week=MONDAY.date())
    assert finding.evidence["results"] == [
        {"run": failed.pk, "reason": "same_commit", "evidence_run": passed.pk}
    ]


@pytest.mark.django_db
def test_another_services_run_of_the_commit_next_week_creates_no_week_for_it(project) -> None:
    commit = "cd" * 20
    _upload(project, 1, MONDAY + dt.timedelta(days=6, hours=23), "failed", commit)
    project_recompute(project_id=project.pk)
    # The same commit's job of another service, on Monday: that service never ran in 2026-W37.
    _upload(project, 2, MONDAY + dt.timedelta(days=7, hours=1), "passed", commit, service="web")
    assert not ServiceWeek.objects.filter(service__name="web", week=MONDAY.date()).exists()
