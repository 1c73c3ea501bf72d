"""Expectations for the JUnit-family samples.

Counts were taken from the files themselves (testcase elements, their outcome children, Surefire
flaky/rerun elements), not from the parser. Identity is (classname, else file, else suite path;
name), so testcases without classname and file fall back to the suite path. Spot checks pin the
quirk each file exists for.
"""

from __future__ import annotations

import datetime as dt

from tests.ingest.parsers.expectations import Expect, Refused

UTC = dt.UTC
NONE: frozenset[str] = frozenset()  # the timeline set of a file without records


def _at(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=UTC)


EXPECTED = {
    # A class that failed to load: one <error> directly under <testsuite>, no testcase.
    "ant/ant-junit-suite-level-error.xml": Expect(
        format="junit",
        outcomes={"error": 1},
        tests=1,
        attempts=1,
        records=(
            {
                "name": "[suite error]",
                "classname": "gda.device.detector.XHDetectorTest",
                "suite": "gda.device.detector.XHDetectorTest",
                "outcome": "error",
                "message": "gda/device/detector/DAServer",
                "started_at": _at(2011, 7, 22, 13, 12, 19),
                "properties": {"sun.arch.data.model": "32"},
            },
        ),
    ),
    # <time>0.378</time> as a child element of the testcase.
    "ant/antunit-child-element-counters.xml": Expect(
        format="junit",
        outcomes={"passed": 1},
        tests=1,
        attempts=1,
        records=(
            {"name": "testNegativeValue", "suite": "tests.changebase_xml", "duration_ms": 378},
        ),
    ),
    # <error> without body; the suite-level system-out (CDATA log) belongs to no test.
    "bazel/bazel-suite-logs-cdata.xml": Expect(
        format="junit",
        outcomes={"error": 1},
        tests=1,
        attempts=1,
        records=(
            {
                "name": "bazel/failing_absl_test",
                "outcome": "error",
                "message": "exited with error code 1",
                "output": "",
                "duration_ms": 0,
            },
        ),
    ),
    # file= and line= on the <failure>, not on the testcase.
    "catch2/catch2-junit-file-line.xml": Expect(
        format="junit",
        outcomes={"failed": 1},
        tests=1,
        attempts=1,
        records=(
            {
                "name": "is constant evaluated",
                "file": "test/unit/detail/utility/is_constant_evaluated.cpp",
                "line": 19,
                "message": "REQUIRE(v == 1) expands to 0 == 10",
                "properties": {"filters": "is constant evaluated"},
            },
        ),
    ),
    # time="999638317" is nanoseconds: 999.6 ms.
    "container-structure-test/cst-nanosecond-time.xml": Expect(
        format="junit",
        outcomes={"passed": 3},
        tests=3,
        attempts=3,
        records=(
            {"name": "Command Test: apt-get upgrade", "duration_ms": 1000, "suite": ""},
            {"name": "Metadata Test", "duration_ms": 0},
        ),
    ),
    # status=passed|failed|errored|disabled; failures only in message attributes.
    # factorial: 6 passed, 5 failed, 1 errored, 5 disabled; failing_checks: 14 failed.
    "cpp-tst/tst-disabled-status.xml": Expect(
        format="junit",
        outcomes={"passed": 6, "failed": 19, "error": 1, "skipped": 5},
        tests=31,
        attempts=31,
        records=(
            {"name": "disabled_param_test[2]", "suite": "factorial", "outcome": "skipped"},
            {
                "name": "test_which_throws_unknown_exception",
                "outcome": "error",
                "message": "uncaught (anonymous namespace)::some_unknown_exception",
            },
            {
                "name": "check_ne_print",
                "suite": "failing_checks",
                "duration_ms": 1,
                "message": "/home/ivan/prj/tst/tests/failed/checks.cpp:27: error: "
                "check_ne(2, 2)failed!",
            },
        ),
    ),
    # <skipped> with a CDATA body and no message attribute.
    "cucumber/cucumber-jvm-skipped-cdata.xml": Expect(
        format="junit",
        outcomes={"skipped": 1},
        tests=1,
        attempts=1,
        records=(
            {
                "classname": "Test Sample",
                "name": "Test Example",
                "outcome": "skipped",
                "message": "Given skip This Test"
                "........................................................pending",
                "duration_ms": 173,
            },
        ),
    ),
    # BOM and no XML declaration; 7-digit fractions; &#xD;&#xA; in message attributes.
    # 52 testcases: 14 <failure>, 6 <skipped/> (Ignored, IgnoredTest, WarningTest twice each).
    "dotnet-junit-logger/junit-testlogger-nunit.xml": Expect(
        format="junit",
        outcomes={"passed": 32, "failed": 14, "skipped": 6},
        tests=52,
        attempts=52,
        records=(
            {
                "classname": "JUnit.Xml.TestLogger.NetFull.Tests.ParametrizedTestCases",
                "name": 'TestData(2,"A")',
                "outcome": "failed",
                "duration_ms": 21,
                "message": "  failing for second case\r\n  Expected: not equal to 2\r\n"
                "  But was:  2\r\n",
                "started_at": _at(2021, 4, 4, 16, 42, 6),
            },
            {
                "classname": 'JUnit.Xml.TestLogger.NetFull.Tests.ParametrizedFixture("Answer",42)',
                "name": "TestE",
                "outcome": "passed",
            },
        ),
    ),
    # Counters promise 6 tests; there are none.
    "edge-cases/counters-but-no-testcases.xml": Expect(
        format="junit", outcomes={}, tests=0, attempts=0, timelines=NONE
    ),
    "edge-cases/empty-testsuite-root-maven.xml": Expect(
        format="junit", outcomes={}, tests=0, attempts=0, timelines=NONE
    ),
    # Precedence error > failure > skipped.
    "edge-cases/multiple-results-per-testcase.xml": Expect(
        format="junit",
        outcomes={"error": 1, "failed": 1, "skipped": 1, "passed": 1},
        tests=4,
        attempts=4,
        records=(
            {"name": "test that errors", "outcome": "error", "message": "test teardown failure"},
            {"name": "test that fails", "outcome": "failed", "message": "test failure"},
            {"name": "test that is skipped", "outcome": "skipped", "duration_ms": 345},
        ),
    ),
    # time="-345345" is unusable; the repeated testcase is a second attempt.
    "edge-cases/negative-time.xml": Expect(
        format="junit",
        outcomes={"passed": 2},
        tests=1,
        attempts=2,
        retried=1,
        records=(
            {"name": "testDummyMethod", "attempt": 1, "duration_ms": None},
            {"name": "testDummyMethod", "attempt": 2, "duration_ms": 100_000},
        ),
    ),
    # <testsuite> root with nested suites and a testcase beside them.
    "edge-cases/nested-testsuite-root.xml": Expect(
        format="junit",
        outcomes={"passed": 5},
        tests=5,
        attempts=5,
        records=(
            {"name": "TestCase3", "suite": "Project Test Suite / TestSuite2 / TestSuite2.1"},
            {"name": "TestCase4", "suite": "Project Test Suite / TestSuite2", "line": 40},
            {"name": "TestCase5", "suite": "Project Test Suite", "duration_ms": 88},
        ),
    ),
    # No attributes anywhere: four nameless testcases share the empty identity, so they count
    # as four attempts of one test, in document order.
    "edge-cases/no-attributes.xml": Expect(
        format="junit",
        outcomes={"passed": 1, "skipped": 1, "failed": 1, "error": 1},
        tests=1,
        attempts=4,
        retried=1,
        records=(
            {"name": "", "attempt": 1, "outcome": "passed", "duration_ms": None},
            {"name": "", "attempt": 4, "outcome": "error", "message": ""},
        ),
    ),
    "edge-cases/phpunit-empty-testsuites.xml": Expect(
        format="junit", outcomes={}, tests=0, attempts=0, timelines=NONE
    ),
    # Multi-line text-content property; <properties> inside a testcase after its <failure>.
    "edge-cases/properties-multiline-and-testcase.xml": Expect(
        format="junit",
        outcomes={"failed": 1, "passed": 1},
        tests=2,
        attempts=2,
        records=(
            {
                "name": "testCaseA",
                "outcome": "failed",
                "message": "expected: [a] but was: [b]",
                "properties": {
                    "description": "description of test testCaseA",
                    "prop1": "value1",
                    "multiline": "Config line 1\n          Config line 2\n          Config line 3",
                },
            },
            {
                "name": "testCaseZ",
                "properties": {
                    "prop1": "value1",
                    "multiline": "Config line 1\n          Config line 2\n          Config line 3",
                },
            },
        ),
    ),
    # One test, three testcase elements: attempts 1-3 in document order.
    "edge-cases/repeated-testcase-retries.xml": Expect(
        format="junit",
        outcomes={"failed": 2, "error": 1},
        tests=1,
        attempts=3,
        retried=1,
        records=(
            {
                "attempt": 1,
                "outcome": "failed",
                "message": "first failure",
                "output": "First attempt failed",
                "line": 10,
            },
            {"attempt": 2, "outcome": "failed", "message": "second failure"},
            {
                "attempt": 3,
                "outcome": "error",
                "message": "third error",
                "output": "Third attempt errored",
            },
        ),
    ),
    # The comma time is on a suite (suite times are not used); nesting beside testcases.
    "edge-cases/time-with-thousands-comma.xml": Expect(
        format="junit",
        outcomes={"passed": 8},
        tests=8,
        attempts=8,
        records=(
            {
                "classname": "test.Rest.get",
                "name": "testInterface",
                "duration_ms": 13_000,
                "suite": "test.lib.Rest / test.RestMethods",
            },
            {"classname": "test.Rest.cleanup", "name": "testFinish", "suite": "test.lib.Rest"},
        ),
    ),
    # Timestamps in every spelling; testcases inherit the nearest one.
    "edge-cases/timestamp-format-zoo.xml": Expect(
        format="junit",
        outcomes={"passed": 12},
        tests=12,
        attempts=12,
        records=(
            {"name": "testOffset", "started_at": _at(2024, 1, 3, 11, 23, 0), "duration_ms": 10_450},
            {"name": "invalid if password is weak test", "started_at": _at(2024, 1, 3, 12, 27, 18)},
            {
                "name": "home button redirects to home test",
                "suite": "functional tests / test.RestMethods",
                "started_at": _at(2024, 1, 3, 12, 40, 13),
            },
            {"name": "testExperience", "started_at": _at(2024, 1, 3, 12, 27, 44)},
            {"name": "testGet", "started_at": _at(2024, 1, 3, 12, 27, 54), "duration_ms": 133_010},
            {"name": "testPopup", "started_at": _at(2024, 1, 3, 0, 0, 0)},
            {
                "name": "testResize",
                "started_at": dt.datetime(2024, 1, 3, 13, 27, 11, 210_000, tzinfo=UTC),
            },
            {"name": "testShop", "started_at": _at(2024, 1, 3, 11, 27, 15)},
        ),
    ),
    # Astral-plane characters survive in names, messages and bodies; no classname.
    "edge-cases/unicode-astral-chars.xml": Expect(
        format="junit",
        outcomes={"passed": 1, "skipped": 2, "failed": 2, "error": 2},
        tests=7,
        attempts=7,
        records=(
            {"name": "test 1 헴䜝헱홐㣇㿷䔭𒍺𡓿𠄉㦓", "file": "test/test-1.py", "line": 1},
            {
                "name": "test 4",
                "outcome": "failed",
                "message": "Some unsupported unicode characters: 헴䜝헱홐㣇㿷䔭𒍺𡓿𠄉㦓",
            },
            {
                "name": "test 7",
                "outcome": "error",
                "message": "message",
                "output": "Some unsupported unicode characters: 헴䜝헱홐㣇㿷䔭𒍺𡓿𠄉㦓",
            },
        ),
    ),
    # Entities decoded in names, messages and bodies; the suite has no name.
    "edge-cases/xml-entities.xml": Expect(
        format="junit",
        outcomes={"skipped": 2, "failed": 1, "error": 1},
        tests=4,
        attempts=4,
        records=(
            {
                "name": 'Test with "quotes" in the test name',
                "outcome": "skipped",
                "message": 'A message with "quotes"',
                "output": 'Content with "quotes"',
            },
            {
                "name": "Test with & in the test name",
                "outcome": "error",
                "message": "A message with &",
            },
            {
                "name": "Test with < and > in the test name",
                "output": "Content with < and >",
                "suite": "",
            },
        ),
    ),
    # Build/setup failures as synthetic error testcases.
    "go-junit-report/go-junit-report-build-failed.xml": Expect(
        format="junit",
        outcomes={"passed": 2, "error": 3},
        tests=5,
        attempts=5,
        records=(
            {
                "name": "[build failed]",
                "classname": "package/name/failing1",
                "outcome": "error",
                "message": "Build error",
                "output": "failing1/failing_test.go:15: undefined: x",
                "properties": {"go.version": "1.0"},
            },
            {"name": "TestA", "duration_ms": 100, "started_at": _at(2022, 1, 1, 0, 0, 0)},
        ),
    ),
    # Subtests flattened into names; per-test system-out; parent fails with an empty failure.
    "go-junit-report/go-junit-report-subtests.xml": Expect(
        format="junit",
        outcomes={"passed": 6, "failed": 4, "skipped": 1},
        tests=11,
        attempts=11,
        records=(
            {"name": "TestSubtests", "outcome": "failed", "message": "Failed", "output": ""},
            {
                "name": "TestSubtests/Subtest",
                "outcome": "passed",
                "output": "    subtests_test.go:7: ok",
            },
            {
                "name": "TestSubtests/Subtest#02",
                "outcome": "skipped",
                "message": "Skipped",
                "output": "    subtests_test.go:13: skip message",
            },
        ),
    ),
    # Suite says tests=6 but holds one; CDATA body ending in "false >".
    "googletest/gtest-cdata-failure.xml": Expect(
        format="junit",
        outcomes={"failed": 1},
        tests=1,
        attempts=1,
        records=(
            {
                "classname": "Fails",
                "name": "Test",
                "suite": "Test",
                "message": "error",
                "duration_ms": 0,
                "output": "error.cpp:01\n      Expected: true\n      Which is: false >",
            },
        ),
    ),
    # 60 testcases: badmain 1, good 18, parallelfails 12, withfails 29; 13 failures, 5 skips.
    # Zero timestamps (0001-01-01) are no timestamps; TestMain has an empty classname.
    "gotestsum/gotestsum-junitxml.xml": Expect(
        format="junit",
        outcomes={"passed": 42, "failed": 13, "skipped": 5},
        tests=60,
        attempts=60,
        records=(
            {
                "name": "TestMain",
                "classname": "",
                "suite": "gotest.tools/gotestsum/testjson/internal/badmain",
                "outcome": "failed",
                "started_at": None,
                "message": "Failed",
                "properties": {"go.version": "go7.7.7"},
            },
            {
                "name": "TestParallelTheFirst",
                "classname": "gotest.tools/gotestsum/testjson/internal/withfails",
                "outcome": "passed",
                "duration_ms": 10,
            },
            {
                "name": "TestSkippedWitLog",
                "classname": "gotest.tools/gotestsum/testjson/internal/good",
                "outcome": "skipped",
                "message": "=== RUN   TestSkippedWitLog\n    good_test.go:27: the skip message\n"
                "--- SKIP: TestSkippedWitLog (0.00s)\n",
            },
        ),
    ),
    # describe chain joined with " › "; failures with a body but no message attribute.
    "jest/jest-junit-failures.xml": Expect(
        format="junit",
        outcomes={"passed": 1, "failed": 4, "skipped": 1},
        tests=6,
        attempts=6,
        records=(
            {
                "classname": "Test 1 › Test 1.1",
                "name": "Failing test",
                "outcome": "failed",
                "message": "Error: expect(received).toBeTruthy()",
                "duration_ms": 2,
            },
            {
                "classname": "",
                "name": "Skipped test",
                "suite": "__tests__\\second.test.js",
                "outcome": "skipped",
            },
        ),
    ),
    # <flakyFailure> with a CDATA stackTrace and no message: a failed attempt, then the pass.
    "marathon/marathon-flakyFailure-xsi.xml": Expect(
        format="junit",
        outcomes={"failed": 1, "passed": 1},
        tests=1,
        attempts=2,
        retried=1,
        records=(
            {
                "attempt": 1,
                "outcome": "failed",
                "duration_ms": None,
                "message": "junit.framework.AssertionFailedError",
                "output": "junit.framework.AssertionFailedError",
            },
            {
                "attempt": 2,
                "outcome": "passed",
                "duration_ms": 1860,
                "started_at": _at(2024, 1, 21, 8, 17, 32),
            },
        ),
    ),
    # RFC 1123 timestamp; 109 testcases of which 8 repeat an earlier (classname, name) in
    # 7 groups: "parse entry with command" x2, "test latexParser.pattern" x2,
    # "test latexParser.findNodeAt" x3, "parse \url" x2, "parse \href" x2,
    # "parse \begin{align}..." x2, "parse unbalanced \begin{aligned}" x2.
    "mocha/mocha-junit-reporter-rfc1123-timestamp.xml": Expect(
        format="junit",
        outcomes={"passed": 109},
        tests=101,
        attempts=109,
        retried=7,
        records=(
            {
                "name": "test latexParser.findNodeAt",
                "attempt": 3,
                "classname": "latexParser matchers latexParser findNodeAt",
                "started_at": _at(2022, 12, 3, 23, 10, 7),
            },
            {"name": "parse \\begin{center}\\endcommand", "classname": "latexParser parse"},
            {"name": 'parse \\"\\i', "classname": "latexParser parse 2"},
        ),
    ),
    # time="4.50611114501953e-05" seconds.
    "perl/tap-harness-junit.xml": Expect(
        format="junit",
        outcomes={"passed": 1},
        tests=1,
        attempts=1,
        records=(
            {
                "name": "L123: ...",
                "classname": "t.Foo.Bar.Blah.Blah.Blah.FileName_t",
                "duration_ms": 0,
                "suite": "common",
            },
        ),
    ),
    # .phpt cases have only name and file; class="A\B" is ignored for classname="A.B".
    "phpunit/phpunit11-phpt-failures.xml": Expect(
        format="junit",
        outcomes={"failed": 2, "passed": 10},
        tests=12,
        attempts=12,
        records=(
            {
                "name": "targeting-traits-with-usesclass-attribute-is-deprecated.phpt",
                "classname": "",
                "line": None,
                "outcome": "failed",
                "suite": "CLI Arguments",
                "file": "/home/matteo/OSS/phpunit/tests/end-to-end/metadata/"
                "targeting-traits-with-usesclass-attribute-is-deprecated.phpt",
            },
            {
                "name": "testFlushesCollectedEvents",
                "classname": "PHPUnit.Event.DeferringDispatcherTest",
                "line": 35,
                "suite": "CLI Arguments / PHPUnit\\Event\\DeferringDispatcherTest",
                "file": "/home/matteo/OSS/phpunit/tests/unit/Event/Dispatcher/"
                "DeferringDispatcherTest.php",
            },
        ),
    ),
    # file= and line= on testcases; the skip message attribute.
    "pytest/pytest-horovod-fail.xml": Expect(
        format="junit",
        outcomes={"passed": 3, "skipped": 1, "failed": 1},
        tests=5,
        attempts=5,
        records=(
            {
                "name": "test_rsh_events",
                "outcome": "failed",
                "file": "test/test_spark.py",
                "line": 819,
                "duration_ms": 7541,
            },
            {
                "name": "test_get_available_devices",
                "outcome": "skipped",
                "message": "get_available_devices only supported in Spark 3.0 and above",
                "started_at": dt.datetime(2020, 9, 4, 16, 18, 4, 966371, tzinfo=UTC),
            },
        ),
    ),
    # Suite and testcase properties; xfail as <skipped type="pytest.xfail" message="">.
    "pytest/pytest-properties-xfail.xml": Expect(
        format="junit",
        outcomes={"passed": 6, "skipped": 2, "failed": 2},
        tests=10,
        attempts=10,
        records=(
            {
                "name": "test_with_record_property",
                "properties": {"example_key": "1", "custom_prop": "custom_val"},
            },
            {
                "name": "test_expected_failure",
                "outcome": "skipped",
                "message": "pytest.xfail",
                "started_at": dt.datetime(2025, 11, 15, 16, 51, 49, 548396, tzinfo=UTC),
            },
            {"name": "test_error", "outcome": "failed", "message": "Exception: error"},
        ),
    ),
    # Per-testcase timestamps, file and line; <error> distinct from <failure>.
    "python-unittest/unittest-xmlrunner.xml": Expect(
        format="junit",
        outcomes={"passed": 4, "failed": 1, "error": 1, "skipped": 2},
        tests=8,
        attempts=8,
        records=(
            {
                "name": "test_error",
                "outcome": "error",
                "message": "error",
                "file": "tests/test_lib.py",
                "line": 30,
                "started_at": _at(2025, 11, 14, 21, 49, 22),
            },
            {"name": "test_always_skip", "outcome": "skipped", "message": "skipped"},
        ),
    ),
    # Per-testcase timestamps with +00:00; failure without message attribute.
    "rust-nextest/nextest-basic.xml": Expect(
        format="junit",
        outcomes={"failed": 1, "passed": 2},
        tests=3,
        attempts=3,
        records=(
            {
                "name": "test_failure",
                "outcome": "failed",
                "message": "thread 'test_failure' panicked at tests/parry3d.rs:154:5:",
                "started_at": dt.datetime(2024, 12, 2, 20, 6, 10, 513000, tzinfo=UTC),
            },
            {
                "name": "test_annotations",
                "duration_ms": 945,
                "started_at": dt.datetime(2024, 12, 2, 20, 6, 10, 512000, tzinfo=UTC),
            },
        ),
    ),
    "scalatest/scalatest-maven-plugin.xml": Expect(
        format="junit",
        outcomes={"passed": 5},
        tests=5,
        attempts=5,
        records=(
            {
                "name": "diff options left and right prefixes",
                "duration_ms": 1959,
                "classname": "uk.co.gresearch.spark.diff.DiffOptionsSuite",
                "started_at": _at(2020, 9, 10, 13, 34, 55),
            },
        ),
    ),
    # Two <flakyFailure>s, then the final pass: three attempts, each with its own message.
    "surefire/surefire-3.0.2-flakyFailure-x2.xml": Expect(
        format="junit",
        outcomes={"failed": 2, "passed": 1},
        tests=1,
        attempts=3,
        retried=1,
        records=(
            {"attempt": 1, "outcome": "failed", "message": "obvious fail"},
            {"attempt": 2, "outcome": "failed", "message": "try one more time maybe"},
            {"attempt": 3, "outcome": "passed", "duration_ms": 1, "message": "", "output": ""},
        ),
    ),
    # The testcase's own <failure> then three <rerunFailure>s.
    "surefire/surefire-3.0.2-rerunFailure.xml": Expect(
        format="junit",
        outcomes={"failed": 4},
        tests=1,
        attempts=4,
        retried=1,
        records=(
            {"attempt": 1, "outcome": "failed", "duration_ms": 1, "message": "built to fail"},
            {"attempt": 4, "outcome": "failed", "duration_ms": None, "message": "built to fail"},
        ),
    ),
    # No time attribute on two testcases; no classname (identity falls back to the suite).
    "surefire/surefire-missing-time.xml": Expect(
        format="junit",
        outcomes={"passed": 8},
        tests=8,
        attempts=8,
        records=(
            {"name": "test7", "duration_ms": None, "suite": "NoTimeTestCaseTest"},
            {"name": "testResults", "duration_ms": None},
            {"name": "test6", "duration_ms": 500},
        ),
    ),
    # Swift reports no skips: the skipped test reads as passed.
    "swift/swift-test-xunit.xml": Expect(
        format="junit",
        outcomes={"passed": 2, "failed": 1},
        tests=3,
        attempts=3,
        records=(
            {"name": "test_always_skip", "outcome": "passed", "duration_ms": 92},
            {"name": "test_always_fail", "outcome": "failed", "message": "failed", "output": ""},
        ),
    ),
    # BOM; properties under <testsuites> with a duplicate key; no classname.
    "xunit-net/xunit2-junit-transform.xml": Expect(
        format="junit",
        outcomes={"passed": 2},
        tests=2,
        attempts=2,
        records=(
            {
                "name": "mytestapp.Tests.AttriubteTests.SetTestNoFeature",
                "classname": "",
                "suite": "Rhino Collection",
                "duration_ms": 454,
                "properties": {
                    "skipped": "1",
                    "date": "2021-03-05",
                    "nunit-version": "xUnit.net 2.4.1.0",
                    "clr-version": "64-bit .NET 4.0.30319.42000 [collection-per-class, "
                    "parallel (8 threads)]",
                    "result": "Success",
                },
            },
        ),
    ),
}

ERRORS = {
    # Ends inside <skipped>: line 11 is 16 spaces and "suppo" (21 characters), no newline after.
    "edge-cases/truncated-corrupt.xml": Refused(
        code="malformed_xml", line=11, column=22, detail_contains="Premature end of data"
    ),
    # An external parameter entity in a DOCTYPE; refused before any parsing.
    "security/xxe-external-entity.xml": Refused(code="forbidden_dtd"),
}
