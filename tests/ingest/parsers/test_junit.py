"""JUnit XML edge cases that the sample corpus does not cover: hostile input, broken input at a
known position, attempts of every Surefire kind, inheritance from suites, and bounded memory."""

from __future__ import annotations

import io
import time
import tracemalloc
from pathlib import Path

import pytest

from ingest.parsers import junit
from ingest.parsers.records import NAME_LIMIT, Outcome, ParseError, TestRecord
from ingest.parsers.streams import BoundedReader, buffered
from ingest.reading import detect_format
from tests.ingest.parsers.heap import c_heap_in_use


def parse(data: bytes) -> list[TestRecord]:
    return list(junit.parse(io.BytesIO(data)))


def refused(data: bytes) -> ParseError:
    with pytest.raises(ParseError) as caught:
        parse(data)
    return caught.value


def _entity_bomb(levels: int = 10) -> str:
    lines = ['<!ENTITY lol0 "lol">']
    lines += [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, levels)]
    return "<!DOCTYPE testsuites [\n" + "\n".join(lines) + "\n]>\n"


BOMB_BODY = (
    '<testsuites><testsuite name="&lol9;"><testcase name="x">&lol9;</testcase>'
    "</testsuite></testsuites>"
)


# --- sniffing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "accepted"),
    [
        (b'<?xml version="1.0"?>\n<testsuites name="a">', True),
        (b"<testsuite name='x' tests='1'>", True),
        (b"<!-- license -->\n<?xml-stylesheet href='x'?>\n<testsuite>", True),
        (b"<testsuites/>", True),
        (b'<test-run id="2">', False),  # NUnit 3
        (b"<assemblies>", False),  # xUnit.net v2
        (b"<testsuitesX>", False),
        (b'{"results": {}}', False),
    ],
)
def test_sniff(head: bytes, accepted: bool) -> None:
    assert junit.sniff(head) is accepted


# --- hostile input ------------------------------------------------------------------------------


def test_billion_laughs_is_refused_quickly() -> None:
    started = time.monotonic()
    error = refused(('<?xml version="1.0"?>\n' + _entity_bomb() + BOMB_BODY).encode())
    assert error.code == "forbidden_dtd"
    assert time.monotonic() - started < 1


def test_billion_laughs_in_utf16_is_refused_too() -> None:
    document = '<?xml version="1.0" encoding="UTF-16"?>\n' + _entity_bomb() + BOMB_BODY
    assert refused(document.encode("utf-16")).code == "forbidden_dtd"


def test_external_entities_are_refused_and_never_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    for system_id in (secret.as_uri(), "http://127.0.0.1:9/x.dtd"):
        document = (
            f'<!DOCTYPE testsuites [<!ENTITY x SYSTEM "{system_id}">]>'
            '<testsuites><testsuite name="&x;"><testcase name="&x;"/></testsuite></testsuites>'
        ).encode()
        error = refused(document)
        assert error.code == "forbidden_dtd"
        assert "TOP-SECRET" not in error.detail


def test_doctype_after_a_long_prolog_is_still_refused() -> None:
    # Past the look-ahead the byte scan gives up; the parsed document's doctype still counts.
    prolog = "<!--" + "x" * (junit._PROLOG_LIMIT + 10) + "-->\n"
    document = prolog + '<!DOCTYPE testsuites SYSTEM "junit.dtd">\n<testsuites/>'
    assert refused(document.encode()).code == "forbidden_dtd"


def test_entity_bomb_after_a_long_prolog_is_refused_quickly() -> None:
    prolog = "<!--" + "x" * (junit._PROLOG_LIMIT + 10) + "-->\n"
    started = time.monotonic()
    error = refused((prolog + _entity_bomb() + BOMB_BODY).encode())
    assert error.code in {"forbidden_dtd", "malformed_xml"}
    assert time.monotonic() - started < 2


@pytest.mark.parametrize(
    "prolog",
    [
        b"<!DOCTYPE testsuites>",
        b"<?xml version='1.0'?>\n<!-- a comment -->\n<?pi data?>\n<!doctype testsuites>",
        "\ufeff<!-- BOM first --><!DOCTYPE testsuites>".encode(),
        "<?xml version='1.0' encoding='UTF-16'?><!DOCTYPE testsuites>".encode("utf-16"),
        "<?xml version='1.0' encoding='UTF-16BE'?><!DOCTYPE testsuites>".encode("utf-16-be"),
    ],
)
def test_the_prolog_scan_finds_a_doctype_behind_declarations_comments_and_pis(
    prolog: bytes,
) -> None:
    with pytest.raises(ParseError) as caught:
        junit._prolog_done(junit._as_text(prolog), eof=True)  # before lxml could see it
    assert caught.value.code == "forbidden_dtd"


