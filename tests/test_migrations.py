"""The migrations describe the models as they are: a model change without its migration would
leave a fresh install's schema behind the code (a missing column, or an index a query relies on)."""

from __future__ import annotations

import hashlib
import importlib
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command


@pytest.mark.django_db
def test_every_model_change_has_its_migration():
    out = io.StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
    except SystemExit:
        pytest.fail(f"models differ from their migrations:\n{out.getvalue()}")


def _old_key(build_id: str, job: str, commit: str, digests: list[str]) -> str:
    """The key before ingest 0007: build id, job and commit always."""
    parts = [build_id, job, commit, *sorted(digests)]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


@pytest.mark.django_db
def test_stored_upload_keys_are_rewritten_so_an_earlier_upload_still_finds_its_run(
    ci_client,
):
    from django.apps import apps

    from ingest.models import Run
    from tests.resultfiles import junit_xml

    rewrite = importlib.import_module("ingest.migrations.0007_idempotency_key_without_commit")

    def upload(**fields):
        data = {"file": [SimpleUploadedFile("a.xml", junit_xml(2))], "job": "unit", **fields}
        return ci_client.post("/api/v1/uploads", data, format="multipart")

    ids = [upload(build_id=b, commit=c).json()["run"] for b, c in (("x", "aaa"), ("y", "bbb"))]
    ids.append(upload(commit="ccc").json()["run"])
    # As stored before: runs 1 and 2 were the same build and files under two commits.
    for run in Run.objects.filter(pk__in=ids[:2]):
        digests = list(run.files.values_list("digest", flat=True))
        Run.objects.filter(pk=run.pk).update(
            build_id="42", idempotency_key=_old_key("42", "unit", run.commit, digests)
        )
    run = Run.objects.get(pk=ids[2])
    digests = list(run.files.values_list("digest", flat=True))
    Run.objects.filter(pk=run.pk).update(idempotency_key=_old_key("", "unit", "ccc", digests))

    rewrite.rewrite_keys(apps, None)

    again = upload(build_id="42", commit="zzz")
    assert (again.status_code, again.json()["run"]) == (200, ids[0])
    loose = upload(commit="ccc")
    assert (loose.status_code, loose.json()["run"]) == (200, ids[2])
    assert Run.objects.count() == 3
