"""Deleting runs and projects (the admin's delete): results go with them, although no foreign key
reaches the results table, and the metrics of what a run touched are computed again."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from ingest.models import Project, Result, Run, RunFile, Service, Test
from ingest.services import project_delete, run_delete, run_parse
from reports.models import Finding, RunFacts, ServiceWeek, TestWeek
from reports.services import service_week_recompute

pytestmark = pytest.mark.django_db

WEEK = dt.date(2026, 11, 2)


def junit(hour: int, failing: str = "") -> bytes:
    cases = "".join(
        f'<testcase classname="t.A" name="{name}" time="0.1">'
        + ("<failure message='no'/>" if name == failing else "")
        + "</testcase>"
        for name in ("a", "b", "c")
    )
    return (
        f'<testsuites><testsuite name="s" timestamp="2026-11-0{3 + hour % 3}T{hour:02d}:00:00Z">'
        f"{cases}</testsuite></testsuites>"
    ).encode()


def upload(client, content: bytes, build: str) -> Run:
    response = client.post(
        "/api/v1/uploads",
        {"commit": build, "build_id": build, "file": [SimpleUploadedFile("r.xml", content)]},
        format="multipart",
    )
    assert response.status_code == 202, response.content
    run_parse(run_id=response.json()["run"])
    run = Run.objects.get(pk=response.json()["run"])
    assert run.status == Run.Status.PARSED and run.week == WEEK
    return run


@pytest.fixture
def admin_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("ada", "ada@example.com", "pw"))
    return client


def test_deleting_a_run_in_the_admin_removes_its_results_and_recomputes_its_services(
    ci_client, admin_client
):
    kept = upload(ci_client, junit(10), "b1")
    gone = upload(ci_client, junit(11, failing="b"), "b2")
    service = Service.objects.get()
    service_week_recompute(service_id=service.pk, week=WEEK, force=True)
    row = ServiceWeek.objects.get(service=service, week=WEEK)
    assert (row.runs, row.dirty <= row.computed) == (2, True)
    assert RunFacts.objects.filter(run_id=gone.pk).exists()

    page = admin_client.get(f"/admin/ingest/run/{gone.pk}/delete/")
    assert page.status_code == 200
    response = admin_client.post(f"/admin/ingest/run/{gone.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302, response.content

    assert not Run.objects.filter(pk=gone.pk).exists()
    assert not Result.objects.filter(run_id=gone.pk).exists()
    assert not RunFile.objects.filter(run_id=gone.pk).exists()
    assert not RunFacts.objects.filter(run_id=gone.pk).exists()
    assert Result.objects.filter(run_id=kept.pk).count() == 3
    assert Test.objects.count() == 3  # tests outlive the runs that reported them
    row.refresh_from_db()
    assert row.dirty > row.computed  # stale: the week lost a run

    service_week_recompute(service_id=service.pk, week=WEEK)
    row.refresh_from_db()
    assert row.runs == 1 and row.final_pass_rate == 1.0


def test_the_admins_bulk_delete_of_runs_removes_every_runs_results(ci_client, admin_client):
    runs = [upload(ci_client, junit(hour), f"b{hour}") for hour in (10, 11, 12)]
    response = admin_client.post(
        "/admin/ingest/run/",
        {"action": "delete_selected", "_selected_action": [r.pk for r in runs[:2]], "post": "yes"},
    )
    assert response.status_code == 302, response.content
    assert list(Run.objects.values_list("pk", flat=True)) == [runs[2].pk]
    assert set(Result.objects.values_list("run_id", flat=True)) == {runs[2].pk}


def test_deleting_a_project_in_the_admin_removes_its_results_and_only_its(
    ci_client, admin_client, project, other_project, other_key
):
    from rest_framework.test import APIClient

    other_client = APIClient()
    other_client.credentials(HTTP_AUTHORIZATION=f"Token {other_key}")
    mine = upload(ci_client, junit(10), "b1")
    upload(ci_client, junit(11, failing="b"), "b2")
    theirs = upload(other_client, junit(10), "b1")
    for service in Service.objects.all():
        service_week_recompute(service_id=service.pk, week=WEEK, force=True)
    # What reports derived refers to the tests: it goes first, and only the project's.
    assert TestWeek.objects.filter(test__project=project).count() == 3
    test = Test.objects.filter(project=project).first()
    Finding.objects.create(
        project=project, service=test.service, kind="flaky", test=test, related_test=test,
        week=WEEK, key="k", as_of=dt.datetime(2026, 11, 9, tzinfo=dt.UTC), version="t",
    )  # fmt: skip
    assert TestWeek.objects.filter(test__project=other_project).count() == 3

    page = admin_client.get(f"/admin/ingest/project/{project.pk}/delete/")
    assert page.status_code == 200
    # Counts, not a list of every test and run.
    assert b"Tests: 3" in page.content and b"Runs: 2" in page.content

    response = admin_client.post(f"/admin/ingest/project/{project.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302, response.content
    assert not Project.objects.filter(pk=project.pk).exists()
    assert not Result.objects.filter(run_id=mine.pk).exists()
    assert not Test.objects.filter(project_id=project.pk).exists()
    assert Result.objects.filter(run_id=theirs.pk).count() == 3
    assert Test.objects.filter(project_id=other_project.pk).count() == 3
    assert not TestWeek.objects.filter(test__project_id=project.pk).exists()
    assert not Finding.objects.filter(project_id=project.pk).exists()
    assert TestWeek.objects.filter(test__project=other_project).count() == 3


def test_deleting_what_is_already_gone_says_so():
    assert run_delete(run_id=987654) is None
    assert project_delete(project_id=987654) is None


def test_a_staff_user_who_may_not_delete_tests_cannot_delete_a_project_with_tests(
    ci_client, client, project, django_user_model
):
    from django.contrib.auth.models import Permission

    upload(ci_client, junit(10), "b1")
    staff = django_user_model.objects.create_user("bo", "bo@example.com", "pw", is_staff=True)
    staff.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="ingest",
            codename__in=["view_project", "delete_project", "delete_run", "delete_service"],
        )
    )
    client.force_login(staff)

    page = client.get(f"/admin/ingest/project/{project.pk}/delete/")
    assert page.status_code == 200
    assert b"permission to delete the following types of objects" in page.content
    assert b"<li>test</li>" in page.content and b"<li>run</li>" not in page.content
    response = client.post(f"/admin/ingest/project/{project.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert Project.objects.filter(pk=project.pk).exists()
    assert Test.objects.filter(project_id=project.pk).count() == 3