def test_the_prolog_scan_stops_at_the_root_and_waits_for_unfinished_markup() -> None:
    assert junit._prolog_done("<!-- c --><testsuites><!DOCTYPE in content>", eof=False)
    assert not junit._prolog_done("<?xml version='1.0'?><!-- unterminated", eof=False)
    assert not junit._prolog_done("<?xml version='1.0'?><!DOC", eof=False)


def test_reading_refuses_a_doctype_before_the_parser_runs() -> None:
    document = b'<?xml version="1.0"?><!DOCTYPE testsuites><testsuites/>'
    with pytest.raises(ParseError) as caught:
        detect_format(io.BytesIO(document), limit=2**20)
    assert caught.value.code == "forbidden_dtd"


# --- broken input, with where -------------------------------------------------------------------


def test_invalid_utf8_in_the_middle_reports_line_and_column() -> None:
    lines = (
        [b"<testsuites>"]
        + [b'  <testsuite name="s">']
        + [b'    <testcase name="t%d"/>' % i for i in range(500)]
    )
    lines.append(b'    <testcase name="caf\xe9"/>')  # Latin-1 byte in a UTF-8 file
    lines += [b"  </testsuite>", b"</testsuites>"]
    error = refused(b"\n".join(lines))
    assert error.code == "malformed_xml"
    # line 503 is `    <testcase name="caf\xe9"/>`: the bad byte is character 24 (1-based).
    assert (error.line, error.column) == (503, 24)


def test_truncated_file_reports_the_end() -> None:
    document = b'<testsuites>\n<testsuite name="s">\n<testcase name="a"/>\n<testcase name="b" ti'
    error = refused(document)
    assert error.code == "malformed_xml"
    assert (error.line, error.column) == (4, 22)  # `<testcase name="b" ti` is 21 characters


def test_mismatched_tag_reports_where() -> None:
    document = b"<testsuites>\n  <testsuite>\n    <testcase name='a'>\n  </testsuite>\n"
    error = refused(document)
    assert error.code == "malformed_xml"
    assert "mismatch" in error.detail
    assert error.line == 4


def test_columns_count_characters_not_bytes() -> None:
    document = '<testsuites>\n<testsuite name="𒍅𒍅"><bad </testsuite></testsuites>'.encode()
    error = refused(document)
    assert (error.line, error.column) == (2, 27)  # two 4-byte characters count as two


@pytest.mark.parametrize(
    "document",
    [
        b"<r/>",
        b"<foo><testcase name='a'/></foo>",
        b"<test-run><test-case/></test-run>",
        b"<testcase name='a'/>",
        b"<testcase name='a'><failure/></testcase>",
    ],
)
def test_other_roots_are_unsupported(document: bytes) -> None:
    assert refused(document).code == "unsupported_format"


def test_empty_document_is_malformed() -> None:
    assert refused(b"").code == "malformed_xml"


def test_size_limit_of_the_stream_is_not_disguised_as_malformed_xml() -> None:
    document = b"<testsuites><testsuite>" + b'<testcase name="a"/>' * 10_000 + b"</testsuite>"
    with pytest.raises(ParseError) as caught:
        list(junit.parse(buffered(BoundedReader(io.BytesIO(document), 50_000))))
    assert caught.value.code == "file_too_large"


# --- outcomes and attempts ----------------------------------------------------------------------


