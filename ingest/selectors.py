"""Read operations of the ingest app. Lookups are scoped: another project's run is "not found"."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404
from django.utils.module_loading import import_string

from ingest.models import Project, Run, RunFile, ServiceRule


def run_get(*, project: Project, run_id: int) -> Run:
    run = Run.objects.filter(project=project, pk=run_id).first()
    if run is None:
        raise Http404("no such run in this project")
    return run


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
