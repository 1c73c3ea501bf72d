"""The figure builders: pure functions from selector data to Plotly figure dicts.

No database here: the builders know nothing of the ORM or the request, so the weekly report can
draw the same figures.
"""

from __future__ import annotations

import datetime as dt
import json

from reports import charts
from reports.charts import AttemptPoint, CauseCount, ChangeMark, OrderCell, WeekPoint

WEEKS = ["2026-W42", "2026-W43", "2026-W44"]


def _point(series: str, week: str, **kw) -> WeekPoint:
    base = dict(
        runs=10, passed=95, failed=5, pass_rate=0.95, final_pass_rate=0.99,
        isolation_score=80.0, clean_runs=8, scored_runs=10, p50_ms=30.0, p95_ms=140.0,
        wall_p50_ms=900.0, wall_p95_ms=1100.0, runs_url=f"/runs/{series}/{week}",
        unclean_url=f"/unclean/{series}/{week}", week_url=f"/week/{series}/{week}",
        wall_url=f"/wall/{series}/{week}",
    )  # fmt: skip
    base.update(kw)
    return WeekPoint(series=series, week=week, **base)


def _points() -> list[WeekPoint]:
    return [
        _point("cache", "2026-W42", pass_rate=0.9),
        _point("cache", "2026-W43", pass_rate=0.95),
        _point("plex", "2026-W43", pass_rate=0.5, isolation_score=25.0),
        _point("plex", "2026-W44", pass_rate=None, final_pass_rate=None),
    ]


def test_it_draws_pass_rates_per_service_first_attempt_and_final():
    fig = charts.pass_rate_figure(points=_points(), weeks=WEEKS)
    names = [t["name"] for t in fig["data"]]
    assert names == ["cache", "cache (final)", "plex", "plex (final)"]
    cache = fig["data"][0]
    assert cache["x"] == ["2026-W42", "2026-W43"]
    assert cache["y"] == [90.0, 95.0]  # percent
    assert fig["data"][2]["y"] == [50.0, None]  # a week without a rate stays a gap
    # A click on a week's point opens that week's runs of the service.
    assert [c[0] for c in cache["customdata"]] == ["/runs/cache/2026-W42", "/runs/cache/2026-W43"]
    assert fig["layout"]["xaxis"]["categoryarray"] == WEEKS


def test_a_week_with_outage_runs_is_marked_and_says_so():
    points = [_point("plex", "2026-W42"), _point("plex", "2026-W43", outage_runs=2)]
    plex = charts.pass_rate_figure(points=points, weeks=WEEKS)["data"][0]
    assert plex["marker"]["symbol"] == ["circle", "diamond"]
    notes = [c[4] for c in plex["customdata"]]
    assert notes[0] == "" and "includes 2 infra-outage runs" in notes[1]
    assert "%{customdata[4]}" in plex["hovertemplate"]
    # The diamond's meaning is a legend entry, there only when a week has outage runs.
    names = [t["name"] for t in charts.pass_rate_figure(points=points, weeks=WEEKS)["data"]]
    assert names == ["plex", "plex (final)", "week with infra-outage runs"]
    plain = charts.pass_rate_figure(points=points[:1], weeks=WEEKS)["data"]
    assert [t["name"] for t in plain] == ["plex", "plex (final)"]


def test_it_can_leave_out_the_final_pass_rate():
    fig = charts.pass_rate_figure(points=_points(), weeks=WEEKS, final=False)
    assert [t["name"] for t in fig["data"]] == ["cache", "plex"]


def test_it_links_isolation_points_to_the_unclean_runs():
    fig = charts.isolation_figure(points=_points(), weeks=WEEKS)
    assert len(fig["data"]) == 2
    plex = fig["data"][1]
    assert plex["y"] == [25.0, 80.0]
    assert plex["customdata"][0] == ["/unclean/plex/2026-W43", 8, 10]
    assert "%{customdata[1]} clean of %{customdata[2]} runs" in plex["hovertemplate"]


def test_it_stacks_flaky_tests_by_cause_and_skips_absent_causes():
    counts = [
        CauseCount("2026-W43", "flaky", 3, "/f/flaky/43"),
        CauseCount("2026-W44", "flaky", 2, "/f/flaky/44"),
        CauseCount("2026-W44", "order_dependent", 1, "/f/od/44"),
    ]
    fig = charts.causes_figure(counts=counts, weeks=WEEKS)
    assert fig["layout"]["barmode"] == "stack"
    assert [t["name"] for t in fig["data"]] == ["non-deterministic", "order-dependent"]
    assert fig["data"][0]["y"] == [3, 2]
    assert fig["data"][1]["customdata"] == [["/f/od/44"]]


