"""The metrics API in-process: what a CI script reads back about a service."""

from __future__ import annotations

import io

import pytest

from ingest.services import UploadMeta, run_create, run_parse
from reports.services import project_recompute
from tests.resultfiles import junit_xml

pytestmark = pytest.mark.django_db


def test_a_service_named_with_a_slash_is_read_by_its_name(project, ci_client):
    meta = UploadMeta(commit="a" * 40, branch="main", build_id="1", service="team/api")
    files = [("results.xml", io.BytesIO(junit_xml(3, failed={1})))]
    run_parse(run_id=run_create(project=project, meta=meta, files=files).run.pk)
    project_recompute(project_id=project.pk)

    names = [s["name"] for s in ci_client.get("/api/v1/projects/mediaserver/services").json()]
    assert names == ["team/api"]
    for name in ("team/api", "team%2Fapi"):
        response = ci_client.get(f"/api/v1/projects/mediaserver/services/{name}/weeks/2026-W45")
        assert response.status_code == 200, (name, response.content)
        body = response.json()
        assert (body["service"], body["week"], body["runs"], body["failed"]) == (
            "team/api", "2026-W45", 1, 1,
        )  # fmt: skip
    missing = ci_client.get("/api/v1/projects/mediaserver/services/team/web/weeks/2026-W45")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"


@pytest.mark.parametrize("debug", [False, True])
def test_an_unknown_api_path_answers_in_the_api_error_shape(ci_client, settings, debug):
    settings.DEBUG = debug  # on, as `make run` serves, Django's own 404 page is HTML
    for path in ("/api/v1/projects/mediaserver/nothing-here", "/api/v1/nothing", "/api/"):
        response = ci_client.get(path)
        assert response.status_code == 404, path
        assert response["Content-Type"] == "application/json"
        body = response.json()
        assert body["error"] == "not_found" and path in body["detail"]
    assert ci_client.get("/api/docs?x=1")["Location"] == "/api/docs/?x=1"
    # A mistyped upload path: the JSON 404, not a CSRF refusal nor a redirect that drops the POST.
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    for path in ("/api/v1/upload", "/api/v1/uploads/", "/api/doc"):
        response = strict.post(path, {"commit": "c"})
        assert (response.status_code, response.json()["error"]) == (404, "not_found"), path
    page = ci_client.get("/p/mediaserver/nothing-here/")
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")
