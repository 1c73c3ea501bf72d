"""Test identity: the rules on normalized records, and the same suite uploaded in two formats
through the API becoming one set of tests."""

from __future__ import annotations

import json
from xml.sax.saxutils import quoteattr

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from ingest.identity import identity, path, resolve, stable_name, test_id
from ingest.models import Result, Run, Test
from ingest.parsers.records import Outcome, TestRecord
from ingest.services import run_parse


def rec(name: str, classname: str = "", suite: str = "", file: str = "") -> TestRecord:
    return TestRecord(
        name=name, outcome=Outcome.PASSED, classname=classname, suite=suite, file=file
    )


# --- Rules -------------------------------------------------------------------------------------


def test_pytest_junit_and_ctrf_records_are_one_test() -> None:
    junit = rec(
        "test_get[small-1]",
        classname="tests.cache.test_store.TestStore",
        suite="pytest",
        file="tests/cache/test_store.py",
    )
    ctrf = rec(
        "test_get[small-1]",
        suite="tests/cache/test_store.py / tests.cache.test_store.TestStore",
        file="tests/cache/test_store.py",
    )
    # A CTRF reader that took the last suite element as the classname agrees too.
    ctrf_with_class = rec(
        "test_get[small-1]",
        classname="tests.cache.test_store.TestStore",
        suite="tests/cache/test_store.py / tests.cache.test_store.TestStore",
        file="tests/cache/test_store.py",
    )
    expected = ("tests.cache.test_store.TestStore", "test_get[small-1]")
    assert identity(junit) == identity(ctrf) == identity(ctrf_with_class) == expected


def test_a_module_level_pytest_function_keeps_its_module_as_scope() -> None:
    junit = rec("test_ping", classname="tests.cache.test_store", file="tests/cache/test_store.py")
    ctrf = rec(
        "test_ping",
        suite="tests/cache/test_store.py / tests.cache.test_store",
        file="./tests/cache/test_store.py",
    )
    assert identity(junit) == identity(ctrf) == ("tests.cache.test_store", "test_ping")


def test_a_pytest_node_id_as_the_name_splits_like_pytests_junit_writer() -> None:
    nodeid = rec("tests/cache/test_store.py::TestStore::test_get[a::b]")
    assert identity(nodeid) == ("tests.cache.test_store.TestStore", "test_get[a::b]")
    assert identity(rec("tests/test_x.py::test_y")) == ("tests.test_x", "test_y")
    # Not a Python file: not a pytest node id.
    assert identity(rec("spec.js::works", file="spec.js")) == ("spec.js", "spec.js::works")


def test_go_json_and_gotestsum_junit_records_are_one_test() -> None:
    pkg = "github.com/acme/cache"
    go_json = rec("TestStore/get#01", classname=pkg)
    junit = rec("TestStore/get#01", classname=pkg, suite=pkg, file="store_test.go")
    assert identity(go_json) == identity(junit) == (pkg, "TestStore/get#01")
    # gotestsum leaves classname empty on TestMain's case; its suite is still the package.
    assert identity(rec("TestMain", suite=pkg)) == identity(rec("TestMain", classname=pkg))


def test_dotnet_records_agree_whatever_the_assembly_path() -> None:
    cls = "Acme.Cache.Tests.StoreTests"
    trx = rec("Is_Even(i: 2)", classname=cls, file=r"C:\build\bin\Debug\Acme.Cache.Tests.dll")
    xunit = rec("Is_Even(i: 2)", classname=cls, file=r"C:\agent\_work\bin\Acme.Cache.Tests.DLL")
    nunit = rec("Is_Even(i: 2)", classname=cls, file="/home/ci/bin/Acme.Cache.Tests.dll")
    assert identity(trx) == identity(xunit) == identity(nunit) == (cls, "Is_Even(i: 2)")
    # xUnit's JUnit transform writes the fully qualified method with no classname.
    transform = rec("Acme.Cache.Tests.StoreTests.Is_Even(i: 2)", suite="Test collection")
    assert identity(transform) == identity(xunit)
    # A sentence with dots is not a qualified method.
    assert identity(rec("v1.2 parses", file="a.js")) == ("a.js", "v1.2 parses")


