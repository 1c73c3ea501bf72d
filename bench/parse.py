"""Parse throughput and memory of every format parser, on generated files of N tests.

    .venv/bin/python bench/parse.py [--tests 100000] [--formats junit,trx] [--repeat 3] [--keep]
                                    [--callgrind]

For each format it writes one file of N tests with realistic shapes (about 2% failures carrying a
short traceback), then, each in a fresh process so peak memory is that parse's alone:
  - parses it through ingest.reading (detect_format, then iter_records, consuming every record)
    and reports file size, tests/s, MB/s and the process's peak RSS (VmHWM from /proc, else
    ru_maxrss) and its growth over the peak before parsing, i.e. what the parse itself costs;
  - for the XML formats, a bare lxml iterparse pass over the same file (end events, each element
    cleared and its processed siblings dropped: the least any streaming XML parser must do),
    and our throughput as a share of it.
Times are the process's CPU time (time.process_time) over the parse alone, the fastest of
--repeat runs: on a shared machine other work only ever makes a run slower, and CPU time is not
stretched by waiting for a core. With --callgrind the XML formats are also run under
`valgrind --tool=callgrind`, ours and bare, and compared by instructions executed: a figure that
does not depend on the machine's load. Each count is the full run minus a run that stops just
before parsing (same imports, same file), so start-up is left out.
Formats whose parser module does not exist yet are skipped with a note.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TextIO

REPO = Path(__file__).resolve().parent.parent
XML_FORMATS = {"junit", "trx", "nunit", "xunit"}
FAILURE_RATE = 0.02
TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "src/service/{mod}.py", line {line}, in handle\n'
    "    result = client.fetch(key)\n"
    '  File "src/service/client.py", line 88, in fetch\n'
    "    raise TimeoutError(f'upstream timed out after {{timeout}}s')\n"
    "TimeoutError: upstream timed out after 2.0s"
)
DOTNET_STACK = (
    "   at Shop.Tests.Class{cls}.Test_{i}() in /src/Shop.Tests/Class{cls}.cs:line {line}\n"
    "   at System.RuntimeMethodHandle.InvokeMethod(Object target, Void** arguments)"
)
GO_FAIL = "    handler_test.go:{line}: expected status 200, got 503\n"
JS_STACK = (
    "AssertionError [ERR_ASSERTION]: expected 200 to equal 503\n"
    "    at Context.<anonymous> (test/api/spec{cls}.test.js:{line}:14)\n"
    "    at processImmediate (node:internal/timers:476:21)"
)


def failing(rng: random.Random) -> bool:
    return rng.random() < FAILURE_RATE


def xml_escape(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


# --- generators: each writes n tests to `out` -------------------------------------------------


def gen_junit(out: TextIO, n: int, rng: random.Random) -> None:
    out.write('<?xml version="1.0" encoding="utf-8"?>\n<testsuites name="pytest tests">\n')
    out.write(
        f'<testsuite name="pytest" errors="0" failures="0" skipped="0" tests="{n}" '
        'time="1234.5" timestamp="2026-03-02T10:00:00.000000+00:00" hostname="ci-7">\n'
    )
    for i in range(n):
        mod = i // 50
        attrs = (
            f'classname="tests.service.test_mod{mod}" name="test_case_{i}[param-{i % 7}]" '
            f'file="tests/service/test_mod{mod}.py" line="{i % 400 + 10}" '
            f'time="{rng.random() * 0.2:.3f}"'
        )
        if failing(rng):
            tb = xml_escape(TRACEBACK.format(mod=mod, line=i % 300))
            out.write(
                f'<testcase {attrs}><failure message="TimeoutError: upstream timed out">'
                f"{tb}</failure></testcase>\n"
            )
        else:
            out.write(f"<testcase {attrs}/>\n")
    out.write("</testsuite>\n</testsuites>\n")


def gen_ctrf(out: TextIO, n: int, rng: random.Random) -> None:
    summary = {
        "tests": n,
        "passed": 0,
        "failed": 0,
        "pending": 0,
        "skipped": 0,
        "other": 0,
        "start": 1772445600000,
        "stop": 1772446800000,
    }
    head = json.dumps(
        {
            "reportFormat": "CTRF",
            "specVersion": "1.0.0",
            "results": {"tool": {"name": "pytest"}, "summary": summary, "tests": []},
        }
    )
    out.write(head[: -len("]}}")] + "\n")  # the tests array stays open for streaming
    for i in range(n):
        mod = i // 50
        test = {
            "name": f"test_case_{i}[param-{i % 7}]",
            "status": "passed",
            "duration": round(rng.random() * 200),
            "suite": ["tests", f"test_mod{mod}.py"],
            "filePath": f"tests/service/test_mod{mod}.py",
            "line": i % 400 + 10,
            "threadId": f"gw{i % 4}",
        }
        if failing(rng):
            test.update(
                status="failed",
                message="TimeoutError: upstream timed out",
                trace=TRACEBACK.format(mod=mod, line=i % 300),
            )
        out.write(("," if i else "") + json.dumps(test) + "\n")
    out.write("]}}\n")


def gen_trx(out: TextIO, n: int, rng: random.Random) -> None:
    ns = "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"
    out.write(
        f'<?xml version="1.0" encoding="utf-8"?>\n<TestRun id="r" name="ci" xmlns="{ns}">\n'
        '<Times creation="2026-03-02T10:00:00.0000000+00:00" '
        'start="2026-03-02T10:00:00.0000000+00:00"/>\n<Results>\n'
    )
    ids = [f"{i:08x}-1111-2222-3333-{i:012x}" for i in range(n)]
    for i in range(n):  # dotnet writes Results before TestDefinitions
        cls = i // 100
        outcome, body = "Passed", ""
        if failing(rng):
            outcome = "Failed"
            stack = DOTNET_STACK.format(cls=cls, i=i, line=i % 300)
            body = (
                "<Output><ErrorInfo><Message>Assert.Equal() Failure\nExpected: 200\n"
                f"Actual:   503</Message><StackTrace>{stack}</StackTrace></ErrorInfo></Output>"
            )
        out.write(
            f'<UnitTestResult executionId="e{ids[i][1:]}" testId="{ids[i]}" '
            f'testName="Shop.Tests.Class{cls}.Test_{i}" computerName="ci-7" '
            f'duration="00:00:00.{rng.randrange(10**7):07d}" '
            'startTime="2026-03-02T10:00:01.0000000+00:00" '
            'endTime="2026-03-02T10:00:01.5000000+00:00" '
            'testType="13cdc9d9-ddb5-4fa4-a97d-d965ccfc6d4b" '
            f'outcome="{outcome}" testListId="8c84fa94-04c1-424b-9868-57a2d4851a1d">'
            f"{body}</UnitTestResult>\n"
        )
    out.write("</Results>\n<TestDefinitions>\n")
    for i in range(n):
        cls = i // 100
        out.write(
            f'<UnitTest name="Shop.Tests.Class{cls}.Test_{i}" storage="/src/bin/Shop.Tests.dll" '
            f'id="{ids[i]}"><Execution id="e{ids[i][1:]}"/><TestMethod '
            'codeBase="/src/bin/Shop.Tests.dll" adapterTypeName="executor://xunit/VsTestRunner2" '
            f'className="Shop.Tests.Class{cls}" name="Test_{i}"/></UnitTest>\n'
        )
    out.write("</TestDefinitions>\n<TestEntries>\n")
    for i in range(n):
        out.write(
            f'<TestEntry testId="{ids[i]}" executionId="e{ids[i][1:]}" '
            'testListId="8c84fa94-04c1-424b-9868-57a2d4851a1d"/>\n'
        )
    out.write(
        f'</TestEntries>\n<ResultSummary outcome="Failed"><Counters total="{n}"/>'
        "</ResultSummary>\n</TestRun>\n"
    )


def gen_nunit(out: TextIO, n: int, rng: random.Random) -> None:
    out.write(
        '<?xml version="1.0" encoding="utf-8"?>\n<test-run id="0" result="Failed" '
        f'total="{n}">\n<test-suite type="Assembly" name="Shop.Tests.dll" '
        'fullname="/src/bin/Shop.Tests.dll" result="Failed">\n'
    )
    for start in range(0, n, 100):
        cls = start // 100
        out.write(
            f'<test-suite type="TestFixture" name="Class{cls}" fullname="Shop.Tests.Class{cls}" '
            f'classname="Shop.Tests.Class{cls}" result="Passed">\n'
        )
        for i in range(start, min(n, start + 100)):
            attrs = (
                f'id="1-{i}" name="Test_{i}" fullname="Shop.Tests.Class{cls}.Test_{i}" '
                f'methodname="Test_{i}" classname="Shop.Tests.Class{cls}" '
                'start-time="2026-03-02T10:00:01.0000000Z" end-time="2026-03-02T10:00:01.0100000Z" '
                f'duration="{rng.random() * 0.2:.6f}" asserts="1"'
            )
            if failing(rng):
                stack = DOTNET_STACK.format(cls=cls, i=i, line=i % 300)
                out.write(
                    f'<test-case {attrs} result="Failed"><failure><message><![CDATA[  '
                    "Expected: 200\n  But was:  503\n]]></message><stack-trace><![CDATA["
                    f"{stack}]]></stack-trace></failure></test-case>\n"
                )
            else:
                out.write(f'<test-case {attrs} result="Passed"/>\n')
        out.write("</test-suite>\n")
    out.write("</test-suite>\n</test-run>\n")


def gen_xunit(out: TextIO, n: int, rng: random.Random) -> None:
    out.write(
        '<?xml version="1.0" encoding="utf-8"?>\n<assemblies>\n<assembly '
        'name="/src/bin/Shop.Tests.dll" test-framework="xUnit.net 2.4.2" run-date="2026-03-02" '
        f'run-time="10:00:00" total="{n}" errors="0">\n<errors/>\n'
    )
    for start in range(0, n, 100):
        cls = start // 100
        out.write(f'<collection name="Test collection for Shop.Tests.Class{cls}" total="100">\n')
        for i in range(start, min(n, start + 100)):
            attrs = (
                f'name="Shop.Tests.Class{cls}.Test_{i}" type="Shop.Tests.Class{cls}" '
                f'method="Test_{i}" time="{rng.random() * 0.2:.7f}"'
            )
            if failing(rng):
                stack = DOTNET_STACK.format(cls=cls, i=i, line=i % 300)
                out.write(
                    f'<test {attrs} result="Fail"><failure exception-type='
                    '"Xunit.Sdk.EqualException"><message><![CDATA[Assert.Equal() Failure]]>'
                    f"</message><stack-trace><![CDATA[{stack}]]></stack-trace></failure></test>\n"
                )
            else:
                out.write(f'<test {attrs} result="Pass"/>\n')
        out.write("</collection>\n")
    out.write("</assembly>\n</assemblies>\n")


def gen_gotest(out: TextIO, n: int, rng: random.Random) -> None:
    def event(**fields: object) -> None:
        out.write(json.dumps(fields, separators=(",", ":")) + "\n")

    per_package = 500
    for start in range(0, n, per_package):
        pkg = f"example.com/shop/internal/svc{start // per_package}"
        time_ = "2026-03-02T10:00:01.123456789+01:00"
        event(Time=time_, Action="start", Package=pkg)
        failed_any = False
        for i in range(start, min(n, start + per_package)):
            test = f"TestHandler{i}"
            elapsed = round(rng.random() * 0.2, 2)
            event(Time=time_, Action="run", Package=pkg, Test=test)
            event(Time=time_, Action="output", Package=pkg, Test=test, Output=f"=== RUN   {test}\n")
            if failing(rng):
                failed_any = True
                event(
                    Time=time_,
                    Action="output",
                    Package=pkg,
                    Test=test,
                    Output=GO_FAIL.format(line=i % 300),
                )
                event(
                    Time=time_,
                    Action="output",
                    Package=pkg,
                    Test=test,
                    Output=f"--- FAIL: {test} ({elapsed:.2f}s)\n",
                )
                event(Time=time_, Action="fail", Package=pkg, Test=test, Elapsed=elapsed)
            else:
                event(
                    Time=time_,
                    Action="output",
                    Package=pkg,
                    Test=test,
                    Output=f"--- PASS: {test} ({elapsed:.2f}s)\n",
                )
                event(Time=time_, Action="pass", Package=pkg, Test=test, Elapsed=elapsed)
        verdict = "fail" if failed_any else "pass"
        event(Time=time_, Action="output", Package=pkg, Output=f"{verdict.upper()}\n")
        event(Time=time_, Action=verdict, Package=pkg, Elapsed=12.3)


def gen_dart(out: TextIO, n: int, rng: random.Random) -> None:
    def event(**fields: object) -> None:
        out.write(json.dumps(fields, separators=(",", ":")) + "\n")

    event(protocolVersion="0.1.1", runnerVersion="1.25.2", pid=1, type="start", time=0)
    clock, next_id = 1, 0
    for start in range(0, n, 100):
        suite_id = next_id
        next_id += 1
        event(
            suite={
                "id": suite_id,
                "platform": "vm",
                "path": f"test/api/spec{start // 100}_test.dart",
            },
            type="suite",
            time=clock,
        )
        for i in range(start, min(n, start + 100)):
            test_id = next_id
            next_id += 1
            event(
                test={
                    "id": test_id,
                    "name": f"api group {i // 10} handles case {i}",
                    "suiteID": suite_id,
                    "groupIDs": [],
                    "metadata": {"skip": False, "skipReason": None},
                    "line": i % 300,
                    "column": 5,
                    "url": None,
                },
                type="testStart",
                time=clock,
            )
            clock += rng.randrange(1, 50)
            result = "success"
            if failing(rng):
                result = "failure"
                event(
                    testID=test_id,
                    error="Expected: <200>\n  Actual: <503>\n",
                    stackTrace=(
                        "package:test_api  expect\n"
                        f"test/api/spec_test.dart {i % 300}:7  main.<fn>\n"
                    ),
                    isFailure=True,
                    type="error",
                    time=clock,
                )
            event(
                testID=test_id,
                result=result,
                skipped=False,
                hidden=False,
                type="testDone",
                time=clock,
            )
    event(success=False, type="done", time=clock)


def _js_tests(n: int, rng: random.Random) -> Iterator[dict[str, object]]:
    for i in range(n):
        cls = i // 50
        test: dict[str, object] = {
            "title": f"handles case {i}",
            "fullTitle": f"API spec{cls} handles case {i}",
            "file": f"/src/test/api/spec{cls}.test.js",
            "duration": rng.randrange(0, 200),
            "currentRetry": 0,
            "speed": "fast",
            "err": {},
        }
        if failing(rng):
            test["err"] = {
                "message": "expected 200 to equal 503",
                "showDiff": True,
                "actual": "503",
                "expected": "200",
                "stack": JS_STACK.format(cls=cls, line=i % 300),
            }
        yield test


def gen_mocha(out: TextIO, n: int, rng: random.Random) -> None:
    # mocha writes JSON.stringify(obj, null, 2): tests, then pending/failures/passes repeating them.
    tests = list(_js_tests(n, rng))
    failures = [t for t in tests if t["err"]]
    passes = [t for t in tests if not t["err"]]
    document = {
        "stats": {
            "suites": n // 50,
            "tests": n,
            "passes": len(passes),
            "pending": 0,
            "failures": len(failures),
            "start": "2026-03-02T10:00:00.000Z",
            "end": "2026-03-02T10:20:00.000Z",
            "duration": 1200000,
        },
        "tests": tests,
        "pending": [],
        "failures": failures,
        "passes": passes,
    }
    json.dump(document, out, indent=2)


def gen_rspec(out: TextIO, n: int, rng: random.Random) -> None:
    out.write('{"version":"3.13.0","messages":[],"seed":1234,"examples":[')
    for i in range(n):
        cls = i // 50
        example: dict[str, object] = {
            "id": f"./spec/api/spec{cls}_spec.rb[1:{i % 50 + 1}]",
            "description": f"handles case {i}",
            "full_description": f"Api::Spec{cls}#call handles case {i}",
            "status": "passed",
            "file_path": f"./spec/api/spec{cls}_spec.rb",
            "line_number": i % 300,
            "run_time": rng.random() * 0.2,
            "pending_message": None,
        }
        if failing(rng):
            example["status"] = "failed"
            example["exception"] = {
                "class": "RSpec::Expectations::ExpectationNotMetError",
                "message": "expected: 200\n     got: 503",
                "backtrace": [
                    f"./spec/api/spec{cls}_spec.rb:{i % 300}:in `block (2 levels)'",
                    "./spec/spec_helper.rb:40:in `block (2 levels)'",
                ],
            }
        out.write(("," if i else "") + json.dumps(example))
    summary = {
        "duration": 1200.0,
        "example_count": n,
        "failure_count": 0,
        "pending_count": 0,
        "errors_outside_of_examples_count": 0,
    }
    out.write(f'],"summary":{json.dumps(summary)},"summary_line":"{n} examples"}}\n')


GENERATORS: dict[str, tuple[str, Callable[[TextIO, int, random.Random], None]]] = {
    "junit": ("junit-pytest.xml", gen_junit),
    "ctrf": ("ctrf.json", gen_ctrf),
    "trx": ("results.trx", gen_trx),
    "nunit": ("nunit3.xml", gen_nunit),
    "xunit": ("xunit2.xml", gen_xunit),
    "gotest": ("go-test.jsonl", gen_gotest),
    "dart": ("dart.jsonl", gen_dart),
    "mocha": ("mocha.json", gen_mocha),
    "rspec": ("rspec.json", gen_rspec),
}


# --- measurements, each run in a fresh process -------------------------------------------------


def peak_rss_kib() -> int:
    """This process's peak resident memory. /proc's VmHWM starts afresh at exec; ru_maxrss can
    carry over the parent's high-water mark on Linux, so it is only the fallback."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child_parse(fmt: str, path: str, dry: bool = False) -> dict[str, object]:
    from ingest import parsers
    from ingest.reading import detect_format, iter_records

    if fmt not in parsers.available_formats():
        return {"skipped": f"no parser module ingest/parsers/{fmt}.py yet"}
    if dry:
        return {}
    limit = 1 << 40
    rss_before = peak_rss_kib()
    start = time.process_time()
    with open(path, "rb") as raw:
        detected = detect_format(raw, limit=limit)
        _, records = iter_records(raw, detected, limit=limit)
        count = sum(1 for _ in records)
    seconds = time.process_time() - start
    rss = peak_rss_kib()
    return {
        "detected": detected,
        "records": count,
        "seconds": seconds,
        "rss_kib": rss,
        "growth_kib": rss - rss_before,
    }


