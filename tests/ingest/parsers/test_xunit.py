"""xUnit.net v2 native XML parser: identity, assembly errors, errors."""

from __future__ import annotations

import io

import pytest

from ingest.parsers import xunit
from ingest.parsers.records import Outcome, ParseError, TestRecord

DOC = b"""<?xml version="1.0" encoding="utf-8"?>
<assemblies>
  <assembly name="/b/T.dll" total="4">
    <errors>
      <error type="test-class-cleanup" name="Ns.Fixture">
        <failure exception-type="System.InvalidOperationException">
          <message><![CDATA[dispose failed]]></message>
          <stack-trace><![CDATA[at Ns.Fixture.Dispose()]]></stack-trace>
        </failure>
      </error>
      <error type="fatal">
        <failure exception-type="System.Exception"><message>x</message></failure>
      </error>
    </errors>
    <collection name="Col A" total="3">
      <test name="Ns.C.Even(i: 2)" type="Ns.C" method="Even" time="0.5" result="Pass">
        <traits><trait name="Category" value="fast"/></traits>
        <output><![CDATA[hello]]></output>
      </test>
      <test name="It adds numbers" type="Ns.C" method="Adds" time="0.1" result="Fail">
        <failure exception-type="Xunit.Sdk.EqualException">
          <message/><stack-trace>at Adds()</stack-trace>
        </failure>
      </test>
      <test name="Ns.C.NoMethod" type="Ns.C" time="0" result="NotRun"/>
    </collection>
  </assembly>
</assemblies>
"""


def parse(data: bytes) -> list[TestRecord]:
    return list(xunit.parse(io.BytesIO(data)))


def test_assembly_errors_become_error_records() -> None:
    errors = [r for r in parse(DOC) if r.outcome is Outcome.ERROR]
    assert [(r.classname, r.name, r.message) for r in errors] == [
        ("", "[test-class-cleanup Ns.Fixture]", "dispose failed"),
        ("", "[fatal]", "x"),
    ]
    assert errors[0].output == "at Ns.Fixture.Dispose()"
    assert errors[0].file == "/b/T.dll"


def test_identity_from_type_and_method() -> None:
    tests = [r for r in parse(DOC) if r.outcome is not Outcome.ERROR]
    assert [(r.classname, r.name, r.outcome) for r in tests] == [
        ("Ns.C", "Even(i: 2)", Outcome.PASSED),
        ("Ns.C", "Adds", Outcome.FAILED),
        ("Ns.C", "NoMethod", Outcome.SKIPPED),
    ]
    assert tests[0].properties == {"Category": "fast"}
    assert tests[0].output == "hello"
    assert tests[0].timeline == "Col A"
    # an empty <message/> falls back to the exception type
    assert tests[1].message == "Xunit.Sdk.EqualException"


def test_truncated_file_is_refused_with_its_position() -> None:
    with pytest.raises(ParseError) as caught:
        parse(DOC[:700])
    assert caught.value.code == "malformed_xml"
    assert caught.value.line is not None


def test_an_undefined_entity_is_refused_with_its_position() -> None:
    with pytest.raises(ParseError) as caught:
        parse(b'<assemblies>\n<assembly name="&nope;"/></assemblies>')
    assert caught.value.code == "malformed_xml"
    assert caught.value.line == 2 and caught.value.column is not None
    assert "nope" in caught.value.detail


def test_a_doctype_is_refused() -> None:
    with pytest.raises(ParseError) as caught:
        parse(b'<!DOCTYPE assemblies SYSTEM "http://example.invalid/x.dtd"><assemblies/>')
    assert caught.value.code == "forbidden_dtd"


def test_sniff() -> None:
    assert xunit.sniff(b'<?xml version="1.0"?>\n<assemblies timestamp="x">')
    assert not xunit.sniff(b"<assembly>")
    assert not xunit.sniff(b"<testsuites>")
