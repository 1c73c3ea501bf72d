"""The lists a reader scans first: findings ranked by impact, tests found by name, runs of one
commit (see conftest.py for the simulated history)."""

from __future__ import annotations

from itertools import groupby

import pytest

from ingest.models import Run, Test
from reports.models import Finding
from reports.selectors import KIND_ORDER, finding_impact, finding_impact_label

pytestmark = pytest.mark.django_db


@pytest.fixture
def member_client(client, dataset):
    client.force_login(dataset.member)
    return client


def _html(response) -> str:
    return response.content.decode()


def _impact(f: Finding) -> float:
    value = finding_impact(f.kind, f.evidence, f.score)
    return float("-inf") if value is None else value


def test_findings_rank_by_impact_within_a_week_and_kind_and_show_it(member_client, dataset):
    from dashboard.views import FINDINGS_PER_PAGE

    response = member_client.get(f"/p/{dataset.sim.slug}/?week=all")
    rows = response.context["finding_rows"]
    assert len(rows) == FINDINGS_PER_PAGE
    findings = [r.finding for r in rows]
    keys = [(f.week, KIND_ORDER.index(f.kind)) for f in findings]
    assert keys == sorted(keys, key=lambda k: (-k[0].toordinal(), k[1]))
    reordered = 0
    for _, group in groupby(findings, key=lambda f: (f.week, f.kind)):
        group = list(group)
        impacts = [_impact(f) for f in group]
        assert impacts == sorted(impacts, reverse=True), [
            (f.pk, i) for f, i in zip(group, impacts, strict=True)
        ]
        # equal impacts keep one order: service, test name, id
        for a, b in zip(group, group[1:], strict=False):
            if _impact(a) == _impact(b):
                assert (a.service.name, a.test.name, a.pk) <= (b.service.name, b.test.name, b.pk)
        by_name = sorted(group, key=lambda f: (f.service.name, f.test.name, f.pk))
        reordered += by_name != group
    assert reordered, "some kind's findings rank otherwise than by name"
    html = _html(response)
    assert ">Impact</th>" in html
    for r in rows:
        assert r.impact_label == finding_impact_label(
            r.finding.kind, r.finding.evidence, r.finding.score
        )
        assert f"{r.impact_label}</td>" in html


def test_the_weekly_report_ranks_each_section_by_impact(dataset):
    from reports.weekly import weekly_report_build

    week = Finding.objects.filter(project=dataset.sim, kind="flaky").latest("week").week
    report = weekly_report_build(project=dataset.sim, week=week)
    by_url = {}
    for f in Finding.objects.filter(project=dataset.sim).select_related("service", "test"):
        by_url[f"#finding-{f.pk}"] = f
    checked = 0
    for items in (report.flaky, report.pairs, report.cascades, report.slowdowns,
                  report.new_regressions, report.open_regressions):  # fmt: skip
        impacts = [_impact(by_url["#" + i.url.split("#", 1)[1]]) for i in items]
        assert impacts == sorted(impacts, reverse=True)
        checked += len(items) > 1
    assert checked


