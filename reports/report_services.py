"""Write operations of the weekly reports: generate and store them, the Monday run over every
project, and regeneration when late data changes a week that already has a report."""

from __future__ import annotations

import datetime as dt
import logging
import zlib

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from ingest.models import Project, Service
from ingest.queueing import enqueue_on_commit
from ingest.weeks import week_start
from reports.models import Report, ServiceWeek
from reports.render import weekly_report_markdown
from reports.weekly import weekly_report_build

log = logging.getLogger(__name__)

FORMATS = (Report.Format.MARKDOWN, Report.Format.PDF)


def report_content(
    *, project: Project, week: dt.date, fmt: str, service: Service | None = None,
    page_size: str | None = None,
) -> bytes:  # fmt: skip
    """The report's bytes, freshly rendered (raises reports.weekly.ReportNotFound without data)."""
    if fmt not in Report.CONTENT_TYPES:
        raise ValueError(f"format must be one of {', '.join(Report.CONTENT_TYPES)}, not {fmt!r}")
    report = weekly_report_build(project=project, week=week, service=service)
    if fmt == Report.Format.MARKDOWN:
        return weekly_report_markdown(report).encode()
    from reports.pdf import weekly_report_pdf

    return weekly_report_pdf(report, page_size=page_size)


def report_generate(
    *, project: Project, week: dt.date, fmt: str, service: Service | None = None
) -> Report:
    """Render and store the report (replacing the stored one): one row per project, service or
    all, week and format. A stored row's stale mark is cleared only if no recompute marked it
    again while this one was being made (its regeneration, queued after its commit, would
    otherwise find the report up to date)."""
    key = {"project": project, "service": service, "week": week, "format": fmt}
    marked = Report.objects.filter(**key).values_list("stale_since", flat=True).first()
    content = report_content(project=project, week=week, fmt=fmt, service=service)
    values = {"content": content, "generated_at": timezone.now()}
    fresh = {**values, "stale": False, "stale_since": None}
    for _ in range(2):
        try:
            with transaction.atomic():
                if Report.objects.filter(**key, stale_since=marked).update(**fresh):
                    return Report.objects.get(**key)
                if Report.objects.filter(**key).update(**values):  # marked meanwhile: stays so
                    return Report.objects.get(**key)
                return Report.objects.create(**key, **fresh)
        except IntegrityError:  # created concurrently: the second pass updates it
            continue
    raise RuntimeError("could not store the report")  # pragma: no cover


def report_get_or_generate(
    *, project: Project, week: dt.date, fmt: str, service: Service | None = None
) -> Report:
    """The stored report when it is up to date, else a new one."""
    row = Report.objects.filter(
        Report.up_to_date(week), project=project, service=service, week=week, format=fmt
    ).first()
    return row or report_generate(project=project, week=week, fmt=fmt, service=service)


def _lock(key: str) -> None:
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", [zlib.crc32(key.encode())])


def project_week_reports_ensure(*, project: Project, week: dt.date) -> int:
    """Make the project's Markdown and PDF reports of the week, unless they exist and are up to
    date. Serialized per project and week (PostgreSQL advisory lock), so two runs at once make
    them once. Returns how many were generated."""
    made = 0
    with transaction.atomic():
        _lock(f"report:{project.pk}:{week.isoformat()}")
        fresh = set(
            Report.objects.filter(
                Report.up_to_date(week), project=project, service=None, week=week
            ).values_list("format", flat=True)
        )
        for fmt in FORMATS:
            if fmt in fresh:
                continue
            report_generate(project=project, week=week, fmt=fmt)
            made += 1
    return made


def weekly_reports_generate(*, week: dt.date | None = None) -> int:
    """The Monday run: every project with computed metrics for `week` (default: the week before
    the current one) gets its reports, once. Returns how many reports were generated."""
    if week is None:
        week = week_start(timezone.now()) - dt.timedelta(weeks=1)
    project_ids = (
        ServiceWeek.objects.filter(week=week, computed__gt=0)
        .values_list("project_id", flat=True)
        .distinct()
    )
    made = 0
    for project in Project.objects.filter(pk__in=list(project_ids)).order_by("slug"):
        try:
            made += project_week_reports_ensure(project=project, week=week)
        except Exception:  # one project's failure does not stop the others
            log.exception("weekly report of %s for %s failed", project.slug, week)
    return made


def reports_mark_stale(*, project_id: int, weeks: set[dt.date]) -> None:
    """A recompute changed what the reports of these weeks show (its own week, the week after,
    which compares with it, and the weeks of the findings it changed): they are marked stale and
    regenerated after commit."""
    from reports.tasks import report_regenerate

    stale = Report.objects.filter(project_id=project_id, week__in=weeks)
    if not stale.update(stale=True, stale_since=timezone.now()):
        return
    weeks = set(stale.values_list("week", flat=True).distinct())  # those with reports
    delay = settings.SUITEHEALTH_RECOMPUTE_DELAY_SECONDS
    for w in sorted(weeks):
        enqueue_on_commit(
            report_regenerate, project_id, w.isoformat(), countdown=delay,
            swept_by="reports.report_sweep_stale",
        )  # fmt: skip


def reports_regenerate_stale(*, project_id: int, week: dt.date) -> int:
    """Regenerate the week's stale reports (none left: nothing to do)."""
    made = 0
    for row in Report.objects.filter(project_id=project_id, week=week, stale=True).select_related(
        "project", "service"
    ):
        with transaction.atomic():
            _lock(f"report:{project_id}:{week.isoformat()}")
            if not Report.objects.filter(pk=row.pk, stale=True).exists():
                continue
            report_generate(project=row.project, week=week, fmt=row.format, service=row.service)
            made += 1
    return made


def reports_sweep_stale(*, older_than_seconds: int = 300) -> int:
    """Re-enqueue the regeneration of reports stale for longer than the threshold (a lost
    message, a killed worker). Safe to run twice: regeneration skips reports no longer stale."""
    from reports.tasks import report_regenerate

    cutoff = timezone.now() - dt.timedelta(seconds=older_than_seconds)
    weeks = sorted(set(
        Report.objects.filter(stale=True, stale_since__lte=cutoff).values_list("project_id", "week")
    ))  # fmt: skip
    for project_id, week in weeks:
        report_regenerate.delay(project_id, week.isoformat())
    return len(weeks)
