"""Hostile and broken input over real HTTP: each gets its documented 4xx with a JSON error naming
the problem, quickly, and the database is left exactly as it was."""

from __future__ import annotations

import gzip
import http.client
import io
import json
import socket
import time
import uuid
from urllib.parse import urlparse

import pytest

from ingest.models import Result, Run, RunFile, Service, Test
from tests.resultfiles import junit_xml

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY % ext SYSTEM "http://127.0.0.1:9/evil.dtd"> %ext;]>
<testsuites><testsuite name="x"><testcase name="a"/></testsuite></testsuites>"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
]>
<testsuites><testsuite name="&lol9;"><testcase name="&lol9;"/></testsuite></testsuites>"""


def gzip_bomb() -> bytes:
    """~200 KB of gzip that inflates to 200 MiB (the test limit is 64 MiB)."""
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9) as gz:
        gz.write(b"<testsuites>")
        # Well-formed and endless: the byte bound, not a parser limit, must be what stops it.
        chunk = (b"<testsuite/>" + b" " * 4084) * 256
        for _ in range(200):
            gz.write(chunk)
    return out.getvalue()


def multipart(files: list[tuple[str, bytes]], fields: dict[str, str]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    ]
    for filename, content in files:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{filename}"\r\n\r\n'.encode()
            + content
            + b"\r\n"
        )
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), boundary


def post(base_url: str, headers: dict[str, str], files, fields):
    body, boundary = multipart(files, fields)
    url = urlparse(base_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    conn.request(
        "POST", "/api/v1/uploads", body=body,
        headers={**headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )  # fmt: skip
    response = conn.getresponse()
    return response.status, json.loads(response.read())


def raw_post(base_url: str, key: str, boundary: str, headers: str, data: bytes) -> tuple[int, dict]:
    """An upload written byte by byte: the framing (length, chunks) is the test's to choose."""
    url = urlparse(base_url)
    with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
        head = (
            "POST /api/v1/uploads HTTP/1.1\r\n"
            f"Host: {url.hostname}\r\n"
            f"Authorization: Token {key}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            f"{headers}\r\n\r\n"
        )
        sock.sendall(head.encode() + data)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, json.loads(response.read(response.length or 4096))


def snapshot() -> tuple[int, ...]:
    return tuple(m.objects.count() for m in (Run, RunFile, Test, Result, Service))


CASES = [
    # (id, files, fields, status, error code, file named?, line/column expected?)
    ("xxe", [("xxe.xml", XXE)], {}, 400, "forbidden_dtd", True, False),
    ("billion_laughs", [("lol.xml", BILLION_LAUGHS)], {}, 400, "forbidden_dtd", True, False),
    ("gzip_bomb", [("bomb.xml.gz", gzip_bomb())], {}, 413, "file_too_large", True, False),
    ("truncated", [("cut.xml", junit_xml(5)[:-60])], {}, 400, "malformed_xml", True, True),
    (
        "invalid_utf8",
        [("bad.xml", b'<testsuites><testsuite name="\xff\xfe"><testcase name="a"/></testsuite></testsuites>')],
        {}, 400, "malformed_xml", True, True,
    ),
    ("empty", [("empty.xml", b"")], {}, 400, "empty_file", True, False),
    ("not_results_xml", [("pom.xml", b"<project><modelVersion>4</modelVersion></project>")], {}, 415, "unsupported_format", True, False),
    ("json_not_ctrf", [("data.json", b'{"results": {"hello": "world"}, "tool": 1}')], {}, 400, "not_ctrf", True, False),
    ("ctrf_tests_not_tests", [("r.json", b'{"results": {"tool": {"name": "x"}, "tests": [1, "a", null]}}')], {}, 400, "not_ctrf", True, False),
    ("json_not_results", [("package.json", b'{"name": "x", "version": "1.0.0"}')], {}, 415, "unsupported_format", True, False),
    ("missing_commit", [("ok.xml", junit_xml(1))], {"commit": None}, 400, "invalid", False, False),
    # Past Django's own caps on a form: the API's errors, not Django's HTML page.
    ("too_many_files", [(f"r{i}.xml", junit_xml(1)) for i in range(202)], {}, 400, "too_many_files", False, False),
    ("fields_too_large", [("ok.xml", junit_xml(1))], {"environment": "x" * 3 * 2**20}, 413, "fields_too_large", False, False),
]  # fmt: skip


@pytest.mark.parametrize(
    "files,fields,status,code,names_file,has_position",
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_it_refuses_bad_input_and_stores_nothing(
    transactional_db,
    live_server,
    project_key,
    files,
    fields,
    status,
    code,
    names_file,
    has_position,
):
    form = {"commit": "abc", "build_id": "1", **fields}
    form = {k: v for k, v in form.items() if v is not None}
    before = snapshot()
    started = time.monotonic()
    got_status, body = post(live_server.url, {"Authorization": f"Token {project_key}"}, files, form)
    elapsed = time.monotonic() - started
    assert (got_status, body["error"]) == (status, code), body
    assert body["detail"]
    if names_file:
        assert body["file"] == files[0][0]
    if has_position:
        assert isinstance(body["line"], int) and body["line"] >= 1
        assert isinstance(body["column"], int) and body["column"] >= 1
    assert snapshot() == before
    assert elapsed < 30, "hostile input must be refused quickly"


def test_it_refuses_a_huge_declared_length_before_reading_the_body(
    transactional_db, live_server, project_key
):
    before = snapshot()
    status, body = raw_post(live_server.url, project_key, "xyz",
                            f"Content-Length: {2 * 1024**3}", b"--xyz\r\n")  # fmt: skip
    assert status == 413
    assert body["error"] == "upload_too_large"
    assert snapshot() == before


def test_it_takes_more_files_than_djangos_default_cap(transactional_db, live_server, project_key):
    # Maven Surefire writes a file per test class: 150 files is one ordinary upload.
    files = [(f"TEST-C{i}.xml", junit_xml(1, prefix=f"C{i}.")) for i in range(150)]
    status, body = post(live_server.url, {"Authorization": f"Token {project_key}"}, files,
                        {"commit": "abc", "build_id": "many"})  # fmt: skip
    assert status == 202, body
    assert RunFile.objects.filter(run_id=body["run"]).count() == 150


def test_it_refuses_a_body_without_a_length(transactional_db, live_server, project_key):
    """A chunked body reaches Django empty: the answer names that, not a missing field."""
    body, boundary = multipart([("a.xml", junit_xml(1))], {"commit": "abc"})
    before = snapshot()
    chunked = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    status, answer = raw_post(live_server.url, project_key, boundary,
                              "Transfer-Encoding: chunked\r\nConnection: close", chunked)  # fmt: skip
    assert (status, answer["error"]) == (400, "length_required"), answer
    assert snapshot() == before


def test_it_refuses_a_key_of_another_project(transactional_db, live_server, other_key, project):
    before = snapshot()
    status, body = post(
        live_server.url, {"Authorization": f"Token {other_key}"}, [("a.xml", junit_xml(1))],
        {"commit": "a", "project": project.slug},
    )  # fmt: skip
    assert (status, body["error"]) == (403, "wrong_project")
    assert snapshot() == before


def test_it_refuses_an_upload_without_a_key(transactional_db, live_server):
    status, body = post(live_server.url, {}, [("a.xml", junit_xml(1))], {"commit": "a"})
    assert (status, body["error"]) == (401, "not_authenticated")
