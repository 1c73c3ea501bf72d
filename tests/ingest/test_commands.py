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