def test_it_finds_tests_by_part_of_their_name_class_or_file_in_any_case(
    member_client, dataset, django_assert_max_num_queries
):
    from django.db.models import Q

    slug = dataset.sim.slug
    test = Test.objects.filter(project=dataset.sim).exclude(file="").order_by("id").first()
    text = test.name[5:12].upper()
    url = f"/p/{slug}/tests/?q={text}"
    member_client.get(url)
    with django_assert_max_num_queries(6):  # user, projects, services, count, page
        response = member_client.get(url)
    expected = Test.objects.filter(project=dataset.sim).filter(
        Q(name__icontains=text) | Q(classname__icontains=text) | Q(file__icontains=text)
    )
    page = response.context["tests"]
    assert page.paginator.count == expected.count() > 0
    html = _html(response)
    assert f'href="/p/{slug}/t/{test.pk}/"' in html or page.paginator.num_pages > 1
    for t, link in response.context["rows"]:
        assert text.lower() in f"{t.name} {t.classname} {t.file}".lower()
        assert link == f"/p/{slug}/t/{t.pk}/"
    # by file, within one service
    part = test.file.rsplit("/", 1)[0]
    scoped = member_client.get(f"/p/{slug}/tests/?q={part}&service={test.service.name}")
    assert {t.service_id for t, _ in scoped.context["rows"]} == {test.service_id}
    # Another project's tests are not found; an empty result says so.
    other = Test.objects.filter(project=dataset.other).first()
    none = member_client.get(f"/p/{slug}/tests/?q={other.name}zz")
    assert none.context["rows"] == [] and "has “" in _html(none)
    assert "in its name, class or file" in _html(none)
    # The box is on the project and service pages.
    assert f'action="/p/{slug}/tests/"' in _html(member_client.get(f"/p/{slug}/"))
    service_page = _html(member_client.get(f"/p/{slug}/s/{test.service.name}/"))
    assert f'name="service" value="{test.service.name}"' in service_page


def test_it_pages_a_search_that_matches_many_tests(member_client, dataset, monkeypatch):
    monkeypatch.setattr("dashboard.views.TESTS_PER_PAGE", 5)
    response = member_client.get(f"/p/{dataset.sim.slug}/tests/?q=test&page=2")
    page = response.context["tests"]
    assert page.number == 2 and page.paginator.num_pages > 2
    names = [t.name for t, _ in response.context["rows"]]
    assert names == sorted(names) and len(names) == 5
    assert 'rel="next"' in _html(response)


def test_it_lists_the_runs_of_a_commit_by_a_prefix_of_its_sha(member_client, dataset):
    slug = dataset.sim.slug
    run = Run.objects.filter(project=dataset.sim).order_by("id").first()
    response = member_client.get(f"/p/{slug}/runs/?commit={run.commit[:7]}")
    listed = [r["run"] for r in response.context["rows"]]
    assert run in listed
    assert (
        response.context["runs"].paginator.count
        == Run.objects.filter(project=dataset.sim, commit__startswith=run.commit[:7]).count()
    )
    assert all(r.commit.startswith(run.commit[:7]) for r in listed)
    html = _html(response)
    assert "Runs of commit" in html and f'href="/p/{slug}/runs/"' in html  # cleared
    # A shorter prefix is refused with a message, not a filter on everything it matches.
    short = member_client.get(f"/p/{slug}/runs/?commit={run.commit[:5]}")
    assert short.context["filters"]["commit"] == ""
    assert "at least 7" in _html(short)
    # The shas shown elsewhere lead to their runs.
    assert f"/p/{slug}/runs/?commit={run.commit}" in _html(
        member_client.get(f"/p/{slug}/runs/{run.pk}/")
    )
    assert f'href="/p/{slug}/runs/?commit={listed[0].commit}"' in html


def test_the_runs_list_counts_failed_and_errors_apart_as_the_run_page_does(member_client, dataset):
    run = (
        Run.objects.filter(project=dataset.sim, counts__error__gt=0, counts__failed__gt=0)
        .order_by("id")
        .first()
        or Run.objects.filter(project=dataset.sim, counts__failed__gt=0).order_by("id").first()
    )
    response = member_client.get(f"/p/{dataset.sim.slug}/runs/?ids={run.pk}")
    [row] = response.context["rows"]
    assert (row["failed"], row["errors"]) == (run.counts["failed"], run.counts.get("error", 0))
    html = _html(response)
    assert ">Errors</th>" in html
    assert f"/runs/{run.pk}/?final=1&outcome=failed#results" in html
    assert f"/runs/{run.pk}/?final=1&outcome=error#results" in html
    page = _html(member_client.get(f"/p/{dataset.sim.slug}/runs/{run.pk}/"))
    assert "final=1&amp;outcome=failed#results" in page or "final=1&outcome=failed#results" in page
