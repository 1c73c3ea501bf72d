"""The recompute's loader: test-runs stored once per run (RunFacts) are the run's results.

The expectation is built from the results table with the ORM and DESIGN.md's "Timeline" rule
(per (run, timeline): start time where known, then document order), independently of the SQL
the loader runs.
"""

from __future__ import annotations

import functools
import io
from collections import defaultdict

import pytest
from django.db.models import F

from ingest.models import Result, Service, Test
from ingest.services import UploadMeta, run_create, run_parse
from ingest.signals import tests_remapped
from reports import history, staleness
from reports.metrics.cascades import outage_runs
from reports.metrics.changepoints import commit_points
from reports.metrics.data import Execution, group_test_runs
from reports.metrics.params import MetricParams
from reports.models import RunFacts
from tests.simulation import SimConfig, simulate


@functools.cache
def _runs() -> list:
    """Every 10th run of the first 240 of a simulated history (every service, about three weeks,
    quick to load) and the planted outage runs among them."""
    sim = simulate(SimConfig.test(seed=3))
    outages = {(o["build_id"], o["service"]) for o in sim.truth.outages}
    return [
        run
        for i, run in enumerate(sim.runs[:240])
        if i % 10 == 0 or (run.form_fields()["build_id"], run.form_fields()["service"]) in outages
    ]


def _load(project) -> None:
    for run in _runs():
        meta = UploadMeta.from_fields(run.form_fields())
        created = run_create(
            project=project, meta=meta, files=[(n, io.BytesIO(c)) for n, c in run.files]
        )
        run_parse(run_id=created.run.pk)


def _expected(service: Service) -> list:
    rows = (
        Result.objects.filter(test__service=service)
        .order_by("run_id", "timeline", F("started_at").asc(nulls_last=True), "position")
        .values_list("run_id", "test_id", "attempt", "outcome", "duration_ms", "timeline")
    )
    order: dict[tuple[int, str], int] = defaultdict(int)
    executions = []
    for run, test, attempt, outcome, duration, timeline in rows:
        executions.append(
            Execution(run, test, attempt, outcome, duration, timeline, order[(run, timeline)])
        )
        order[(run, timeline)] += 1
    return group_test_runs(executions)


def _weeks(project):
    results = Result.objects.filter(test__service__project=project)
    weeks = sorted(set(results.values_list("run_week", flat=True)))
    return weeks[0], weeks[-1]


@pytest.mark.django_db
def test_stored_test_runs_are_the_results_grouped_and_read_by_week(project) -> None:
    _load(project)
    start, end = _weeks(project)
    services = list(Service.objects.filter(project=project))
    assert len(services) > 1
    outages_seen: set[int] = set()
    for service in services:
        loaded = history.service_history(
            project_id=project.pk, service_id=service.pk, start=start, end=end
        )
        expected = _expected(service)
        assert expected and loaded.test_runs == expected
        assert set(loaded.runs) == {tr.run for tr in expected}
        assert all(loaded.runs[r].started_at for r in loaded.runs)
        # What the digests keep per run and per commit is what the metric functions compute.
        params = MetricParams(reference_branch="main")
        outages = outage_runs(expected, params=params)
        assert loaded.outage_runs(loaded.runs, params) == outages
        outages_seen |= outages
        assert loaded.commit_points(loaded.runs, reference_branch="main") == commit_points(
            loaded.runs.values(), expected, reference_branch="main"
        )
    assert outages_seen, "the history holds planted outages"
    # Derived once: a second window read derives nothing, and a cold reader gets the same rows.
    assert history.run_facts_derive(project_id=project.pk, start=start, end=end) == 0
    history.forget_decoded()
    service = services[0]
    again = history.service_history(
        project_id=project.pk, service_id=service.pk, start=start, end=end
    )
    assert again.test_runs == _expected(service)

    # A window reads only its weeks.
    assert start < end
    in_last_week = Result.objects.filter(run_week=end, test__service__project=project)
    service = Service.objects.get(pk=in_last_week.values_list("test__service", flat=True)[0])
    loaded = history.service_history(
        project_id=project.pk, service_id=service.pk, start=end, end=end
    )
    weeks = dict(RunFacts.objects.filter(service=service).values_list("run_id", "week"))
    assert loaded.runs and all(weeks[r] == end for r in loaded.runs)
    assert [tr for tr in _expected(service) if weeks.get(tr.run) == end] == loaded.test_runs


