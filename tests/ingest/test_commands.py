from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from ingest.models import IngestToken, Project, ServiceRule

pytestmark = pytest.mark.django_db


def test_it_creates_a_project_with_rules_and_prints_a_working_key() -> None:
    out = io.StringIO()
    call_command(
        "create_project", "media", "--name", "Media server",
        "--service-rule", "cache=tests/cache/*", "--service-rule", "plex=tests/plex/*",
        stdout=out,
    )  # fmt: skip
    key = out.getvalue().strip().splitlines()[-1]
    project = Project.objects.get(slug="media")
    assert project.name == "Media server"
    token = IngestToken.objects.get(project=project)
    assert token.key_hash == IngestToken.hash_key(key)
    assert key not in token.key_hash
    rules = list(
        ServiceRule.objects.filter(project=project).values_list("service__name", "pattern")
    )
    assert rules == [("cache", "tests/cache/*"), ("plex", "tests/plex/*")]


def test_rules_can_follow_one_option_as_in_design() -> None:
    call_command(
        "create_project", "media", "--service-rule", "cache=tests/cache/*", "plex=tests/plex/*",
        stdout=io.StringIO(),
    )  # fmt: skip
    rules = list(ServiceRule.objects.values_list("service__name", "pattern"))
    assert rules == [("cache", "tests/cache/*"), ("plex", "tests/plex/*")]


def test_it_refuses_a_taken_slug_and_a_malformed_rule() -> None:
    call_command("create_project", "media", stdout=io.StringIO())
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_project", "media", stdout=io.StringIO())
    with pytest.raises(CommandError, match="SERVICE=GLOB"):
        call_command("create_project", "other", "--service-rule", "nonsense", stdout=io.StringIO())
    assert Project.objects.count() == 1


def test_parse_again_brings_back_a_run_whose_attempts_ran_out(
    project, settings, django_capture_on_commit_callbacks
) -> None:
    from ingest.models import Result, Run
    from ingest.queueing import QueueCall
    from ingest.services import UploadMeta, run_create, run_parse
    from tests.resultfiles import junit_xml

    meta = UploadMeta(commit="c" * 40, branch="main", build_id="5", job="unit")
    files = [("a.xml", io.BytesIO(junit_xml(12, failed={1})))]
    with django_capture_on_commit_callbacks(execute=False):
        run = run_create(project=project, meta=meta, files=files).run
    # Its attempts were used up by trouble that has passed (killed workers, dropped connections).
    Run.objects.filter(pk=run.pk).update(parse_attempts=settings.SUITEHEALTH_MAX_PARSE_ATTEMPTS)
    run_parse(run_id=run.pk)
    run.refresh_from_db()
    assert (run.status, run.error["error"]) == ("failed", "gave_up")

    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        call_command("parse_again", str(run.pk), "999999", stdout=out, stderr=out)
    assert out.getvalue().splitlines() == [
        f"run {run.pk}: queued for parsing again",
        "run 999999: no such run",
    ]
    assert [(c.task.name, c.args) for c in callbacks if isinstance(c, QueueCall)] == [
        ("ingest.parse_run", (run.pk,))
    ]
    run.refresh_from_db()
    assert (run.status, run.error, run.parse_attempts) == ("received", None, 0)
    run_parse(run_id=run.pk)  # what the queued task does
    run.refresh_from_db()
    assert run.status == "parsed" and Result.objects.filter(run=run).count() == 12

    again = io.StringIO()
    call_command("parse_again", str(run.pk), stdout=again)
    assert again.getvalue() == f"run {run.pk}: parsed, not failed: left alone\n"
