"""go test -json parser: parents and subtests, cut streams, package and build failures,
non-JSON lines, errors with positions, bounded memory."""

from __future__ import annotations

import io
import json
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from ingest.parsers import dart, gotest
from ingest.parsers.records import ParseError, TestRecord

PKG = "example.com/app"


def ev(action: str, test: str | None = None, **fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "Time": "2024-05-01T12:00:00.5+02:00",
        "Action": action,
        "Package": PKG,
    }
    if test is not None:
        event["Test"] = test
    event.update(fields)
    return event


def out(test: str | None, text: str) -> dict[str, Any]:
    return ev("output", test, Output=text)


def stream(*events: dict[str, Any] | str) -> bytes:
    return "".join((e if isinstance(e, str) else json.dumps(e)) + "\n" for e in events).encode()


def parse(data: bytes) -> list[TestRecord]:
    return list(gotest.parse(io.BytesIO(data)))


def summary(records: list[TestRecord]) -> list[tuple[str, str]]:
    return [(r.name, r.outcome.label) for r in records]


def test_a_parent_failing_only_through_its_subtest_is_not_a_record() -> None:
    records = parse(
        stream(
            ev("run", "TestP"),
            out("TestP", "=== RUN   TestP\n"),
            ev("run", "TestP/a"),
            ev("run", "TestP/b"),
            out("TestP/a", "    x_test.go:9: boom\n"),
            out("TestP/a", "    --- FAIL: TestP/a (0.00s)\n"),
            ev("fail", "TestP/a", Elapsed=0.01),
            ev("pass", "TestP/b", Elapsed=0.02),
            out("TestP", "--- FAIL: TestP (0.03s)\n"),
            ev("fail", "TestP", Elapsed=0.03),
            ev("fail", Elapsed=0.1),
        )
    )
    assert summary(records) == [("TestP/a", "failed"), ("TestP/b", "passed")]
    assert records[0].message == "x_test.go:9: boom"
    assert records[0].duration_ms == 10
    assert records[0].classname == PKG and records[0].timeline == PKG


def test_a_parent_with_its_own_failure_is_a_record() -> None:
    records = parse(
        stream(
            ev("run", "TestP"),
            ev("run", "TestP/a"),
            ev("fail", "TestP/a"),
            out("TestP", "    x_test.go:20: cleanup failed\n"),
            ev("fail", "TestP"),
        )
    )
    assert summary(records) == [("TestP/a", "failed"), ("TestP", "failed")]
    assert records[1].message == "x_test.go:20: cleanup failed"


def test_a_parent_failing_while_its_subtests_pass_is_a_record() -> None:
    records = parse(
        stream(ev("run", "TestP"), ev("run", "TestP/a"), ev("pass", "TestP/a"), ev("fail", "TestP"))
    )
    assert summary(records) == [("TestP/a", "passed"), ("TestP", "failed")]


def test_a_passing_parent_is_represented_by_its_subtests() -> None:
    records = parse(
        stream(
            ev("run", "TestP"),
            ev("run", "TestP/a"),
            ev("run", "TestP/a/deep"),
            ev("pass", "TestP/a/deep"),
            ev("pass", "TestP/a"),
            ev("pass", "TestP"),
        )
    )
    assert summary(records) == [("TestP/a/deep", "passed")]


def test_interleaved_parallel_output_goes_to_its_test() -> None:
    records = parse(
        stream(
            ev("run", "TestA"),
            ev("run", "TestB"),
            out("TestA", "    a.go:1: from A\n"),
            out("TestB", "    b.go:1: from B\n"),
            ev("fail", "TestB"),
            ev("fail", "TestA"),
        )
    )
    assert [(r.name, r.message) for r in records] == [
        ("TestB", "b.go:1: from B"),
        ("TestA", "a.go:1: from A"),
    ]


def test_a_test_without_a_final_event_fails_when_its_package_ends() -> None:
    records = parse(
        stream(
            ev("run", "TestHang"),
            out("TestHang", "panic: test timed out after 10m0s\n"),
            out(None, "FAIL\texample.com/app\t600.1s\n"),
            ev("fail", Elapsed=600.1),
        )
    )
    assert summary(records) == [("TestHang", "failed")]
    assert "no result" in records[0].message and "panic: test timed out" in records[0].message


def test_a_cut_stream_fails_the_running_tests() -> None:
    data = stream(ev("run", "TestA"), ev("pass", "TestA"), ev("run", "TestB"))
    data += b'{"Time":"2024-05-01T12:00:01Z","Action":"out'  # the last line cut mid-way
    assert summary(parse(data)) == [("TestA", "passed"), ("TestB", "failed")]


def test_a_package_failing_without_a_failed_test_is_one_error() -> None:
    records = parse(
        stream(
            ev("run", "TestA"),
            ev("pass", "TestA"),
            out(None, "panic: TestMain exploded\n"),
            out(None, "FAIL\texample.com/app\t0.1s\n"),
            ev("fail", Elapsed=0.1),
        )
    )
    assert summary(records) == [("TestA", "passed"), ("[package failed]", "error")]
    assert records[1].message.startswith("panic: TestMain exploded")


def test_an_old_style_build_failure_is_one_error_per_package() -> None:
    records = parse(
        stream(
            "# example.com/app",
            "./a.go:3:1: syntax error",
            out(None, "FAIL\texample.com/app [build failed]\n"),
            ev("fail", Elapsed=0),
        )
    )
    assert summary(records) == [("[build failed]", "error")]


