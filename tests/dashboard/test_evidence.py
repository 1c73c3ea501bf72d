"""Every figure of a finding's evidence links to the runs or results it counts, and the lists
they link to say what they show (see conftest.py for the simulated history)."""

from __future__ import annotations

import pytest

from dashboard import selectors as sel
from reports.models import Finding

pytestmark = pytest.mark.django_db


def test_each_cell_of_an_order_dependent_table_is_the_runs_it_counts(dataset):  # type: ignore[no-untyped-def]
    findings = list(Finding.objects.filter(project=dataset.sim, kind="order_dependent"))
    assert findings
    for f in findings:
        cells = sel.order_cell_runs(finding=f)
        e = f.evidence
        assert {k: len(v) for k, v in cells.items()} == {k: e[k] for k in "abcd"}, (
            f.pk,
            e.get("step"),
        )
        assert set(e["explained_runs"]) <= set(cells["a"])


def _html(response) -> str:  # type: ignore[no-untyped-def]
    return response.content.decode()


@pytest.fixture
def member_client(client, dataset):  # type: ignore[no-untyped-def]
    client.force_login(dataset.member)
    return client


def test_a_cells_runs_list_shows_the_victims_first_attempt_in_each_run(member_client, dataset):  # type: ignore[no-untyped-def]
    slug = dataset.sim.slug
    f = (
        Finding.objects.filter(project=dataset.sim, kind="order_dependent", evidence__b__gt=0)
        .select_related("test")
        .first()
    )
    cells = sel.order_cell_runs(finding=f)
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
):  # type: ignore[no-untyped-def]
    f = Finding.objects.filter(project=dataset.sim, kind="order_dependent").first()
    url = f"/p/{dataset.sim.slug}/runs/?finding={f.pk}&cell=d"
    member_client.get(url)
    # runs' usual 6, the finding, its earlier polluters, the service-weeks' outage runs, the
    # results, the test and its outcomes in the page's runs
    with django_assert_max_num_queries(12):
        assert member_client.get(url).status_code == 200


def test_a_cascades_runs_link_to_the_roots_results_in_each(member_client, dataset):  # type: ignore[no-untyped-def]
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
):  # type: ignore[no-untyped-def]
    from ingest.models import Result, Run

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


def test_the_tests_results_can_be_filtered_by_branch(member_client, dataset):  # type: ignore[no-untyped-def]
    from ingest.models import Result

    r = Result.objects.filter(run__project=dataset.sim).exclude(run__branch="main").first()
    url = f"/p/{dataset.sim.slug}/t/{r.test_id}/?outcome=all&branch={r.run.branch}"
    results = member_client.get(url).context["results"].object_list
    assert results and all(x.run.branch == r.run.branch for x in results)


def test_a_cells_runs_list_says_when_it_is_cut_or_filtered(member_client, dataset, monkeypatch):  # type: ignore[no-untyped-def]
    f = (
        Finding.objects.filter(project=dataset.sim, kind="order_dependent", evidence__d__gt=5)
        .order_by("id")
        .first()
    )
    cells = sel.order_cell_runs(finding=f)
    url = f"/p/{dataset.sim.slug}/runs/?finding={f.pk}&cell=d"
    monkeypatch.setattr(sel, "RUN_LIST_IDS_LIMIT", 5)
    cut = member_client.get(url)
    html = _html(cut)
    assert f"Only the 5 uploaded last of its {len(cells['d'])} runs are looked at." in html
    assert "runs were deleted" not in html  # the finding's count still matches
    newest = sorted(cells["d"], reverse=True)[:5]
    assert sorted(r["run"].pk for r in cut.context["rows"]) == sorted(newest)
    monkeypatch.undo()
    filtered = member_client.get(url + "&branch=no-such-branch")
    html = _html(filtered)
    assert f"0 of its {len(cells['d'])} runs match the filters." in html
    assert "runs were deleted" not in html