def test_it_draws_p50_and_p95_per_service_of_test_medians_or_wall_clock():
    fig = charts.durations_figure(points=_points(), weeks=WEEKS)
    assert len(fig["data"]) == 4  # two services x (p50, p95)
    assert fig["data"][0]["y"] == [30.0, 30.0] and fig["data"][1]["y"] == [140.0, 140.0]
    assert fig["data"][1]["line"]["dash"] == "dash"
    wall = charts.durations_figure(points=_points(), weeks=WEEKS, wall_clock=True)
    assert wall["data"][0]["y"] == [900.0, 900.0]
    assert wall["data"][0]["customdata"][0] == ["/wall/cache/2026-W42"]  # its runs
    assert fig["data"][0]["customdata"][0] == ["/week/cache/2026-W42"]  # its slowest tests


def test_it_stacks_runs_per_service():
    fig = charts.runs_figure(points=_points(), weeks=WEEKS)
    assert [t["type"] for t in fig["data"]] == ["bar", "bar"]
    assert fig["data"][0]["customdata"] == [["/runs/cache/2026-W42"], ["/runs/cache/2026-W43"]]


def test_it_draws_a_heatmap_with_a_link_per_cell():
    fig = charts.heatmap_figure(
        rows=["cache", "plex"],
        weeks=WEEKS[:2],
        values=[[0.95, None], [0.5, 0.75]],
        urls=[["/a", None], ["/b", "/c"]],
        details=[["x", "no runs"], ["y", "z"]],
        metric="pass_rate",
    )
    (trace,) = fig["data"]
    assert trace["type"] == "heatmap"
    assert trace["z"] == [[95.0, None], [50.0, 75.0]]
    assert trace["customdata"] == [["/a", None], ["/b", "/c"]]
    assert trace["text"][0] == ["95", ""]
    iso = charts.heatmap_figure(
        rows=["cache"], weeks=WEEKS[:1], values=[[87.5]], urls=[["/u"]], details=[["d"]],
        metric="isolation",
    )  # fmt: skip
    assert iso["data"][0]["z"] == [[87.5]] and iso["data"][0]["zmax"] == 100


def test_a_heatmap_cell_reads_100_or_0_only_when_it_is() -> None:
    fig = charts.heatmap_figure(
        rows=["jwt"], weeks=[f"2026-W{w}" for w in range(40, 46)], values=[[0.9992, 1.0, 0.995, 0.994, 0.003, 0.0]],
        urls=[[None] * 6], details=[[""] * 6], metric="pass_rate",
    )  # fmt: skip
    assert fig["data"][0]["text"] == [["99.9", "100", "99.5", "99", "0.3", "0"]]


def _attempts() -> list[AttemptPoint]:
    t0 = dt.datetime(2026, 10, 20, 9, tzinfo=dt.UTC)
    rows = [
        (1, "main", 1, "passed", 100),
        (2, "main", 1, "failed", 300),
        (2, "main", 2, "passed", 110),
        (3, "feature", 1, "passed", 105),
        (4, "main", 1, "skipped", None),
    ]
    return [
        AttemptPoint(t0 + dt.timedelta(hours=run), run, f"c{run}", branch, attempt, outcome, ms,
                     f"/run/{run}")
        for run, branch, attempt, outcome, ms in rows
    ]  # fmt: skip


def test_it_shows_every_attempt_by_outcome_on_the_timeline():
    fig = charts.outcome_timeline_figure(attempts=_attempts())
    by_name = {t["name"]: t for t in fig["data"]}
    assert set(by_name) == {"passed", "failed", "skipped"}
    assert by_name["passed"]["y"] == [1, 2, 1]  # the retry that passed sits at attempt 2
    assert by_name["failed"]["customdata"][0][:2] == ["/run/2", 2]
    assert fig["layout"]["yaxis"]["range"] == [0.5, 2.5]


def test_it_marks_change_points_on_the_duration_chart():
    change = ChangeMark(
        time=dt.datetime(2026, 10, 20, 10, tzinfo=dt.UTC), kind="slowdown", before_ms=100.0,
        after_ms=180.0, ratio=1.8, commit="abcdef1234567", url="#finding-7",
    )  # fmt: skip
    fig = charts.test_duration_figure(
        attempts=_attempts(), changes=[change], reference_branch="main"
    )
    names = [t["name"] for t in fig["data"]]
    assert names == ["main", "other branches", "change points"]
    # passed first attempts only: run 2's retry and the failure are left out
    assert fig["data"][0]["y"] == [100]
    assert fig["data"][1]["y"] == [105]
    marks = fig["data"][2]
    assert marks["customdata"][0][0] == "#finding-7" and marks["text"] == ["×1.80"]
    lines = fig["layout"]["shapes"]
    assert lines[0]["x0"] == change.time.isoformat()  # the vertical line at the change
    assert {s["y0"] for s in lines[1:]} == {100.0, 180.0}  # medians before and after


