"""A report being made while a recompute marks it stale stays stale (real threads, no mocks)."""

from __future__ import annotations

import datetime as dt
import threading
import time

from django.db import connections


def test_a_mark_made_while_a_report_is_being_made_is_kept(transactional_db) -> None:
    from ingest.services import project_create
    from reports.models import Report
    from reports.report_services import report_generate, reports_mark_stale
    from reports.services import project_recompute
    from tests.reports.test_weekly_report import _upload_twice_daily

    project = project_create(slug="racing", name="Racing")
    week = dt.date(2026, 11, 2)
    start = dt.datetime.combine(week, dt.time(9), tzinfo=dt.UTC)
    for n in range(6):
        _upload_twice_daily(project, start, n, '<testcase classname="m" name="t"/>')
    project_recompute(project_id=project.pk)
    row = report_generate(project=project, week=week, fmt="pdf")  # the browser is warm now
    reports_mark_stale(project_id=project.pk, weeks={week})

    done = threading.Event()

    def make() -> None:
        try:
            report_generate(project=project, week=week, fmt="pdf")
        finally:
            connections.close_all()
            done.set()

    thread = threading.Thread(target=make)
    thread.start()
    time.sleep(0.3)  # it has read the mark and is drawing the charts
    assert not done.is_set(), "the PDF was made too fast to race with"
    reports_mark_stale(project_id=project.pk, weeks={week})  # a recompute commits meanwhile
    thread.join(120)
    row = Report.objects.get(pk=row.pk)
    assert row.stale, "the new mark was cleared by a report made from the data before it"
    report_generate(project=project, week=week, fmt="pdf")
    assert not Report.objects.get(pk=row.pk).stale
