"""Service-week recomputes on the real database, for weeks of unusual shape.

Runs are stored and parsed by ingest's own services and recomputed by reports' own recompute.
"""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from django.core.management import CommandError, call_command

from ingest.models import Run
from ingest.services import UploadMeta, run_create, run_parse
from reports.metrics.params import ALGORITHM_VERSION, MetricParams
from reports.models import Finding, ProjectSettings, ServiceWeek
from reports.selectors import week_summaries
from reports.services import project_recompute
from tests.resultfiles import junit_xml

MONDAY = dt.datetime(2026, 11, 2, 6, 0, tzinfo=dt.UTC)  # 2026-W45


def _upload(
    project, i: int, service: str, data: bytes, branch: str = "main", weeks: int = 0
) -> Run:
    started = MONDAY + dt.timedelta(weeks=weeks, hours=3 * i)
    meta = UploadMeta(
        commit=f"{i:040x}", branch=branch, build_id=str(i), job=service, service=service,
        started_at=started,
    )  # fmt: skip
    run = run_create(project=project, meta=meta, files=[("results.xml", io.BytesIO(data))]).run
    run_parse(run_id=run.pk)
    return run


def test_a_week_whose_reference_runs_only_skipped_is_computed(project):
    for i in range(3):
        _upload(project, i, "docs", junit_xml(1, skipped={0}))
        _upload(project, 10 + i, "docs", junit_xml(2), branch="feature")

    assert project_recompute(project_id=project.pk) == 1
    row = ServiceWeek.objects.get(service__name="docs")
    assert not row.is_stale and row.computed_at is not None
    assert (row.runs, row.metrics["skipped"], row.metrics["tests_executed"]) == (6, 3, 2)
    assert row.metrics["flaky_tests"] == 0


def test_tests_run_only_in_an_outage_count_as_executed_but_not_for_isolation(project):
    for i in range(3):
        _upload(project, i, "api", junit_xml(8))
    # Every test of this run fails: an outage, left out of the isolation figures. test_8 and
    # test_9 ran in it and nowhere else.
    _upload(project, 3, "api", junit_xml(10, failed=set(range(10))))

    project_recompute(project_id=project.pk)
    m = ServiceWeek.objects.get(service__name="api").metrics
    assert (m["runs"], m["outage_runs"], m["isolation_runs"]) == (4, 1, 3)
    assert (m["tests_executed"], m["isolation_tests_executed"]) == (10, 8)
    week = MONDAY.date()
    [summary] = week_summaries(project=project, start=week, end=week)
    assert (summary.tests_executed, summary.isolation_tests_executed) == (10, 8)


def test_removed_tests_compare_with_the_last_week_that_had_runs(project):
    _upload(project, 0, "api", junit_xml(4))  # 2026-W45: test_0 .. test_3
    # 2026-W46: no run. 2026-W47: test_0, test_1 and a new test_0 of another class.
    _upload(project, 1, "api", junit_xml(2), weeks=2)
    _upload(project, 2, "api", junit_xml(1, prefix="tests.test_app.TestNew"), weeks=2)

    project_recompute(project_id=project.pk)
    w45, w47 = ServiceWeek.objects.filter(service__name="api").order_by("week")
    assert (w45.metrics["new_tests"], w45.metrics["removed_tests"]) == (4, 0)
    assert (w47.metrics["new_tests"], w47.metrics["removed_tests"]) == (1, 2)


def test_a_finding_records_the_parameters_it_was_computed_with(project, ci_client):
    for i in range(8):  # test_1 breaks at run 5 and stays broken: a regression
        _upload(project, i, "api", junit_xml(3, failed={1} if i >= 5 else set()))
    project_recompute(project_id=project.pk)
    finding = Finding.objects.get(kind="regression")
    assert (finding.version, finding.params) == (ALGORITHM_VERSION, MetricParams().as_dict())

    ProjectSettings.objects.create(project=project, params={"p50_min_n": 3})
    project_recompute(project_id=project.pk)
    finding.refresh_from_db()
    assert finding.params == {**MetricParams().as_dict(), "p50_min_n": 3}
    [served] = ci_client.get("/api/v1/projects/mediaserver/findings?kind=regression").json()[
        "results"
    ]
    assert (served["algorithm_version"], served["params"]) == (ALGORITHM_VERSION, finding.params)


def test_the_recompute_command_applies_new_settings_to_the_weeks_asked(project):
    for weeks in (0, 1, 2):  # 2026-W45, W46, W47: two services each
        _upload(project, 2 * weeks, "api", junit_xml(2), weeks=weeks)
        _upload(project, 2 * weeks + 1, "web", junit_xml(2), weeks=weeks)
    project_recompute(project_id=project.pk)
    ProjectSettings.objects.create(project=project, params={"p50_min_n": 1})

    out = io.StringIO()
    call_command("recompute", "mediaserver", "--service", "api", "--since", "2026-W46", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[:2] == ["  2026-W46  api", "  2026-W47  api"]
    assert lines[2].startswith("recomputed 2 service-weeks of mediaserver in ")
    changed = {
        (sw.service.name, sw.week_label)
        for sw in ServiceWeek.objects.select_related("service")
        if sw.params["p50_min_n"] == 1
    }
    assert changed == {("api", "2026-W46"), ("api", "2026-W47")}
    # Each test ran once a week: with p50_min_n 1 its p50 is published now, in those weeks only.
    assert ServiceWeek.objects.get(service__name="api", week=MONDAY.date()).p50_ms is None
    assert ServiceWeek.objects.filter(service__name="api", p50_ms__isnull=False).count() == 2

    call_command("recompute", "mediaserver", stdout=out)
    assert ServiceWeek.objects.filter(params__p50_min_n=1).count() == 6


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope"], "no project 'nope'"),
        (["mediaserver", "--service", "nope"], "no service 'nope' in mediaserver"),
        (["mediaserver", "--since", "2026-45"], "--since: '2026-45' is not an ISO week"),
        (["mediaserver", "--since", "2026-W47", "--until", "2026-W45"], "is after --until"),
    ],
)
def test_the_recompute_command_refuses_what_it_cannot_do(project, args, message):
    with pytest.raises(CommandError, match=re.escape(message)):
        call_command("recompute", *args, stdout=io.StringIO())