def test_flaky_errors_come_before_the_final_pass_each_with_its_own_output() -> None:
    records = parse(
        b"""<testsuite name="S"><testcase classname="C" name="t" time="0.5">
        <flakyError message="boom" type="java.lang.IllegalStateException" time="0.2">
          <stackTrace>java.lang.IllegalStateException: boom</stackTrace>
          <system-out>first out</system-out>
        </flakyError>
        <flakyFailure type="java.lang.AssertionError">
          <stackTrace>java.lang.AssertionError: nope
  at C.t(C.java:3)</stackTrace>
          <system-err>second err</system-err>
        </flakyFailure>
        <system-out>final out</system-out>
        </testcase></testsuite>"""
    )
    assert [(r.outcome, r.message) for r in records] == [
        (Outcome.ERROR, "boom"),
        (Outcome.FAILED, "java.lang.AssertionError: nope"),
        (Outcome.PASSED, ""),
    ]
    assert records[0].output == "java.lang.IllegalStateException: boom\nfirst out"
    assert records[1].output == "java.lang.AssertionError: nope\n  at C.t(C.java:3)\nsecond err"
    assert records[2].output == "final out"
    assert [r.duration_ms for r in records] == [200, None, 500]
    assert {(r.classname, r.name) for r in records} == {("C", "t")}


def test_rerun_errors_come_after_the_testcase_own_error() -> None:
    records = parse(
        b"""<testsuite name="S"><testcase classname="C" name="t" time="1">
        <error message="first" type="E">trace one</error>
        <rerunError message="second" type="E"><stackTrace>trace two</stackTrace></rerunError>
        <rerunFailure message="third" type="A"><stackTrace>trace three</stackTrace></rerunFailure>
        </testcase></testsuite>"""
    )
    assert [(r.outcome, r.message, r.output) for r in records] == [
        (Outcome.ERROR, "first", "trace one"),
        (Outcome.ERROR, "second", "trace two"),
        (Outcome.FAILED, "third", "trace three"),
    ]


@pytest.mark.parametrize(
    ("attributes", "outcome"),
    [
        ('status="run" result="skipped"', Outcome.SKIPPED),  # newer gtest
        ('status="notrun"', Outcome.SKIPPED),  # older gtest, disabled test
        ('status="run" result="completed"', Outcome.PASSED),
        ('status="failed"', Outcome.FAILED),  # tst, no child element
        ('status="errored"', Outcome.ERROR),
        ('status="Disabled"', Outcome.SKIPPED),
    ],
)
def test_status_attributes(attributes: str, outcome: Outcome) -> None:
    (record,) = parse(
        f'<testsuites><testsuite><testcase name="a" {attributes}/>'
        "</testsuite></testsuites>".encode()
    )
    assert record.outcome is outcome


def test_child_elements_win_over_status_attributes() -> None:
    (record,) = parse(
        b'<testsuite><testcase name="a" status="disabled"><failure message="m"/>'
        b"</testcase></testsuite>"
    )
    assert (record.outcome, record.message) == (Outcome.FAILED, "m")


def test_message_falls_back_to_the_first_body_line_then_the_type() -> None:
    first, second = parse(
        b"""<testsuite><testcase name="a"><failure>

          AssertionError: 1 != 2
          more</failure></testcase>
        <testcase name="b"><error type="java.lang.OutOfMemoryError"/></testcase></testsuite>"""
    )
    assert first.message == "AssertionError: 1 != 2"
    assert second.message == "java.lang.OutOfMemoryError"


def test_suite_level_failure_in_a_nested_suite() -> None:
    records = parse(
        b"""<testsuites><testsuite name="outer"><testsuite name="inner" file="x.py"
        timestamp="2024-05-01T10:00:00Z"><failure message="setUpClass failed">Traceback</failure>
        </testsuite><testcase name="t"/></testsuite></testsuites>"""
    )
    error, test = records
    assert (error.name, error.classname, error.suite) == ("[suite error]", "inner", "outer / inner")
    assert (error.outcome, error.message, error.output, error.file) == (
        Outcome.ERROR,
        "setUpClass failed",
        "Traceback",
        "x.py",
    )
    assert error.started_at is not None and error.started_at.hour == 10
    assert (test.suite, test.file, test.started_at) == ("outer", "", None)


def test_a_suite_level_error_before_the_testcases_does_not_mix_up_suites() -> None:
    records = parse(
        b"""<testsuites><testsuite name="A" file="a.py" timestamp="2024-01-01T00:00:00Z">
        <testcase name="t1"/></testsuite>
        <testsuite name="B"><properties><property name="worker" value="w2"/></properties>
        <error message="class failed to load"/><testcase name="t2"/></testsuite></testsuites>"""
    )
    assert [(r.name, r.suite, r.file, r.timeline, r.started_at is None) for r in records] == [
        ("t1", "A", "a.py", "", False),
        ("[suite error]", "B", "", "w2", True),
        ("t2", "B", "", "w2", True),
    ]


