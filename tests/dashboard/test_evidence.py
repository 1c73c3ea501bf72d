"""Every figure of a finding's evidence links to the runs or results it counts, and the lists
they link to say what they show (see conftest.py for the simulated history)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import pytest

from dashboard import selectors as sel
from ingest.models import Run
from reports.metrics.evidence import MAX_CELL_RUNS, MAX_EVIDENCE_RUNS
from reports.models import Finding

pytestmark = pytest.mark.django_db


def _recount_cells(f: Finding) -> dict[str, list[int]]:
    """The runs of each cell of an order-dependent finding's table, counted again from the stored
    results as docs/metrics.md defines the table: the victim's decided first attempts in the runs
    of the od_window_days before the finding's `as_of` (outage runs left out) where the polluter
    had a decided first attempt too; "earlier" on the victim's worker, by start time where known,
    then upload order. A polluter taken at a later explain-away step is counted without the runs
    where a polluter of an earlier step ran before the victim."""
    from ingest.models import Result
    from ingest.parsers.records import Outcome
    from reports.models import ServiceWeek

    start = f.as_of - dt.timedelta(days=f.params["od_window_days"])
    earlier_polluters = [
        other.related_test_id
        for other in Finding.objects.filter(
            service_id=f.service_id, week=f.week, test_id=f.test_id, kind="order_dependent"
        )
        if other.evidence["step"] < f.evidence["step"]
    ]
    outages = {
        int(r)
        for ids in ServiceWeek.objects.filter(service_id=f.service_id).values_list(
            "metrics__outage_run_ids", flat=True
        )
        for r in ids or ()
    }
    seen: dict[int, dict[int, tuple]] = defaultdict(dict)
    for run_id, test_id, outcome, timeline, started_at, position in (
        Result.objects.filter(
            test_id__in=[f.test_id, f.related_test_id, *earlier_polluters], attempt=1,
            run__started_at__gte=start, run__started_at__lt=f.as_of,
            run__status=Run.Status.PARSED,
        )
        .exclude(outcome=Outcome.SKIPPED)
        .values_list("run_id", "test_id", "outcome", "timeline", "started_at", "position")
    ):  # fmt: skip
        if run_id not in outages:
            key = (
                started_at is None,
                started_at or dt.datetime.min.replace(tzinfo=dt.UTC),
                position,
            )
            seen[run_id][test_id] = (timeline, key, outcome in (Outcome.FAILED, Outcome.ERROR))

    def ran_before_victim(tests: dict, other: int) -> bool:
        timeline, key, _ = tests[f.test_id]
        return other in tests and tests[other][0] == timeline and tests[other][1] < key

    cells: dict[str, list[int]] = {"a": [], "b": [], "c": [], "d": []}
    for run_id, tests in seen.items():
        if f.test_id not in tests or f.related_test_id not in tests:
            continue
        if any(ran_before_victim(tests, q) for q in earlier_polluters):
            continue
        failed = tests[f.test_id][2]
        if ran_before_victim(tests, f.related_test_id):
            cells["a" if failed else "b"].append(run_id)
        else:
            cells["c" if failed else "d"].append(run_id)
    return cells


def test_each_cell_of_an_order_dependent_table_lists_the_runs_it_counts(dataset):
    findings = list(Finding.objects.filter(project=dataset.sim, kind="order_dependent"))
    assert findings
    started = dict(Run.objects.filter(project=dataset.sim).values_list("pk", "started_at"))
    for f in findings:
        cells = _recount_cells(f)
        e = f.evidence
        for cell, runs in cells.items():
            why = (f.pk, e["step"], cell)
            assert e[cell] == len(runs), why
            listed = e["cell_runs"][cell]
            assert set(listed) <= set(runs), why  # each listed run belongs to its cell
            # the latest of them, in run start order: all of them under the cap
            latest = sorted(runs, key=lambda r: (started[r], r))[-MAX_CELL_RUNS:]
            assert listed == latest, why
        assert e["explained_runs"] == e["cell_runs"]["a"][-MAX_EVIDENCE_RUNS:]
    assert any(f.evidence["step"] > 1 for f in findings), "an explain-away step is checked"


def _html(response) -> str:
    return response.content.decode()


@pytest.fixture
def member_client(client, dataset):
    client.force_login(dataset.member)
    return client


def test_a_cells_runs_list_shows_the_victims_first_attempt_in_each_run(member_client, dataset):
    slug = dataset.sim.slug
    f = (
        Finding.objects.filter(project=dataset.sim, kind="order_dependent", evidence__b__gt=0)
        .select_related("test")
        .first()
    )
    cells = sel.order_cell_runs(f.evidence)
    for cell, expected in (("a", {"failed", "error"}), ("b", {"passed"}), ("d", {"passed"})):
        if not cells[cell]:
            continue
        response = member_client.get(f"/p/{slug}/runs/?finding={f.pk}&cell={cell}")
        assert response.status_code == 200
        rows = response.context["rows"]
        listed = {r["run"].pk for r in rows}
        assert listed <= set(cells[cell]) and len(listed) == min(50, len(cells[cell]))
        assert response.context["drill_count"] == len(cells[cell]) == f.evidence[cell]
        # the victim's own first attempt is what the cell counts, and it is shown
        assert {r["outcomes"][0] for r in rows} <= expected, cell
        html = _html(response)
        assert f"cell {cell} of its" in html and str(f.test) in html
        assert "Its first attempt" in html
        for r in rows:
            assert f'href="/p/{slug}/runs/{r["run"].pk}/?test={f.test_id}#results"' in html
    # a finding of another project, or not order-dependent, is not a drill
    other = Finding.objects.exclude(kind="order_dependent").first()
    plain = member_client.get(f"/p/{slug}/runs/?finding={other.pk}&cell=a")
    assert plain.context["drill"] is None


def test_a_cells_runs_list_costs_a_bounded_number_of_queries(
    member_client, dataset, django_assert_max_num_queries
):
    f = Finding.objects.filter(project=dataset.sim, kind="order_dependent").first()
    url = f"/p/{dataset.sim.slug}/runs/?finding={f.pk}&cell=d"
    member_client.get(url)
    # the runs list's own 7 (session, user, projects, services, weeks, count, page), the finding
    # (its evidence lists the cell's runs) and the victim's outcomes in the page's runs
    with django_assert_max_num_queries(9):
        assert member_client.get(url).status_code == 200


def test_a_cascades_runs_link_to_the_roots_results_in_each(member_client, dataset):
    slug = dataset.sim.slug
    f = Finding.objects.filter(project=dataset.sim, kind="cascade").select_related("test").first()
    runs = sel.cascade_run_ids(f)
    link = f"/p/{slug}/runs/?ids={'%2C'.join(map(str, runs))}&amp;test={f.test_id}"
    page = _html(member_client.get(f"/p/{slug}/t/{f.test_id}/"))
    assert link in page, "the test page's evidence links the cascades' runs"
    for c in f.evidence["cascades"]:
        assert f"/p/{slug}/runs/{c['run']}/?timeline=" in page
    service = _html(member_client.get(f"/p/{slug}/s/{f.service.name}/?week={f.week_label}"))
    assert f"?ids={','.join(map(str, runs))}&amp;test={f.test_id}" in service
    listed = member_client.get(f"/p/{slug}/runs/?ids={','.join(map(str, runs))}&test={f.test_id}")
    rows = listed.context["rows"]
    assert {r["run"].pk for r in rows} == set(runs)
    # the root failed its first attempt in every cascade it began
    assert {r["outcomes"][0] for r in rows} <= {"failed", "error"}
    assert "Showing the results of" in _html(listed)


def test_a_regressions_failures_link_to_its_failures_on_the_reference_branch(
    member_client, dataset
):
    from ingest.models import Result

    slug = dataset.sim.slug
    f = (
        Finding.objects.filter(project=dataset.sim, kind="regression", evidence__failures__gt=1)
        .order_by("id")
        .first()
    )
    listed = _html(member_client.get(f"/p/{slug}/?kind=regression&week=all"))
    row = next(r for r in sel.finding_rows(dataset.sim, [f]))
    assert row.failures_url and row.failures_url.replace("&", "&amp;") in listed
    response = member_client.get(row.failures_url)
    assert response.context["branch"] == "main"
    results = response.context["results"]
    assert results.paginator.counted
    assert all(r.run.branch == "main" for r in results.object_list)
    first = Run.objects.get(pk=f.evidence["first_failing_run"])
    last = Run.objects.get(pk=f.last_run_id)
    # the test's failed last attempts on main in those runs
    final: dict[int, int] = {}
    for run_id, outcome in Result.objects.filter(
        test_id=f.test_id, run__branch="main",
        run__started_at__gte=first.started_at, run__started_at__lte=last.started_at,
    ).order_by("run_id", "attempt").values_list("run_id", "outcome"):  # fmt: skip
        final[run_id] = outcome
    assert results.paginator.count == sum(1 for o in final.values() if o in (1, 2))
    # the count leaves out failures in outage runs and as a cascade follower; the list says so
    assert 0 < f.evidence["failures"] <= results.paginator.count
    assert "a regression's failures" in _html(response)


def test_the_tests_results_can_be_filtered_by_branch(member_client, dataset):
    from ingest.models import Result

    r = Result.objects.filter(run__project=dataset.sim).exclude(run__branch="main").first()
    url = f"/p/{dataset.sim.slug}/t/{r.test_id}/?outcome=all&branch={r.run.branch}"
    results = member_client.get(url).context["results"].object_list
    assert results and all(x.run.branch == r.run.branch for x in results)


def _keep_cell_runs(f: Finding, cell: str, runs: list[int]) -> None:
    """Store `runs` as the runs the finding keeps of `cell` (its count stays)."""
    f.evidence["cell_runs"][cell] = runs
    Finding.objects.filter(pk=f.pk).update(evidence=f.evidence)


def test_a_cells_runs_list_says_when_it_is_cut_filtered_or_a_run_is_gone(member_client, dataset):
    f = (
        Finding.objects.filter(project=dataset.sim, kind="order_dependent", evidence__d__gt=5)
        .order_by("id")
        .first()
    )
    d = f.evidence["d"]
    url = f"/p/{dataset.sim.slug}/runs/?finding={f.pk}&cell=d"
    whole = _html(member_client.get(url))
    assert "Showing the last" not in whole and "match the filters" not in whole
    assert "deleted since" not in whole
    filtered = member_client.get(url + "&branch=no-such-branch")
    assert f"0 of its {d} runs match the filters." in _html(filtered)
    # A cell with more runs than the finding keeps lists the latest it kept, and says so.
    kept = f.evidence["cell_runs"]["d"][-5:]
    _keep_cell_runs(f, "d", kept)
    cut = member_client.get(url)
    assert f"Showing the last 5 of the {d} runs this cell counts." in _html(cut)
    assert sorted(r["run"].pk for r in cut.context["rows"]) == sorted(kept)
    cut_filtered = member_client.get(url + "&branch=no-such-branch")
    assert "0 of these 5 runs match the filters." in _html(cut_filtered)
    # A run deleted since the finding was computed is not listed, and the page says so.
    Run.objects.filter(pk=kept[-1]).delete()
    gone = member_client.get(url)
    assert len(gone.context["rows"]) == 4
    assert "1 of them was deleted since the finding was computed." in _html(gone)


def test_a_finding_computed_before_cells_kept_their_runs_lists_cell_a_alone(member_client, dataset):
    slug = dataset.sim.slug
    f = (
        Finding.objects.filter(
            project=dataset.sim, kind="order_dependent", evidence__b__gt=0, evidence__d__gt=0
        )
        .select_related("service")
        .order_by("id")
        .first()
    )
    old = {k: v for k, v in f.evidence.items() if k != "cell_runs"}
    Finding.objects.filter(pk=f.pk).update(evidence=old)
    # Cell a: the runs its explained failures name.
    a = member_client.get(f"/p/{slug}/runs/?finding={f.pk}&cell=a")
    assert {r["run"].pk for r in a.context["rows"]} == set(old["explained_runs"])
    assert "Showing the last" not in _html(a)
    # explained_runs keeps the latest MAX_EVIDENCE_RUNS of them: a cut list says so
    old["explained_runs"] = old["explained_runs"][-2:]
    Finding.objects.filter(pk=f.pk).update(evidence=old)
    a = member_client.get(f"/p/{slug}/runs/?finding={f.pk}&cell=a")
    assert {r["run"].pk for r in a.context["rows"]} == set(old["explained_runs"])
    assert (
        f"Showing the last 2 of the {old['a']} runs this cell counts: the finding was computed "
        f"before it kept more of them, and <code>manage.py recompute {slug}</code> lists up to "
        f"{MAX_CELL_RUNS}."
    ) in _html(a)
    # Other cells list nothing, and say what lists them.
    b = member_client.get(f"/p/{slug}/runs/?finding={f.pk}&cell=b")
    assert b.context["drill"] == "cell" and not b.context["rows"]
    html = _html(b)
    assert f"<code>manage.py recompute {slug}</code> lists them" in html
    assert "does not list the runs of cell b yet" in html
    # The table shows their counts without a link.
    page = _html(member_client.get(f"/p/{slug}/s/{f.service.name}/?week={f.week_label}"))
    assert f"?finding={f.pk}&amp;cell=a" in page
    for cell in "bcd":
        assert f"?finding={f.pk}&amp;cell={cell}" not in page, cell
