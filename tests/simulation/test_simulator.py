"""The simulator itself: deterministic, well-formed files, planted behaviours visible in them.

Every behavioural check reads the generated files back (lxml for JUnit XML, json for CTRF), so
it checks the writers as much as the simulation.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest
from lxml import etree

from tests.simulation import (
    KINDS,
    History,
    SimConfig,
    Simulator,
    TestId,
    Truth,
    simulate,
    week_label,
    write_history,
)
from tests.simulation.__main__ import _parse_now
from tests.simulation.__main__ import main as cli_main

REPO = Path(__file__).resolve().parents[2]
UTC = dt.UTC
DAY_MS = 86_400_000


# --- Reading the files back -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rec:
    """One attempt of one test as a file reports it."""

    seq: int
    service: str
    test: TestId
    attempt: int
    outcome: str  # passed | failed | error | skipped
    worker: str
    start: int  # epoch ms
    duration: int
    message: str

    @property
    def failed(self) -> bool:
        return self.outcome in ("failed", "error")


def _epoch_ms(text: str) -> int:
    return int(round(dt.datetime.fromisoformat(text).timestamp() * 1000))


def _worker(element: etree._Element) -> str | None:
    for prop in element.iterfind("properties/property"):
        if prop.get("name") == "worker":
            return prop.get("value")
    return None


def read_file(seq: int, service: str, name: str, data: bytes) -> list[Rec]:
    """Records of one uploaded file, in document order."""
    if name.endswith(".gz"):
        data = gzip.decompress(data)
    records: list[Rec] = []
    if ".json" in name:
        doc = json.loads(data)
        for t in doc["results"]["tests"]:
            test = TestId(t["suite"][-1], t["name"], t["filePath"])
            attempts = t.get("retryAttempts") or [t]
            for k, a in enumerate(attempts, start=1):
                status = a["status"]
                if status == "failed" and t.get("rawStatus") == "error" and k == len(attempts):
                    status = "error"
                records.append(
                    Rec(
                        seq,
                        service,
                        test,
                        a.get("attempt", k),
                        status,
                        t["threadId"],
                        a["start"],
                        a["duration"],
                        a.get("message", ""),
                    )
                )
        return records
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    root = etree.fromstring(data, parser)
    seen: dict[TestId, int] = defaultdict(int)
    for suite in root.iter("testsuite"):
        suite_worker = _worker(suite)
        for case in suite.iterfind("testcase"):
            test = TestId(case.get("classname"), case.get("name"), case.get("file"))
            seen[test] += 1
            outcome, message = "passed", ""
            for tag in ("error", "failure", "skipped"):
                child = case.find(tag)
                if child is not None:
                    outcome = {"error": "error", "failure": "failed"}.get(tag, "skipped")
                    message = child.get("message", "")
                    if tag != "skipped" and "Failed" == message:  # gotestsum: text in the body
                        message = child.text or ""
                    break
            records.append(
                Rec(
                    seq,
                    service,
                    test,
                    seen[test],
                    outcome,
                    _worker(case) or suite_worker or "",
                    _epoch_ms(case.get("timestamp")),
                    round(float(case.get("time")) * 1000),
                    message,
                )
            )
    return records


@dataclass
class Parsed:
    history: History
    records: dict[int, list[Rec]]  # seq -> records in document order

    def first_attempts(self, seq: int) -> list[Rec]:
        return [r for r in self.records[seq] if r.attempt == 1]

    def timelines(self, seq: int) -> dict[str, list[Rec]]:
        """Non-skipped first attempts per worker, in execution order."""
        out: dict[str, list[Rec]] = defaultdict(list)
        for r in sorted(self.first_attempts(seq), key=lambda r: r.start):
            if r.outcome != "skipped":
                out[r.worker].append(r)
        return out


# --- Fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def history() -> History:
    began = time.perf_counter()
    result = simulate(SimConfig.test())
    took = time.perf_counter() - began
    totals = result.truth.totals
    print(
        f"\ntest profile: {totals['runs']} runs, {totals['results']} results in {took:.2f}s "
        f"({totals['results'] / took:,.0f} results/s)"
    )
    return result


@pytest.fixture(scope="module")
def parsed(history: History) -> Parsed:
    records = {}
    for run in history.runs:
        ((name, data),) = run.files
        records[run.seq] = read_file(run.seq, run.service, name, data)
    return Parsed(history, records)


@pytest.fixture(scope="module")
def truth(history: History) -> Truth:
    return history.truth


def _runs_by_seq(history: History) -> dict[int, object]:
    return {r.seq: r for r in history.runs}


def _outage_seqs(truth: Truth) -> set[int]:
    return {o["seq"] for o in truth.outages}


# --- Determinism and output -------------------------------------------------------------------


def test_cli_writes_the_same_bytes_as_the_same_seed_in_memory(
    history: History, tmp_path: Path
) -> None:
    # Another process with another hash seed: nothing may depend on set or dict hashing.
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.simulation",
            "--out",
            str(tmp_path),
            "--profile",
            "test",
            "--seed",
            "0",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
    )
    assert done.returncode == 0, done.stderr
    assert "results/s" in done.stderr
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["project"] == history.config.project
    assert [r["seq"] for r in manifest["runs"]] == [r.seq for r in history.runs]
    for entry, run in zip(manifest["runs"], history.runs, strict=True):
        assert entry["started_at"] == run.started_at
        assert entry["service"] == run.service and entry["commit"] == run.commit
        ((path,),) = (entry["files"],)
        assert (tmp_path / path).read_bytes() == run.files[0][1], path
        assert path == f"runs/{run.files[0][0]}"
    written = (tmp_path / "truth.json").read_text()
    assert written == history.truth.to_json()
    assert Truth.load(tmp_path / "truth.json").to_json() == written
    files = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert len(files) == len(history.runs)


def test_cli_arguments(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        cli_main(["--out", str(tmp_path), "--profile", "nightly"])
    assert _parse_now("2026-01-09T18:00:00Z") == dt.datetime(2026, 1, 9, 18, tzinfo=UTC)
    assert _parse_now("2026-01-09T18:00") == dt.datetime(2026, 1, 9, 18, tzinfo=UTC)
    config = SimConfig.profile_named("demo", now=dt.datetime(2026, 1, 9, 18, tzinfo=UTC))
    assert config.profile == "demo" and config.start == dt.datetime(2025, 11, 24, tzinfo=UTC)


def test_a_different_seed_gives_a_different_history() -> None:
    a = simulate(SimConfig.test(seed=11, weeks=1))
    b = simulate(SimConfig.test(seed=12, weeks=1))
    again = simulate(SimConfig.test(seed=11, weeks=1))
    assert [r.files for r in a.runs] == [r.files for r in again.runs]
    assert [r.files for r in a.runs] != [r.files for r in b.runs]
    assert {p.test for p in a.truth.planted} != {p.test for p in b.truth.planted}


def test_runs_are_in_upload_order_with_their_metadata(history: History) -> None:
    config = history.config
    starts = [dt.datetime.fromisoformat(r.started_at) for r in history.runs]
    assert starts == sorted(starts)
    assert starts[0] >= config.start and starts[-1] <= config.now
    assert all(s.tzinfo is not None and s.utcoffset() == dt.timedelta(0) for s in starts)
    services = {s.name for s in config.services}
    assert {r.service for r in history.runs} == services
    for run in history.runs:
        fields = run.form_fields()
        assert fields["project"] == "mediaserver" and fields["service"] == run.service
        assert len(run.commit) == 40 and fields["build_id"] and fields["job"]
    branches = {r.branch for r in history.runs}
    assert "main" in branches and len(branches) > 3  # feature branches too
    reruns = [r for r in history.runs if r.rerun]
    assert reruns, "failed jobs are sometimes re-run on the same commit"
    originals = {(r.build_id, r.service): r for r in history.runs if not r.rerun}
    for r in reruns:
        assert originals[(r.build_id, r.service)].commit == r.commit
        assert r.job != originals[(r.build_id, r.service)].job


def test_files_are_well_formed_and_match_the_manifest_counts(
    parsed: Parsed, samples_dir: Path
) -> None:
    import jsonschema

    schema = json.loads((samples_dir / "schemas" / "ctrf.schema.json").read_text())
    validator = (
        jsonschema.Draft7Validator(schema)
        if "draft-07" in schema.get("$schema", "")
        else jsonschema.validators.validator_for(schema)(schema)
    )
    validated = 0
    formats = defaultdict(set)
    for run in parsed.history.runs:
        records = parsed.records[run.seq]
        counts = run.counts
        assert len(records) == counts["results"]
        assert sum(1 for r in records if r.attempt == 1) == counts["test_runs"]
        name, data = run.files[0]
        formats[run.service].add(name.split(".", 1)[1])
        ctrf = ".json" in name
        by_outcome = defaultdict(int)
        for r in records:
            by_outcome["failed" if ctrf and r.outcome == "error" else r.outcome] += 1
        for outcome in ("passed", "failed", "error", "skipped"):
            assert by_outcome[outcome] == counts[outcome], (run.seq, outcome)
        raw = gzip.decompress(data) if name.endswith(".gz") else data
        if ctrf and (validated < 25 or b'"retryAttempts"' in raw):
            errors = sorted(validator.iter_errors(json.loads(raw)), key=str)
            assert not errors, (name, errors[:3])
            validated += 1
        # Within a worker, document order is execution order and tests do not overlap.
        last_end: dict[str, int] = {}
        for r in records:
            if ctrf and r.attempt > 1:
                continue  # CTRF lists retries inside their test's entry
            assert r.start >= last_end.get(r.worker, 0), (name, r)
            last_end[r.worker] = r.start + r.duration
        assert min(r.start for r in records) >= _epoch_ms(run.started_at)
    assert formats == {
        "cache": {"xml"},
        "plex": {"json"},
        "youtube": {"xml.gz"},
        "jwt": {"xml"},
        "device-session": {"json.gz"},
    }
    assert validated > 25


def test_identity_is_the_same_in_every_format(parsed: Parsed, truth: Truth) -> None:
    known = {(t.service, t.test) for t in truth.tests}
    seen = {(r.service, r.test) for recs in parsed.records.values() for r in recs}
    assert seen == known
    for _service, test in seen:
        assert test.classname and test.name and test.file
    jwt = {t for s, t in seen if s == "jwt"}
    assert all(t.classname.startswith("github.com/mediaserver/jwt/") for t in jwt)
    assert any("/" in t.name for t in jwt)  # go subtests
    java = {t for s, t in seen if s == "device-session"}
    assert all(t.file.endswith(".java") and t.name.endswith(")") for t in java)
    cache = {t for s, t in seen if s == "cache"}
    assert any(t.classname.endswith(".TestStore") or ".Test" in t.classname for t in cache)
    assert any("[" in t.name for s, t in seen)  # parametrized pytest tests


def test_pass_rates_equal_the_files_exactly(parsed: Parsed, truth: Truth) -> None:
    first: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    runs: dict[tuple[str, str], int] = defaultdict(int)
    results: dict[tuple[str, str], int] = defaultdict(int)
    tests: dict[tuple[str, str], set[TestId]] = defaultdict(set)
    for run in parsed.history.runs:
        key = (run.service, week_label(dt.datetime.fromisoformat(run.started_at)))
        runs[key] += 1
        final: dict[TestId, Rec] = {}
        for r in parsed.records[run.seq]:
            results[key] += 1
            tests[key].add(r.test)
            if r.attempt == 1:
                first[key]["failed" if r.failed else r.outcome] += 1
            if r.attempt >= final.get(r.test, r).attempt:
                final[r.test] = r
        for r in final.values():
            first[key]["final_" + ("failed" if r.failed else r.outcome)] += 1
    assert set(first) == set(truth.service_weeks)
    for (service, week), c in first.items():
        rates = truth.pass_rates(service, week)
        assert (rates.passed, rates.failed, rates.skipped) == (
            c["passed"],
            c["failed"],
            c["skipped"],
        ), (service, week)
        assert (rates.final_passed, rates.final_failed, rates.final_skipped) == (
            c["final_passed"],
            c["final_failed"],
            c["final_skipped"],
        ), (service, week)
        assert rates.runs == runs[(service, week)]
        assert rates.results == results[(service, week)]
        assert rates.tests == len(tests[(service, week)])
        assert rates.pass_rate == c["passed"] / (c["passed"] + c["failed"])
        assert rates.final_pass_rate is not None and rates.final_pass_rate >= rates.pass_rate
    assert truth.pass_rates("cache", "1999-W01").pass_rate is None


# --- Planted behaviours, as the files show them -----------------------------------------------


def _history_of(
    parsed: Parsed, service: str, test: TestId, skip_outages: bool = True
) -> list[tuple[object, Rec]]:
    """(run, first attempt) of one test in every run, chronologically."""
    outages = _outage_seqs(parsed.history.truth)
    out = []
    for run in parsed.history.runs:
        if run.service != service or (skip_outages and run.seq in outages):
            continue
        for r in parsed.records[run.seq]:
            if r.test == test and r.attempt == 1:
                out.append((run, r))
    return out


def _earlier_on_worker(parsed: Parsed, rec: Rec, others: set[TestId]) -> list[Rec]:
    return [
        r
        for r in parsed.first_attempts(rec.seq)
        if r.test in others
        and r.worker == rec.worker
        and r.start < rec.start
        and r.outcome != "skipped"
    ]


def test_order_dependent_victims_fail_after_their_polluters(parsed: Parsed, truth: Truth) -> None:
    entries = truth.planted_of("order_dependent")
    assert len(entries) == 4
    assert any(len(e.related) == 2 for e in entries), "a victim with two polluters"
    cleaned = [e for e in entries if e.params["cleaners"]]
    assert len(cleaned) == 1, "a polluter with a cleaner"
    now_ms = _epoch_ms(truth.now)
    for e in entries:
        runs = _history_of(parsed, e.service, e.test)
        recent = [r for _, r in runs if r.start >= now_ms - 28 * DAY_MS and r.outcome != "skipped"]
        fails = sum(r.failed for r in recent)
        passes = sum(not r.failed for r in recent)
        assert fails >= 5 and passes >= 5, (e.test, fails, passes)
        polluters = set(e.related)
        with_p = [r for _, r in runs if _earlier_on_worker(parsed, r, polluters)]
        without = [r for _, r in runs if not _earlier_on_worker(parsed, r, polluters)]
        risk_with = sum(r.failed for r in with_p) / len(with_p)
        risk_without = sum(r.failed for r in without) / len(without)
        assert risk_with >= 0.6 and risk_without <= 0.1, (e.test, risk_with, risk_without)
        for polluter in e.related:  # each polluter on its own
            alone = [
                r
                for _, r in runs
                if _earlier_on_worker(parsed, r, {polluter})
                and not _earlier_on_worker(parsed, r, polluters - {polluter})
            ]
            assert sum(r.failed for r in alone) >= 3, (e.test, polluter)
    # The cleaner resets the polluter's state when it runs between polluter and victim.
    e = cleaned[0]
    ((polluter, cleaners),) = e.params["cleaners"].items()
    cleaner = TestId.from_dict(cleaners[0])
    (pol,) = e.related
    assert str(pol) == polluter
    cleaned_runs, dirty_runs = [], []
    for _, r in _history_of(parsed, e.service, e.test):
        if r.failed and "assert 1 == 0" not in r.message:
            continue  # a cascade follower's failure, not the polluter's doing
        before = _earlier_on_worker(parsed, r, {pol, cleaner})
        p_starts = [x.start for x in before if x.test == pol]
        if not p_starts:
            continue
        if any(x.test == cleaner and x.start > p_starts[0] for x in before):
            cleaned_runs.append(r)
        else:
            dirty_runs.append(r)
    assert cleaned_runs and dirty_runs
    assert sum(r.failed for r in cleaned_runs) <= 0.15 * len(cleaned_runs)
    assert sum(r.failed for r in dirty_runs) >= 0.6 * len(dirty_runs)


def test_a_leaking_root_breaks_the_next_tests_on_its_worker(parsed: Parsed, truth: Truth) -> None:
    roots = truth.planted_of("cascade")
    assert roots
    outages = _outage_seqs(truth)
    follower_failures: dict[tuple[str, TestId], int] = defaultdict(int)
    events = 0
    for e in roots:
        span = e.params["span"]
        assert span >= 3
        for run in parsed.history.runs:
            if run.service != e.service or run.seq in outages:
                continue
            for line in parsed.timelines(run.seq).values():
                for i, r in enumerate(line):
                    if r.test == e.test and r.failed:
                        followers = line[i + 1 : i + 1 + span]
                        assert all(f.failed for f in followers), (run.seq, followers)
                        assert all(
                            "connection" in f.message
                            or "closed" in f.message
                            or "bind" in f.message
                            for f in followers
                        )
                        events += len(followers) >= 2
                        for f in followers:
                            follower_failures[(e.service, f.test)] += 1
    assert events >= 10
    # Followers are otherwise healthy: every failure of a noise test outside outages is a
    # follower failure.
    noise = truth.noise_tests
    for (service, test), n in follower_failures.items():
        if (service, test) in noise:
            own = [r for _, r in _history_of(parsed, service, test) if r.failed]
            assert len(own) == n, (test, len(own), n)
    followers_listed = {(e.service, t) for e in roots for t in e.related}
    assert followers_listed == set(follower_failures)
    assert followers_listed & noise, "cascade followers are noise tests, not flaky ones"


def test_noise_tests_only_fail_in_outages_or_cascades(parsed: Parsed, truth: Truth) -> None:
    roots = {(e.service, e.test): e.params["span"] for e in truth.planted_of("cascade")}
    outages = _outage_seqs(truth)
    noise = truth.noise_tests
    checked = 0
    for run in parsed.history.runs:
        if run.seq in outages:
            continue
        for line in parsed.timelines(run.seq).values():
            for i, r in enumerate(line):
                if not r.failed or (run.service, r.test) not in noise:
                    continue
                behind = line[max(0, i - 6) : i]
                ok = any(
                    (run.service, b.test) in roots
                    and b.failed
                    and i - line.index(b) <= roots[(run.service, b.test)]
                    for b in behind
                )
                assert ok, (run.seq, r)
                checked += 1
    assert checked > 0


def _main_runs(parsed: Parsed, service: str, test: TestId) -> list[tuple[int, Rec, list[Rec]]]:
    """(main commit index, first attempt, all attempts) of a test on main, chronologically."""
    index = parsed.history.truth.main_index()
    outages = _outage_seqs(parsed.history.truth)
    out = []
    for run in parsed.history.runs:
        if run.service != service or run.branch != "main" or run.seq in outages:
            continue
        attempts = [r for r in parsed.records[run.seq] if r.test == test]
        if attempts:
            out.append((index[run.commit], attempts[0], attempts))
    return out


def test_regressions_pass_before_their_commit_and_fail_after(parsed: Parsed, truth: Truth) -> None:
    index = truth.main_index()
    regressions = truth.planted_of("regression")
    assert len(regressions) == 2 and sum(1 for e in regressions if e.until_commit) == 1
    broken = truth.planted_of("broken")
    assert len(broken) == 2 and all(e.until_commit for e in broken)
    assert any(e.from_commit is None for e in broken)  # broken from the start of history
    for e in regressions + broken:
        start = index[e.from_commit] if e.from_commit else 0
        end = index[e.until_commit] if e.until_commit else 1 << 30
        runs = _main_runs(parsed, e.service, e.test)
        before = [r for i, r, _ in runs if i < start]
        during = [attempts for i, _, attempts in runs if start <= i < end]
        after = [r for i, r, _ in runs if i >= end]
        if e.kind == "regression":
            assert len(before) >= 5
            assert sum(not r.failed for r in before) >= 0.9 * len(before)
        else:
            assert not before
        assert during and all(all(a.failed for a in attempts) for attempts in during)
        if e.until_commit:
            assert len(after) >= 3 and sum(not r.failed for r in after) >= 0.9 * len(after)


def test_duration_changes_and_stable_noise(parsed: Parsed, truth: Truth) -> None:
    index = truth.main_index()
    changes = truth.planted_of("slowdown") + truth.planted_of("speedup")
    assert {e.kind for e in changes} == {"slowdown", "speedup"}
    for e in changes:
        at = index[e.from_commit]
        runs = _main_runs(parsed, e.service, e.test)
        before = [r.duration for i, r, _ in runs if i < at and r.outcome == "passed"]
        after = [r.duration for i, r, _ in runs if i >= at and r.outcome == "passed"]
        assert len(before) >= 10 and len(after) >= 10
        ratio = statistics.median(after) / statistics.median(before)
        assert abs(ratio / e.params["factor"] - 1) < 0.15, (e.test, ratio, e.params)
        if e.kind == "slowdown":
            assert e.params["factor"] >= 1.5
            assert statistics.median(after) - statistics.median(before) >= 25
        else:
            assert e.params["factor"] == 0.5
    # Everything else keeps its duration: no noise test's median moves by half.
    for service, test in sorted(truth.noise_tests)[:60]:
        runs = _main_runs(parsed, service, test)
        durations = [r.duration for _, r, _ in runs if r.outcome == "passed"]
        if len(durations) < 20 or statistics.median(durations) < 20:
            continue
        half = len(durations) // 2
        ratio = statistics.median(durations[half:]) / statistics.median(durations[:half])
        assert 0.75 < ratio < 1.33, (test, ratio)


def test_outage_runs_fail_on_every_worker(parsed: Parsed, truth: Truth) -> None:
    assert truth.outages
    for o in truth.outages:
        for worker, line in parsed.timelines(o["seq"]).items():
            if len(line) >= 3:
                assert sum(r.failed for r in line) > 0.5 * len(line), (o, worker)
    runs = _runs_by_seq(parsed.history)
    assert any(runs[o["seq"]].outage for o in truth.outages)


def test_retries_within_a_run(parsed: Parsed, truth: Truth) -> None:
    retried_services = set()
    for run in parsed.history.runs:
        retries = truth.services[run.service]["retries"]
        per_test: dict[TestId, list[Rec]] = defaultdict(list)
        for r in parsed.records[run.seq]:
            per_test[r.test].append(r)
        for attempts in per_test.values():
            assert [a.attempt for a in attempts] == list(range(1, len(attempts) + 1))
            assert len(attempts) <= retries + 1
            assert all(a.failed for a in attempts[:-1])
            assert len({a.worker for a in attempts}) == 1
            if len(attempts) > 1:
                retried_services.add(run.service)
    assert retried_services == {"cache", "plex", "device-session"}


def test_tests_come_and_go_on_main(parsed: Parsed, truth: Truth) -> None:
    index = truth.main_index()
    (renamed,) = truth.planted_of("renamed")
    ((old,),) = (renamed.related,)
    at = index[renamed.from_commit]
    assert renamed.test != old and renamed.test.classname == old.classname
    for i, _, _ in _main_runs(parsed, renamed.service, old):
        assert i < at
    new_runs = _main_runs(parsed, renamed.service, renamed.test)
    assert new_runs and all(i >= at for i, _, _ in new_runs)
    for run in parsed.history.runs:
        names = {r.test for r in parsed.records[run.seq]}
        assert not (old in names and renamed.test in names)
    for e in truth.planted_of("added"):
        assert all(i >= index[e.from_commit] for i, _, _ in _main_runs(parsed, e.service, e.test))
    for e in truth.planted_of("removed"):
        assert all(i < index[e.from_commit] for i, _, _ in _main_runs(parsed, e.service, e.test))
    assert {
        (e.service, e.test)
        for e in truth.planted_of("renamed")
        + truth.planted_of("added")
        + truth.planted_of("removed")
    } <= truth.noise_tests


# --- The truth's helpers ----------------------------------------------------------------------


def test_expected_findings_cover_every_kind(truth: Truth) -> None:
    for kind in KINDS:
        expected = truth.expected_findings(kind)
        assert expected, kind
        assert expected <= truth.allowed_findings(kind)
        for week in truth.weeks:
            assert truth.expected_findings(kind, week) <= truth.allowed_findings(kind, week)
    with pytest.raises(ValueError):
        truth.expected_findings("nonsense")
    # A rare flake in a suite without retries may go unconfirmed for the whole history.
    flaky = {t for _, t, _ in truth.expected_findings("flaky")}
    planted_flaky = {e.test for e in truth.planted_of("flaky")}
    assert flaky <= planted_flaky and len(flaky) >= 0.8 * len(planted_flaky)
    od = truth.expected_findings("order_dependent")
    assert od == {
        (e.service, e.test, p) for e in truth.planted_of("order_dependent") for p in e.related
    }
    assert {t for _, t, _ in truth.expected_findings("cascade")} == {
        e.test for e in truth.planted_of("cascade")
    }
    regressions = {(e.service, e.test, None) for e in truth.planted_of("regression")}
    assert (
        1 <= len(truth.expected_findings("regression"))
        and truth.expected_findings("regression") <= regressions
    )
    # One fixed regression and two broken tests.
    fixed = {(e.service, e.test, None) for e in truth.planted_of("broken")} | regressions
    assert 2 <= len(truth.expected_findings("fixed")) and truth.expected_findings("fixed") <= fixed
    noise = truth.noise_tests
    for kind in KINDS:
        for service, test, _related in truth.expected_findings(kind):
            assert (service, test) not in noise
    # Followers and victims are never expected as flaky.
    not_flaky = {(e.service, t) for e in truth.planted_of("cascade") for t in e.related}
    not_flaky &= noise
    not_flaky |= {(e.service, e.test) for e in truth.planted_of("order_dependent")}
    assert not {(s, t) for s, t, _ in truth.expected_findings("flaky")} & not_flaky
    # They may only be allowed where no cascade or polluter explains a failure clearly yet.
    for f in truth.findings_of("flaky", required_only=False):
        if (f.service, f.test) in not_flaky:
            assert not f.required
            assert f.evidence.get("follower_run") or f.evidence.get("unexplained_victim")
    assert truth.findings_of("flaky")[0].evidence["flaky_results"] >= 1


def test_truth_round_trips_through_json(truth: Truth) -> None:
    again = Truth.from_dict(json.loads(truth.to_json()))
    assert again == truth
    for kind in KINDS:
        assert again.expected_findings(kind) == truth.expected_findings(kind)
    assert again.noise_tests == truth.noise_tests


# --- Profiles, streaming and isolation --------------------------------------------------------


def test_demo_profile_ends_in_the_week_of_now() -> None:
    now = dt.datetime(2026, 11, 25, 15, 30, tzinfo=UTC)
    sim = Simulator(SimConfig.demo(now=now))
    runs = list(sim.runs())
    truth = sim.truth
    assert {r.service for r in runs} == {"cache", "plex", "youtube", "jwt", "device-session"}
    last = dt.datetime.fromisoformat(runs[-1].started_at)
    assert last <= now and week_label(last) == week_label(now) == truth.weeks[-1]
    assert len(truth.weeks) == 7
    for kind in (
        "flaky",
        "order_dependent",
        "cascade",
        "regression",
        "fixed",
        "duration_regression",
    ):
        assert truth.expected_findings(kind), kind


def test_streaming_writes_a_bench_shaped_history(tmp_path: Path) -> None:
    config = SimConfig.bench(scale=0.1, services=7, weeks=2)
    assert len(config.services) == 7 and config.services[5].name == "transcoder"
    truth = write_history(config, tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert len(manifest["runs"]) == truth.totals["runs"] == len(list((tmp_path / "runs").iterdir()))
    assert Truth.load(tmp_path / "truth.json") == truth
    assert {s for s, _ in truth.service_weeks} == {s.name for s in config.services}


def test_the_simulator_imports_nothing_of_django_or_the_product() -> None:
    code = (
        "import sys, tests.simulation, tests.simulation.__main__; "
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('django', 'rest_framework', 'celery', 'dashboard', 'ingest', 'reports')]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
