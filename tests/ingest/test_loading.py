"""The parse task's load, in-process against the database: attempts, the run's start and week,
and test ids, as the upload API stores a file and the worker loads it."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from ingest.identity import identity, test_id
from ingest.models import Result, Run, Test
from ingest.parsers.junit import parse
from ingest.services import run_parse

pytestmark = pytest.mark.django_db


def upload(client, files, **fields):
    data = {"commit": "abc123", **fields}
    data["file"] = [SimpleUploadedFile(name, content) for name, content in files]
    response = client.post("/api/v1/uploads", data, format="multipart")
    assert response.status_code == 202, response.content
    run_parse(run_id=response.json()["run"])
    return Run.objects.get(pk=response.json()["run"])


def case(classname: str, name: str, outcome: str = "") -> str:
    body = {"": "", "fail": "<failure message='no'/>", "skip": "<skipped/>"}[outcome]
    return f'<testcase classname="{classname}" name="{name}" time="0.5">{body}</testcase>'


def suite(timestamp: str, *cases: str) -> str:
    return f'<testsuite name="s" timestamp="{timestamp}">{"".join(cases)}</testsuite>'


def junit(*suites: str) -> bytes:
    return f"<testsuites>{''.join(suites)}</testsuites>".encode()


def attempts(run: Run) -> list[tuple[str, int, int]]:
    names = dict(Test.objects.values_list("id", "name"))
    rows = Result.objects.filter(run_id=run.pk).order_by("position")
    return [(names[r.test_id], r.attempt, r.outcome) for r in rows]


def test_it_numbers_the_attempts_of_a_test_repeated_anywhere_in_the_run(ci_client):
    first = junit(
        suite(
            "2026-11-02T10:00:00Z",
            case("t.A", "a", "fail"), case("t.A", "b"), case("t.A", "a", "fail"), case("t.A", "c"),
        )
    )  # fmt: skip
    second = junit(suite("2026-11-02T11:00:00Z", case("t.A", "a"), case("t.A", "b", "skip")))
    run = upload(ci_client, [("1.xml", first), ("2.xml", second)])
    assert attempts(run) == [
        ("a", 1, 1), ("b", 1, 0), ("a", 2, 1), ("c", 1, 0), ("a", 3, 0), ("b", 2, 3),
    ]  # fmt: skip
    # By final attempt: a passed (flaky: failed then passed), b skipped, c passed.
    assert run.counts == {
        "tests": 3, "results": 6, "passed": 2, "failed": 0, "error": 0, "skipped": 1,
        "retried": 2, "flaky": 1,
    }  # fmt: skip
    assert Test.objects.count() == 3


def test_it_stores_the_ids_identity_gives(ci_client):
    import io

    content = junit(
        suite("2026-11-02T10:00:00Z", case("t.A", "x[0x7f3a00112233]"), case(" t.B\t", "y\nz")),
        suite("2026-11-02T10:00:00Z", case("", "tests/a/test_b.py::TestB::test_c[x]")),
    )  # fmt: skip
    run = upload(ci_client, [("ids.xml", content)])
    expected = [test_id(run.project_id, identity(r)) for r in parse(io.BytesIO(content))]
    stored = list(
        Result.objects.filter(run_id=run.pk).order_by("position").values_list("test_id", flat=True)
    )
    assert stored == expected
    assert len(set(expected)) == 3


def test_the_run_starts_with_its_earliest_test_and_lives_in_that_week(ci_client):
    # The first test starts on Monday of W46, a later one on the Sunday before (W45).
    content = junit(
        suite("2026-11-09T00:30:00Z", case("t.A", "a")),
        suite("2026-11-08T23:50:00Z", case("t.A", "b", "fail")),
    )  # fmt: skip
    run = upload(ci_client, [("late.xml", content)])
    assert run.status == "parsed"
    assert run.started_at.isoformat() == "2026-11-08T23:50:00+00:00"
    assert run.week_label == "2026-W45"
    weeks = set(Result.objects.filter(run_id=run.pk).values_list("run_week", flat=True))
    assert weeks == {run.week}
    assert Result.objects.filter(run_id=run.pk).count() == 2


def test_a_start_given_by_the_upload_wins_over_the_files(ci_client):
    content = junit(suite("2026-11-09T00:30:00Z", case("t.A", "a")))
    run = upload(ci_client, [("a.xml", content)], started_at="2026-11-20T08:00:00Z")
    assert run.started_at.isoformat() == "2026-11-20T08:00:00+00:00"
    assert run.week_label == "2026-W47"
    assert set(Result.objects.filter(run_id=run.pk).values_list("run_week", flat=True)) == {
        run.week
    }


def test_a_junit_file_with_a_test_that_logged_more_than_10_mb_is_parsed(ci_client):
    # A text node past libxml2's 10 MB limit on one: the log is cut, the run is not refused.
    content = (
        b'<testsuites><testsuite name="s"><testcase name="a"><system-out>'
        + b"x" * 10_000_001
        + b'</system-out><failure/></testcase><testcase name="b"/></testsuite></testsuites>'
    )
    response = ci_client.post(
        "/api/v1/uploads",
        {"commit": "c", "file": [SimpleUploadedFile("ns.xml", content)]},
        format="multipart",
    )
    assert response.status_code == 202, response.content
    run_parse(run_id=response.json()["run"])
    run = Run.objects.get(pk=response.json()["run"])
    assert (run.status, run.error) == ("parsed", None)
    assert Result.objects.filter(run_id=run.pk).count() == 2
    output = Result.objects.get(run_id=run.pk, test__name="a").output
    assert output.startswith("xxx") and len(output.encode()) <= 64 * 1024


BROKEN_JUNIT = {
    "mismatched_tag": b'<testsuites>\n<testsuite name="x">\n<testcase name="a">\n</testsuites>',
    "truncated": b'<testsuites><testsuite name="x"><testcase name="a"/></testsuite></testsu',
    "invalid_utf8": b'<testsuites><testsuite name="\xff\xfe"><testcase name="a"/></testsuite></testsuites>',
    "trailing_junk": b"<testsuites><testsuite/></testsuites>junk",
    "bad_attribute": b'<testsuites><testsuite name="x" name="y"/></testsuites>',
    "late_doctype": b'<?xml version="1.0"?>\n<!-- note -->\n<!DOCTYPE testsuites>\n<testsuites/>',
}


@pytest.mark.parametrize("content", BROKEN_JUNIT.values(), ids=BROKEN_JUNIT.keys())
def test_the_upload_syntax_check_reports_what_the_junit_parser_reports(content):
    """The upload checks JUnit files by syntax only, so it must refuse what the worker's parser
    would, with the same code, line and column (fed in small chunks, as uploads arrive)."""
    import io

    from ingest.parsers.records import ParseError
    from ingest.reading import SyntaxCheck

    with pytest.raises(ParseError) as parsed:
        list(parse(io.BytesIO(content)))
    check = SyntaxCheck()
    with pytest.raises(ParseError) as checked:
        for start in range(0, len(content), 7):
            check.feed(content[start : start + 7])
        check.close()
    assert (checked.value.code, checked.value.line, checked.value.column) == (
        parsed.value.code, parsed.value.line, parsed.value.column,
    )  # fmt: skip