def test_a_slowdown_level_ends_at_the_speed_up_that_reverted_it():
    at = dt.datetime(2026, 10, 20, 10, tzinfo=dt.UTC)
    slow = ChangeMark(time=at, kind="slowdown", before_ms=100.0, after_ms=200.0, ratio=2.0,
                      commit="a" * 40, url="#finding-7")  # fmt: skip
    back = ChangeMark(time=at + dt.timedelta(days=9), kind="speedup", before_ms=200.0,
                      after_ms=100.0, ratio=0.5, commit="b" * 40, url="#finding-7")  # fmt: skip
    # Passes from 5 days before the slowdown to 5 days after the speed-up.
    days = [at + dt.timedelta(days=d) for d in range(-5, 15)]
    passes = [
        AttemptPoint(t, n, f"c{n}", "main", 1, "passed", 200 if at <= t < back.time else 100,
                     f"/run/{n}")
        for n, t in enumerate(days)
    ]  # fmt: skip
    fig = charts.test_duration_figure(
        attempts=passes, changes=[slow, back], reference_branch="main"
    )
    levels = {(s["x0"], s["x1"], s["y0"]) for s in fig["layout"]["shapes"] if s["yref"] == "y"}
    # 200 ms from the slowdown to the speed-up, drawn by each of the two; 100 ms around them.
    assert (at.isoformat(), back.time.isoformat(), 200.0) in levels
    assert not any(y0 == 200.0 and x1 > back.time.isoformat() for _, x1, y0 in levels)
    assert (back.time.isoformat(), days[-1].isoformat(), 100.0) in levels
    assert (days[0].isoformat(), at.isoformat(), 100.0) in levels


def test_a_pass_timed_at_0_ms_is_drawn_and_one_without_a_time_is_not():
    at = dt.datetime(2026, 10, 20, 10, tzinfo=dt.UTC)
    attempts = [AttemptPoint(at, 1, "c1", "main", 1, "passed", 0, "/run/1"),
                AttemptPoint(at, 2, "c2", "main", 1, "passed", None, "/run/2")]  # fmt: skip
    fig = charts.test_duration_figure(attempts=attempts, changes=[], reference_branch="main")
    assert [t["y"] for t in fig["data"]] == [[0]]


def test_it_lays_a_run_out_by_worker_and_order():
    cells = [
        OrderCell("gw0", 0, "passed", "a", 5, "/t/a"),
        OrderCell("gw0", 1, "failed", "b", 6, "/t/b", row=3),
        OrderCell("gw1", 0, "passed", "c", None, "/t/c"),
        OrderCell("github.com/acme/very/long/package/name", 0, "error", "d", 1, "/t/d"),
    ]
    fig = charts.run_order_figure(cells=cells)
    by_name = {t["name"]: t for t in fig["data"]}
    assert by_name["passed"]["x"] == [1, 1] and by_name["failed"]["x"] == [2]
    # a long worker name keeps its informative end on the axis, and all of it in the hover
    assert by_name["error"]["y"] == ["…" + "github.com/acme/very/long/package/name"[-23:]]
    assert by_name["error"]["customdata"][0][3] == "github.com/acme/very/long/package/name"
    assert by_name["failed"]["customdata"][0][0] == "/t/b"
    # the hover names the results table's row of the point (its "#": the upload position)
    assert by_name["failed"]["customdata"][0][4] == " · row #3 of the results"
    assert "%{customdata[4]}" in by_name["failed"]["hovertemplate"]


def test_it_draws_sparklines_with_gaps():
    path = charts.sparkline_path(values=[1.0, None, 3.0, 2.0], width=30, height=10, low=0, high=4)
    # a lone point is a dot (a tiny stroke), then a gap, then a line of two points
    assert path == "M0.0 6.5 h0.1 M20.0 3.5 L30.0 5.0"  # 2 px padding top and bottom
    assert charts.sparkline_path(values=[None, None]) == ""


