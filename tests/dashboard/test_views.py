"""The pages, through Django's test client, on simulated CI history (see conftest.py).

Each page renders for a member with a bounded number of queries, and the same bound holds for a
project with one week of one service and for one with four weeks of five services: pages read
rollups, so their cost does not follow the history. Another team's project, and its ids used
under one's own project, are "not found". Every number checked here links to the list it was
computed from, and that list holds exactly that many rows.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from ingest.models import IngestToken, Result, Run, RunFile, Service, ServiceRule, Test
from ingest.services import token_create
from ingest.weeks import week_label
from reports.alerts import alert_batch_send, alert_deliveries_sweep
from reports.models import AlertDelivery, Finding, ProjectSettings, ServiceWeek, Subscription
from reports.subscriptions import unsubscribe_url
from tests.dashboard.conftest import PASSWORD, alert_ledger

pytestmark = pytest.mark.django_db

# Most queries any page may run, whatever the size of the history, besides its session's
# (SESSION_QUERIES): the user, the switcher's project list (which holds the page's project), then
# the page's own selectors.
SESSION_QUERIES = 1  # sessions live in the database (dashboard/settings.py)
MAX_QUERIES = {
    "overview": 6,  # with the runs of every project per week, one query
    "project": 9,
    "service": 9,
    "test": 8,
    "runs": 6,
    "runs-unclean": 8,
    "runs-wall": 8,
    "project-open-at-end": 11,
    "run": 8,
    "settings": 9,
    "run-file": 4,
    "reports": 7,
    # The same pages with their filters and a later page: still the same bound.
    "project-filtered": 9,
    "service-week": 9,
    "test-filtered": 9,  # one week's results are counted
    "runs-filtered": 7,
    "run-filtered": 8,
}


def _pages(project) -> dict[str, str]:
    """One URL of each page of the project, on rows that have something to show."""
    slug = project.slug
    run = Run.objects.filter(project=project).order_by("-started_at", "-id").first()
    finding = (
        Finding.objects.filter(project=project)
        .exclude(kind="fixed")
        .order_by("-week", "id")
        .first()
    )
    latest = ServiceWeek.objects.filter(project=project).select_related("service").latest("week")
    service, week = latest.service, latest.week_label
    return {
        "overview": "/",
        "project": f"/p/{slug}/",
        "service": f"/p/{slug}/s/{service.name}/",
        "test": f"/p/{slug}/t/{finding.test_id}/",
        "runs": f"/p/{slug}/runs/",
        "runs-unclean": f"/p/{slug}/runs/?service={service.name}&week={week}&unclean=1",
        "runs-wall": f"/p/{slug}/runs/?service={service.name}&week={week}&wall=1",
        "project-open-at-end": f"/p/{slug}/?week={week}&kind=regression&status=open_at_end",
        "run": f"/p/{slug}/runs/{run.pk}/",
        "settings": f"/p/{slug}/settings/",
        "run-file": f"/p/{slug}/runs/{run.pk}/files/0.gz",
        "reports": f"/p/{slug}/reports/",
        "project-filtered": f"/p/{slug}/?week=all&kind=flaky&status=open&page=2",
        "service-week": f"/p/{slug}/s/{service.name}/?week={week}",
        "test-filtered": f"/p/{slug}/t/{finding.test_id}/?outcome=all&week={week}&page=2",
        "runs-filtered": f"/p/{slug}/runs/?service={service.name}&week={week}&page=2",
        "run-filtered": f"/p/{slug}/runs/{run.pk}/?final=1&outcome=passed&page=2",
    }


@pytest.fixture
def member_client(client, dataset):
    client.force_login(dataset.member)
    return client


@pytest.fixture
def outsider_client(client, dataset):
    client.force_login(dataset.outsider)
    return client


def _get(client, url: str, status: int = 200):
    response = client.get(url)
    assert response.status_code == status, (url, response.status_code)
    return response


def _html(response) -> str:
    return response.content.decode()


# --- Rendering and query counts -----------------------------------------------------------------


@pytest.mark.parametrize("page", list(MAX_QUERIES))
def test_it_renders_each_page_within_a_query_bound_that_history_does_not_move(
    page, member_client, dataset, django_assert_max_num_queries
):
    if page == "settings":  # nor the number of subscriptions and deliveries
        alert_ledger(dataset.one, subscriptions=1, deliveries=2)
        alert_ledger(dataset.sim, subscriptions=6, deliveries=60)
    for project in (dataset.one, dataset.sim):  # one week of one service; four of five
        url = _pages(project)[page]
        member_client.get(url)  # warm the session and template caches
        # The same bound for both: a page's queries do not follow the length of the history.
        with django_assert_max_num_queries(MAX_QUERIES[page] + SESSION_QUERIES):
            response = member_client.get(url)
        assert response.status_code == 200, (url, response.status_code)


def test_it_tells_the_server_time_and_the_queries_of_a_page_in_a_header(member_client, dataset):
    import re

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    url = _pages(dataset.sim)["runs-filtered"]
    member_client.get(url)
    with CaptureQueriesContext(connection) as queries:
        response = _get(member_client, url)
    timing = re.fullmatch(
        r'db;dur=([0-9.]+);desc="(\d+) queries", app;dur=([0-9.]+)', response["Server-Timing"]
    )
    assert timing, response["Server-Timing"]
    assert int(timing[2]) == len(queries.captured_queries) > 0
    assert 0 <= float(timing[1]) <= float(timing[3])
    # Not to anonymous visitors: timings are a side channel.
    from django.test import Client

    assert "Server-Timing" not in Client().get("/login/")


def test_it_renders_a_project_without_any_upload_yet(member_client, dataset):
    from ingest.services import project_create

    empty = project_create(slug="fresh", name="Fresh project")
    empty.members.add(dataset.member)
    assert b"No results yet" in _get(member_client, "/").content
    assert b"No computed weeks yet" in _get(member_client, "/p/fresh/").content
    assert b"No runs match" in _get(member_client, "/p/fresh/runs/").content
    assert b"No keys yet" in _get(member_client, "/p/fresh/settings/").content
    _get(member_client, "/p/fresh/s/default/", status=404)


def test_it_shows_a_run_that_failed_to_parse_and_a_test_not_yet_computed(member_client, dataset):
    from django.utils import timezone

    from ingest.services import service_get_or_create

    run = Run.objects.create(
        project=dataset.one, commit="deadbeef", started_at=timezone.now(), idempotency_key="x",
        status=Run.Status.FAILED,
        error={"error": "parse_error", "detail": "mismatched tag", "file": "a.xml", "line": 7},
    )  # fmt: skip
    html = _html(_get(member_client, f"/p/{dataset.one.slug}/runs/{run.pk}/"))
    assert "mismatched tag" in html and "at line 7" in html
    # Listed too, with no counts (it has none) rather than an error.
    listed = _get(member_client, f"/p/{dataset.one.slug}/runs/?status=failed")
    assert [row["failed"] for row in listed.context["rows"]] == [None]
    service = service_get_or_create(project=dataset.one, name="cache")
    test = Test.objects.create(id=42, project=dataset.one, service=service, name="test_new")
    response = _get(member_client, f"/p/{dataset.one.slug}/t/{test.pk}/")
    assert b"No runs of this test in these weeks." in response.content


def test_it_says_when_a_parsed_run_holds_no_test(member_client, dataset):
    import io

    from ingest.services import UploadMeta, run_create, run_parse

    meta = UploadMeta.from_fields({"commit": "0badc0de", "build_id": "empty-1"})
    run = run_create(
        project=dataset.one, meta=meta,
        files=[("empty.xml", io.BytesIO(b'<testsuites name="pytest" tests="0"/>'))],
    ).run  # fmt: skip
    run_parse(run_id=run.pk)
    run.refresh_from_db()
    assert (run.status, run.counts["tests"]) == (Run.Status.PARSED, 0)
    html = _html(_get(member_client, f"/p/{dataset.one.slug}/runs/{run.pk}/"))
    assert "No test results." in html and "This run has no results." in html
    assert "No results match these filters." not in html
    # A filter that matches nothing in a run that has results says so instead.
    full = Run.objects.filter(project=dataset.one, status=Run.Status.PARSED, counts__tests__gt=0)
    other = full.filter(counts__error=0).first()
    html = _html(_get(member_client, f"/p/{dataset.one.slug}/runs/{other.pk}/?outcome=error"))
    assert "No results match these filters." in html and "No test results." not in html
    listed = _html(_get(member_client, f"/p/{dataset.one.slug}/runs/?status=parsed"))
    assert listed.count("0 · none") == 1


def test_it_draws_every_chart_of_the_project_page_from_embedded_figures(member_client, dataset):
    html = _html(_get(member_client, f"/p/{dataset.sim.slug}/"))
    for name in ("pass-rate", "isolation", "causes", "durations", "runs"):
        assert f'data-figure="fig-{name}"' in html
        assert f'<script id="fig-{name}" type="application/json">' in html
    assert "/static/vendor/plotly.min.js" in html
    assert "cdn" not in html.lower()


# --- Access -------------------------------------------------------------------------------------


def test_it_requires_login_on_every_page(client, dataset):
    for url in _pages(dataset.sim).values():
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/login/?next="), url


def test_it_signs_in_and_out(client, dataset):
    page = _get(client, "/login/")
    assert b"Sign in" in page.content
    response = client.post("/login/", {"username": "member", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/"
    assert _get(client, "/").status_code == 200
    response = client.post("/logout/")
    assert response.status_code == 302
    assert client.get("/").status_code == 302


def test_it_takes_service_names_with_a_slash(member_client, dataset):
    from ingest.services import service_get_or_create

    service_get_or_create(project=dataset.one, name="api/v2")
    assert reverse("pages:service", args=[dataset.one.slug, "api/v2"]) == "/p/newcomer/s/api/v2/"
    _get(member_client, "/p/newcomer/s/api/v2/")


@pytest.mark.parametrize("page", [p for p in MAX_QUERIES if p != "overview"])
def test_it_hides_another_teams_project_behind_a_404(page, outsider_client, dataset):
    _get(outsider_client, _pages(dataset.sim)[page], status=404)


def test_it_answers_404_for_another_projects_ids_under_ones_own_project(outsider_client, dataset):
    # The outsider is a member of billing; the ids below belong to mediaserver.
    own = dataset.other.slug
    run = Run.objects.filter(project=dataset.sim).first()
    test = Test.objects.filter(project=dataset.sim).first()
    service = Service.objects.filter(project=dataset.sim, name="cache").first()
    for url in (
        f"/p/{own}/runs/{run.pk}/",
        f"/p/{own}/runs/{run.pk}/files/0.gz",
        f"/p/{own}/t/{test.pk}/",
        f"/p/{own}/s/{service.name}/",
    ):
        _get(outsider_client, url, status=404)
    token, _ = token_create(project=dataset.sim)
    response = outsider_client.post(f"/p/{own}/settings/keys/{token.pk}/revoke/")
    assert response.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_it_answers_404_to_every_settings_post_on_another_teams_project(outsider_client, dataset):
    slug = dataset.sim.slug
    [_, delivery] = alert_ledger(dataset.sim, subscriptions=1, deliveries=2)
    sub = delivery.subscription
    for url, data in (
        (f"/p/{slug}/settings/keys/", {"name": "x"}),
        (f"/p/{slug}/settings/rules/", {"rules": "x tests/*"}),
        (f"/p/{slug}/settings/metrics/", {"reference_branch": "x", "budgets": ""}),
        (f"/p/{slug}/settings/alerts/", {"target": "x@example.com"}),
        (f"/p/{slug}/settings/alerts/{sub.pk}/delete/", {}),
        (f"/p/{slug}/settings/alerts/deliveries/{delivery.pk}/retry/", {}),
    ):
        assert outsider_client.post(url, data).status_code == 404, url
    assert not IngestToken.objects.filter(project=dataset.sim, name="x").exists()
    assert list(Subscription.objects.filter(project=dataset.sim)) == [sub]
    assert AlertDelivery.objects.get(pk=delivery.pk).status == "failed"
    # Ids of the other project under the outsider's own project: not found either.
    own = dataset.other.slug
    for url in (
        f"/p/{own}/settings/alerts/{sub.pk}/delete/",
        f"/p/{own}/settings/alerts/deliveries/{delivery.pk}/retry/",
    ):
        assert outsider_client.post(url).status_code == 404, url
    assert Subscription.objects.filter(pk=sub.pk).exists()


def test_it_lists_only_the_users_projects_on_the_overview(member_client, client, dataset):
    from django.contrib.auth import get_user_model

    html = _html(_get(member_client, "/"))
    assert dataset.sim.name in html and dataset.one.name in html
    assert dataset.other.name not in html
    client.force_login(get_user_model().objects.get(username="root"))
    html = _html(_get(client, "/"))
    assert dataset.other.name in html  # a superuser sees every project


# --- Every number is a link to the list it was computed from ------------------------------------


def _runs_count(client, url: str) -> int:
    return _get(client, url).context["runs"].paginator.count


def test_order_dependent_counts_victims_and_its_list_says_how_many_findings_that_is(
    member_client, dataset
):
    slug = dataset.sim.slug
    latest = ServiceWeek.objects.filter(project=dataset.sim).order_by("-week").first().week
    pairs = Finding.objects.filter(project=dataset.sim, kind="order_dependent", week=latest)
    victims = pairs.values("test").distinct().count()
    assert victims and pairs.count() >= victims
    cards = _get(member_client, "/").context["cards"]
    [overview] = [c["overview"] for c in cards if c["overview"].project.slug == slug]
    [chip] = [k for k in overview.open_findings if k.kind == "order_dependent"]
    assert chip.count == victims
    listed = _get(member_client, f"/p/{slug}/?kind=order_dependent&week={week_label(latest)}")
    assert listed.context["findings"].paginator.count == pairs.count()
    assert (
        f"{victims} victim{'s' if victims != 1 else ''}, one finding per victim and polluter"
        in (_html(listed))
    )
    # The service page's card counts the week's victims and the polluters they name.
    for service in {p.service for p in pairs.select_related("service")}:
        mine = pairs.filter(service=service)
        page = _html(_get(member_client, f"/p/{slug}/s/{service.name}/?week={week_label(latest)}"))
        card = re.search(r'Victims / polluters</span><span class="kpi-value">(\d+) / (\d+)', page)
        assert card is not None
        assert (int(card[1]), int(card[2])) == (
            mine.values("test").distinct().count(),
            mine.values("related_test").distinct().count(),
        )


def test_the_slowest_tests_rank_as_the_weekly_report_ranks_them(member_client, dataset):
    from reports.weekly import _slowest

    sw = (
        ServiceWeek.objects.filter(project=dataset.sim)
        .select_related("service")
        .order_by("-runs")
        .first()
    )
    page = _get(member_client, f"/p/{dataset.sim.slug}/s/{sw.service.name}/?week={sw.week_label}")
    shown = [row.test_id for row in page.context["detail"].slowest]
    reported = [s.test.id for s in _slowest(dataset.sim, sw.week, sw.service)]
    assert len(reported) == 10 and shown[:10] == reported


def test_the_slowest_tests_runs_and_timed_counts_link_to_exactly_the_rows_they_count(
    member_client, dataset
):
    checked = 0
    for sw in ServiceWeek.objects.filter(project=dataset.sim).select_related("service"):
        page = _get(
            member_client, f"/p/{dataset.sim.slug}/s/{sw.service.name}/?week={sw.week_label}"
        )
        html = _html(page)
        for tw in page.context["detail"].slowest:
            retried = Result.objects.filter(test_id=tw.test_id, run_week=sw.week, attempt=2)
            if not retried.exists():
                continue  # first attempts and all attempts are the same rows
            base = f"/p/{dataset.sim.slug}/t/{tw.test_id}/"
            for value, outcome in ((tw.runs, "all"), (tw.n_durations, "passed")):
                link = f"{base}?week={sw.week_label}&outcome={outcome}&attempt=first"
                assert link in html, link
                assert _get(member_client, link).context["results"].paginator.count == value
                checked += 1
    assert checked  # the history holds slow tests retried in a week


def test_it_links_each_weeks_runs_and_pass_rate_to_exactly_those_runs(member_client, dataset):
    latest = ServiceWeek.objects.filter(project=dataset.sim).order_by("-week").first().week
    rows = ServiceWeek.objects.filter(project=dataset.sim, week=latest).select_related("service")
    response = _get(member_client, f"/p/{dataset.sim.slug}/")
    table = {row["service"]: row["summary"] for row in response.context["table"]}
    for sw in rows:
        point = table[sw.service.name].point
        assert point.runs == sw.runs
        assert _runs_count(member_client, point.runs_url) == sw.runs, sw


def test_it_links_an_isolation_score_to_the_runs_that_cost_it_points(member_client, dataset):
    checked = 0
    for sw in ServiceWeek.objects.filter(project=dataset.sim).select_related("service"):
        m = sw.metrics
        # the score's denominator: the week's runs less infra outages
        unclean = m["isolation_runs"] - m["clean_runs"]
        url = (
            f"/p/{dataset.sim.slug}/runs/?service={sw.service.name}&week={sw.week_label}&unclean=1"
        )
        response = _get(member_client, url)
        assert response.context["runs"].paginator.count == unclean == len(m["unclean_runs"]), sw
        for row in response.context["rows"]:
            assert row["causes"], "each unclean run says why"
        html = _html(response)
        for cause in {c for row in response.context["rows"] for c in row["causes"]}:
            label = {"order_dependent": "order-dependent"}.get(cause, cause)
            assert f'<span class="badge kind-{cause}">{label}</span>' in html
        checked += unclean
    assert checked, "the simulated history has unclean runs"


def test_it_links_finding_counts_to_the_filtered_findings_table(member_client, dataset):
    response = _get(member_client, f"/p/{dataset.sim.slug}/")
    week = response.context["week_label"]
    for row in response.context["table"]:
        for kind in ("flaky", "order_dependent", "cascade", "regression"):
            shown = row["counts"][kind]
            url = f"/p/{dataset.sim.slug}/?kind={kind}&service={row['service']}&week={week}"
            listed = _get(member_client, url).context["finding_rows"]
            assert len({r.finding.test_id for r in listed}) == shown, (row["service"], kind)


def test_a_tests_week_by_week_counts_link_to_exactly_the_rows_they_count(member_client, dataset):
    from reports.models import TestWeek

    tw = next(
        tw for tw in TestWeek.objects.filter(service__project=dataset.sim, final_failed__gt=0)
        .order_by("test_id", "week")
        if Result.objects.filter(test_id=tw.test_id, run_week=tw.week, attempt=2).exists()
        and tw.failed > tw.final_failed
    )  # fmt: skip
    base = f"/p/{dataset.sim.slug}/t/{tw.test_id}/"
    html = _html(_get(member_client, base))
    label = week_label(tw.week)
    for value, query in (
        (tw.runs, "outcome=all&attempt=first"), (tw.passed, "outcome=passed&attempt=first"),
        (tw.failed, "outcome=failures&attempt=first"), (tw.skipped, "outcome=skipped&attempt=first"),
        (tw.final_failed, "outcome=failures&attempt=final"),
    ):  # fmt: skip
        link = f"?week={label}&{query}#results"
        assert link in html, link
        listed = _get(member_client, base + link.split("#")[0]).context["results"]
        assert listed.paginator.count == value, (query, value, listed.paginator.count)


def test_it_links_a_runs_counts_to_its_results(member_client, dataset):
    run = next(
        r for r in Run.objects.filter(project=dataset.sim).order_by("id")
        if r.counts.get("flaky") and r.counts.get("retried") > r.counts.get("flaky")
        and (r.counts.get("failed") or r.counts.get("error"))
    )  # fmt: skip
    response = _get(member_client, f"/p/{dataset.sim.slug}/runs/{run.pk}/")
    links = {key: (label, value, url) for key, label, value, url in response.context["count_links"]}
    assert links["flaky"][0] == "passed on retry"
    for key in ("tests", "results", "passed", "failed", "error", "skipped", "retried", "flaky"):
        _, value, url = links[key]
        listed = _get(member_client, url).context["results"]
        assert listed.paginator.count == value, (key, value, listed.paginator.count)
        if key == "flaky":  # each listed test failed and then passed in this run
            for row in listed.object_list:
                attempts = list(
                    Result.objects.filter(run_id=run.pk, test_id=row.test_id)
                    .order_by("attempt")
                    .values_list("outcome", flat=True)
                )
                assert attempts[0] in (1, 2) and 0 in attempts, attempts


def test_the_wall_clock_figures_link_to_their_runs_longest_first(member_client, dataset):
    import statistics

    from reports.models import ServiceWeek

    row = (ServiceWeek.objects.filter(project=dataset.sim, computed__gt=0)
           .order_by("-metrics__duration__runs_with_wall_clock").select_related("service").first())  # fmt: skip
    label = week_label(row.week)
    service_page = _get(member_client, f"/p/{dataset.sim.slug}/s/{row.service.name}/?week={label}")
    url = service_page.context["current"].point.wall_url
    assert url and url.replace("&", "&amp;") in _html(service_page)
    listed = _get(member_client, url)
    assert listed.context["drill"] == "wall"
    rows = listed.context["rows"]
    duration = row.metrics["duration"]
    assert listed.context["drill_count"] == duration["runs_with_wall_clock"] == len(rows)
    walls = [r["wall_ms"] for r in rows]
    assert walls == sorted(walls, reverse=True) and None not in walls
    # The listed runs are the ones the published median is the median of.
    assert statistics.median(walls) == pytest.approx(duration["wall_clock_p50_ms"], abs=0.1)
    assert {r["run"].pk for r in rows} <= set(
        Run.objects.filter(project=dataset.sim).values_list("pk", flat=True)
    )
    hint = b"computed before its runs were listed"
    assert (
        hint not in _get(member_client, url + "&status=failed").content
    )  # filtered out, not missing
    row.metrics = {k: v for k, v in row.metrics.items() if k != "wall_clock_runs"}
    row.save(update_fields=["metrics"])  # as computed before the list was stored (rolled back)
    assert hint in _get(member_client, url).content


def test_out_of_range_ids_and_weeks_in_query_strings_are_ignored_not_errors(member_client, dataset):
    """Numbers no column holds (SQLite raised OverflowError) and weeks no run can have."""
    slug, run = (
        dataset.sim.slug,
        Run.objects.filter(project=dataset.sim).values_list("pk", flat=True)[0],
    )
    huge = "99999999999999999999999"
    for odd in (huge, "--1", "²", "-"):
        assert member_client.get(f"/p/{slug}/runs/?ids={odd},{run}").status_code == 200, odd
        assert member_client.get(f"/p/{slug}/runs/{run}/?test={odd}").status_code == 200, odd
    for week in ("0001-W01", "9999-W52"):
        assert member_client.get(f"/p/{slug}/?week={week}").status_code in (200, 404), week


def test_the_project_table_leaves_out_a_service_without_tests(member_client, dataset):
    from ingest.models import Service

    Service.objects.create(project=dataset.sim, name="default")  # its tests were all moved
    table = _get(member_client, f"/p/{dataset.sim.slug}/").context["table"]
    assert table and "default" not in [row["service"] for row in table]


def test_a_week_not_computed_shows_the_latest_and_says_so(member_client, dataset):
    slug = dataset.sim.slug
    sw = ServiceWeek.objects.filter(project=dataset.sim).select_related("service").latest("week")
    for url, told in (
        (f"/p/{slug}/?week=2020-W01", f"No metrics computed for 2020-W01; showing {sw.week_label}"),
        (f"/p/{slug}/s/{sw.service.name}/?week=garbage", "“garbage” is not a week (write it as 2026-W45)"),
    ):  # fmt: skip
        response = _get(member_client, url)
        assert response.context["week"] == sw.week
        [message] = [str(m) for m in response.context["messages"]]
        assert message.startswith(told), message


def test_it_lists_the_runs_behind_an_order_dependent_pair(member_client, dataset):
    finding = Finding.objects.filter(project=dataset.sim, kind="order_dependent").first()
    # Computed with a window other than the default (rolled back after the test).
    Finding.objects.filter(project=dataset.sim, kind="order_dependent").update(
        params={**finding.params, "od_window_days": 21}
    )
    finding.refresh_from_db()
    response = _get(
        member_client, f"/p/{dataset.sim.slug}/s/{finding.service.name}/?week={finding.week_label}"
    )
    html = _html(response)
    # Each non-zero cell of the table links to the runs it counts (tests/dashboard/test_evidence.py
    # checks what those lists hold).
    e = finding.evidence
    for cell in "abcd":
        link = f"/p/{dataset.sim.slug}/runs/?finding={finding.pk}&amp;cell={cell}"
        assert (link in html) == bool(e[cell]), cell
    # An id that names no run of the project is not counted as one.
    runs = ",".join(str(r) for r in e["explained_runs"])
    listed = _get(member_client, f"/p/{dataset.sim.slug}/runs/?ids={runs}")
    assert listed.context["runs"].paginator.count == len(e["explained_runs"])
    gone = _get(member_client, f"/p/{dataset.sim.slug}/runs/?ids={runs},999999")
    assert gone.context["drill_count"] == len(e["explained_runs"])
    # and says how to replay the pair, polluter first
    assert "-p no:randomly" in html
    # The cells count runs of the window the finding was computed with.
    days = finding.params["od_window_days"]
    assert html.count(f"runs in the {days}-day window") == sum(
        1 for pair in response.context["pairs"] for c in "abcd" if pair["row"].finding.evidence[c]
    )


# --- Pages' contents ----------------------------------------------------------------------------


def test_it_shows_a_service_weeks_findings_by_cause(member_client, dataset):
    cascade = Finding.objects.filter(project=dataset.sim, kind="cascade").first()
    response = _get(
        member_client, f"/p/{dataset.sim.slug}/s/{cascade.service.name}/?week={cascade.week_label}"
    )
    detail = response.context["detail"]
    assert cascade.pk in {r.finding.pk for r in detail.cascades}
    followers = {t for c in cascade.evidence["cascades"] for t in c["followers"]}
    assert followers <= set(detail.tests), "every follower is named"
    html = _html(response)
    for follower in followers:
        assert reverse("pages:test", args=[dataset.sim.slug, follower]) in html


def test_it_shows_duration_changes_with_medians_before_and_after(member_client, dataset):
    slowdown = Finding.objects.filter(project=dataset.sim, kind="duration_regression").first()
    response = _get(member_client, f"/p/{dataset.sim.slug}/s/{slowdown.service.name}/")
    assert slowdown.pk in {r.finding.pk for r in response.context["detail"].slowdowns}
    test_page = _get(member_client, f"/p/{dataset.sim.slug}/t/{slowdown.test_id}/")
    figure = test_page.context["figures"]["duration"]
    marks = [t for t in figure["data"] if t["name"] == "change points"]
    assert marks and marks[0]["customdata"][0][0] == f"#finding-{slowdown.pk}"
    assert f'id="finding-{slowdown.pk}"' in _html(test_page)


def test_it_lists_a_tests_failure_messages_page_by_page(member_client, dataset, monkeypatch):
    per_page = 20
    monkeypatch.setattr("dashboard.views.RESULTS_PER_PAGE", per_page)
    finding = Finding.objects.filter(project=dataset.sim, kind="flaky").first()
    url = f"/p/{dataset.sim.slug}/t/{finding.test_id}/"
    newest = Result.objects.filter(test_id=finding.test_id).order_by(
        "-run_week", "-run_id", "-attempt"
    )
    response = _get(member_client, url)
    results = response.context["results"]
    assert response.context["outcome"] == "failures"
    failures = list(newest.filter(outcome__in=[1, 2]).values_list("pk", flat=True))
    assert failures and [r.pk for r in results.object_list] == failures[:per_page]
    # Over every week the list is paged without being counted: one row more tells the next page.
    everything = list(newest.values_list("pk", flat=True))
    assert len(everything) > 2 * per_page
    page2 = _get(member_client, url + "?outcome=all&page=2")
    listed = page2.context["results"]
    assert not listed.paginator.counted
    assert [r.pk for r in listed.object_list] == everything[per_page : 2 * per_page]
    assert listed.has_next() and listed.has_previous()
    html = _html(page2)
    assert f"results {per_page + 1}–{2 * per_page}" in html
    assert 'rel="next"' in html and "?outcome=all&amp;page=3#results" in html
    # A page past the end shows the last one.
    beyond = _get(member_client, url + "?outcome=all&page=40").context["results"]
    last_page = -(-len(everything) // per_page)
    assert beyond.number == last_page and not beyond.has_next()
    assert [r.pk for r in beyond.object_list] == everything[(last_page - 1) * per_page :]
    # The deepest page is the one holding row MAX_ROWS; older rows are reached by week.
    monkeypatch.setattr("dashboard.paging.MAX_ROWS", per_page + 10)
    last = _get(member_client, url + "?outcome=all&page=7")
    assert last.context["results"].number == 2 and last.context["results"].capped
    assert "older ones by week" in _html(last) and 'rel="next"' not in _html(last)
    # One week is counted, and its count is the week-by-week table's.
    week = Result.objects.get(pk=everything[0]).run_week
    in_week = _get(member_client, url + f"?outcome=all&week={week_label(week)}").context["results"]
    assert in_week.paginator.counted
    assert in_week.paginator.count == newest.filter(run_week=week).count()


def test_it_counts_a_long_list_only_as_far_as_it_pages(member_client, dataset, monkeypatch):
    monkeypatch.setattr("dashboard.paging.MAX_ROWS", 120)
    newest = list(
        Run.objects.filter(project=dataset.sim)
        .order_by("-started_at", "-id")
        .values_list("pk", flat=True)
    )
    assert len(newest) > 120
    url = f"/p/{dataset.sim.slug}/runs/"
    # Past the last page of the newest 120 runs: the last page (runs 101 to 120) is shown.
    response = _get(member_client, url + "?page=9")
    runs = response.context["runs"]
    assert (runs.paginator.count, runs.paginator.capped, runs.number) == (120, True, 3)
    assert [r.pk for r in runs.object_list] == newest[100:120]
    assert "more than 120 runs: the newest 120 here, older ones by week" in _html(response)
    # A narrower list is counted exactly.
    week = Run.objects.get(pk=newest[-1]).week_label
    in_week = Run.objects.filter(project=dataset.sim, week=Run.objects.get(pk=newest[-1]).week)
    listed = _get(member_client, f"{url}?week={week}").context["runs"]
    assert listed.paginator.count == in_week.count() <= 120 and not listed.paginator.capped


def test_it_serves_a_runs_uploaded_file_as_stored(member_client, dataset):
    file = RunFile.objects.filter(run__project=dataset.sim).first()
    response = _get(
        member_client, f"/p/{dataset.sim.slug}/runs/{file.run_id}/files/{file.index}.gz"
    )
    assert response["Content-Type"] == "application/gzip"
    assert "attachment" in response["Content-Disposition"]
    assert hashlib.sha256(gzip.decompress(response.content)).hexdigest() == file.digest
    _get(member_client, f"/p/{dataset.sim.slug}/runs/{file.run_id}/files/99.gz", status=404)


def test_it_filters_runs_by_branch_status_service_and_week(member_client, dataset):
    slug = dataset.sim.slug
    run = Run.objects.filter(project=dataset.sim).exclude(branch="main").first()
    response = _get(
        member_client,
        f"/p/{slug}/runs/?branch={run.branch}&status=parsed&service={run.service}&week={run.week_label}",
    )
    listed = response.context["runs"].object_list
    assert run in listed
    assert all(
        (r.branch, r.status, r.service, r.week) == (run.branch, "parsed", run.service, run.week)
        for r in listed
    )


def test_it_lists_under_a_service_the_runs_whose_upload_named_none_but_hold_its_tests(
    member_client, dataset
):
    slug = dataset.sim.slug
    run = Run.objects.filter(project=dataset.sim, service="cache").order_by("id").first()
    named = (
        Run.objects.filter(project=dataset.sim, service="cache", week=run.week)
        .exclude(pk=run.pk)
        .first()
    )
    Run.objects.filter(pk=run.pk).update(service="")  # as if the upload named no service
    url = f"/p/{slug}/runs/?week={run.week_label}&service="
    response = _get(member_client, url + "cache")
    cache = response.context["runs"]
    listed = {r.pk for r in cache.object_list}
    # its service column says where its tests went instead of a bare dash
    assert _html(response).count(">by rules</span>") == 1
    assert {run.pk, named.pk} <= listed
    assert (
        cache.paginator.count
        == Run.objects.filter(project=dataset.sim, week=run.week, service__in=["cache", ""]).count()
    )
    plex = _get(member_client, url + "plex").context["runs"]
    assert run.pk not in {r.pk for r in plex.object_list} and plex.paginator.count > 0


# --- Settings -----------------------------------------------------------------------------------


def test_it_shows_a_new_ingest_key_once_and_revokes_it(member_client, dataset):
    slug = dataset.sim.slug
    response = member_client.post(f"/p/{slug}/settings/keys/", {"name": "nightly"})
    assert response.status_code == 302
    page = _get(member_client, f"/p/{slug}/settings/")
    key = page.context["new_key"]["key"]
    assert key in _html(page)
    token = IngestToken.objects.get(project=dataset.sim, name="nightly")
    assert token.key_hash == IngestToken.hash_key(key)
    assert key not in _html(_get(member_client, f"/p/{slug}/settings/"))
    response = member_client.post(f"/p/{slug}/settings/keys/{token.pk}/revoke/", follow=True)
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert "revoked" in _html(response)


def test_it_replaces_service_rules(member_client, dataset, django_capture_on_commit_callbacks):
    slug = dataset.one.slug
    rules = "cache tests/cache/*\n# comment\nplex  tests/plex/*\n"
    with django_capture_on_commit_callbacks():  # the re-mapping runs after commit: not here
        response = member_client.post(f"/p/{slug}/settings/rules/", {"rules": rules})
    assert response.status_code == 302
    saved = list(ServiceRule.objects.filter(project=dataset.one).order_by("order"))
    assert [(r.service.name, r.pattern) for r in saved] == [
        ("cache", "tests/cache/*"),
        ("plex", "tests/plex/*"),
    ]
    bad = member_client.post(f"/p/{slug}/settings/rules/", {"rules": "just-one-word"})
    assert bad.status_code == 400 and b"line 1" in bad.content
    control = member_client.post(f"/p/{slug}/settings/rules/", {"rules": "ok x/*\na\x01b tests/*"})
    assert control.status_code == 400 and b"line 2: holds a control character" in control.content


def test_it_saves_thresholds_budgets_and_the_reference_branch(member_client, dataset):
    slug = dataset.one.slug
    data = {
        "reference_branch": "trunk",
        "budgets": '[{"budget_ms": 500, "file_glob": "tests/*"}]',
        "param_od_q": "0.01",
        "param_cascade_min_length": "4",
    }
    assert member_client.post(f"/p/{slug}/settings/metrics/", data).status_code == 302
    dataset.one.refresh_from_db()
    row = ProjectSettings.objects.get(project=dataset.one)
    assert dataset.one.default_branch == "trunk"
    assert row.params == {"od_q": 0.01, "cascade_min_length": 4}
    assert row.budgets == [{"budget_ms": 500, "file_glob": "tests/*"}]
    for bad in ('{"budget_ms": 5}', '[{"budget_ms": -1, "file_glob": "x"}]', "[{]"):
        response = member_client.post(f"/p/{slug}/settings/metrics/", {**data, "budgets": bad})
        assert response.status_code == 400, bad
    # Thresholds out of their bounds, and a read-back shorter than the history window (28 days
    # by default; a long regression was lost with 1 week) are refused, with the reason.
    for field, value, told in (
        ("od_q", "1.5", "must be between 0 and 1"),
        ("same_commit_days", "-1", "must be between 1 and 28"),
        ("regression_read_back_weeks", "1", "must be at least 4: the history window is 28 days"),
        ("suspect_min_runs", "40", "must not exceed suspect_runs (30)"),
        ("cp_min_points", "30", "must not exceed half of cp_window (50)"),
    ):  # fmt: skip
        response = member_client.post(f"/p/{slug}/settings/metrics/",
                                      {**data, f"param_{field}": value})  # fmt: skip
        assert response.status_code == 400, field
        assert response.context["metrics_form"].errors[f"param_{field}"] == [told]
    assert ProjectSettings.objects.get(project=dataset.one).params == row.params


def test_it_refuses_settings_changes_without_post_or_csrf(dataset):
    from django.test import Client

    slug = dataset.sim.slug
    client = Client(enforce_csrf_checks=True)
    client.force_login(dataset.member)
    assert client.get(f"/p/{slug}/settings/keys/").status_code == 405
    assert client.post(f"/p/{slug}/settings/keys/", {"name": "x"}).status_code == 403


# --- Settings: alerts -----------------------------------------------------------------------------


def test_it_subscribes_updates_and_removes_on_the_settings_page(member_client, dataset, settings):
    slug = dataset.sim.slug
    page = _html(_get(member_client, f"/p/{slug}/settings/"))
    assert "No subscriptions yet" in page
    # The default kinds come checked.
    assert page.count('name="kinds" value="regression" id="id_kinds_0" checked') == 1
    response = member_client.post(
        f"/p/{slug}/settings/alerts/",
        {"target": " oncall@example.com ", "service": "cache", "kinds": ["regression", "flaky"]},
    )
    assert response.status_code == 302 and response["Location"].endswith("#alerts")
    sub = Subscription.objects.get(project=dataset.sim)
    assert (sub.target, sub.service.name, sub.kinds, sub.channel) == (
        "oncall@example.com", "cache", ["regression", "flaky"], "email",
    )  # fmt: skip
    page = _html(_get(member_client, f"/p/{slug}/settings/"))
    assert "oncall@example.com" in page and "subscribed to alerts of cache" in page
    # The same target and service again updates its kinds (as the API does).
    member_client.post(
        f"/p/{slug}/settings/alerts/",
        {"target": "oncall@example.com", "service": "cache", "kinds": ["fixed"]},
    )
    sub.refresh_from_db()
    assert sub.kinds == ["fixed"] and Subscription.objects.filter(project=dataset.sim).count() == 1
    # A webhook's signing secret is shown once.
    member_client.post(f"/p/{slug}/settings/alerts/", {"target": "https://chat.example.com/h"})
    hook = Subscription.objects.get(project=dataset.sim, channel="webhook")
    assert hook.service is None and hook.kinds == [] and len(hook.secret) >= 32
    assert hook.secret in _html(_get(member_client, f"/p/{slug}/settings/"))
    assert hook.secret not in _html(_get(member_client, f"/p/{slug}/settings/"))
    # Unsubscribed through an email's link: listed as such until removed or added again.
    member_client.post(unsubscribe_url(sub).removeprefix(settings.SITE_URL))
    assert "unsubscribed</span>" in _html(_get(member_client, f"/p/{slug}/settings/"))
    response = member_client.post(f"/p/{slug}/settings/alerts/{sub.pk}/delete/", follow=True)
    assert not Subscription.objects.filter(pk=sub.pk).exists()
    assert "Subscription removed" in _html(response)
    assert "oncall@example.com" not in _html(response)


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"target": "not an address"}, "target", "neither an email address nor an http(s) URL"),
        ({"target": "ftp://files.example.com/x"}, "target", "neither an email address"),
        ({"target": "https:///no-host"}, "target", "is not a valid webhook URL"),
        ({"target": ""}, "target", "This field is required."),
        ({"target": "a@example.com", "kinds": ["improvement"]}, "kinds",
         "unknown kind(s) improvement"),
        ({"target": "a@example.com", "service": "nope"}, "service", "has no service 'nope'"),
    ],
)  # fmt: skip
def test_it_shows_what_is_wrong_with_a_subscription(data, field, message, member_client, dataset):
    response = member_client.post(f"/p/{dataset.sim.slug}/settings/alerts/", data)
    assert response.status_code == 400
    form = response.context["subscription_form"]
    assert any(message in error for error in form.errors[field]), form.errors
    assert message.replace("'", "&#x27;") in _html(response)
    assert not Subscription.objects.filter(project=dataset.sim).exists()


@pytest.fixture
def refusing_smtp(smtp):
    """The SMTP server, refusing the first message for good."""
    smtp.replies = ["550 5.1.1 no such user here"]
    return smtp


def test_it_shows_a_failed_delivery_and_retries_it(
    member_client, dataset, refusing_smtp, django_capture_on_commit_callbacks
):
    slug = dataset.sim.slug
    [delivery] = alert_ledger(dataset.sim, subscriptions=1, deliveries=1)
    AlertDelivery.objects.filter(pk=delivery.pk).update(status="pending", sent_at=None)
    assert alert_batch_send(batch=str(delivery.batch)) == 0  # the server refuses it
    page = _html(_get(member_client, f"/p/{slug}/settings/"))
    assert "1 alert delivery failed." in page
    assert "550 5.1.1 no such user here" in page
    retry = f"/p/{slug}/settings/alerts/deliveries/{delivery.pk}/retry/"
    assert f'action="{retry}"' in page
    with django_capture_on_commit_callbacks() as queued:
        response = member_client.post(retry, follow=True)
    assert len(queued) == 1 and "Sending again: 1 alert(s) queued." in _html(response)
    assert AlertDelivery.objects.get(pk=delivery.pk).status == "pending"
    assert alert_batch_send(batch=str(delivery.batch)) == 1  # the server takes it now
    assert len(refusing_smtp.to("team0@example.com")) == 1
    page = _html(_get(member_client, f"/p/{slug}/settings/"))
    assert "delivery failed" not in page and 'class="status delivery-sent"' in page
    response = member_client.post(retry, follow=True)  # nothing failed any more
    assert "Nothing to retry" in _html(response)


def test_it_shows_an_interrupted_delivery_without_a_retry(member_client, dataset):
    slug = dataset.sim.slug
    [delivery] = alert_ledger(dataset.sim, subscriptions=1, deliveries=1)
    # A worker that died while sending: the row stays claimed past the task time limit.
    AlertDelivery.objects.filter(pk=delivery.pk).update(
        status="sending", claimed_at=timezone.now() - dt.timedelta(days=1), sent_at=None
    )
    alert_deliveries_sweep(older_than_seconds=0)
    page = _html(_get(member_client, f"/p/{slug}/settings/"))
    assert "1 alert delivery failed." in page and "may or may not have arrived" in page
    assert "/retry/" not in page and "not retried" in page
    response = member_client.post(f"/p/{slug}/settings/alerts/deliveries/{delivery.pk}/retry/")
    assert response.status_code == 302
    assert AlertDelivery.objects.get(pk=delivery.pk).status == "failed"


def test_it_lists_only_the_latest_deliveries(member_client, dataset):
    from dashboard.views import DELIVERIES_SHOWN, FAILED_SHOWN

    alert_ledger(dataset.sim, subscriptions=2, deliveries=60)
    response = _get(member_client, f"/p/{dataset.sim.slug}/settings/")
    assert len(response.context["deliveries"]) == DELIVERIES_SHOWN
    assert len(response.context["failed"]) == FAILED_SHOWN
    assert response.context["more_deliveries"] and response.context["more_failed"]
    assert f"More than {FAILED_SHOWN} alert deliveries failed." in _html(response)


def test_it_refuses_subscription_changes_without_csrf(dataset):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(dataset.member)
    url = f"/p/{dataset.sim.slug}/settings/alerts/"
    assert client.get(url).status_code == 405
    assert client.post(url, {"target": "a@example.com"}).status_code == 403
    anonymous = Client().post(url, {"target": "a@example.com"})
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login/")
    assert not Subscription.objects.filter(project=dataset.sim).exists()


# --- Reports ------------------------------------------------------------------------------------


@pytest.fixture
def worker_mode():
    """Tasks go to a worker (served mode), whatever the settings of this test run."""
    from dashboard.celery import app

    eager, app.conf.task_always_eager = app.conf.task_always_eager, False
    yield
    app.conf.task_always_eager = eager


def test_it_generates_lists_and_serves_a_weekly_report(
    member_client, dataset, django_capture_on_commit_callbacks, worker_mode
):
    from django.test import Client

    from reports.models import Report
    from reports.tasks import report_generate

    outsider_client = Client()
    outsider_client.force_login(dataset.outsider)

    slug = dataset.sim.slug
    html = _html(_get(member_client, f"/p/{slug}/"))
    assert f'href="/p/{slug}/reports/"' in html  # the navigation links the page
    weeks = sorted(ServiceWeek.objects.filter(project=dataset.sim).values_list("week", flat=True))
    week = weeks[-2]
    label = ServiceWeek(week=week).week_label
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = member_client.post(f"/p/{slug}/reports/generate/", {"week": label})
    assert response.status_code == 302 and len(callbacks) == 1
    told = [str(m) for m in response.wsgi_request._messages]
    assert told == [f"The {label} report is being generated by a worker; it appears below in a "
                    "few seconds (reload the page)."]  # fmt: skip
    # What the enqueued task does (a worker runs it in production; here, this process).
    report_generate(dataset.sim.pk, week.isoformat())
    rows = {r.format: r for r in Report.objects.filter(project=dataset.sim, week=week,
                                                        service=None)}  # fmt: skip
    assert sorted(rows) == ["md", "pdf"]
    html = _html(_get(member_client, f"/p/{slug}/reports/"))
    assert label in html and "up to date" in html
    for fmt, kind in (("md", "text/markdown"), ("pdf", "application/pdf")):
        url = f"/p/{slug}/reports/{rows[fmt].pk}/"
        assert url in html
        got = _get(member_client, url + "?download=1")
        assert got["Content-Type"].startswith(kind)
        assert f'attachment; filename="{slug}-{label}.{fmt}"' == got["Content-Disposition"]
        assert b"".join(got) == bytes(rows[fmt].content)
        _get(outsider_client, url, status=404)
    assert f"# {dataset.sim.name} — week {label}" in bytes(rows["md"].content).decode()
    # Viewed, the Markdown is a page: its heading, its tables and its links as HTML.
    page = _get(member_client, f"/p/{slug}/reports/{rows['md'].pk}/")
    assert page["Content-Type"].startswith("text/html")
    html = _html(page)
    assert f"<h1>{dataset.sim.name} — week {label}</h1>" in html
    assert "<table>" in html and "?download=1" in html
    assert "| --- |" not in html and "](" not in html
    # A week without metrics is refused with a message, and nothing is enqueued.
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = member_client.post(f"/p/{slug}/reports/generate/", {"week": "2019-W01"},
                                      follow=True)  # fmt: skip
    assert not callbacks and "Choose a week with computed metrics" in _html(response)
    _get(outsider_client, f"/p/{slug}/reports/", status=404)


def test_it_invites_to_generate_when_no_report_is_stored(member_client, dataset):
    from reports.models import Report

    Report.objects.filter(project=dataset.one).delete()
    html = _html(_get(member_client, f"/p/{dataset.one.slug}/reports/"))
    assert "No report yet" in html and 'id="report-week"' in html


def test_it_shows_a_dash_for_a_figure_a_service_week_could_not_compute(member_client, dataset):
    """A week of a single run has no suite wall-clock percentile: stored as JSON null, shown as
    a dash (on SQLite a JSON null read by key came back as the string 'null')."""
    project = dataset.sim
    row = ServiceWeek.objects.filter(project=project, computed__gt=0).latest("week")
    row.metrics["duration"] = {**row.metrics.get("duration", {}), "wall_clock_p50_ms": None,
                               "wall_clock_p95_ms": None}  # fmt: skip
    row.save(update_fields=["metrics"])
    for url in (
        f"/p/{project.slug}/?week={row.week_label}",
        f"/p/{project.slug}/s/{row.service.name}/",
    ):
        response = member_client.get(url)
        assert response.status_code == 200, url
        assert b"null ms" not in response.content


def test_it_marks_the_week_under_way_as_so_far_and_a_finished_week_as_not(
    member_client, dataset, monkeypatch
):
    """Compared with full weeks, a week in progress looks like a drop in runs: the pages say it
    is under way, and how many days it has to go, until it is over."""
    import json
    import re

    project = dataset.sim
    latest = ServiceWeek.objects.filter(project=project, computed__gt=0).latest("week").week
    label = week_label(latest)
    wednesday = dt.datetime.combine(latest + dt.timedelta(days=2), dt.time(12), tzinfo=dt.UTC)

    def figures(html: str) -> list[dict]:
        found = re.findall(r'<script id="[^"]*" type="application/json">(.*?)</script>', html, re.S)
        return [json.loads(m) for m in found]

    for now, under_way in ((wednesday, True), (wednesday + dt.timedelta(days=5), False)):
        monkeypatch.setattr(timezone, "now", lambda now=now: now)
        overview = _html(_get(member_client, "/"))
        detail = _html(_get(member_client, f"/p/{project.slug}/?week={label}"))
        service = _html(_get(member_client, f"/p/{project.slug}/s/cache/?week={label}"))
        for html in (overview, detail, service):
            assert ("in progress: 4 days to go" in html) is under_way
        assert (f"{label} so far" in overview) is under_way
        assert ('class="partial"' in overview) is under_way
        ticks = [f["layout"]["xaxis"].get("ticktext", []) for f in figures(overview + detail)]
        assert len(ticks) > 5
        marked = [t for t in ticks if f"{label}<br>so far" in t]
        assert len(marked) == (len(ticks) if under_way else 0)
