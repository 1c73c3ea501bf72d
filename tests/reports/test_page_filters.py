"""Runs and tests filters on commits and free text as users and uploads spell them: the link a
page draws for a commit finds that commit's runs, whatever the commit looks like, and no query
parameter can make a page fail."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model

from ingest.models import Run, Test
from ingest.services import UploadMeta, run_create, run_parse
from tests.resultfiles import junit_xml

pytestmark = pytest.mark.django_db


@pytest.fixture
def runs(project, django_capture_on_commit_callbacks):
    made = {}
    for i, commit in enumerate(
        ["ABCDEF0123456789", "abcdef0123456789", "release-2024.1 rc&1", "2024"]
    ):
        meta = UploadMeta(commit=commit, branch="main", build_id=str(i), job="unit")
        with django_capture_on_commit_callbacks(execute=False):
            run = run_create(
                project=project, meta=meta, files=[("a.xml", io.BytesIO(junit_xml(3)))]
            ).run
        run_parse(run_id=run.pk)
        made[commit] = run
    return made


@pytest.fixture
def member(client, project):
    user = get_user_model().objects.create_user("ada", "ada@example.com", "pw-for-ada-1")
    project.members.add(user)
    client.force_login(user)
    return client


def _listed(response) -> list[int]:
    assert response.status_code == 200
    return [row["run"].pk for row in response.context["rows"]]


def test_each_runs_commit_link_lists_that_commits_runs(member, project, runs) -> None:
    for commit, run in runs.items():
        page = member.get(f"/p/{project.slug}/runs/{run.pk}/")
        link = page.context["commit_url"]
        assert link in page.content.decode().replace("&amp;", "&")
        assert _listed(member.get(link)) == [run.pk], (commit, link)
    # A sha prefix keeps the case it is given, as commits are stored as uploaded.
    assert _listed(member.get(f"/p/{project.slug}/runs/?commit=ABCDEF0")) == [
        runs["ABCDEF0123456789"].pk
    ]
    # A hexadecimal text too short to be a prefix is refused with a message.
    short = member.get(f"/p/{project.slug}/runs/?commit=abcd")
    assert len(_listed(short)) == 4 and "too short a commit sha" in short.content.decode()
    # A commit that is not a sha prefix is shown as it is, and the form takes it back as is.
    html = member.get(f"/p/{project.slug}/runs/?commit=2024").content.decode()
    assert "Runs of commit <code>2024</code> <a" in html and 'pattern="' not in html


@pytest.mark.parametrize("param", ["q", "branch", "commit"])
def test_a_nul_character_in_a_filter_is_dropped_not_a_server_error(
    member, project, runs, param
) -> None:
    test = Test.objects.filter(project=project).first()
    for path in ("tests/", "runs/", f"t/{test.pk}/"):
        response = member.get(f"/p/{project.slug}/{path}", {param: "ma\x00in"})
        assert response.status_code == 200, (path, param)
    listed = _listed(member.get(f"/p/{project.slug}/runs/", {"branch": "ma\x00in"}))
    assert sorted(listed) == sorted(r.pk for r in Run.objects.filter(project=project))


def test_a_branch_as_long_as_uploads_may_send_is_a_filter(member, project, runs) -> None:
    long_branch = "feature/" + "x" * 240  # 248 characters: the upload API takes up to 255
    Run.objects.filter(pk=runs["2024"].pk).update(branch=long_branch)
    assert _listed(member.get(f"/p/{project.slug}/runs/", {"branch": long_branch})) == [
        runs["2024"].pk
    ]
