"""Write operations of the pages that no other app owns: a project's metric settings."""

from __future__ import annotations

from django.db import transaction

from ingest.models import Project
from reports.models import ProjectSettings


def project_metric_settings_update(
    *,
    project: Project,
    reference_branch: str,
    params: dict[str, object],
    budgets: list[dict[str, object]],
) -> ProjectSettings:
    """Set the project's reference branch, threshold overrides and duration budgets.

    Only service-weeks computed afterwards use them: each computed row keeps the parameters it
    was computed with, so history is never rewritten silently. Idempotent (plain replacement).
    """
    with transaction.atomic():
        if project.default_branch != reference_branch:
            project.default_branch = reference_branch
            project.full_clean(validate_unique=False)
            project.save(update_fields=["default_branch"])
        row, _ = ProjectSettings.objects.select_for_update().get_or_create(project=project)
        # The reference branch lives on the project; an override here would shadow it.
        row.params = {k: v for k, v in params.items() if k != "reference_branch"}
        row.budgets = budgets
        row.full_clean()
        row.save()
    return row
