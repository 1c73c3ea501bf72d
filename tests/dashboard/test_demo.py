"""`manage.py demo`, what `make run` shows first: a project with every kind of finding to look at."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command


@pytest.fixture
def in_process_tasks(transactional_db):
    """Tasks run in-process once their transaction commits, as in embedded mode (`make run`)."""
    from dashboard.celery import app

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        yield
    finally:
        app.conf.task_always_eager = eager


def test_the_demo_has_data_a_login_and_a_budget_to_break(in_process_tasks, settings) -> None:
    from ingest.models import Project
    from reports.models import Finding, ProjectSettings

    settings.DEBUG = True  # as under make run (pytest turns it off)
    out = io.StringIO()
    call_command("demo", weeks=2, stdout=out)
    text = out.getvalue()
    assert "login:      demo / demo" in text
    assert text.strip().splitlines()[-1].strip().startswith("ingest key: shk_")
    project = Project.objects.get(slug="mediaserver")
    assert ProjectSettings.objects.get(project=project).budgets
    kinds = set(Finding.objects.filter(project=project).values_list("kind", flat=True))
    assert {"budget_violation", "flaky", "regression"} <= kinds, kinds
    # Run again: the history is not uploaded twice, a new key is printed.
    runs = project.runs.count()
    call_command("demo", weeks=2, stdout=io.StringIO())
    assert project.runs.count() == runs


def test_the_demo_login_is_refused_where_debug_is_off(db, settings) -> None:
    from django.contrib.auth import get_user_model
    from django.core.management.base import CommandError

    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG=true"):
        call_command("demo", weeks=1, stdout=io.StringIO())
    assert not get_user_model().objects.filter(username="demo").exists()