@pytest.mark.django_db
def test_tests_moving_between_services_are_read_in_their_new_service(project) -> None:
    _load(project)
    start, end = _weeks(project)
    first, second = list(Service.objects.filter(project=project).order_by("pk"))[:2]
    for service in (first, second):
        history.service_history(project_id=project.pk, service_id=service.pk, start=start, end=end)
    moving = list(
        Test.objects.filter(service=first).order_by("pk").values_list("pk", flat=True)[:3]
    )
    Test.objects.filter(pk__in=moving).update(service=second)
    tests_remapped.send(
        sender=Test, project_id=project.pk, service_ids=[first.pk, second.pk],
        weeks=sorted(set(Result.objects.filter(test_id__in=moving).values_list("run_week", flat=True))),
    )  # fmt: skip
    for service in (first, second):
        loaded = history.service_history(
            project_id=project.pk, service_id=service.pk, start=start, end=end
        )
        assert loaded.test_runs == _expected(service)
    moved = history.service_history(
        project_id=project.pk, service_id=second.pk, start=start, end=end
    )
    assert set(moving) <= {tr.test for tr in moved.test_runs}


def _in_thread(fn):
    """Run fn on its own database connection; returns (done event, [result or error])."""
    import threading

    from django.db import connection

    done, outcome = threading.Event(), []

    def target() -> None:
        try:
            outcome.append(fn())
        except Exception as exc:  # reported to the test
            outcome.append(exc)
        finally:
            connection.close()
            done.set()

    threading.Thread(target=target, daemon=True).start()
    return done, outcome


@pytest.mark.django_db(transaction=True)
def test_forgetting_run_facts_waits_for_a_derive_in_progress_and_the_other_way_round(
    project,
) -> None:
    """A derive reads the tests' services and stores facts grouped by them; tests moving in
    between must not leave facts of the old services behind (run_facts_lock)."""
    import threading

    from django.db import connection, transaction

    if connection.vendor != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's; SQLite has one writer at a time")
    _load(project)
    start, end = min(r.week for r in project.runs.all()), max(r.week for r in project.runs.all())

    # A derive in progress (its lock held in an open transaction): the forget waits for it.
    holding, release = threading.Event(), threading.Event()

    def derive_in_progress() -> int:
        with transaction.atomic():
            staleness.run_facts_lock(project.pk, shared=True)
            derived = history.run_facts_derive(project_id=project.pk, start=start, end=end)
            holding.set()
            release.wait(10)
            return derived

    done, outcome = _in_thread(derive_in_progress)
    assert holding.wait(30)
    forget = _in_thread(
        lambda: staleness.run_facts_forget(project_id=project.pk, weeks=[start, end])
    )
    assert not forget[0].wait(0.5)  # blocked behind the derive
    release.set()
    assert done.wait(10) and forget[0].wait(10)
    derived, forgotten = outcome[0], forget[1][0]
    assert derived > 0 and forgotten > 0  # the forget ran after the derive's rows were committed
    assert not RunFacts.objects.filter(week__in=[start, end]).exists()

    # A forget in progress: a derive waits, then reads what the forget's transaction committed.
    holding.clear()
    release.clear()

    def forget_in_progress() -> int:
        with transaction.atomic():
            forgotten = staleness.run_facts_forget(project_id=project.pk, weeks=[start, end])
            holding.set()  # its lock is held until this transaction ends
            release.wait(10)
            return forgotten

    done, outcome = _in_thread(forget_in_progress)
    assert holding.wait(30)
    derive = _in_thread(
        lambda: history.run_facts_derive(project_id=project.pk, start=start, end=end)
    )
    assert not derive[0].wait(0.5)  # blocked behind the forget
    release.set()
    assert done.wait(10) and derive[0].wait(10)
    assert not isinstance(outcome[0], Exception) and derive[1][0] > 0