def test_build_fail_events_without_a_package_event_are_still_reported() -> None:
    records = parse(
        stream(
            {
                "ImportPath": "example.com/lib [example.com/lib.test]",
                "Action": "build-output",
                "Output": "./l.go:1: nope\n",
            },
            {"ImportPath": "example.com/lib [example.com/lib.test]", "Action": "build-fail"},
        )
    )
    assert [(r.classname, r.name, r.message) for r in records] == [
        ("example.com/lib", "[build failed]", "./l.go:1: nope")
    ]


def test_output_after_a_test_ended_opens_no_phantom_test() -> None:
    records = parse(
        stream(
            ev("run", "TestA"),
            ev("pass", "TestA"),
            out("TestA", "late line misattributed by test2json\n"),
            ev("pass"),
            ev("pass", "TestNoRun", Elapsed=0.5),
        )
    )
    assert summary(records) == [("TestA", "passed"), ("TestNoRun", "passed")]


def test_reruns_are_later_records_of_the_same_test() -> None:
    records = parse(
        stream(
            ev("run", "TestF"),
            ev("fail", "TestF"),
            ev("fail"),
            ev("run", "TestF"),
            ev("pass", "TestF"),
            ev("pass"),
        )
    )
    assert summary(records) == [("TestF", "failed"), ("TestF", "passed")]


def test_non_json_lines_are_skipped() -> None:
    records = parse(
        stream(
            "garbage before",
            ev("run", "TestA"),
            "[1, 2]",
            "{broken",
            ev("pass", "TestA", Elapsed=1.5),
        )
    )
    assert [(r.name, r.duration_ms) for r in records] == [("TestA", 1500)]
    assert records[0].started_at is not None and records[0].started_at.hour == 10


def test_invalid_utf8_is_refused_with_line_and_column() -> None:
    data = stream(ev("run", "TestA")) + b'{"Action":"output","Output":"caf\xe9"}\n'
    with pytest.raises(ParseError) as caught:
        parse(data)
    assert caught.value.code == "malformed_json"
    assert (caught.value.line, caught.value.column) == (2, 33)  # the byte after "caf"


def test_a_stream_without_any_json_event_is_refused_at_the_first_bad_line() -> None:
    with pytest.raises(ParseError) as caught:
        parse(b'\n\n{"Action": oops}\nplain text\n')
    assert caught.value.code == "malformed_json"
    assert (caught.value.line, caught.value.column) == (3, 12)


def test_a_bom_is_skipped() -> None:
    assert summary(parse(b"\xef\xbb\xbf" + stream(ev("run", "T"), ev("skip", "T")))) == [
        ("T", "skipped")
    ]


def test_sniff() -> None:
    assert gotest.sniff(stream(ev("start"), ev("run", "T")))
    assert gotest.sniff(b"warning: stray\n" + stream(ev("run", "T")))
    assert gotest.sniff(b'{"ImportPath":"x [x.test]","Action":"build-output","Output":"#"}\n')
    assert not gotest.sniff(b'{"protocolVersion":"0.1.1","type":"start","time":0}\n')
    assert not gotest.sniff(b'{\n  "results": {"tool": {"name": "x"}, "tests": []}}')
    assert not dart.sniff(stream(ev("run", "T")))


def test_memory_stays_bounded_for_100k_tests(tmp_path: Path) -> None:
    tests = 100_000
    path = tmp_path / "big.jsonl"
    with path.open("w") as f:
        for i in range(tests):
            name = f"Test{i}"
            package = f"example.com/svc/p{i // 1000}"
            if i % 50:
                f.write(
                    f'{{"Action":"run","Package":"{package}","Test":"{name}"}}\n'
                    f'{{"Action":"pass","Package":"{package}","Test":"{name}","Elapsed":0.01}}\n'
                )
            else:
                f.write(
                    f'{{"Action":"run","Package":"{package}","Test":"{name}"}}\n'
                    f'{{"Action":"output","Package":"{package}","Test":"{name}",'
                    f'"Output":"    x_test.go:1: {"x" * 200}\\n"}}\n'
                    f'{{"Action":"fail","Package":"{package}","Test":"{name}"}}\n'
                )
    tracemalloc.start()
    try:
        with path.open("rb") as f:
            count = sum(1 for _ in gotest.parse(f))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == tests
    assert peak < 2 * 2**20, f"peak {peak / 2**20:.1f} MB"


OWN_SAMPLES = {
    "trx": "trx/",
    "nunit": "nunit/",
    "xunit": "xunit-net/xunit2-native-assemblies.xml",
    "gotest": "go-test-json/",
    "dart": "dart/",
    "mocha": "mocha/mocha-json-reporter.json",
    "rspec": "rspec/",
}


def test_the_sniffers_of_these_formats_claim_exactly_their_own_samples(samples_dir: Path) -> None:
    """Over the whole corpus (JUnit dialects and CTRF included), each of these sniffers accepts
    its own samples and nothing else."""
    from ingest.parsers import mocha, nunit, rspec, trx, xunit
    from ingest.parsers.streams import read_head

    sniffers = {
        "trx": trx,
        "nunit": nunit,
        "xunit": xunit,
        "gotest": gotest,
        "dart": dart,
        "mocha": mocha,
        "rspec": rspec,
    }
    checked = 0
    for path in sorted(samples_dir.rglob("*")):
        relative = str(path.relative_to(samples_dir))
        if not path.is_file() or path.suffix == ".md" or relative.startswith("schemas/"):
            continue
        with path.open("rb") as raw:
            head = read_head(raw, limit=2**26)
        claimed = {name for name, module in sniffers.items() if module.sniff(head)}
        owner = {name for name, prefix in OWN_SAMPLES.items() if relative.startswith(prefix)}
        assert claimed == owner, relative
        checked += 1
    assert checked >= 60