def child_bare(path: str, dry: bool = False) -> dict[str, object]:
    from lxml import etree

    if dry:
        return {}
    start = time.process_time()
    events = 0
    for _, elem in etree.iterparse(
        path, events=("end",), resolve_entities=False, no_network=True, load_dtd=False
    ):
        events += 1
        elem.clear()
        while elem.getprevious() is not None:
            del elem.getparent()[0]
    return {"seconds": time.process_time() - start, "events": events}


def run_child(*args: str) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", *args], cwd=REPO, capture_output=True, text=True
    )
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["failed"])[-1]
        return {"error": tail}
    return json.loads(proc.stdout)


def instructions(*args: str) -> int | None:
    """Instructions a child run executes under callgrind, minus the same run stopped just before
    parsing; None when valgrind fails."""
    counts = []
    for dry in ((), ("--dry",)):
        proc = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--callgrind-out-file=/dev/null",
                sys.executable,
                __file__,
                "--child",
                *args,
                *dry,
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
        )
        found = re.search(r"I\s+refs:\s+([\d,]+)", proc.stderr)
        if proc.returncode != 0 or not found:
            return None
        counts.append(int(found.group(1).replace(",", "")))
    return counts[0] - counts[1]


def best(child_args: tuple[str, ...], repeat: int) -> dict[str, object]:
    """The fastest of `repeat` runs (a shared machine only ever makes a run slower)."""
    runs = [run_child(*child_args) for _ in range(max(1, repeat))]
    timed = [run for run in runs if "seconds" in run]
    if not timed:
        return runs[0]
    return min(timed, key=lambda run: float(run["seconds"]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tests", type=int, default=100_000)
    parser.add_argument("--formats", default=",".join(GENERATORS))
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs of each measurement; the fastest is shown"
    )
    parser.add_argument(
        "--callgrind",
        action="store_true",
        help="also compare instructions executed (valgrind callgrind) for the XML formats",
    )
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--dry", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, str(REPO))
        if args.child[0] == "bare":
            print(json.dumps(child_bare(args.child[1], args.dry)))
        else:
            print(json.dumps(child_parse(args.child[0], args.child[1], args.dry)))
        return 0
    if args.callgrind and shutil.which("valgrind") is None:
        parser.error("--callgrind needs valgrind on PATH")

    formats = [f for f in args.formats.split(",") if f]
    unknown = set(formats) - set(GENERATORS)
    if unknown:
        parser.error(f"unknown formats: {', '.join(sorted(unknown))}")
    workdir = Path(tempfile.mkdtemp(prefix="suitehealth-bench-"))
    print(f"{args.tests:,} tests per format, files in {workdir}\n")
    header = (
        f"{'format':<7} {'file MB':>8} {'records':>9} {'parse s':>8} {'tests/s':>9} "
        f"{'MB/s':>6} {'peak RSS':>9} {'growth':>8} {'bare s':>7} {'ours/bare':>9}"
    )
    print(header)
    print("-" * len(header))
    junit_ratio: float | None = None
    notes: list[str] = []
    counted: list[str] = []
    for fmt in formats:
        name, generate = GENERATORS[fmt]
        path = workdir / name
        with path.open("w", encoding="utf-8") as out:
            generate(out, args.tests, random.Random(args.seed))
        size_mb = path.stat().st_size / 1e6
        ours = best((fmt, str(path)), args.repeat)
        if "skipped" in ours or "error" in ours:
            reason = ours.get("skipped") or f"parse failed: {ours['error']}"
            print(f"{fmt:<7} {size_mb:>8.1f}  skipped ({reason})")
            notes.append(f"{fmt}: {reason}")
            continue
        seconds = float(ours["seconds"])
        bare_cell, ratio_cell = "", ""
        if fmt in XML_FORMATS:
            bare = best(("bare", str(path)), args.repeat)
            if "seconds" in bare:
                bare_s = float(bare["seconds"])
                ratio = bare_s / seconds  # our speed as a share of bare iterparse's
                bare_cell, ratio_cell = f"{bare_s:.2f}", f"{ratio:.0%}"
                if fmt == "junit":
                    junit_ratio = ratio
            if args.callgrind:
                ours_ir, bare_ir = instructions(fmt, str(path)), instructions("bare", str(path))
                if ours_ir and bare_ir:
                    counted.append(
                        f"{fmt:<7} {ours_ir / 1e6:>10,.0f} {bare_ir / 1e6:>10,.0f} "
                        f"{bare_ir / ours_ir:>9.0%}"
                    )
                else:
                    notes.append(f"{fmt}: callgrind run failed")
        if ours["detected"] != fmt:
            notes.append(f"{fmt}: the file was detected as {ours['detected']}")
        print(
            f"{fmt:<7} {size_mb:>8.1f} {ours['records']:>9,} {seconds:>8.2f} "
            f"{args.tests / seconds:>9,.0f} {size_mb / seconds:>6.1f} "
            f"{int(ours['rss_kib']) / 1024:>7.0f}MB {int(ours['growth_kib']) / 1024:>6.0f}MB "
            f"{bare_cell:>7} {ratio_cell:>9}"
        )
        if not args.keep:
            path.unlink()
    print()
    print("ours/bare = our throughput as a share of a bare lxml iterparse pass over the same file,")
    print(
        "by CPU time; growth = peak RSS of the parsing process above its RSS once imports were done."
    )
    if counted:
        print(f"\n{'format':<7} {'ours MIr':>10} {'bare MIr':>10} {'ours/bare':>9}")
        print("-" * 39)
        print("\n".join(counted))
        print(
            "MIr = millions of instructions executed by the parse (callgrind); ours/bare = bare's"
        )
        print("instructions as a share of ours.")
    if junit_ratio is None:
        print("target: JUnit >= 50% of bare iterparse -- not measured (JUnit parser missing)")
    else:
        verdict = "met" if junit_ratio >= 0.5 else "NOT met"
        print(f"target: JUnit >= 50% of bare iterparse -- {junit_ratio:.0%}, {verdict}")
    for note in notes:
        print(f"note: {note}")
    if not args.keep:
        try:
            workdir.rmdir()
        except OSError:
            pass
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
