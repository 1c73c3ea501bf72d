"""The metrics engine end to end on real services, held to planted ground truth.

Simulated CI histories are uploaded through the HTTP API to a live server; a real Celery worker
parses them and recomputes the touched service-weeks; the findings and service-week metrics are
read back through the API and compared with what the simulator planted:
  - per finding kind, precision >= 0.95 (against everything the truth allows) and recall >= 0.95
    (against what it requires), over several seeds pooled;
  - no finding at all about a test with nothing planted (cascade followers included);
  - service-week pass rates equal to the truth exactly;
  - the same history uploaded again, or recomputed again, changes no finding.
"""

from __future__ import annotations

import http.client
import json
import os
import uuid
from collections import defaultdict
from urllib.parse import urlparse

import pytest

from reports.models import ServiceWeek
from tests.simulation import SimConfig, simulate
from tests.workers import Worker, purge_broker, wait_for

SEEDS = tuple(int(s) for s in os.environ.get("SUITEHEALTH_SIM_SEEDS", "0,1").split(","))
KINDS = ("flaky", "order_dependent", "cascade", "regression", "fixed", "duration_regression")


class Api:
    def __init__(self, base_url: str, key: str) -> None:
        url = urlparse(base_url)
        self.host, self.port, self.key = url.hostname, url.port, key

    def _conn(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=120)

    def upload(self, fields: dict[str, str], files) -> tuple[int, dict]:
        boundary = uuid.uuid4().hex
        parts = [
            f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
            for k, v in fields.items()
        ]
        for name, content in files:
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"'
                "\r\n\r\n".encode()
                + content
                + b"\r\n"
            )
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        conn = self._conn()
        conn.request("POST", "/api/v1/uploads", body=body, headers={
            "Authorization": f"Token {self.key}",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        })  # fmt: skip
        response = conn.getresponse()
        return response.status, json.loads(response.read())

    def get(self, path: str) -> dict:
        conn = self._conn()
        conn.request("GET", path, headers={"Authorization": f"Token {self.key}"})
        response = conn.getresponse()
        assert response.status == 200, (path, response.status)
        return json.loads(response.read())

    def findings(self, slug: str) -> list[dict]:
        out, path = [], f"/api/v1/projects/{slug}/findings?page=1"
        while path:
            page = self.get(path)
            out.extend(page["results"])
            path = page["next"] and urlparse(page["next"])._replace(scheme="", netloc="").geturl()
        return out


def _key(test: dict | None) -> tuple[str, str] | None:
    # File and name identify a simulated test in every format it is written in.
    return None if test is None else (test["file"], test["name"])


def _truth_key(test) -> tuple[str, str] | None:
    return None if test is None else (test.file, test.name)


def _upload_history(api: Api, slug: str, history) -> None:
    for run in history.runs:
        fields = {**run.form_fields(), "project": slug}
        status, body = api.upload(fields, run.files)
        assert status == 202, body


def _settled(api: Api, slug: str) -> bool:
    return api.get(f"/api/v1/projects/{slug}/status")["pending"] == 0


@pytest.fixture(scope="module")
def histories():
    return {seed: simulate(SimConfig.test(seed=seed)) for seed in SEEDS}


