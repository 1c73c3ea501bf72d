"""The upload API, in-process: validation, auth, idempotency and what gets stored."""

from __future__ import annotations

import gzip

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from ingest.models import Result, Run, RunFile, Test
from ingest.services import run_parse, token_create, token_revoke
from tests.resultfiles import gz, junit_xml

pytestmark = pytest.mark.django_db


def upload(client, files, **fields):
    data = {"commit": "abc123", **fields}
    data["file"] = [SimpleUploadedFile(name, content) for name, content in files]
    return client.post("/api/v1/uploads", data, format="multipart")


def db_state() -> tuple[int, int, int, int]:
    return (
        Run.objects.count(),
        RunFile.objects.count(),
        Test.objects.count(),
        Result.objects.count(),
    )


def test_it_accepts_an_upload_and_enqueues_parsing_on_commit(
    ci_client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = upload(
            ci_client,
            [("junit.xml", junit_xml(3, failed={1}))],
            branch="main",
            build_id="b-7",
            job="unit",
            build_url="https://ci.example/b/7",
            environment="linux",
        )
    assert response.status_code == 202, response.content
    body = response.json()
    run = Run.objects.get()
    assert body == {"run": run.pk, "status": "received", "url": f"/api/v1/runs/{run.pk}"}
    assert (run.commit, run.branch, run.build_id, run.job) == ("abc123", "main", "b-7", "unit")
    stored = RunFile.objects.get()
    assert gzip.decompress(bytes(stored.content)) == junit_xml(3, failed={1})
    assert stored.format == "junit"
    assert len(callbacks) == 1
    # The upload gives no start: the parse takes it from the file's suite timestamp.
    assert run.started_at == run.received_at
    run_parse(run_id=run.pk)
    run.refresh_from_db()
    assert run.started_at.isoformat() == "2026-11-02T10:00:00+00:00"
    assert run.week_label == "2026-W45"
    assert set(Result.objects.filter(run_id=run.pk).values_list("run_week", flat=True)) == {
        run.week
    }


def test_it_parses_the_stored_run_into_results(ci_client):
    response = upload(ci_client, [("a.xml", junit_xml(4, failed={2}, skipped={3}))])
    run_id = response.json()["run"]
    run_parse(run_id=run_id)
    run = Run.objects.get(pk=run_id)
    assert run.status == "parsed"
    assert run.counts["passed"] == 2
    assert run.counts["failed"] == 1
    assert run.counts["skipped"] == 1
    assert run.counts["tests"] == 4
    results = list(Result.objects.filter(run_id=run_id).order_by("position"))
    assert [r.outcome for r in results] == [0, 0, 1, 3]
    assert [r.duration_ms for r in results] == [0, 1, 2, 3]
    assert {r.timeline for r in results} == {"file 1"}
    assert results[2].message.startswith("assert 1 == 2")
    detail = ci_client.get(f"/api/v1/runs/{run_id}").json()
    assert detail["status"] == "parsed"
    assert detail["counts"]["failed"] == 1
    assert detail["files"][0]["format"] == "junit"


def test_it_returns_the_same_run_for_the_same_upload(ci_client):
    first = upload(ci_client, [("a.xml", junit_xml(2))], build_id="42", job="unit")
    again = upload(ci_client, [("a.xml", junit_xml(2))], build_id="42", job="unit")
    # gzip of the same content is the same upload: digests are of decompressed content.
    zipped = upload(ci_client, [("a.xml.gz", gz(junit_xml(2)))], build_id="42", job="unit")
    assert first.status_code == 202
    assert again.status_code == 200
    assert zipped.status_code == 200
    assert first.json()["run"] == again.json()["run"] == zipped.json()["run"]
    assert "ignored" not in again.json()
    assert Run.objects.count() == 1


def test_the_same_upload_with_other_labels_says_they_were_not_applied(ci_client):
    first = upload(ci_client, [("a.xml", junit_xml(2))], build_id="42", job="unit",
                   environment="linux", branch="main")  # fmt: skip
    again = upload(ci_client, [("a.xml", junit_xml(2))], build_id="42", job="unit",
                   environment="macos", branch="main")  # fmt: skip
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["run"] == first.json()["run"]
    assert again.json()["ignored"] == {"environment": {"stored": "linux", "sent": "macos"}}
    assert Run.objects.get().environment == "linux"


def test_the_same_content_twice_in_one_upload_is_one_file(ci_client):
    # A glob matching report.xml and report.xml.gz: read twice, every test would look retried.
    response = upload(ci_client, [("r.xml", junit_xml(3)), ("r.xml.gz", gz(junit_xml(3))),
                                  ("other.xml", junit_xml(2, prefix="o.O"))])  # fmt: skip
    assert response.status_code == 202, response.content
    run = Run.objects.get(pk=response.json()["run"])
    assert sorted(RunFile.objects.filter(run=run).values_list("name", flat=True)) == [
        "other.xml",
        "r.xml",
    ]
    run_parse(run_id=run.pk)
    run.refresh_from_db()
    assert (run.counts["tests"], run.counts["results"], run.counts["retried"]) == (5, 5, 0)


def test_an_upload_is_its_build_job_and_files_and_without_a_build_id_its_commit(ci_client):
    files = [("a.xml", junit_xml(2))]
    first = upload(ci_client, files, build_id="42", job="unit", commit="aaa")
    assert upload(ci_client, files, build_id="42", job="unit", commit="bbb").json() == {
        **first.json(), "status": "received",
        "ignored": {"commit": {"stored": "aaa", "sent": "bbb"}},
    }  # fmt: skip
    loose = [upload(ci_client, files, job="unit", commit=c) for c in ("aaa", "bbb", "bbb")]
    assert [r.status_code for r in loose] == [202, 202, 200]
    assert loose[1].json()["run"] == loose[2].json()["run"] != loose[0].json()["run"]
    assert Run.objects.count() == 3


def test_it_makes_a_new_run_for_another_job_or_other_files(ci_client):
    upload(ci_client, [("a.xml", junit_xml(2))], build_id="42", job="unit")
    assert upload(ci_client, [("a.xml", junit_xml(2))], build_id="42", job="e2e").status_code == 202
    assert (
        upload(ci_client, [("a.xml", junit_xml(3))], build_id="42", job="unit").status_code == 202
    )
    assert Run.objects.count() == 3


def test_it_requires_a_commit_and_stores_nothing(ci_client):
    response = ci_client.post(
        "/api/v1/uploads", {"file": [SimpleUploadedFile("a.xml", junit_xml(1))]}, format="multipart"
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid"
    assert "commit" in response.json()["fields"]
    assert db_state() == (0, 0, 0, 0)


@pytest.mark.parametrize("started_at", ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z"])
def test_it_refuses_a_start_no_clock_gives_and_stores_nothing(ci_client, started_at):
    response = upload(ci_client, [("a.xml", junit_xml(1))], started_at=started_at)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid"
    assert "1970-01-01" in str(response.json()["fields"]["started_at"])
    assert db_state() == (0, 0, 0, 0)


def test_a_files_placeholder_timestamps_are_unknown(ci_client):
    # A suite stamped 9999-12-31 (no start given): the run starts when it was received.
    content = junit_xml(2, timestamp="9999-12-31T12:00:00")
    response = upload(ci_client, [("a.xml", content)])
    assert response.status_code == 202, response.content
    run_parse(run_id=response.json()["run"])
    run = Run.objects.get()
    assert (run.status, run.started_at) == ("parsed", run.received_at)
    assert Result.objects.filter(run=run).count() == 2


@pytest.mark.parametrize(
    "codec,bom", [("utf-16-le", b"\xff\xfe"), ("utf-16-be", b"\xfe\xff"), ("utf-16-le", b"")]
)
def test_it_reads_utf16_xml(ci_client, codec, bom):
    text = (
        junit_xml(3, failed={1})
        .decode()
        .replace('encoding="utf-8"', f'encoding="{codec[:6].upper()}"')
    )
    response = upload(ci_client, [("wide.xml", bom + text.encode(codec))])
    assert response.status_code == 202, response.content
    run_parse(run_id=response.json()["run"])
    run = Run.objects.get()
    assert (run.status, run.counts["passed"], run.counts["failed"]) == ("parsed", 2, 1)
    # A DOCTYPE is refused in any encoding.
    hostile = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><testsuites/>'
    response = upload(ci_client, [("dtd.xml", b"\xff\xfe" + hostile.encode("utf-16-le"))],
                      build_id="other")  # fmt: skip
    assert (response.status_code, response.json()["error"]) == (400, "forbidden_dtd")


@pytest.mark.parametrize("field", ["service", "branch", "job", "build_id", "commit", "environment"])
def test_it_refuses_control_characters_in_names_and_stores_nothing(ci_client, field):
    # A newline in a service name would break every link to it (and the pages making them).
    response = upload(ci_client, [("a.xml", junit_xml(1))], **{field: "nl\nx"})
    assert response.status_code == 400
    assert "control characters" in str(response.json()["fields"][field])
    assert db_state() == (0, 0, 0, 0)


@pytest.mark.parametrize("field", ["branch", "commit", "environment", "build_url"])
def test_it_refuses_form_fields_that_are_not_utf8_and_stores_nothing(ci_client, field):
    # Django decodes them with U+FFFD in place of the bytes: the name stored would not be the
    # name the CI sent, and two different ones could become the same.
    value = b"https://ci.example/\xff\xfe" if field == "build_url" else b"feature/\xe9t\xe9"
    fields = {"commit": b"abc123", field: value}
    body = b"".join(
        b'--b0undary\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n'
        % (name.encode(), raw)
        for name, raw in fields.items()
    )
    body += (
        b'--b0undary\r\nContent-Disposition: form-data; name="file"; filename="a.xml"\r\n'
        b"Content-Type: application/xml\r\n\r\n" + junit_xml(1) + b"\r\n--b0undary--\r\n"
    )
    response = ci_client.generic(
        "POST", "/api/v1/uploads", body, content_type="multipart/form-data; boundary=b0undary"
    )
    assert response.status_code == 400, response.content
    assert "UTF-8" in str(response.json()["fields"][field])
    assert db_state() == (0, 0, 0, 0)


def test_it_caps_what_all_files_of_an_upload_decompress_to(ci_client, settings):
    one, two = junit_xml(20), junit_xml(20, prefix="t.Other")
    settings.SUITEHEALTH_MAX_UPLOAD_DECOMPRESSED_BYTES = len(one) + len(two) // 2
    response = upload(ci_client, [("one.xml", gz(one)), ("two.xml", gz(two))])
    assert response.status_code == 413
    body = response.json()
    assert (body["error"], body["file"]) == ("upload_too_large", "two.xml")
    assert f"{settings.SUITEHEALTH_MAX_UPLOAD_DECOMPRESSED_BYTES:,} bytes" in body["detail"]
    assert db_state() == (0, 0, 0, 0)
    settings.SUITEHEALTH_MAX_UPLOAD_DECOMPRESSED_BYTES = len(one) + len(two)
    assert upload(ci_client, [("one.xml", gz(one)), ("two.xml", gz(two))]).status_code == 202


def test_it_requires_a_file(ci_client):
    response = ci_client.post("/api/v1/uploads", {"commit": "abc"}, format="multipart")
    assert response.status_code == 400
    assert response.json()["error"] == "no_files"


def test_it_refuses_a_request_without_a_key(client):
    response = client.post("/api/v1/uploads", {"commit": "abc"})
    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"


def test_it_refuses_an_unknown_or_revoked_key(project, client):
    token, key = token_create(project=project)
    token_revoke(token=token)
    for header in (f"Token {key}", "Token nope", "Bearer x"):
        response = client.post("/api/v1/uploads", {"commit": "a"}, HTTP_AUTHORIZATION=header)
        assert response.status_code == 401
        assert response.json()["error"] == "authentication_failed"


def test_it_refuses_an_upload_naming_another_project(ci_client, other_project):
    response = upload(ci_client, [("a.xml", junit_xml(1))], project="billing")
    assert response.status_code == 403
    assert response.json()["error"] == "wrong_project"
    assert db_state() == (0, 0, 0, 0)


def test_it_validates_ownership_of_runs_and_status(ci_client, other_key, client):
    run_id = upload(ci_client, [("a.xml", junit_xml(1))]).json()["run"]
    other = {"HTTP_AUTHORIZATION": f"Token {other_key}"}
    hidden = client.get(f"/api/v1/runs/{run_id}", **other)
    assert hidden.status_code == 404 and hidden.json()["error"] == "not_found"
    refused = client.get("/api/v1/projects/mediaserver/status", **other)
    assert refused.status_code == 403 and refused.json()["error"] in (
        "wrong_project",
        "permission_denied",
    )
    assert ci_client.get(f"/api/v1/runs/{run_id}").status_code == 200


def test_it_counts_pending_uploads_and_recomputations(ci_client):
    from reports.models import ServiceWeek
    from reports.services import service_week_recompute

    def pending() -> int:
        return ci_client.get("/api/v1/projects/mediaserver/status").json()["pending"]

    assert pending() == 0
    run_id = upload(ci_client, [("a.xml", junit_xml(1))]).json()["run"]
    assert pending() == 1  # the upload
    run_parse(run_id=run_id)
    assert pending() == 1  # parsed, and in the same transaction its service-week marked stale
    stale = ServiceWeek.objects.get()
    service_week_recompute(service_id=stale.service_id, week=stale.week)
    assert pending() == 0


def test_it_names_the_file_line_and_column_of_a_parse_error(ci_client):
    broken = b'<testsuites>\n<testsuite name="x">\n<testcase name="a">\n</testsuites>'
    response = upload(ci_client, [("good.xml", junit_xml(1)), ("bad.xml", broken)])
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "malformed_xml"
    assert body["file"] == "bad.xml"
    assert body["line"] == 4
    assert isinstance(body["column"], int)
    assert "bad.xml" in body["detail"]
    assert db_state() == (0, 0, 0, 0)


def test_it_answers_415_for_content_that_is_no_result_format(ci_client):
    response = upload(ci_client, [("notes.txt", b"just some words\n")])
    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_format"
    assert response.json()["file"] == "notes.txt"


def test_it_keeps_timelines_per_file_and_per_worker(ci_client):
    files = [("w0.xml", junit_xml(2, worker="gw0")), ("plain.xml", junit_xml(2, prefix="t.B"))]
    run_id = upload(ci_client, files).json()["run"]
    run_parse(run_id=run_id)
    timelines = set(Result.objects.filter(run_id=run_id).values_list("timeline", flat=True))
    assert timelines == {"file 1/gw0", "file 2"}
