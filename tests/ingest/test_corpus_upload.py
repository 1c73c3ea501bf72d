"""Every sample of the corpus through the upload API and the parse, as CI sends it: the run holds
exactly the expectation's results, and a broken sample is refused (at upload, or by the parse)
with its expected error and position, nothing of it stored."""

from __future__ import annotations

from collections import Counter

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from ingest.models import Result, Run, RunFile, Test
from ingest.services import run_parse
from tests.conftest import SAMPLES
from tests.ingest.parsers.expectations import Expect, Refused, load

EXPECTED, ERRORS = load()


def _upload(client, path: str):
    content = (SAMPLES / path).read_bytes()
    return client.post(
        "/api/v1/uploads",
        {
            "commit": "c0ffee",
            "build_id": path,
            "file": [SimpleUploadedFile(path.rsplit("/", 1)[-1], content)],
        },
        format="multipart",
    )


@pytest.mark.parametrize("path", sorted(EXPECTED))
def test_a_sample_uploaded_is_stored_as_expected(ci_client, path: str) -> None:
    _, exp = EXPECTED[path]
    assert isinstance(exp, Expect)
    response = _upload(ci_client, path)
    assert response.status_code == 202, response.content
    run_parse(run_id=response.json()["run"])
    run = Run.objects.get(pk=response.json()["run"])
    assert (run.status, run.error) == ("parsed", None)
    assert RunFile.objects.get(run=run).format == exp.format
    results = Result.objects.filter(run_id=run.pk)
    labels = {0: "passed", 1: "failed", 2: "error", 3: "skipped"}
    outcomes = Counter(labels[o] for o in results.values_list("outcome", flat=True))
    assert dict(outcomes) == exp.outcomes
    assert (run.counts["results"], run.counts["tests"], run.counts["retried"]) == (
        exp.attempts,
        exp.tests,
        exp.retried,
    )
    # One file per upload here: the file's own timeline is "file 1", the others as read.
    want = {t or "file 1" for t in exp.timelines}
    assert set(results.values_list("timeline", flat=True)) == want


@pytest.mark.parametrize("path", sorted(ERRORS))
def test_a_broken_sample_uploaded_is_refused_with_its_position(ci_client, path: str) -> None:
    _, ref = ERRORS[path]
    assert isinstance(ref, Refused)
    response = _upload(ci_client, path)
    if response.status_code == 202:  # well-formed to the upload's check: the parse refuses it
        run_parse(run_id=response.json()["run"])
        run = Run.objects.get(pk=response.json()["run"])
        assert run.status == "failed"
        error = run.error
        assert Result.objects.filter(run_id=run.pk).count() == 0
    else:
        assert 400 <= response.status_code < 500
        error = response.json()
        assert Run.objects.count() == RunFile.objects.count() == Test.objects.count() == 0
    assert error["error"] == ref.code, error
    assert error["file"] == path.rsplit("/", 1)[-1]
    if ref.line is not None:
        assert (error["line"], error["column"]) == (ref.line, ref.column), error
    assert ref.detail_contains in error["detail"]
