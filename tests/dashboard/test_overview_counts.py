"""The overview's figures agree with the lists they link to and with the weekly report."""

from __future__ import annotations

import io
import re

import pytest
from django.contrib.auth import get_user_model

from ingest.services import UploadMeta, project_create, run_create, run_parse
from reports.models import ServiceWeek
from reports.services import project_recompute
from reports.weekly import weekly_report_build

XML = b"""<?xml version="1.0"?><testsuites><testsuite name="pytest" timestamp="2026-11-02T10:00:00Z">
<testcase classname="tests.api.test_a" name="test_1" file="tests/api/test_a.py" time="0.1"/>
<testcase classname="tests.web.test_b" name="test_2" file="tests/web/test_b.py" time="0.1"/>
</testsuite></testsuites>"""


@pytest.mark.django_db
def test_one_upload_holding_two_services_is_one_run_on_the_overview(client) -> None:
    project = project_create(
        slug="shop", service_rules=[("api", "tests/api/*"), ("web", "tests/web/*")]
    )
    for build in ("1", "2"):
        meta = UploadMeta(commit="a" * 40, branch="main", build_id=build)
        files = [("r.xml", io.BytesIO(XML.replace(b"test_1", f"test_1_{build}".encode())))]
        run_parse(run_id=run_create(project=project, meta=meta, files=files).run.pk)
    project_recompute(project_id=project.pk)
    rows = ServiceWeek.objects.filter(project=project).values_list("service__name", "runs")
    assert sorted(rows) == [("api", 2), ("web", 2)]
    week = ServiceWeek.objects.filter(project=project).first().week
    report = weekly_report_build(project=project, week=week)

    client.force_login(
        get_user_model().objects.create_superuser("overview-reader", "r@x.org", "pw")
    )
    html = client.get("/").content.decode()
    link, shown = re.search(r'href="(/p/shop/runs/\?week=[^"]+)">(\d+)</a>', html).groups()
    listed = client.get(link.replace("&amp;", "&")).context["runs"].paginator.count
    assert int(shown) == listed == report.coverage.runs == 2
