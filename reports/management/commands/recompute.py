"""python manage.py recompute SLUG [--service NAME] [--since 2026-W40] [--until 2026-W47]

Recomputes a project's service-weeks that have runs (all of them, or one service's, or a range of
weeks), oldest first, with the project's current settings: after a settings change, to apply the
new thresholds to past weeks. Each row then records the parameters it was computed with. Findings
new under the new settings are alerted as they would be from an upload.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ingest.models import Project, Service
from ingest.weeks import parse_week, week_label
from reports.services import project_recompute


class Command(BaseCommand):
    help = "Recompute a project's weekly metrics and findings with its current settings."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--service", default=None, help="Only this service.")
        parser.add_argument("--since", metavar="WEEK", help="First week, e.g. 2026-W40.")
        parser.add_argument("--until", metavar="WEEK", help="Last week, e.g. 2026-W47.")

    def handle(self, *args: Any, **options: Any) -> None:
        project = Project.objects.filter(slug=options["slug"]).first()
        if project is None:
            raise CommandError(f"no project {options['slug']!r}")
        service = None
        if options["service"] is not None:
            service = Service.objects.filter(project=project, name=options["service"]).first()
            if service is None:
                raise CommandError(f"no service {options['service']!r} in {project.slug}")
        since, until = _week(options["since"], "--since"), _week(options["until"], "--until")
        if since and until and since > until:
            raise CommandError(f"--since {week_label(since)} is after --until {week_label(until)}")

        started = time.monotonic()

        def progress(svc: Service, week: dt.date) -> None:
            self.stdout.write(f"  {week_label(week)}  {svc.name}")

        done = project_recompute(
            project_id=project.pk, service_id=service.pk if service else None,
            since=since, until=until, progress=progress,
        )  # fmt: skip
        self.stdout.write(
            f"recomputed {done} service-week{'s' if done != 1 else ''} of {project.slug} "
            f"in {time.monotonic() - started:.1f}s"
        )


def _week(label: str | None, option: str) -> dt.date | None:
    if label is None:
        return None
    try:
        return parse_week(label)
    except ValueError as exc:
        raise CommandError(f"{option}: {exc}") from None