def test_it_dashes_the_sparkline_stretch_to_a_week_under_way_on_the_same_scale():
    values = [4.0, 8.0, 6.0, 1.0]
    whole = charts.sparkline_path(values=values, low=0)
    solid, dashed = charts.sparkline_paths(values=values, partial=True, low=0)
    # the two paths together are the whole line: they meet at the second-to-last point
    assert solid == whole.rsplit(" L", 1)[0]
    assert dashed == "M" + whole.split(" L")[-2] + " L" + whole.split(" L")[-1]
    assert charts.sparkline_paths(values=values, partial=False, low=0) == (whole, "")
    assert charts.sparkline_paths(values=[None, None], partial=True) == ("", "")


def test_it_marks_a_week_under_way_on_the_week_axis():
    fig = charts.mark_in_progress(charts.runs_figure(points=_points(), weeks=WEEKS), WEEKS[-1])
    axis = fig["layout"]["xaxis"]
    assert axis["tickvals"] == WEEKS
    assert axis["ticktext"] == [*WEEKS[:-1], WEEKS[-1] + "<br>so far"]
    [shade] = fig["layout"]["shapes"]
    assert (shade["x0"], shade["x1"]) == (len(WEEKS) - 1.5, len(WEEKS) - 0.5)
    # a week not on the axis (the current week is not in the window) changes nothing
    plain = charts.runs_figure(points=_points(), weeks=WEEKS)
    other = charts.runs_figure(points=_points(), weeks=WEEKS)
    assert charts.mark_in_progress(other, "2026-W48") == plain


def test_it_builds_figures_that_serialize_to_json():
    figs = [
        charts.pass_rate_figure(points=_points(), weeks=WEEKS),
        charts.outcome_timeline_figure(attempts=_attempts()),
        charts.run_order_figure(cells=[OrderCell("gw0", 0, "passed", "a", 5, "/t/a")]),
    ]
    for fig in figs:
        assert json.loads(json.dumps(fig)) == fig


def test_it_embeds_a_figure_as_json_that_cannot_end_its_script_element():
    import re

    from django.utils.html import json_script

    from dashboard.templatetags.pages import figure_script

    figure = {"data": [{"name": "</script><script>alert(1)</script> & é", "y": [1, 2.5, None]}]}
    html = figure_script(figure, "fig-x")
    body = re.fullmatch(r'<script id="fig-x" type="application/json">(.*)</script>', html, re.S)
    assert body and "</" not in body.group(1) and "&" not in body.group(1)
    assert json.loads(body.group(1)) == figure
    # what Django's json_script embeds, read back the same
    django_body = re.search(r">(.*)</script>", json_script(figure, "fig-x"), re.S).group(1)
    assert json.loads(django_body) == json.loads(body.group(1))


def test_names_from_uploads_reach_plotly_escaped():
    """plotly.js reads a few HTML tags in names and hover text (links among them)."""
    evil = '<a href="https://evil.example/login">svc</a>'
    import dataclasses

    points = [dataclasses.replace(p, series=evil) for p in _points()]
    for fig in (charts.pass_rate_figure(points=points, weeks=WEEKS),
                charts.durations_figure(points=points, weeks=WEEKS),
                charts.runs_figure(points=points, weeks=WEEKS)):  # fmt: skip
        shown = [str(t.get(k, "")) for t in fig["data"] for k in ("name", "hovertemplate", "y")]
        assert not [v for v in shown if "<a href" in v]
        assert any("&lt;a href=" in v for v in shown)
    # Hover text read from customdata: branches, commits, test and worker names.
    at = dt.datetime(2026, 10, 20, 10, tzinfo=dt.UTC)
    attempt = AttemptPoint(at, 1, evil, evil, 1, "failed", 5, "/run/1")
    cell = OrderCell(evil, 0, "passed", evil, 5, "/t/a")
    for fig in (charts.outcome_timeline_figure(attempts=[attempt]),
                charts.run_order_figure(cells=[cell]),
                charts.test_duration_figure(
                    attempts=[dataclasses.replace(attempt, outcome="passed")], changes=[],
                    reference_branch="main")):  # fmt: skip
        custom = repr(
            [t.get("customdata") for t in fig["data"]] + [t.get("y") for t in fig["data"]]
        )
        assert "<a" not in custom and "&lt;a" in custom


def test_a_causes_chart_without_any_finding_says_so():
    weeks = ["2026-W44", "2026-W45"]
    empty = charts.causes_figure(counts=[], weeks=weeks)
    [note] = empty["layout"]["annotations"]
    assert note["text"] == "no flaky tests, victims or cascade roots in these weeks"
    some = [charts.CauseCount("2026-W45", "flaky", 2, "/f")]
    assert "annotations" not in charts.causes_figure(counts=some, weeks=weeks)["layout"]