# --- what testcases inherit ---------------------------------------------------------------------


def test_worker_property_becomes_the_timeline() -> None:
    records = parse(
        b"""<testsuites><testsuite name="a">
          <properties><property name="worker" value="gw1"/></properties>
          <testcase name="inherits"/>
          <testcase name="own"><properties><property name="worker_id" value="gw3"/></properties>
          </testcase>
          <testsuite name="nested"><testcase name="nested inherits"/></testsuite>
        </testsuite>
        <testsuite name="b"><testcase name="none"/></testsuite></testsuites>"""
    )
    assert {r.name: r.timeline for r in records} == {
        "inherits": "gw1",
        "own": "gw3",
        "nested inherits": "gw1",
        "none": "",
    }


def test_properties_are_merged_innermost_first_and_capped() -> None:
    many = "".join(f'<property name="jvm.{i:03d}" value="{"v" * 200}"/>' for i in range(100))
    (record,) = parse(
        f"""<testsuites><properties><property name="run" value="root"/>
        <property name="shared" value="root"/></properties>
        <testsuite name="s"><properties><property name="shared" value="suite"/>
        <property name="dup" value="first"/><property name="dup" value="last"/>{many}
        </properties><testcase name="t"><properties><property name="own" value="case"/>
        <property name="shared" value="case"/></properties></testcase></testsuite>
        </testsuites>""".encode()
    )
    props = record.properties
    assert props["own"] == "case" and props["shared"] == "case" and props["dup"] == "last"
    assert sum(len(k) + len(v) for k, v in props.items()) <= junit.PROPERTIES_LIMIT
    assert len(props) < 100  # the JVM dump did not all fit


def test_a_huge_property_value_is_clipped() -> None:
    (record,) = parse(
        f'<testsuite name="s"><properties><property name="java.class.path" value="{"x" * 50_000}"/>'
        '</properties><testcase name="t"/></testsuite>'.encode()
    )
    assert len(record.properties["java.class.path"]) == junit.PROPERTY_VALUE_LIMIT


def test_attribute_layouts_can_change_from_one_testcase_to_the_next() -> None:
    a, b, c, d = parse(
        b"""<testsuite name="s" file="suite.py" timestamp="2024-01-01T00:00:00Z">
        <testcase name="a" classname="A" time="1"/>
        <testcase time="2" name="b" line="7"/>
        <testcase classname="C" name="c" file="c.py" line="3" timestamp="2024-02-02T00:00:00Z"/>
        <testcase duration="4" name="d" line="x"/>
        </testsuite>"""
    )
    assert (a.name, a.classname, a.duration_ms, a.file, a.line) == (
        "a",
        "A",
        1000,
        "suite.py",
        None,
    )
    assert (b.name, b.classname, b.duration_ms, b.line) == ("b", "", 2000, 7)
    assert (c.classname, c.file, c.line) == ("C", "c.py", 3)
    assert (d.name, d.duration_ms, d.line) == ("d", 4000, None)  # Bazel's duration; bad line
    assert [r.started_at and r.started_at.month for r in (a, b, c, d)] == [1, 1, 2, 1]


def test_long_names_are_clipped() -> None:
    long = "n" * (NAME_LIMIT + 50)
    (record,) = parse(
        f'<testsuite name="{long}"><testcase classname="{long}" name="{long}" '
        f'file="{long}"/></testsuite>'.encode()
    )
    assert {len(record.name), len(record.classname), len(record.file), len(record.suite)} == {
        NAME_LIMIT
    }


def test_ampersands_in_attributes_read_as_written() -> None:
    # libxml2 hands a parser target each `&` of an attribute value as `&#38;`.
    records = parse(
        b'<testsuite name="a &amp; b" file="x&#38;y"><properties><property name="p" '
        b'value="1&amp;2&#x26;3"/></properties><testcase name="&amp;&lt;&#38;" '
        b'classname="c&amp;amp;"/><testcase name="t&amp;"><failure message="m&amp;">'
        b"body &amp;</failure></testcase></testsuite>"
    )
    assert [(r.name, r.classname, r.suite, r.file) for r in records] == [
        ("&<&", "c&amp;", "a & b", "x&y"),
        ("t&", "", "a & b", "x&y"),
    ]
    assert records[0].properties == {"p": "1&2&3"} and records[1].message == "m&"
    assert records[1].output == "body &"


