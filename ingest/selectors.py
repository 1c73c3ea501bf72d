"""Read operations of the ingest app. Lookups are scoped: another project's run is "not found"."""

from __future__ import annotations

from typing import cast

from django.conf import settings
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404
from django.utils.module_loading import import_string

from ingest.models import Project, Result, Run, RunFile, ServiceRule


def run_get(*, project: Project, run_id: int) -> Run:
    run = Run.objects.filter(project=project, pk=run_id).first()
    if run is None:
        raise Http404("no such run in this project")
    return run


def runs_of_service(runs: QuerySet[Run], *, project: Project, service: str) -> QuerySet[Run]:
    """These runs of the project that belong to a service: its upload named the service, or it
    named none and holds a result of one of the service's tests (an index probe per run)."""
    named = Q(service=service)
    # Probing each run's results is needed only for runs whose upload named no service: most
    # projects have none, and then the (project, service, started_at) index serves the list and
    # its count alone (the probe would otherwise be planned over every partition).
    if Run.objects.filter(project=project, service="").exists():
        holds = Result.objects.filter(
            run_id=OuterRef("pk"), run_week=OuterRef("week"), test__service__name=service,
            test__project=project,
        )  # fmt: skip
        # Q & a conditional expression is a Q; the stubs only know Q & Q.
        named |= cast(Q, Q(service="") & Exists(holds))
    return runs.filter(named)


def run_files(*, run: Run) -> list[RunFile]:
    return list(run.files.only("id", "index", "name", "format", "size", "digest").order_by("index"))


def runs_pending_count(project: Project) -> int:
    return Run.objects.filter(
        project=project, status__in=[Run.Status.RECEIVED, Run.Status.PARSING]
    ).count()


def project_pending_count(*, project: Project) -> int:
    """Uploads (and, once reports registers its counter, recomputations) not yet done."""
    return sum(import_string(path)(project) for path in settings.SUITEHEALTH_PENDING_COUNTERS)


def service_rule_list(*, project: Project) -> list[ServiceRule]:
    """The project's service rules in the order they are tried."""
    rules = ServiceRule.objects.filter(project=project).select_related("service")
    return list(rules.order_by("order", "id"))
