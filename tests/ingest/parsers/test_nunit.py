"""NUnit 2 and 3 parser: only test-cases count, outcome rules, errors."""

from __future__ import annotations

import io

import pytest

from ingest.parsers import nunit
from ingest.parsers.records import Outcome, ParseError, TestRecord


def parse(data: bytes) -> list[TestRecord]:
    return list(nunit.parse(io.BytesIO(data)))


def nunit3(cases: str) -> bytes:
    return (
        '<?xml version="1.0"?>\n<test-run id="0" result="Failed">\n'
        '<test-suite type="Assembly" name="T.dll" fullname="/b/T.dll" result="Failed">\n'
        "<failure><message><![CDATA[One or more child tests had errors]]></message></failure>\n"
        '<test-suite type="TestFixture" name="C" fullname="Ns.C" result="Failed">\n'
        "<failure><message><![CDATA[One or more child tests had errors]]></message></failure>\n"
        f"{cases}\n</test-suite>\n</test-suite>\n</test-run>\n"
    ).encode()


def case3(name: str, result: str, label: str = "", body: str = "", classname: str = "Ns.C") -> str:
    label_attr = f' label="{label}"' if label else ""
    cls = f' classname="{classname}"' if classname else ""
    return (
        f'<test-case name="{name}" methodname="{name.split("(")[0]}"{cls} result="{result}"'
        f'{label_attr} duration="0.25" start-time="2024-01-01 10:00:00Z">{body}</test-case>'
    )


def test_suites_with_failures_are_not_tests() -> None:
    records = parse(
        nunit3(
            case3(
                "A",
                "Failed",
                body="<failure><message>m</message><stack-trace>at A()</stack-trace></failure>",
            )
        )
    )
    assert len(records) == 1
    (record,) = records
    assert (record.classname, record.name, record.outcome) == ("Ns.C", "A", Outcome.FAILED)
    assert (record.message, record.output, record.duration_ms) == ("m", "at A()", 250)
    assert record.file == "/b/T.dll"
    assert record.started_at is not None and record.started_at.hour == 10


@pytest.mark.parametrize(
    ("result", "label", "expected"),
    [
        ("Passed", "", Outcome.PASSED),
        ("Warning", "", Outcome.PASSED),
        ("Failed", "", Outcome.FAILED),
        ("Failed", "Error", Outcome.ERROR),
        ("Failed", "Invalid", Outcome.ERROR),
        ("Failed", "Cancelled", Outcome.ERROR),
        ("Skipped", "Ignored", Outcome.SKIPPED),
        ("Skipped", "Explicit", Outcome.SKIPPED),
        ("Inconclusive", "", Outcome.SKIPPED),
    ],
)
def test_nunit3_outcomes(result: str, label: str, expected: Outcome) -> None:
    (record,) = parse(nunit3(case3("A", result, label)))
    assert record.outcome is expected


def test_classname_falls_back_to_the_fixture_and_rows_stay_distinct() -> None:
    records = parse(
        nunit3(case3("Even(2)", "Passed", classname="") + case3("Even(3)", "Passed", classname=""))
    )
    assert [(r.classname, r.name) for r in records] == [("Ns.C", "Even(2)"), ("Ns.C", "Even(3)")]


def test_skip_reason_is_the_message_and_internal_properties_are_dropped() -> None:
    body = (
        '<properties><property name="_SKIPREASON" value="x"/><property name="Owner" '
        'value="ann"/></properties><reason><message><![CDATA[not today]]></message></reason>'
    )
    (record,) = parse(nunit3(case3("A", "Skipped", "Ignored", body)))
    assert record.message == "not today"
    assert record.properties == {"Owner": "ann"}


NUNIT2 = b"""<?xml version="1.0"?>
<test-results name="T.dll" total="4">
  <test-suite name="/b/T.dll" success="False" time="1">
    <results>
      <test-suite name="Ns.C" success="False" time="1">
        <results>
          <test-case name="Ns.C.Ok" executed="True" success="True" time="0.010" result="Success"/>
          <test-case name="Ns.C.Err(&quot;a.b&quot;)" executed="True" success="False" time="0.020"
                     result="Error"><failure><message>boom</message></failure></test-case>
          <test-case name="Ns.C.Ign" executed="False" result="Ignored">
            <reason><message>later</message></reason></test-case>
          <test-case name="Ns.C.Old" executed="False"/>
          <test-case name="Ns.C.Bad" executed="True" success="False" time="0.5"/>
        </results>
      </test-suite>
    </results>
  </test-suite>
</test-results>
"""


def test_nunit2_results_and_qualified_names() -> None:
    records = parse(NUNIT2)
    assert [(r.classname, r.name, r.outcome, r.duration_ms) for r in records] == [
        ("Ns.C", "Ok", Outcome.PASSED, 10),
        ("Ns.C", 'Err("a.b")', Outcome.ERROR, 20),
        ("Ns.C", "Ign", Outcome.SKIPPED, None),
        ("Ns.C", "Old", Outcome.SKIPPED, None),
        ("Ns.C", "Bad", Outcome.FAILED, 500),
    ]
    assert records[1].message == "boom"
    assert records[2].message == "later"
    assert {r.file for r in records} == {"/b/T.dll"}


def test_truncated_file_is_refused_with_its_position() -> None:
    with pytest.raises(ParseError) as caught:
        parse(NUNIT2[:300])
    assert caught.value.code == "malformed_xml"
    assert caught.value.line is not None and caught.value.column is not None


def test_a_doctype_is_refused() -> None:
    with pytest.raises(ParseError) as caught:
        parse(
            b'<!DOCTYPE test-run [<!ENTITY x "y">]>'
            b'<test-run><test-case name="&x;" result="Passed"/></test-run>'
        )
    assert caught.value.code == "forbidden_dtd"


def test_sniff() -> None:
    assert nunit.sniff(b'<?xml version="1.0"?>\n<test-run id="2">')
    assert nunit.sniff(b"<!-- c --><test-results name='x'>")
    assert not nunit.sniff(b"<testsuites>")
    assert not nunit.sniff(b"<assemblies>")
