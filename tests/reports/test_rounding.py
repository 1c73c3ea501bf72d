"""A rate short of 100% is never written as 100%, on the pages or in the weekly report; durations
carry over whole minutes."""

from __future__ import annotations

import io

import pytest

from dashboard.templatetags import pages
from ingest.services import UploadMeta, run_create, run_parse
from reports import weekly
from reports.models import ServiceWeek
from reports.render import weekly_report_markdown
from reports.services import project_recompute
from reports.weekly import weekly_report_build
from tests.resultfiles import junit_xml


@pytest.mark.parametrize(
    ("rate", "report", "page"),
    [(0.9996, "99.9%", "99.9%"), (1.0, "100.0%", "100.0%"), (0.95749, "95.7%", "95.7%"),
     (0.99949, "99.9%", "99.9%"), (0.0, "0.0%", "0.0%")],
)  # fmt: skip
def test_a_rate_short_of_100_is_not_written_100(rate, report, page) -> None:
    assert weekly.pct(rate) == report
    assert pages.pct(rate) == page
    assert weekly.pct(rate * 100, scale=1) == report  # a 0..100 score
    assert pages.score(rate * 100) == page.rstrip("%")


@pytest.mark.parametrize(
    ("value", "text"),
    [(119_600, "2 min 0 s"), (95_000, "1 min 35 s"), (60_000, "1 min 0 s"), (59_990, "59.99 s")],
)
def test_durations_carry_whole_minutes(value, text) -> None:
    assert pages.ms(value) == text
    assert weekly.ms(value) == text


@pytest.mark.django_db
def test_the_report_of_a_week_with_one_failure_in_2500_does_not_say_100(project) -> None:
    meta = UploadMeta(commit="a" * 40, branch="main", build_id="1", service="api")
    files = [("r.xml", io.BytesIO(junit_xml(2500, failed={7})))]
    run_parse(run_id=run_create(project=project, meta=meta, files=files).run.pk)
    project_recompute(project_id=project.pk)
    sw = ServiceWeek.objects.get(project=project)
    assert sw.pass_rate == pytest.approx(2499 / 2500)
    markdown = weekly_report_markdown(weekly_report_build(project=project, week=sw.week))
    [row] = [line for line in markdown.splitlines() if line.startswith("| [api]")]
    # Pass rate and final pass rate (the run itself is clean: its isolation is 100%).
    assert row.count("[99.9%]") == 2, row
