"""UploadMeta from the upload form's string fields, as in-process loaders build it."""

from __future__ import annotations

import datetime as dt

from ingest.services import UploadMeta


def test_it_reads_the_form_fields_and_parses_the_start() -> None:
    meta = UploadMeta.from_fields(
        {"project": "p", "commit": "abc", "branch": "main", "service": "cache",
         "started_at": "2026-11-02T10:00:00+00:00"}
    )  # fmt: skip
    assert (meta.commit, meta.branch, meta.service) == ("abc", "main", "cache")
    assert meta.started_at == dt.datetime(2026, 11, 2, 10, tzinfo=dt.UTC)
    assert meta.build_id == "" and meta.job == ""


def test_it_leaves_the_start_unset_when_the_form_has_none() -> None:
    assert UploadMeta.from_fields({"commit": "abc", "started_at": ""}).started_at is None
    assert UploadMeta.from_fields({"commit": "abc"}).started_at is None