def test_describe_chains_are_scoped_by_their_file() -> None:
    a = rec("renders", suite="Button / dark", file="src/a.test.js")
    b = rec("renders", suite="Button / dark", file="src/b.test.js")
    c = rec("renders", suite="Button / light", file="src/a.test.js")
    assert len({identity(a), identity(b), identity(c)}) == 3
    assert identity(a) == ("src/a.test.js / Button / dark", "renders")
    # CTRF 1.0 `suite: [file, describe]` and legacy `"a.test.js > describe"` agree.
    current = rec("renders", suite="src/a.test.js / Button / dark", file="src/a.test.js")
    legacy = rec("renders", suite="a.test.js > Button > dark", file="src/a.test.js")
    assert identity(current) == identity(legacy) == identity(a)


def test_file_paths_are_normalized() -> None:
    assert path(r".\tests\cache\test_store.py") == "tests/cache/test_store.py"
    assert path("./././tests//cache/./x.py") == "tests/cache/x.py"
    assert path("  tests/x.py\n") == "tests/x.py"
    windows = rec("renders", suite="Button", file=r".\src\a.test.js")
    assert identity(windows) == identity(rec("renders", suite="Button", file="src/a.test.js"))
    assert resolve(windows).file == "src/a.test.js"


def test_whitespace_is_trimmed_and_line_breaks_read_as_xml_reads_them() -> None:
    assert identity(rec("  test_a \n", classname=" m.C ")) == ("m.C", "test_a")
    # JUnit's XML attribute turns a line break into a space; CTRF's JSON keeps it.
    assert identity(rec("adds\r\nrows", classname="m.C")) == identity(
        rec("adds rows", classname="m.C")
    )
    assert identity(rec("a\tb", classname="m.C")) == identity(rec("a b", classname="m.C"))
    # Runs of spaces are kept: these are two tests of a whitespace-sensitive function.
    assert identity(rec("stringify a  b", classname="m.C")) != identity(
        rec("stringify a b", classname="m.C")
    )
    # Unicode: composed and decomposed spellings are one name.
    assert identity(rec("caf\u00e9", classname="m.C")) == identity(
        rec("cafe\u0301", classname="m.C")
    )


def test_parameters_are_part_of_the_name() -> None:
    one = rec("test_put[small-1]", classname="m.C")
    two = rec("test_put[large-2]", classname="m.C")
    bare = rec("test_put", classname="m.C")
    assert len({identity(one), identity(two), identity(bare)}) == 3


def test_unstable_parameter_values_are_masked() -> None:
    a = "test_lru[<tests.cache.Clock object at 0x7f3a2b1c4d50>]"
    b = "test_lru[<tests.cache.Clock object at 0x7f99001c0a10>]"
    assert stable_name(a) == stable_name(b) == "test_lru[<tests.cache.Clock object at 0x…>]"
    assert stable_name("test_x[0x000001F2A3B4C5D6]") == "test_x[0x…]"
    # Clock readings: microseconds or finer, as now() prints them; Unix times with decimals.
    assert stable_name("test_at[2026-11-02 10:00:00.123456]") == "test_at[<time>]"
    assert stable_name("Expires(at: 2026-11-02T10:00:00.1234567+00:00)") == "Expires(at: <time>)"
    assert stable_name("TestTTL/2026-11-02_10:00:00.123456Z") == "TestTTL/<time>"
    assert stable_name("test_epoch[1762077600.123456]") == "test_epoch[<time>]"
    assert identity(rec(a, classname="m.C")) == identity(rec(b, classname="m.C"))


def test_stable_parameter_values_are_kept() -> None:
    for name in (
        "test_parse[2026-11-02T10:00:00Z]",  # a literal timestamp a test chose
        "test_parse[2026-11-02T10:00:00.123Z]",
        "test_parse[2026-11-02]",
        "test_mask[0xdeadbeef]",  # a literal hex value, not an address
        "test_big[1762077600]",
    ):
        assert stable_name(name) == name
    assert identity(rec("test_parse[2026-11-02T10:00:00Z]", classname="m.C")) != identity(
        rec("test_parse[2026-11-02T11:00:00Z]", classname="m.C")
    )


def test_test_id_is_a_stable_63_bit_hash_per_project() -> None:
    ident = ("tests.cache.test_store.TestStore", "test_get")
    assert test_id(1, ident) == test_id(1, ident)
    assert test_id(1, ident) != test_id(2, ident)
    assert 0 <= test_id(1, ident) < 2**63
    # A known value: changing the hash would silently split every test's history.
    assert test_id(7, ("a", "b")) == 1131240607725253958


# --- The same suite in two formats, through the API -------------------------------------------

