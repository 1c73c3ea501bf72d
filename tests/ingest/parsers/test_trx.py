"""TRX parser: the join in either section order, data-driven rows, outcomes, errors, memory."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ingest.parsers import spillmap, trx
from ingest.parsers.records import Outcome, ParseError, TestRecord
from ingest.parsers.spillmap import SpillMap

REPO = Path(__file__).resolve().parents[3]
NS = "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"


def result(
    test_id: str, name: str, outcome: str = "Passed", extra: str = "", body: str = ""
) -> str:
    return (
        f'<UnitTestResult executionId="x{test_id}" testId="{test_id}" testName="{name}" '
        f'duration="00:00:01.2500000" startTime="2024-03-01T10:00:00.0000000+01:00" '
        f'outcome="{outcome}" {extra}>{body}</UnitTestResult>'
    )


def definition(test_id: str, cls: str, method: str) -> str:
    return (
        f'<UnitTest name="{method}" storage="/b/T.dll" id="{test_id}">'
        f'<TestMethod codeBase="/b/T.dll" className="{cls}" name="{method}"/></UnitTest>'
    )


def document(results: list[str], definitions: list[str], *, results_first: bool = True) -> bytes:
    sections = [
        f"<Results>{''.join(results)}</Results>",
        f"<TestDefinitions>{''.join(definitions)}</TestDefinitions>",
    ]
    if not results_first:
        sections.reverse()
    return f'<?xml version="1.0"?>\n<TestRun xmlns="{NS}">{"".join(sections)}</TestRun>'.encode()


def parse(data: bytes) -> list[TestRecord]:
    return list(trx.parse(io.BytesIO(data)))


@pytest.mark.parametrize("results_first", [True, False])
def test_it_joins_results_to_definitions_in_either_order(results_first: bool) -> None:
    data = document(
        [
            result(
                "a",
                "Ns.C.One",
                "Failed",
                body="<Output><ErrorInfo><Message>bad</Message>"
                "<StackTrace>at Ns.C.One()</StackTrace></ErrorInfo><StdOut>log</StdOut></Output>",
            ),
            result("b", "Ns.C.Two"),
        ],
        [definition("a", "Ns.C", "One"), definition("b", "Ns.C", "Two")],
        results_first=results_first,
    )
    records = parse(data)
    assert [(r.classname, r.name, r.outcome) for r in records] == [
        ("Ns.C", "One", Outcome.FAILED),
        ("Ns.C", "Two", Outcome.PASSED),
    ]
    first = records[0]
    assert first.message == "bad"
    assert first.output == "at Ns.C.One()\nlog"
    assert first.duration_ms == 1250
    assert (
        first.started_at is not None and first.started_at.isoformat() == "2024-03-01T09:00:00+00:00"
    )
    assert first.file == "/b/T.dll"
    assert first.timeline == ""


def test_a_result_without_definition_is_kept_with_an_empty_classname() -> None:
    records = parse(
        document(
            [result("a", "Ns.C.One"), result("z", "Orphan.Test")], [definition("a", "Ns.C", "One")]
        )
    )
    assert [(r.classname, r.name) for r in records] == [("Ns.C", "One"), ("", "Orphan.Test")]


def test_inner_results_are_one_record_each_and_the_aggregate_none() -> None:
    inner = (
        "<InnerResults>"
        + result("d", "", "Passed", 'dataRowInfo="1" resultType="DataDrivenDataRow"')
        + result("d", "", "Failed", 'dataRowInfo="2" resultType="DataDrivenDataRow"')
        + "</InnerResults>"
    )
    records = parse(
        document(
            [result("d", "Add", "Failed", 'resultType="DataDrivenTest"', body=inner)],
            [definition("d", "Ns.Calc", "Add")],
        )
    )
    assert [(r.name, r.outcome) for r in records] == [
        ("Add (Data Row 1)", Outcome.PASSED),
        ("Add (Data Row 2)", Outcome.FAILED),
    ]


def test_theory_rows_and_custom_display_names() -> None:
    records = parse(
        document(
            [
                result("a", "Ns.C.Even(i: 2)"),
                result("b", "Should be even(i: 3)"),
                result("c", "A sentence"),
            ],
            [
                definition("a", "Ns.C", "Even"),
                definition("b", "Ns.C", "Theory"),
                definition("c", "Ns.C", "Fact"),
            ],
        )
    )
    assert [r.name for r in records] == ["Even(i: 2)", "Theory(i: 3)", "Fact"]


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        ("Passed", Outcome.PASSED),
        ("PassedButRunAborted", Outcome.PASSED),
        ("Warning", Outcome.PASSED),
        ("Failed", Outcome.FAILED),
        ("Timeout", Outcome.FAILED),
        ("Error", Outcome.ERROR),
        ("Aborted", Outcome.ERROR),
        ("NotRunnable", Outcome.ERROR),
        ("Disconnected", Outcome.ERROR),
        ("NotExecuted", Outcome.SKIPPED),
        ("Inconclusive", Outcome.SKIPPED),
        ("Pending", Outcome.SKIPPED),
        ("SomethingNew", Outcome.SKIPPED),
    ],
)
def test_outcomes(outcome: str, expected: Outcome) -> None:
    (record,) = parse(document([result("a", "T", outcome)], [definition("a", "C", "T")]))
    assert record.outcome is expected


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("00:00:00.0170545", 17),
        ("00:01:02.5", 62500),
        ("1.02:00:00", 93_600_000),
        ("00:00:00", 0),
        ("", None),
        ("soon", None),
        (None, None),
    ],
)
def test_timespan(text: str | None, ms: int | None) -> None:
    assert trx.timespan_ms(text) == ms


def test_empty_sections_give_no_records() -> None:
    assert parse(document([], [])) == []


def test_it_reads_a_bom() -> None:
    data = b"\xef\xbb\xbf" + document([result("a", "T")], [definition("a", "C", "T")])
    assert [r.name for r in parse(data)] == ["T"]


def test_truncated_file_is_refused_with_its_position() -> None:
    data = document([result("a", "T")], [definition("a", "C", "T")])[:-30]
    with pytest.raises(ParseError) as caught:
        parse(data)
    assert caught.value.code == "malformed_xml"
    assert caught.value.line == 2 and caught.value.column is not None


def test_mismatched_tag_is_refused_with_line_and_column() -> None:
    data = f'<TestRun xmlns="{NS}">\n<Results>\n  <UnitTestResult testId="a"></Result>\n'.encode()
    with pytest.raises(ParseError) as caught:
        parse(data)
    assert caught.value.code == "malformed_xml"
    assert (caught.value.line, caught.value.column) == (3, 39)  # just past "</Result>"


def test_a_doctype_is_refused_even_after_a_long_prologue() -> None:
    data = (
        b"<!--"
        + b"x" * 8000
        + b'-->\n<!DOCTYPE TestRun [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        + f'<TestRun xmlns="{NS}"><Results/></TestRun>'.encode()
    )
    with pytest.raises(ParseError) as caught:
        parse(data)
    assert caught.value.code == "forbidden_dtd"


def test_sniff() -> None:
    assert trx.sniff(f'<?xml version="1.0"?><TestRun xmlns="{NS}">'.encode())
    assert not trx.sniff(b"<testsuites><testsuite>")
    assert not trx.sniff(b"<test-run>")


@pytest.mark.parametrize("results_first", [True, False])
def test_the_join_still_works_once_it_spills_to_disk(
    monkeypatch: pytest.MonkeyPatch, results_first: bool
) -> None:
    monkeypatch.setattr(spillmap, "MEMORY_ITEMS", 3)
    monkeypatch.setattr(spillmap, "BATCH", 2)  # several batched statements, SQL and TRX side
    monkeypatch.setattr(trx, "BATCH", 2)
    ids = [f"id{i}" for i in range(10)]
    data = document(
        [result(i, f"N.C.T{i}") for i in ids] + [result("id4", "N.C.Tid4", "Failed")],
        [definition(i, "N.C", f"T{i}") for i in ids],
        results_first=results_first,
    )
    records = parse(data)
    assert sorted(r.name for r in records) == sorted([f"T{i}" for i in ids] + ["Tid4"])
    again = [r.outcome for r in records if r.name == "Tid4"]
    assert again == [Outcome.PASSED, Outcome.FAILED]  # attempts keep their order


def test_spill_map_keeps_insertion_order_across_memory_and_disk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(spillmap, "BATCH", 2)
    spill = SpillMap(memory_items=2)
    for n in range(6):
        spill.add("k" if n % 2 else "j", (n, f"v{n}"))
    assert len(spill) == 6
    assert spill.get("k") == [(1, "v1"), (3, "v3"), (5, "v5")]
    assert spill.pop("j") == [(0, "v0"), (2, "v2"), (4, "v4")]
    assert spill.pop("j") == []
    assert spill.get_many(["k", "none"]) == {"k": [(1, "v1"), (3, "v3"), (5, "v5")], "none": []}
    assert list(spill.drain()) == [(1, "v1"), (3, "v3"), (5, "v5")]
    assert len(spill) == 0
    spill.close()


MEMORY_SCRIPT = textwrap.dedent(
    """
    import resource, sys
    from ingest.parsers import trx
    n, path, results_first = int(sys.argv[1]), sys.argv[2], sys.argv[3] == "1"
    ns = "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"
    def results(f):
        f.write("<Results>")
        for i in range(n):
            fail = i % 50 == 0
            body = ("<Output><ErrorInfo><Message>boom</Message><StackTrace>at T()</StackTrace>"
                    "</ErrorInfo></Output>") if fail else ""
            f.write(f'<UnitTestResult testId="{i:08d}-aaaa-bbbb-cccc-dddddddddddd" '
                    f'testName="Ns.C{i // 100}.T{i}" duration="00:00:00.0100000" '
                    f'startTime="2024-01-01T00:00:00.0000000+00:00" '
                    f'outcome="{"Failed" if fail else "Passed"}">{body}</UnitTestResult>\\n')
        f.write("</Results>")
    def definitions(f):
        f.write("<TestDefinitions>")
        for i in range(n):
            f.write(f'<UnitTest name="T{i}" storage="/b/T.dll" '
                    f'id="{i:08d}-aaaa-bbbb-cccc-dddddddddddd">'
                    f'<TestMethod codeBase="/b/T.dll" className="Ns.C{i // 100}" name="T{i}"/>'
                    f'</UnitTest>\\n')
        f.write("</TestDefinitions>")
    with open(path, "w") as f:
        f.write(f'<TestRun xmlns="{ns}">')
        for section in ((results, definitions) if results_first else (definitions, results)):
            section(f)
        f.write("</TestRun>")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with open(path, "rb") as f:
        count = sum(1 for _ in trx.parse(f))
    growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    print(count, growth)
    """
)


@pytest.mark.parametrize("results_first", [True, False])
def test_memory_stays_bounded_for_100k_tests(tmp_path: Path, results_first: bool) -> None:
    """Peak RSS growth of a fresh process, which also counts libxml2's memory (tracemalloc sees
    only Python's allocations, not lxml's)."""
    tests = 100_000
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            MEMORY_SCRIPT,
            str(tests),
            str(tmp_path / "big.trx"),
            "1" if results_first else "0",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=240,
    ).stdout.split()
    count, growth_kib = int(out[0]), int(out[1])
    assert count == tests
    # ~40 MB of XML; without the spill the buffered half alone would take ~45 MB.
    assert growth_kib < 32 * 1024, f"peak RSS grew by {growth_kib / 1024:.1f} MB"