def test_text_of_a_testcase_itself_and_between_suites_is_not_output() -> None:
    (plain, failed) = parse(
        b"<testsuites>stray<testsuite name='s'>more<testcase name='a'>own text</testcase>tail"
        b"<testcase name='b'>own<system-out>out</system-out>between<failure>why</failure>"
        b"</testcase></testsuite></testsuites>"
    )
    assert (plain.output, failed.output, failed.message) == ("", "why\nout", "why")


def test_a_text_node_past_libxml2s_limit_is_cut_not_refused() -> None:
    # 10.8 MB of output: libxml2 would refuse such a node in a tree; a test's log is kept cut.
    head = b"<testsuite><testcase name='a'><system-out>"
    (record,) = parse(
        head + b"output line\n" * 900_000 + b"</system-out><failure message='m'/></testcase>"
        b"<testcase name='b'/></testsuite>"
    )[:1]
    assert record.outcome == Outcome.FAILED
    assert record.output.startswith("output line\noutput line\n")
    assert len(record.output.encode()) <= 64 * 1024


@pytest.mark.parametrize("char", ["é", "€", "🦀"])  # 2, 3 and 4 bytes in UTF-8
def test_message_and_output_keep_4_and_64_kb_of_utf8_in_whole_characters(char: str) -> None:
    text = char * 70_000
    (record,) = parse(
        f"<testsuite><testcase name='a'><failure message='{text}'>{text}</failure>"
        "</testcase></testsuite>".encode()
    )
    for kept, limit in ((record.message, 4 * 1024), (record.output, 64 * 1024)):
        size = len(kept.encode())
        assert limit - len(char.encode()) < size <= limit
        assert kept.endswith("\n[... truncated]") and kept.startswith(char * 100)
    (short,) = parse(
        f"<testsuite><testcase name='a'><failure message='{char * 900}'/>"
        "</testcase></testsuite>".encode()
    )
    assert short.message == char * 900


def test_a_default_namespace_does_not_hide_the_tests() -> None:
    (record,) = parse(
        b'<testsuites xmlns="urn:example"><testsuite name="s"><testcase name="t">'
        b'<skipped message="later"/></testcase></testsuite></testsuites>'
    )
    assert (record.suite, record.outcome, record.message) == ("s", Outcome.SKIPPED, "later")


# --- memory -------------------------------------------------------------------------------------

TESTCASES = 100_000


def _write_large_report(path: Path) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.write('<?xml version="1.0" encoding="utf-8"?>\n<testsuites name="pytest tests">\n')
        out.write(
            f'<testsuite name="pytest" tests="{TESTCASES}" timestamp="2025-01-01T00:00:00">\n'
        )
        for i in range(TESTCASES):
            head = (
                f'<testcase classname="tests.test_module_{i // 500}.'
                f'TestSomethingRatherLongerThanUsual" '
                f'name="test_case_number_{i}_with_a_rather_longer_name[param-{i % 7}]" '
                f'file="tests/test_module_{i // 500}.py" line="{i % 900 + 1}" '
                f'time="{(i % 1000) / 1000:.3f}"'
            )
            if i % 20 == 0:
                out.write(
                    f'{head}><failure message="assert {i} == 0">E assert {i} == 0'
                    "</failure></testcase>\n"
                )
            else:
                out.write(head + "/>\n")
        out.write("</testsuite>\n</testsuites>\n")