PYTEST_TESTS = [
    # (file, classname, name, outcome)
    ("tests/cache/test_store.py", "tests.cache.test_store.TestStore", "test_get", "passed"),
    (
        "tests/cache/test_store.py",
        "tests.cache.test_store.TestStore",
        "test_put[small-1]",
        "passed",
    ),
    (
        "tests/cache/test_store.py",
        "tests.cache.test_store.TestStore",
        "test_put[large-2]",
        "failed",
    ),
    ("tests/cache/test_store.py", "tests.cache.test_store", "test_module_level", "skipped"),
    (
        "tests/cache/test_evict.py",
        "tests.cache.test_evict.TestEvict",
        "test_lru[{clock}]",
        "passed",
    ),
]


def pytest_junit(clock: str) -> bytes:
    cases = []
    for i, (file, classname, name, outcome) in enumerate(PYTEST_TESTS):
        body = {
            "passed": "",
            "failed": '<failure message="assert 1 == 2">assert 1 == 2</failure>',
            "skipped": '<skipped type="pytest.skip" message="no redis"/>',
        }[outcome]
        name = quoteattr(name.format(clock=clock))
        cases.append(
            f"<testcase classname={quoteattr(classname)} name={name} "
            f'file="{file}" line="{10 + i}" time="0.01{i}">{body}</testcase>'
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests">'
        '<testsuite name="pytest" tests="5" timestamp="2026-11-02T10:00:00Z">'
        + "".join(cases)
        + "</testsuite></testsuites>"
    ).encode()


def pytest_ctrf(clock: str) -> bytes:
    tests = [
        {
            "name": name.format(clock=clock),
            "status": outcome,
            "duration": 10 + i,
            # What pytest CTRF reporters write: the file, then the dotted class (or module).
            "suite": [file, classname],
            "filePath": file,
            "line": 10 + i,
            **({"message": "assert 1 == 2"} if outcome == "failed" else {}),
        }
        for i, (file, classname, name, outcome) in enumerate(PYTEST_TESTS)
    ]
    doc = {
        "reportFormat": "CTRF",
        "specVersion": "1.0.0",
        "results": {
            "tool": {"name": "pytest"},
            "summary": {
                "tests": 5,
                "passed": 3,
                "failed": 1,
                "pending": 0,
                "skipped": 1,
                "other": 0,
                "start": 1762077600000,
                "stop": 1762077601000,
            },  # fmt: skip
            "tests": tests,
        },
    }
    return json.dumps(doc).encode()


DOTNET_CLASS = "Acme.Cache.Tests.StoreTests"
DOTNET_METHODS = ["Get_Returns_Value", "Put_Overwrites", "Evict_Oldest", "Skipped_Test"]


def trx(rows: list[tuple[str, str]], assembly: str) -> bytes:
    """A TRX as `dotnet test --logger trx` writes it: (method, display name) per result."""
    definitions, results = [], []
    for i, (method, display) in enumerate(rows):
        test_id_ = f"00000000-0000-0000-0000-{i:012d}"
        outcome = "NotExecuted" if method == "Skipped_Test" else "Passed"
        definitions.append(
            f'<UnitTest name={quoteattr(display)} storage="{assembly.lower()}" id="{test_id_}">'
            f'<Execution id="e{i}"/><TestMethod codeBase="{assembly}" '
            f'adapterTypeName="executor://adapter" className="{DOTNET_CLASS}" '
            f'name="{method}"/></UnitTest>'
        )
        results.append(
            f'<UnitTestResult executionId="e{i}" testId="{test_id_}" testName={quoteattr(display)} '
            f'computerName="ci" duration="00:00:00.0100000" startTime="2026-11-02T10:00:0{i}Z" '
            f'endTime="2026-11-02T10:00:0{i}Z" outcome="{outcome}" testListId="l"/>'
        )
    return (
        '\ufeff<?xml version="1.0" encoding="utf-8"?>'
        '<TestRun id="r" name="ci" xmlns="http://microsoft.com/schemas/VisualStudio/TeamTest/2010">'
        '<Times creation="2026-11-02T10:00:00Z" start="2026-11-02T10:00:00Z" '
        'finish="2026-11-02T10:00:09Z"/>'
        f"<Results>{''.join(results)}</Results>"
        f"<TestDefinitions>{''.join(definitions)}</TestDefinitions>"
        "</TestRun>"
    ).encode()


