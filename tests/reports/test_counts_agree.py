"""The same figure on the service page, the project page, the findings list they link to and
the weekly report, for a test flaky at a week's end that did not run that week."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest

from ingest.services import UploadMeta, run_create, run_parse
from reports.services import project_recompute
from reports.weekly import weekly_report_build

MONDAY = dt.datetime(2026, 9, 7, 3, 0, tzinfo=dt.UTC)  # 2026-W37


def _upload(project, i: int, started: dt.datetime, test_f: str) -> None:
    attempts = {
        "retried": '<testcase classname="tests.test_app" name="test_f" time="0.01">'
        '<failure message="boom">tb</failure></testcase>'
        '<testcase classname="tests.test_app" name="test_f" time="0.01"/>',
        "passed": '<testcase classname="tests.test_app" name="test_f" time="0.01"/>',
        "skipped": '<testcase classname="tests.test_app" name="test_f" time="0.01">'
        '<skipped message="not today"/></testcase>',
    }[test_f]
    data = (
        f'<testsuite name="pytest">{attempts}'
        '<testcase classname="tests.test_app" name="test_ok" time="0.01"/></testsuite>'
    ).encode()
    meta = UploadMeta(commit=f"{i:040x}", branch="main", build_id=str(i), job="test", service="api",
                      started_at=started)  # fmt: skip
    run_parse(
        run_id=run_create(project=project, meta=meta, files=[("r.xml", io.BytesIO(data))]).run.pk
    )


@pytest.mark.django_db
def test_a_test_flaky_at_the_weeks_end_counts_alike_everywhere(
    project, client, django_user_model
) -> None:
    # 2026-W37: test_f passes on retry once. 2026-W38: it is only skipped, still flaky.
    for day in range(4):
        _upload(project, day, MONDAY + dt.timedelta(days=day), "retried" if day == 1 else "passed")
        _upload(project, 10 + day, MONDAY + dt.timedelta(days=7 + day), "skipped")
    project_recompute(project_id=project.pk)
    client.force_login(django_user_model.objects.create_superuser("admin", "a@example.com", "pw"))

    week = "2026-W38"
    page = client.get(f"/p/{project.slug}/s/api/?week={week}")
    card = int(re.search(r'Flaky tests</span><span class="kpi-value">(\d+)', page.text).group(1))
    listed = client.get(f"/p/{project.slug}/?kind=flaky&service=api&week={week}")
    tests = {r.finding.test.name for r in listed.context["finding_rows"]}
    [row] = client.get(f"/p/{project.slug}/?week={week}").context["table"]
    [report_row] = weekly_report_build(project=project, week=dt.date(2026, 9, 14)).services
    assert tests == {"test_f"}
    assert card == len(tests) == row["counts"]["flaky"] == report_row.flaky["flaky"]
    # The isolation score's component counts the flaky tests that ran: none of the one run.
    assert "0 of the 1 run this week" in page.text