def test_memory_stays_bounded_on_a_large_report(tmp_path: Path) -> None:
    path = tmp_path / "large.xml"
    _write_large_report(path)
    assert path.stat().st_size > 20_000_000

    failed = count = 0
    base = c_heap_in_use()
    peak_heap = base or 0
    tracemalloc.start()
    try:
        with path.open("rb") as raw:
            for record in junit.parse(io.BufferedReader(raw, 256 * 1024)):
                count += 1
                failed += record.outcome is Outcome.FAILED
                if count % 5000 == 0 and base is not None:
                    peak_heap = max(peak_heap, c_heap_in_use() or 0)
        _, peak_traced = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert (count, failed) == (TESTCASES, TESTCASES // 20)
    # Python objects: records are dropped as they are consumed, caches are capped.
    assert peak_traced < 20 * 2**20
    # libxml2's tree is invisible to tracemalloc; the C heap shows it. Keeping every testcase
    # element would add well over 100 MB here.
    if base is not None:
        assert peak_heap - base < 20 * 2**20


# --- testcases read without elements ------------------------------------------------------------

_LONG = "x" * 40_000  # longer than one feed: the text must survive across feeds

_SIMPLE_CHILDREN = f"""<testsuites><testsuite name="s" timestamp="2026-01-02T03:04:05Z">
  <properties><property name="worker" value="gw0"/><property name="shared" value="suite"/></properties>
  <testcase name="props" classname="C" time="0.5"><properties>
    <property name="worker" value=" gw2 "/><property name="shared" value="case &amp; co"/>
    <property name="" value="nameless"/></properties></testcase>
  <testcase name="fails" classname="C" file="c.py"><properties><property name="k" value="v"/>
    </properties><failure message="" type="AssertionError" file="f.py" line="12">
first line
  second &lt;line&gt;</failure><system-out>out 1</system-out><system-out>out 2</system-out>
    <system-err>err</system-err></testcase>
  <testcase name="errs" time="2,503.1"><error type="E" line="3"><![CDATA[{_LONG}]]></error></testcase>
  <testcase name="skips" line="4"><skipped message="later" file="ignored.py"/></testcase>
  <testcase name="status" status="failed"><properties><property name="a" value="b"/></properties>
  </testcase>
  <testcase name="two bodies"><failure message="one"/><error message="two"/></testcase>
  <testcase name="text property"><properties><property name="p">text value</property>
  </properties></testcase>
  <testcase name="nested"><failure message="m">before<b>bold</b>after</failure></testcase>
  <testcase name="time child"><time>2.5</time><system-out>o</system-out></testcase>
  <testcase name="surefire"><properties><property name="a" value="1"/></properties>
    <flakyFailure message="first"><stackTrace>trace</stackTrace></flakyFailure></testcase>
  <testcase name="&amp;amp" classname="A&amp;B"><skipped/></testcase>
  <testcase name="childless"/>
</testsuite></testsuites>"""


def _both_ways(data: bytes, monkeypatch: pytest.MonkeyPatch) -> tuple[list, list]:
    fast = parse(data)
    monkeypatch.setattr(junit, "_CASE_FAST", False)
    built = parse(data)
    monkeypatch.setattr(junit, "_CASE_FAST", True)
    return fast, built


def test_simple_children_read_without_elements_give_what_the_element_path_gives(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fast, built = _both_ways(_SIMPLE_CHILDREN.encode(), monkeypatch)
    assert fast == built
    by_name = {r.name: r for r in fast}
    assert len(fast) == 13  # 12 testcases, the surefire one with two attempts
    # Spot checks that the comparison compares something.
    assert by_name["props"].timeline == "gw2"
    assert by_name["props"].properties == {"worker": " gw2 ", "shared": "case & co"}
    fails = by_name["fails"]
    assert (fails.outcome, fails.message, fails.file, fails.line) == (
        Outcome.FAILED, "first line", "c.py", 12,
    )  # fmt: skip
    assert fails.output == "first line\n  second <line>\nout 1\nout 2\nerr"
    assert fails.timeline == "gw0" and fails.properties["k"] == "v"
    assert by_name["errs"].output == _LONG and by_name["errs"].duration_ms == 2_503_100
    assert by_name["skips"].outcome == Outcome.SKIPPED and by_name["skips"].file == ""
    assert by_name["status"].outcome == Outcome.FAILED
    assert by_name["two bodies"].outcome == Outcome.ERROR
    assert by_name["nested"].output == "beforeboldafter"
    assert by_name["&amp"].classname == "A&B"


def test_every_junit_sample_reads_the_same_without_elements(
    samples_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.ingest.parsers.expectations import load

    expected, _errors = load()
    paths = sorted(path for path, (_, exp) in expected.items() if exp.format == "junit")
    assert len(paths) >= 20
    with_children = 0
    for path in paths:
        data = (samples_dir / path).read_bytes()
        fast, built = _both_ways(data, monkeypatch)
        assert fast == built, path
        with_children += b"</testcase>" in data
    assert with_children >= 10  # the fast path was taken somewhere
