"""python manage.py weekly_report SLUG --week 2026-W45 --format md|pdf -o FILE [--service NAME]:
render a project's weekly status report (and store it, as the Reports page lists it)."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ingest.models import Project, Service
from ingest.weeks import parse_week, week_start
from reports.report_services import report_generate
from reports.weekly import ReportNotFound


class Command(BaseCommand):
    help = "Write a project's weekly report (Markdown or PDF) for an ISO week."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--week", help="ISO week, e.g. 2026-W45 (default: last week)")
        parser.add_argument("--format", choices=["md", "pdf"], default="md")
        parser.add_argument("--service", help="One service's report")
        parser.add_argument("-o", "--output", help="File to write (default: standard output)")

    def handle(self, *args: Any, **options: Any) -> None:
        import datetime as dt

        from django.utils import timezone

        project = Project.objects.filter(slug=options["slug"]).first()
        if project is None:
            raise CommandError(f"no project {options['slug']!r}")
        if options["week"]:
            try:
                week = parse_week(options["week"])
            except ValueError as exc:
                raise CommandError(str(exc)) from None
        else:
            week = week_start(timezone.now()) - dt.timedelta(weeks=1)
        service = None
        if options["service"]:
            service = Service.objects.filter(project=project, name=options["service"]).first()
            if service is None:
                raise CommandError(f"no service {options['service']!r} in {project.slug}")
        fmt = options["format"]
        if fmt == "pdf" and not options["output"]:
            raise CommandError("a PDF needs -o FILE")
        try:
            row = report_generate(project=project, week=week, fmt=fmt, service=service)
        except ReportNotFound as exc:
            raise CommandError(str(exc)) from None
        content = bytes(row.content)
        if options["output"]:
            with open(options["output"], "wb") as fh:
                fh.write(content)
            self.stderr.write(f"wrote {options['output']} ({len(content):,} bytes)")
        else:
            sys.stdout.buffer.write(content)
            sys.stdout.flush()
