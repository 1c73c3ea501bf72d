"""python manage.py create_project SLUG [--name N] [--service-rule SERVICE=GLOB ...]

Prints the new project's ingest key as its last line (it is not stored and cannot be shown again).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ingest.models import CONTROL_CHARACTERS
from ingest.services import project_create, token_create


def _rule(text: str) -> tuple[str, str]:
    service, sep, glob = text.partition("=")
    if not sep or not service.strip() or not glob.strip():
        raise CommandError(
            f"--service-rule {text!r}: expected SERVICE=GLOB, e.g. cache=tests/cache/*"
        )
    if CONTROL_CHARACTERS.search(service):
        raise CommandError(f"--service-rule {text!r}: a service name holds no control characters")
    return service.strip(), glob.strip()


class Command(BaseCommand):
    help = "Create a project (with optional service rules) and print a new ingest key."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--name", default="", help="Display name (defaults to the slug).")
        parser.add_argument(
            "--service-rule",
            action="extend",
            nargs="+",
            default=[],
            metavar="SERVICE=GLOB",
            help="Map tests whose file (or classname) matches GLOB to SERVICE; first match wins "
            "(--service-rule a=x/* b=y/*, or --service-rule repeated).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        rules = [_rule(text) for text in options["service_rule"]]
        try:
            project = project_create(
                slug=options["slug"], name=options["name"], service_rules=rules
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        except Exception as exc:  # ValidationError from full_clean: show the field messages
            messages = getattr(exc, "message_dict", None)
            if messages:
                raise CommandError(f"invalid project: {messages}") from None
            raise
        _, key = token_create(project=project, name="created with the project")
        self.stdout.write(f"Created project {project.slug!r} ({project.name}).")
        for service, glob in rules:
            self.stdout.write(f"  service rule: {glob} -> {service}")
        self.stdout.write("Ingest key (shown once; keep it in your CI secrets):")
        self.stdout.write(key)
