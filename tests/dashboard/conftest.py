"""Data for the page tests: simulated CI histories uploaded in-process, as the demo command does.

The histories are loaded once for the whole tests/dashboard package and committed, so that the
view tests (each inside its own rolled-back transaction) and the browser tests (a live server
thread with its own connection) read the same rows; they are deleted at the end. No test in
this package may flush the database (transactional_db, pytest-django's live_server): the browser
tests run their own server thread instead.
"""

from __future__ import annotations

import io
import os
import uuid
from dataclasses import dataclass, replace

import pytest

from tests.simulation import SimConfig, simulate
from tests.simulation.model import media_services

PASSWORD = "correct-horse-battery"
SLUGS = ("mediaserver", "newcomer", "billing")


@dataclass
class Dataset:
    """Three projects: `sim` with four weeks of five services, `one` with one week of one
    service, and `other`, another team's project. `member` belongs to sim and one, `outsider`
    to other only."""

    sim: object
    one: object
    other: object
    member: object
    outsider: object
    sim_runs: int
    one_runs: int


def load_history(*, project, config: SimConfig) -> int:
    """Upload `config`'s history to `project` through ingest.services.run_create, parsing each
    run in-process as it commits, then compute every service-week once. Needs committed database
    access (run_create parses on commit). Returns the number of runs."""
    from dashboard.celery import app
    from ingest.services import UploadMeta, run_create
    from ingest.signals import run_parsed
    from reports.receivers import mark_touched_service_weeks
    from reports.services import project_recompute

    history = simulate(config)
    eager = app.conf.task_always_eager
    # Parse each run in this process right after its upload commits (embedded mode), and compute
    # each service-week once at the end rather than after every run (as `manage.py demo` does).
    app.conf.task_always_eager = True
    run_parsed.disconnect(dispatch_uid="reports.run_parsed")
    try:
        for run in history.runs:
            meta = UploadMeta.from_fields(run.form_fields())
            run_create(project=project, meta=meta, files=[(n, io.BytesIO(c)) for n, c in run.files])
        project_recompute(project_id=project.pk)
    finally:
        run_parsed.connect(mark_touched_service_weeks, dispatch_uid="reports.run_parsed")
        app.conf.task_always_eager = eager
    return len(history.runs)


def drop_projects(*slugs: str) -> None:
    """Delete the projects and everything under them. Results carry no foreign key constraint,
    so they are deleted by run id first; tests before services (Test.service is PROTECT)."""
    from django.contrib.auth import get_user_model

    from ingest.models import Project, Result, Run, Test

    projects = list(Project.objects.filter(slug__in=slugs))
    run_ids = list(Run.objects.filter(project__in=projects).values_list("pk", flat=True))
    for i in range(0, len(run_ids), 500):
        Result.objects.filter(run_id__in=run_ids[i : i + 500]).delete()
    Test.objects.filter(project__in=projects).delete()
    for project in projects:
        project.delete()
    get_user_model().objects.filter(username__in=["member", "outsider", "root"]).delete()


def sim_config(weeks: int, services: tuple[str, ...] | None = None) -> SimConfig:
    """The simulator's test profile, lighter: fewer commits a day keep the package under a
    minute while every kind of finding still appears."""
    specs = media_services()
    if services is not None:
        specs = tuple(s for s in specs if s.name in services)
    return replace(
        SimConfig.test(seed=0, weeks=weeks),
        services=specs,
        commits_per_weekday=2.0,
        feature_branches_per_week=1.0,
    )


@pytest.fixture(scope="package")
def dataset(django_db_setup, django_db_blocker):
    from django.contrib.auth import get_user_model

    from ingest.models import Project
    from ingest.services import project_create
    from reports.models import ProjectSettings

    users = get_user_model().objects
    # SUITEHEALTH_KEEP_PAGE_DATA=1 with --reuse-db keeps the loaded projects between sessions:
    # a quick loop while working on the pages. By default they are loaded and deleted each time.
    keep = os.environ.get("SUITEHEALTH_KEEP_PAGE_DATA") == "1"
    with django_db_blocker.unblock():
        if keep and Project.objects.filter(slug__in=SLUGS).count() == len(SLUGS):
            projects = {p.slug: p for p in Project.objects.filter(slug__in=SLUGS)}
            yield Dataset(
                projects["mediaserver"], projects["newcomer"], projects["billing"],
                users.get(username="member"), users.get(username="outsider"),
                projects["mediaserver"].runs.count(), projects["newcomer"].runs.count(),
            )  # fmt: skip
            return
        drop_projects(*SLUGS)  # left by a session that was killed before its teardown
        try:
            member = users.create_user("member", "member@example.com", PASSWORD)
            outsider = users.create_user("outsider", "outsider@example.com", PASSWORD)
            users.create_superuser("root", "root@example.com", PASSWORD)
            sim = project_create(slug="mediaserver", name="Media server backend")
            one = project_create(slug="newcomer", name="Newcomer")
            other = project_create(slug="billing", name="Billing")
            sim.members.add(member)
            one.members.add(member)
            other.members.add(outsider)
            # A budget that the slowest cache tests exceed, so budget violations appear.
            ProjectSettings.objects.create(
                project=sim, budgets=[{"budget_ms": 250, "file_glob": "tests/cache/*"}]
            )
            sim_runs = load_history(project=sim, config=sim_config(weeks=4))
            one_runs = load_history(project=one, config=sim_config(weeks=1, services=("cache",)))
            load_history(project=other, config=sim_config(weeks=1, services=("jwt",)))
            yield Dataset(sim, one, other, member, outsider, sim_runs, one_runs)
        finally:
            if not keep:
                drop_projects(*SLUGS)


def alert_ledger(
    project, *, subscriptions: int = 1, deliveries: int, pending: bool = False,
    target: str = "team{}@example.com", skip: int = 0, kind: str | None = None,
    service: str | None = None,
) -> list:  # fmt: skip
    """Subscriptions, and delivery ledger rows about the project's findings (of `kind` in
    `service` if given, from the `skip`-th on) as the alert pipeline writes them: all pending
    (to send), or every other one failed and the rest sent."""
    from django.utils import timezone

    from reports.models import AlertDelivery, Finding
    from reports.subscriptions import subscription_create

    subs = [
        subscription_create(project=project, target=target.format(i))[0]
        for i in range(subscriptions)
    ]
    findings = Finding.objects.filter(project=project).order_by("id")
    if kind:
        findings = findings.filter(kind=kind)
    if service:
        findings = findings.filter(service__name=service)
    findings = list(findings[skip : skip + deliveries])
    assert len(findings) == deliveries, "the history has enough findings"
    now = timezone.now()
    return AlertDelivery.objects.bulk_create(
        AlertDelivery(
            subscription=subs[i % subscriptions], finding=f, finding_key=f.key,
            transition=f"open:{f.first_run_id or 0}", kind=f.kind, service_id=f.service_id,
            test_id=f.test_id, related_test_id=f.related_test_id, event_at=now,
            batch=uuid.uuid4(), **_ledger_state(i, pending, now),
        )
        for i, f in enumerate(findings)
    )  # fmt: skip


def _ledger_state(i: int, pending: bool, now) -> dict[str, object]:
    if pending:
        return {"status": "pending"}
    if i % 2:
        return {"status": "failed", "attempts": 1, "retryable": True,
                "error": "SMTPDataError: 554 5.7.1 message refused"}  # fmt: skip
    return {"status": "sent", "attempts": 1, "sent_at": now}