@pytest.mark.timeout(1500)
def test_findings_match_the_planted_truth(
    transactional_db, served_only, live_server, tmp_path, histories
):
    from ingest.services import project_create, token_create

    purge_broker()
    found: dict[str, set] = defaultdict(set)
    required: dict[str, set] = defaultdict(set)
    allowed: dict[str, set] = defaultdict(set)
    noise_hits: list[tuple] = []
    regression_status: dict[tuple, str] = {}
    snapshots = {}
    # Two pool processes, as on a 2-core machine: parses and recomputes of the same project
    # run side by side, as they do in production.
    with Worker(
        log_path=tmp_path / "worker.log", concurrency=2, SUITEHEALTH_RECOMPUTE_DELAY_SECONDS="2"
    ) as worker:
        for seed, history in histories.items():
            slug = f"sim{seed}"
            project = project_create(slug=slug)
            api = Api(live_server.url, token_create(project=project)[1])
            _upload_history(api, slug, history)
            wait_for(lambda api=api, slug=slug: _settled(api, slug), timeout=900,
                     what=f"seed {seed} settled; worker log tail:\n{worker.log()[-2000:]}")  # fmt: skip
            from ingest.models import Run

            unparsed = list(
                Run.objects.filter(project=project)
                .exclude(status="parsed")
                .values("pk", "status", "error")
            )
            assert not unparsed, unparsed
            truth = history.truth
            findings = api.findings(slug)
            noise = {(s, _truth_key(t)) for s, t in truth.noise_tests}
            for f in findings:
                entry = (seed, f["service"], _key(f["test"]), _key(f["related_test"]))
                found[f["kind"]].add(entry)
                if f["kind"] == "regression":
                    regression_status[entry[:3]] = f["status"]
                if (f["service"], _key(f["test"])) in noise:
                    noise_hits.append((f["kind"], entry))
            for kind in KINDS:
                for service, test, related in truth.expected_findings(kind):
                    required[kind].add((seed, service, _truth_key(test), _truth_key(related)))
                for service, test, related in truth.allowed_findings(kind):
                    allowed[kind].add((seed, service, _truth_key(test), _truth_key(related)))
            # Service-week pass rates are exact.
            for row in ServiceWeek.objects.filter(project=project).select_related("service"):
                want = truth.pass_rates(row.service.name, row.week_label)
                got = api.get(
                    f"/api/v1/projects/{slug}/services/{row.service.name}/weeks/{row.week_label}"
                )
                assert (got["passed"], got["failed"]) == (want.passed, want.failed), row
                assert got["pass_rate"] == want.pass_rate, row
                assert got["final_pass_rate"] == want.final_pass_rate, row
                assert got["runs"] == want.runs, (row, _runs_diff(row, history))
            snapshots[seed] = sorted(json.dumps(f, sort_keys=True) for f in findings)

        # The same history uploaded again: every upload answers 200 and nothing changes.
        seed = SEEDS[0]
        slug, history = f"sim{seed}", histories[seed]
        project_api = Api(live_server.url, token_create(project=_project(slug))[1])
        for run in history.runs[:50]:
            status, _ = project_api.upload({**run.form_fields(), "project": slug}, run.files)
            assert status == 200
        assert (
            sorted(json.dumps(f, sort_keys=True) for f in project_api.findings(slug))
            == snapshots[seed]
        )

    # Recomputed twice: identical findings.
    from reports.services import project_recompute

    project_recompute(project_id=_project(slug).pk)
    assert (
        sorted(json.dumps(f, sort_keys=True) for f in project_api.findings(slug)) == snapshots[seed]
    )

    # A test with nothing planted may still be named where the truth allows it (a cascade
    # follower that looked flaky before the cascade could explain it); never otherwise.
    noise_hits = [
        (kind, entry) for kind, entry in noise_hits
        if entry not in allowed[kind] and entry not in required[kind]
    ]  # fmt: skip
    assert not noise_hits, f"findings about tests with nothing planted: {noise_hits[:10]}"
    # A regression later fixed is resolved, and a `fixed` finding records the fix.
    fixed_regressions = {k[:3] for k in required["fixed"]} & {k[:3] for k in required["regression"]}
    assert fixed_regressions, "the simulator planted no regression that was later fixed"
    for key in fixed_regressions:
        assert regression_status.get(key) == "resolved", key
    scores = {}
    for kind in KINDS:
        assert required[kind], f"the simulator planted no {kind}: the test would prove nothing"
        recall = len(found[kind] & required[kind]) / len(required[kind])
        precise = found[kind] & (allowed[kind] | required[kind])
        precision = len(precise) / len(found[kind]) if found[kind] else 1.0
        scores[kind] = (round(precision, 3), round(recall, 3))
    print(scores)
    for kind, (precision, recall) in scores.items():
        assert precision >= 0.95, (kind, precision, found[kind] - allowed[kind] - required[kind])
        assert recall >= 0.95, (kind, recall, required[kind] - found[kind])


def _project(slug: str):
    from ingest.models import Project

    return Project.objects.get(slug=slug)


def _runs_diff(row, history):
    """The simulated runs of a service-week that the computed week does not count (diagnostics)."""
    import datetime as dt

    from django.utils.dateparse import parse_datetime

    from ingest.models import Result, Run

    start = dt.datetime.combine(row.week, dt.time(), tzinfo=dt.UTC)
    out = []
    for run in history.runs:
        at = parse_datetime(run.started_at)
        if run.service != row.service.name or not start <= at < start + dt.timedelta(days=7):
            continue
        stored = Run.objects.filter(project=row.project, build_id=run.build_id, job=run.job).first()
        results = Result.objects.filter(run_id=stored.pk).count() if stored else None
        out.append((run.seq, run.build_id, run.job, stored and stored.pk, stored and stored.status,
                    stored and stored.started_at.isoformat(), results))  # fmt: skip
    return out
