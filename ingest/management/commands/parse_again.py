"""python manage.py parse_again RUN_ID [RUN_ID ...]

Parses failed runs again from their stored files: after a transient trouble used up their
attempts (`gave_up`), or once the parser reads what it refused.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandParser

from ingest.models import Run
from ingest.services import runs_parse_again


class Command(BaseCommand):
    help = "Parse failed runs again from their stored files."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("run_ids", nargs="+", type=int, metavar="RUN_ID")

    def handle(self, *args: object, run_ids: list[int], **options: object) -> None:
        queued = runs_parse_again(run_ids=run_ids)
        states = dict(Run.objects.filter(pk__in=run_ids).values_list("pk", "status"))
        for run_id in run_ids:
            if run_id in queued:
                self.stdout.write(f"run {run_id}: queued for parsing again")
            elif run_id in states:
                self.stdout.write(f"run {run_id}: {states[run_id]}, not failed: left alone")
            else:
                self.stderr.write(f"run {run_id}: no such run")