def nunit3(rows: list[tuple[str, str]], assembly: str) -> bytes:
    cases = []
    for i, (method, display) in enumerate(rows):
        result = (
            'result="Skipped" label="Ignored"' if method == "Skipped_Test" else 'result="Passed"'
        )
        cases.append(
            f'<test-case id="1-{i}" name={quoteattr(display)} '
            f'fullname={quoteattr(DOTNET_CLASS + "." + display)} methodname="{method}" '
            f'classname="{DOTNET_CLASS}" runstate="Runnable" {result} '
            f'start-time="2026-11-02T10:00:0{i}Z" duration="0.010"/>'
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<test-run id="0" testcasecount="5" result="Passed" start-time="2026-11-02 10:00:00Z">'
        f'<test-suite type="Assembly" id="1-1" name="Acme.Cache.Tests.dll" fullname="{assembly}">'
        f'<test-suite type="TestFixture" id="1-2" name="StoreTests" fullname="{DOTNET_CLASS}" '
        f'classname="{DOTNET_CLASS}">{"".join(cases)}</test-suite></test-suite></test-run>'
    ).encode()


def xunit2(rows: list[tuple[str, str]], assembly: str) -> bytes:
    tests = []
    for method, display in rows:
        result = "Skip" if method == "Skipped_Test" else "Pass"
        reason = "<reason><![CDATA[later]]></reason>" if result == "Skip" else ""
        tests.append(
            f'<test name={quoteattr(DOTNET_CLASS + "." + display)} type="{DOTNET_CLASS}" '
            f'method="{method}" time="0.010" result="{result}">{reason}</test>'
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><assemblies>'
        f'<assembly name="{assembly}" test-framework="xUnit.net 2.4.2" run-date="2026-11-02" '
        'run-time="10:00:00" total="5" passed="4" failed="0" skipped="1" time="0.1" errors="0">'
        '<errors/><collection total="5" passed="4" failed="0" skipped="1" '
        f'name="Test collection for {DOTNET_CLASS}" time="0.05">{"".join(tests)}</collection>'
        "</assembly></assemblies>"
    ).encode()


# Each framework spells a data row its own way; its TRX spells it the same way.
NUNIT_ROWS = [(m, m) for m in DOTNET_METHODS] + [("Is_Even", "Is_Even(2)")]
XUNIT_ROWS = [(m, f"{DOTNET_CLASS}.{m}") for m in DOTNET_METHODS] + [
    ("Is_Even", f"{DOTNET_CLASS}.Is_Even(i: 2)")
]

GO_PKG = "github.com/acme/cache"
GO_TESTS = ["TestGet", "TestTable/empty", "TestTable/two_keys", "TestTable/a_b#01", "TestSkip"]


def go_test_json() -> bytes:
    events = []

    def ev(action: str, test: str | None, **fields: object) -> None:
        event = {"Time": "2026-11-02T10:00:00.5Z", "Action": action, "Package": GO_PKG}
        if test:
            event["Test"] = test
        events.append(json.dumps({**event, **fields}))

    ev("start", None)
    for name in ["TestGet", "TestTable", *GO_TESTS[1:4], "TestSkip"]:
        ev("run", name)
    for name in GO_TESTS[1:4]:
        ev("output", name, Output=f"=== RUN   {name}\n")
        ev("pass", name, Elapsed=0.01)
    ev("pass", "TestTable", Elapsed=0.03)
    ev("pass", "TestGet", Elapsed=0.02)
    ev("output", "TestSkip", Output="    store_test.go:40: needs redis\n")
    ev("skip", "TestSkip", Elapsed=0)
    ev("pass", None, Elapsed=0.2)
    return ("\n".join(events) + "\n").encode()


def gotestsum_junit() -> bytes:
    cases = "".join(
        f'<testcase classname="{GO_PKG}" name="{name}" time="0.010000">'
        + ('<skipped message="needs redis"/>' if name == "TestSkip" else "")
        + "</testcase>"
        for name in ["TestGet", *GO_TESTS[1:4], "TestTable", "TestSkip"]
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><testsuites tests="6" failures="0" errors="0">'
        f'<testsuite tests="6" failures="0" time="0.2" name="{GO_PKG}" '
        f'timestamp="2026-11-02T10:00:00Z">{cases}</testsuite></testsuites>'
    ).encode()


def upload_and_parse(client, name: str, content: bytes, commit: str) -> Run:
    response = client.post(
        "/api/v1/uploads",
        {"commit": commit, "file": [SimpleUploadedFile(name, content)]},
        format="multipart",
    )
    assert response.status_code == 202, response.content
    run_parse(run_id=response.json()["run"])
    run = Run.objects.get(pk=response.json()["run"])
    assert run.status == "parsed", run.error
    return run


