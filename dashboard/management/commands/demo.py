"""python manage.py demo: a demo project with several weeks of simulated CI history and a login.

Idempotent: the history is uploaded once; every call prints the login and a fresh ingest key.
The history comes from the CI simulator in tests/simulation (the same one the metric tests hold
to precision and recall), uploaded through the same service the upload API calls.
"""

from __future__ import annotations

import io
import time
from typing import TYPE_CHECKING, Any, BinaryIO

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from ingest.models import Project, Run
from ingest.services import UploadMeta, project_create, run_create, token_create
from ingest.signals import run_parsed
from reports.models import ProjectSettings
from reports.receivers import mark_touched_service_weeks
from reports.services import project_recompute

if TYPE_CHECKING:
    from django.contrib.auth.models import User

SLUG = "mediaserver"
USERNAME = "demo"
PASSWORD = "demo"
BUDGETS = [{"budget_ms": 1000, "file_glob": "tests/*"}]


class Command(BaseCommand):
    help = "Create the demo project (simulated CI history) and print a login and an ingest key."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--seed", type=int, default=2026)
        parser.add_argument("--weeks", type=int, default=7, help="Weeks of history (default 7).")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError(
                f"the demo makes a superuser {USERNAME}/{PASSWORD} that anyone could guess: "
                "run it only on a trial instance, with DEBUG=true"
            )
        project = Project.objects.filter(slug=SLUG).first()
        if project is None:
            project = project_create(slug=SLUG, name="Media server backend")
        user = _demo_user()
        project.members.add(user)
        if not Run.objects.filter(project=project).exists():
            # A duration budget, so the pages and reports show what a violation looks like.
            ProjectSettings.objects.update_or_create(project=project, defaults={"budgets": BUDGETS})
            # One recompute per service-week at the end instead of one per uploaded run.
            run_parsed.disconnect(dispatch_uid="reports.run_parsed")
            try:
                self._upload_history(project, seed=options["seed"], weeks=options["weeks"])
            finally:
                run_parsed.connect(mark_touched_service_weeks, dispatch_uid="reports.run_parsed")
            started = time.monotonic()
            computed = project_recompute(project_id=project.pk)
            self.stdout.write(
                f"  computed {computed} service-weeks in {time.monotonic() - started:.0f}s"
            )
        _, key = token_create(project=project, name="demo")
        url = settings.SITE_URL
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"Suitehealth demo is ready at {url}/"))
        self.stdout.write(f"  login:      {USERNAME} / {PASSWORD}")
        self.stdout.write(f"  project:    {SLUG}")
        self.stdout.write(f"  API docs:   {url}/api/docs/")
        self.stdout.write(f"  ingest key: {key}")
        self.stdout.write("")

    def _upload_history(self, project: Project, *, seed: int, weeks: int) -> None:
        from tests.simulation import SimConfig, Simulator

        config = SimConfig.demo(now=timezone.now(), seed=seed, weeks=weeks)
        started = time.monotonic()
        self.stdout.write(f"Uploading {weeks} weeks of simulated CI history for {SLUG!r}…")
        count = 0
        for run in Simulator(config).runs():
            meta = UploadMeta.from_fields(run.form_fields())
            files: list[tuple[str, BinaryIO]] = [
                (name, io.BytesIO(content)) for name, content in run.files
            ]
            run_create(project=project, meta=meta, files=files)
            count += 1
            if count % 100 == 0:
                self.stdout.write(f"  {count} runs uploaded ({time.monotonic() - started:.0f}s)")
        self.stdout.write(f"  {count} runs uploaded in {time.monotonic() - started:.0f}s")


def _demo_user() -> User:
    user_model = get_user_model()
    user = user_model.objects.filter(username=USERNAME).first()
    if user is None:
        user = user_model.objects.create_superuser(USERNAME, "demo@example.com", PASSWORD)
    return user