def result_test_ids(run: Run) -> set[int]:
    return set(Result.objects.filter(run_id=run.pk).values_list("test_id", flat=True))


@pytest.mark.django_db
def test_pytest_junit_and_ctrf_uploads_make_one_set_of_tests(ci_client) -> None:
    # The same suite run twice: the object address in one parameter differs between runs.
    junit = upload_and_parse(
        ci_client, "junit.xml", pytest_junit("<Clock object at 0x7f3a2b1c4d50>"), "c1"
    )
    ctrf = upload_and_parse(
        ci_client, "ctrf.json", pytest_ctrf("<Clock object at 0x7f0011223344>"), "c2"
    )
    assert Test.objects.count() == 5
    assert (
        result_test_ids(junit)
        == result_test_ids(ctrf)
        == set(Test.objects.values_list("id", flat=True))
    )
    outcomes = dict(Result.objects.filter(run_id=ctrf.pk).values_list("test__name", "outcome"))
    assert outcomes["test_put[large-2]"] == Outcome.FAILED
    assert outcomes["test_module_level"] == Outcome.SKIPPED


@pytest.mark.django_db
@pytest.mark.parametrize(
    "documents",
    [
        pytest.param([("a.trx", trx), ("nunit.xml", nunit3)], id="trx+nunit"),
        pytest.param([("a.trx", trx), ("xunit.xml", xunit2)], id="trx+xunit"),
    ],
)
def test_dotnet_uploads_make_one_set_of_tests(ci_client, documents) -> None:
    rows = NUNIT_ROWS if documents[1][0] == "nunit.xml" else XUNIT_ROWS
    # Different machines put the assembly under different paths: it is not the identity.
    assemblies = [
        r"C:\agent\_work\1\s\bin\Acme.Cache.Tests.dll",
        "/home/ci/bin/Acme.Cache.Tests.dll",
    ]
    runs = [
        upload_and_parse(ci_client, name, write(rows, assembly), f"c{i}")
        for i, ((name, write), assembly) in enumerate(zip(documents, assemblies, strict=True))
    ]
    assert Test.objects.count() == 5
    assert (
        result_test_ids(runs[0])
        == result_test_ids(runs[1])
        == set(Test.objects.values_list("id", flat=True))
    )
    names = set(Test.objects.values_list("classname", "name"))
    row = "Is_Even(2)" if rows is NUNIT_ROWS else "Is_Even(i: 2)"
    assert (DOTNET_CLASS, row) in names


@pytest.mark.django_db
def test_plain_dotnet_methods_are_one_test_in_trx_nunit_and_xunit(ci_client) -> None:
    nunit_rows = [(m, m) for m in DOTNET_METHODS]
    xunit_rows = [(m, f"{DOTNET_CLASS}.{m}") for m in DOTNET_METHODS]
    runs = [
        upload_and_parse(ci_client, "a.trx", trx(nunit_rows, r"C:\b\Acme.Cache.Tests.dll"), "c1"),
        upload_and_parse(ci_client, "n.xml", nunit3(nunit_rows, "C:/b/Acme.Cache.Tests.dll"), "c2"),
        upload_and_parse(
            ci_client, "x.xml", xunit2(xunit_rows, r"C:\b\Acme.Cache.Tests.dll"), "c3"
        ),
    ]
    assert Test.objects.count() == len(DOTNET_METHODS)
    assert result_test_ids(runs[0]) == result_test_ids(runs[1]) == result_test_ids(runs[2])


@pytest.mark.django_db
def test_go_json_and_gotestsum_junit_uploads_make_one_set_of_tests(ci_client) -> None:
    junit = upload_and_parse(ci_client, "junit.xml", gotestsum_junit(), "c1")
    stream = upload_and_parse(ci_client, "go.jsonl", go_test_json(), "c2")
    # gotestsum's JUnit also lists the passing parent TestTable; `go test -json` is read with
    # the subtests standing for it. Everything the stream reports is a test JUnit created.
    assert result_test_ids(stream) < result_test_ids(junit)
    assert Test.objects.count() == 6
    assert set(
        Test.objects.filter(id__in=result_test_ids(stream)).values_list("name", flat=True)
    ) == set(GO_TESTS)
    assert set(Test.objects.values_list("classname", flat=True)) == {GO_PKG}
