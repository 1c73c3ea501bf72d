"""The weekly report against the API and the planted truth.

A simulated history (the simulator's test profile) is loaded in-process and computed once for
the module. For its busiest week, the Markdown report is parsed back into numbers and every
figure is checked against the API's service-week metrics and findings of the same week; every
regression, order-dependent pair and cascade planted in that week must be named. The PDF of the
same week must hold the same figures as text, render to non-blank pages and draw its charts as
vector paths.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import zlib
from collections import defaultdict
from pathlib import Path

import pytest

from ingest.weeks import week_end
from tests.dashboard.conftest import drop_projects, load_history, sim_config
from tests.simulation import simulate

SLUG = "weekly"
PLANTED_KINDS = ("regression", "order_dependent", "cascade")


@pytest.fixture(scope="module")
def history(django_db_setup, django_db_blocker):
    """(project, key, truth) with the history loaded and computed, committed for the module."""
    from ingest.services import project_create, token_create

    # The page tests' lighter profile: every kind of finding, in well under a minute.
    config = sim_config(weeks=6)
    with django_db_blocker.unblock():
        drop_projects(SLUG)
        project = project_create(slug=SLUG, name="Weekly report")
        load_history(project=project, config=config)
        key = token_create(project=project)[1]
        try:
            yield project, key, simulate(config).truth
        finally:
            drop_projects(SLUG)


@pytest.fixture
def api(history):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {history[1]}")
    return client


def _get(api, path: str):
    response = api.get(path)
    assert response.status_code == 200, (path, response.status_code, response.content[:300])
    return response.json()


def _findings(api, week: str | None = None, **query: str) -> list[dict]:
    out, page = [], 1
    params = "&".join(f"{k}={v}" for k, v in query.items())
    while True:
        body = _get(api, f"/api/v1/projects/{SLUG}/findings?page={page}"
                         f"{'&week=' + week if week else ''}{'&' + params if params else ''}")  # fmt: skip
        out.extend(body["results"])
        if not body["next"]:
            return out
        page += 1


def _busiest_week(truth) -> str:
    """The week (with a week before it) holding the most planted regressions, pairs and
    cascades: the report has the most to name there."""
    weeks = truth.weeks[1:]
    return max(weeks, key=lambda w: (sum(len(truth.expected_findings(k, w)) > 0
                                         for k in PLANTED_KINDS),
                                     sum(len(truth.expected_findings(k, w))
                                         for k in PLANTED_KINDS), w))  # fmt: skip


def _previous(week: str) -> str:
    monday = dt.date.fromisocalendar(int(week[:4]), int(week[6:]), 1) - dt.timedelta(weeks=1)
    year, number, _ = monday.isocalendar()
    return f"{year}-W{number:02d}"


# --- Reading the Markdown back --------------------------------------------------------------------


def _section(md: str, title: str) -> str:
    """The text under a heading, up to the next heading of the same or a higher level."""
    match = re.search(rf"^(#+) {re.escape(title)}\s*$", md, re.M)
    assert match, f"no section {title!r}"
    level = len(match.group(1))
    rest = md[match.end() :]
    end = re.search(rf"^#{{1,{level}}} ", rest, re.M)
    return rest[: end.start()] if end else rest


def _table(text: str) -> list[list[str]]:
    """The rows of the first table in `text`, cells with links and escapes removed."""
    rows = []
    for line in text.splitlines():
        if not line.startswith("|"):
            if rows:
                break
            continue
        cells = re.split(r"(?<!\\)\|", line.strip())[1:-1]
        rows.append([_plain(c) for c in cells])
    assert len(rows) >= 2, text[:300]
    return rows[2:]  # header and alignment rows left out


def _plain(cell: str) -> str:
    cell = re.sub(r"\[((?:[^\]\\]|\\.)*)\]\([^)]*\)", r"\1", cell.strip())
    return re.sub(r"\\(.)", r"\1", cell).replace("`", "").strip()


def _pct(text: str) -> float | None:
    return None if text == "–" else float(text.rstrip("%"))


def _pp(text: str) -> float | None:
    if text == "–":
        return None
    return 0.0 if text.startswith("±") else float(text.replace(" pp", ""))


def _ms(text: str) -> tuple[float, float] | None:
    """A duration as (value in ms, rounding tolerance in ms)."""
    if text == "–":
        return None
    text = text.lstrip("+±-")
    if text.endswith(" ms"):
        return float(text[:-3].replace(",", "")), 0.5
    if text.endswith(" s") and " min " not in text:
        return float(text[:-2].replace(",", "")) * 1000, 5.0
    minutes, seconds = re.match(r"(\d+) min (\d+) s", text).groups()
    return (int(minutes) * 60 + int(seconds)) * 1000.0, 500.0


def _close(got: float | None, want: float | None, tolerance: float, what: str) -> None:
    if want is None:
        assert got is None, (what, got, want)
        return
    assert got is not None and abs(got - want) <= tolerance + 1e-9, (what, got, want)


# --- The tests --------------------------------------------------------------------------------------


@pytest.fixture
def report_week(history) -> str:
    return _busiest_week(history[2])


@pytest.fixture
def markdown(api, report_week) -> str:
    response = api.get(f"/api/v1/projects/{SLUG}/reports/{report_week}.md")
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"].startswith("text/markdown")
    return response.content.decode()


def _open_at_end(api, week: str) -> list[dict]:
    """Regressions open at the end of the week, from the API: begun by then, not fixed by then."""
    fixed_later = {(f["test"]["id"], f["evidence"]["first_failing_run"])
                   for f in _findings(api, kind="fixed") if f["week"] > week}  # fmt: skip
    return [
        f for f in _findings(api, kind="regression") if f["week"] <= week
        and (f["status"] == "open"
             or (f["test"]["id"], f["evidence"]["first_failing_run"]) in fixed_later)
    ]  # fmt: skip


@pytest.mark.django_db
def test_every_figure_matches_the_api(api, history, report_week, markdown) -> None:
    week, prev = report_week, _previous(report_week)
    services = [s["name"] for s in _get(api, f"/api/v1/projects/{SLUG}/services")]
    metrics, before = {}, {}
    for name in services:
        metrics[name] = _get(api, f"/api/v1/projects/{SLUG}/services/{name}/weeks/{week}")
        response = api.get(f"/api/v1/projects/{SLUG}/services/{name}/weeks/{prev}")
        before[name] = response.json() if response.status_code == 200 else None
    findings = _findings(api, week)
    previous_findings = _findings(api, prev)
    open_regressions = _open_at_end(api, week)

    rows = {r[0].replace(" (recomputing)", ""): r for r in _table(_section(markdown, "Services"))}
    assert sorted(rows) == sorted(services)
    for name, m in metrics.items():
        row, b = rows[name], before[name]
        assert int(row[1]) == m["runs"], name
        assert int(row[2]) == m["tests_executed"], name
        for col, key in ((3, "pass_rate"), (5, "final_pass_rate")):
            _close(_pct(row[col]), 100 * m[key], 0.05, (name, key))
            want = None if not b or b[key] is None else 100 * (m[key] - b[key])
            _close(_pp(row[col + 1]), want, 0.051, (name, key, "delta"))
        _close(_pct(row[7]), m["isolation_score"], 0.05, (name, "isolation"))
        want = (
            None
            if not b or b["isolation_score"] is None
            else m["isolation_score"] - b["isolation_score"]
        )
        _close(_pp(row[8]), want, 0.051, (name, "isolation delta"))
        by_cause = [len({f["test"]["id"] for f in findings
                         if f["service"] == name and f["kind"] == kind})
                    for kind in ("flaky", "order_dependent", "cascade")]  # fmt: skip
        assert [int(x) for x in row[9].split(" / ")] == by_cause, name
        for col, key in ((10, "test_median_p50_ms"), (12, "test_median_p95_ms")):
            got, want = _ms(row[col]), m["duration"][key]
            if want is None:
                assert got is None, (name, key)
            else:
                assert got is not None and abs(got[0] - want) <= got[1], (name, key, got, want)
        assert int(row[14]) == m["budget_violations"], name
        assert int(row[15]) == sum(1 for f in open_regressions if f["service"] == name), name

    # The project line: runs summed, rates from the summed components (exact definitions).
    head = _table(_section(markdown, "Summary"))[0]
    assert int(head[0]) == sum(m["runs"] for m in metrics.values())
    passed = sum(m["passed"] for m in metrics.values())
    decided = passed + sum(m["failed"] for m in metrics.values())
    _close(_pct(head[4]), 100 * passed / decided, 0.05, "project pass rate")
    clean = sum(m["clean_runs"] for m in metrics.values())
    scored = sum(m["isolation_runs"] for m in metrics.values())
    _close(_pct(head[6]), 100 * clean / scored, 0.05, "project isolation")
    from ingest.models import Run

    start = dt.datetime.combine(dt.date.fromisocalendar(int(week[:4]), int(week[6:]), 1),
                                dt.time(), tzinfo=dt.UTC)  # fmt: skip
    week_runs = Run.objects.filter(project=history[0], started_at__gte=start,
                                   started_at__lt=start + dt.timedelta(days=7))  # fmt: skip
    assert int(head[1]) == week_runs.values("commit").distinct().count()
    assert head[2] == f"{sum(1 for m in metrics.values() if m['runs'])} of {len(services)}"

    # The summary's counts.
    summary = _section(markdown, "Summary")
    kinds = defaultdict(set)
    for f in findings:
        kinds[f["kind"]].add((f["service"], f["test"]["id"], (f["related_test"] or {}).get("id")))
    earlier = {(f["service"], f["kind"], f["test"]["id"]) for f in previous_findings}
    new_flaky = {kind: {(f["service"], f["test"]["id"]) for f in findings if f["kind"] == kind
                        and (f["service"], kind, f["test"]["id"]) not in earlier}
                 for kind in ("flaky", "order_dependent", "cascade")}  # fmt: skip
    coverage = f"in {head[0]} run{'s' if head[0] != '1' else ''} over {head[1]} commit"
    n_new = len(kinds["regression"])
    assert f"{n_new} new regression{'s' if n_new != 1 else ''} and {len(kinds['fixed'])} " \
        f"test{'s' if len(kinds['fixed']) != 1 else ''} fixed {coverage}" in summary  # fmt: skip
    n_open = sum(1 for f in open_regressions if f["week"] != week)
    assert re.search(rf"\b{n_open} earlier regressions? still open", summary)
    assert f"({len(new_flaky['flaky'])} non-deterministic, {len(new_flaky['order_dependent'])} " \
        f"order-dependent, {len(new_flaky['cascade'])} cascade root; \"new this week\" in the " \
        "isolation tables)" in summary  # fmt: skip
    assert re.search(rf"\b{len(kinds['duration_regression'])} duration regressions? ", summary)
    assert re.search(rf"\b{len(kinds['budget_violation'])} tests? went over budget", summary)

    # Every finding of the week is in its section, by its test page.
    sections = {
        "regression": _section(markdown, "New this week"),
        "fixed": _section(markdown, "Fixed this week"),
        "order_dependent": _section(markdown, "Order-dependent tests (polluter → victim)"),
        "cascade": _section(markdown, "Cascades (root → followers)"),
        "flaky": _section(markdown, "Flaky tests"),
        "duration_regression": _section(markdown, "Duration regressions"),
        "budget_violation": _section(markdown, "Budget violations"),
    }
    for f in findings:
        text = sections[f["kind"]]
        assert f"/t/{f['test']['id']}/" in text, (f["kind"], f["test"])
        if f["kind"] == "order_dependent":
            pair = f"/t/{f['related_test']['id']}/) → [`"
            assert pair in text, f
            assert f"/t/{f['test']['id']}/#finding-{f['id']})" in text.split(pair, 1)[1], f
        if f["kind"] == "cascade":
            for cascade in f["evidence"]["cascades"]:
                for follower in cascade["followers"]:
                    assert f"/t/{follower}/" in text, (f, follower)
    # The tests the summary counts as new are the rows marked so, and no others.
    for kind in ("flaky", "order_dependent", "cascade"):
        for line in sections[kind].splitlines():
            if not line.startswith("| ") or "/t/" not in line:
                continue
            service = _plain(re.split(r"(?<!\\)\|", line)[1].strip())
            # the victim after its polluter; the root before its followers
            test_id = int(re.findall(r"/t/(\d+)/", line)[1 if kind == "order_dependent" else 0])
            assert ("new this week" in line) == ((service, test_id) in new_flaky[kind]), line
    # The figures of the findings' rows are their evidence's.
    by_test = {
        (f["kind"], f["test"]["id"], (f["related_test"] or {}).get("id")): f for f in findings
    }
    for line in sections["order_dependent"].splitlines():
        if not line.startswith("| ") or "/t/" not in line:
            continue
        polluter, victim = (int(x) for x in re.findall(r"/t/(\d+)/", line)[:2])
        count = int(re.split(r"(?<!\\)\|", line)[4].strip())
        assert count == by_test[("order_dependent", victim, polluter)]["evidence"]["a"], line
    for line in sections["duration_regression"].splitlines():
        if not line.startswith("| ") or "/t/" not in line:
            continue
        test_id = int(re.search(r"/t/(\d+)/", line).group(1))
        evidence = by_test[("duration_regression", test_id, None)]["evidence"]
        cells = [_plain(c) for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        for cell, key in ((cells[2], "before_median_ms"), (cells[3], "after_median_ms")):
            got = _ms(cell)
            assert got is not None and abs(got[0] - evidence[key]) <= got[1], (line, key)
        assert cells[6] == evidence["commit"][:10], line
    # A nil statement carries its coverage.
    for title, what in (("Duration improvements", "duration improvements"),):
        text = _section(markdown, title)
        if "|" not in text:
            assert f"0 {what} {coverage}" in text


@pytest.mark.django_db
def test_open_regressions_link_to_those_open_at_the_weeks_end(
    api, history, client, django_user_model
):
    """Each service's "Open regr." count links to a list of exactly those regressions, for a
    past week too: the ones fixed since are in it, the ones begun since are not."""
    from django.conf import settings

    from reports.weekly import weekly_report_build

    project = history[0]
    reader = django_user_model.objects.create_user("reader", password="x")
    project.members.add(reader)
    client.force_login(reader)
    weeks = sorted({f["week"] for f in _findings(api, kind="regression")})
    fixed_since = 0
    for week in weeks:
        monday = dt.date.fromisocalendar(int(week[:4]), int(week[6:]), 1)
        report = weekly_report_build(project=project, week=monday)
        wanted = _open_at_end(api, week)
        fixed_since += sum(1 for f in wanted if f["status"] != "open")
        for row in report.services:
            assert row.regressions_url.startswith(settings.SITE_URL)
            response = client.get(row.regressions_url[len(settings.SITE_URL) :])
            assert response.status_code == 200
            listed = {f.pk for f in response.context["findings"].object_list}
            assert listed == {f["id"] for f in wanted if f["service"] == row.service}, (
                week,
                row.service,
            )
            assert len(listed) == row.open_regressions
    assert fixed_since, "no week had a regression fixed after it: the past-week case is untested"


@pytest.mark.django_db
def test_the_planted_regressions_pairs_and_cascades_of_the_week_are_named(
    api, history, report_week, markdown
) -> None:
    truth = history[2]
    by_name = {}
    from ingest.models import Test

    for t in Test.objects.filter(project=history[0]):
        by_name[(t.file, t.name)] = t.pk
    planted = 0
    for kind, title in (("regression", "New this week"),
                        ("order_dependent", "Order-dependent tests (polluter → victim)"),
                        ("cascade", "Cascades (root → followers)")):  # fmt: skip
        text = _section(markdown, title)
        for service, test, related in truth.expected_findings(kind, report_week):
            planted += 1
            test_id = by_name[(test.file, test.name)]
            assert f"/t/{test_id}/" in text, (kind, service, test)
            if related is not None:
                polluter = by_name[(related.file, related.name)]
                assert f"/t/{polluter}/) → [`" in text, (kind, service, test, related)
    print(f"{report_week}: {planted} planted regressions, pairs and cascades named")
    assert planted, "the chosen week has nothing planted: the test would prove nothing"


@pytest.mark.django_db
def test_markdown_is_deterministic_and_stored(api, history, report_week, markdown) -> None:
    from ingest.weeks import parse_week
    from reports.models import Report
    from reports.report_services import report_content

    monday = parse_week(report_week)
    again = report_content(project=history[0], week=monday, fmt="md").decode()
    assert again == markdown
    stored = Report.objects.get(project=history[0], week=monday, format="md", service=None)
    assert bytes(stored.content).decode() == markdown


@pytest.mark.django_db
def test_bad_requests(api, history) -> None:
    for week in ("2026-W99", "9999-W52", "0001-W01"):  # the last two overflowed once: a 500
        bad = api.get(f"/api/v1/projects/{SLUG}/reports/{week}.md")
        assert bad.status_code == 400 and bad.json()["error"] == "invalid_week", week
    empty = api.get(f"/api/v1/projects/{SLUG}/reports/2019-W02.pdf")
    assert empty.status_code == 404 and empty.json()["error"] == "no_data"
    assert "2019-W02" in empty.json()["detail"]
    unknown = api.get(f"/api/v1/projects/{SLUG}/reports/2026-W45.html")
    assert unknown.status_code == 404
    # A client asking for the type the path names (as the schema says) gets it; an error is
    # still JSON whatever it accepts.
    refused = api.get(
        f"/api/v1/projects/{SLUG}/reports/2019-W02.pdf", HTTP_ACCEPT="application/pdf"
    )
    assert refused.status_code == 404 and refused.json()["error"] == "no_data"


@pytest.mark.django_db
@pytest.mark.parametrize(("fmt", "accept"), [("md", "text/markdown"), ("pdf", "application/pdf"),
                                             ("md", "text/html, */*;q=0.1")])  # fmt: skip
def test_a_report_is_served_whatever_the_client_accepts(api, report_week, fmt, accept) -> None:
    from reports.models import Report

    response = api.get(f"/api/v1/projects/{SLUG}/reports/{report_week}.{fmt}", HTTP_ACCEPT=accept)
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"].startswith(Report.CONTENT_TYPES[fmt])


# --- PDF --------------------------------------------------------------------------------------------


def _pdftotext(pdf: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True,
                          capture_output=True, text=True).stdout  # fmt: skip


def _content_streams(data: bytes) -> list[bytes]:
    """The PDF's decompressed streams (WeasyPrint deflates every content stream)."""
    out = []
    # The end-of-line before `endstream` is left to the decompressor (it ignores what follows the
    # deflate stream): stripping an optional "\r" could cut the last byte of compressed data.
    for match in re.finditer(rb"stream\r?\n(.*?)endstream", data, re.S):
        try:
            out.append(zlib.decompressobj().decompress(match.group(1)))
        except zlib.error:
            out.append(match.group(1))
    return out


@pytest.mark.django_db
def test_pdf_has_the_figures_pages_and_vector_charts(
    api, history, report_week, markdown, tmp_path, settings
) -> None:
    from PIL import Image, ImageStat

    from reports.pdf import browser_path

    if browser_path() is None:
        pytest.skip("no Chromium: the vector chart path cannot be checked here")
    response = api.get(f"/api/v1/projects/{SLUG}/reports/{report_week}.pdf")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(response.content)
    text = _pdftotext(pdf)
    assert f"{report_week}" in text and "Page 1 of" in text and "Metrics computed " in text
    # The same figures as the Markdown: every cell of the services table and the project line.
    flat = re.sub(r"\s+", " ", text)
    for row in _table(_section(markdown, "Services")) + _table(_section(markdown, "Summary")):
        for cell in row:
            if re.fullmatch(r"[-+±]?[\d.,]+( ?%| pp| ms| s)?", cell):
                assert cell in flat, (cell, row)
    # Pages render to PNG and none is blank.
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(pdf), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= 3
    for page in pages:
        stat = ImageStat.Stat(Image.open(page).convert("L"))
        assert stat.stddev[0] > 5, f"{page.name} looks blank"
    # Charts are vector drawings: no raster image anywhere; the SVG charts become PDF form
    # XObjects of path drawing operators, which the same report made without charts (no
    # browser) does not have, and which add path segments beyond the tables' rules.
    images = subprocess.run(["pdfimages", "-list", str(pdf)], check=True, capture_output=True,
                            text=True).stdout.strip().splitlines()  # fmt: skip
    assert len(images) <= 2, images  # the header lines only
    from ingest.weeks import parse_week
    from reports.report_services import report_content

    # Both made here, from the same data, one with the browser and one without: the API may
    # serve a report stored earlier, whose tables need not match this moment's.
    with_charts = report_content(project=history[0], week=parse_week(report_week), fmt="pdf")
    settings.SUITEHEALTH_CHART_BROWSER = str(tmp_path / "no-such-browser")
    without = report_content(project=history[0], week=parse_week(report_week), fmt="pdf")

    def segments(data: bytes) -> int:
        return sum(len(re.findall(rb"(?m) [lc]$", s)) for s in _content_streams(data))

    assert b"/Subtype /Image" not in response.content
    assert response.content.count(b"/Subtype /Form") >= 3
    assert without.count(b"/Subtype /Form") == 0
    assert with_charts.count(b"/Subtype /Form") >= 3
    assert segments(with_charts) - segments(without) > 50, (
        segments(with_charts),
        segments(without),
    )
    # The charts' axis labels are text: the weeks of the trend window.
    assert _previous(report_week) in text and "Isolation score" in text


@pytest.mark.django_db
def test_pdf_without_a_browser_notes_the_missing_charts(
    history, report_week, settings, tmp_path, caplog
) -> None:
    from ingest.weeks import parse_week
    from reports.report_services import report_content

    settings.SUITEHEALTH_CHART_BROWSER = str(tmp_path / "no-such-browser")
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(report_content(project=history[0], week=parse_week(report_week), fmt="pdf",
                                   page_size="Letter"))  # fmt: skip
    text = re.sub(r"\s+", " ", _pdftotext(pdf))
    assert "Charts could not be drawn" in text
    assert any("charts left out" in r.getMessage() for r in caplog.records)
    info = subprocess.run(["pdfinfo", str(pdf)], check=True, capture_output=True, text=True).stdout
    assert "612 x 792 pts (letter)" in info


@pytest.mark.django_db
def test_the_quarantine_lists_the_latest_weeks_flaky_tests_as_json_and_as_text(api, history):
    url = f"/api/v1/projects/{SLUG}/quarantine"
    listed = _get(api, url)["tests"]
    latest = history[2].weeks[-1]  # every simulated service reports every week
    open_flaky = {
        f["test"]["id"]
        for f in _findings(api, week=latest)
        if f["kind"] in ("flaky", "order_dependent")
    }
    assert listed and {t["id"] for t in listed} == open_flaky
    assert {t["cause"] for t in listed} <= {"flaky", "order_dependent"}
    expected = "".join(f"{n}\n" for n in sorted({t["node_id"] for t in listed}))
    for response in (api.get(url + "?format=text"), api.get(url, HTTP_ACCEPT="text/plain")):
        assert response.status_code == 200, response.content[:200]
        assert response["Content-Type"].startswith("text/plain")
        assert response.content.decode() == expected
    from rest_framework.test import APIClient

    refused = APIClient().get(url + "?format=text", HTTP_AUTHORIZATION="Token nope")
    assert refused.status_code in (401, 403) and b"error" in refused.content

    # One CI job's list: ?service=
    services = {t["service"] for t in listed}
    assert len(services) > 1
    for name in services:
        own = _get(api, f"{url}?service={name}")["tests"]
        assert own == [t for t in listed if t["service"] == name]
    assert api.get(f"{url}?service=nope").status_code == 404


@pytest.mark.django_db
def test_a_week_in_progress_counts_no_days_still_to_come_as_days_without_runs(history, report_week):
    from ingest.models import Run
    from ingest.weeks import parse_week
    from reports.render import weekly_report_markdown
    from reports.weekly import weekly_report_build

    project, monday = history[0], parse_week(report_week)
    run_days = {
        d.date() for d in Run.objects.filter(
            project=project, started_at__date__gte=monday,
            started_at__date__lt=monday + dt.timedelta(days=7),
        ).values_list("started_at", flat=True)
    }  # fmt: skip
    wednesday = dt.datetime.combine(monday + dt.timedelta(days=2), dt.time(12), tzinfo=dt.UTC)
    report = weekly_report_build(project=project, week=monday, now=wednesday)
    idle = [monday + dt.timedelta(days=i) for i in range(3)]
    assert report.coverage.days_without_runs == [
        d.strftime("%a %d %b") for d in idle if d not in run_days
    ]
    assert report.coverage.days_to_go == 4
    assert "the week is in progress: 4 days to go" in " ".join(report.summary)
    assert "in progress: 4 days to go" in weekly_report_markdown(report)

    done = weekly_report_build(project=project, week=monday)  # the week is over by now
    assert done.coverage.days_to_go == 0
    assert len(done.coverage.days_without_runs) == sum(
        1 for i in range(7) if monday + dt.timedelta(days=i) not in run_days
    )
    assert "in progress" not in " ".join(done.summary)


@pytest.mark.django_db
def test_a_tests_weekly_flaky_results_add_up_to_its_services_week(history):
    from django.db.models import Sum

    from reports.models import ServiceWeek, TestWeek

    rows = ServiceWeek.objects.filter(project=history[0], computed__gt=0)
    assert sum(r.metrics["flaky_results"] for r in rows) > 0
    for row in rows:
        tests = TestWeek.objects.filter(service=row.service_id, week=row.week)
        total = tests.aggregate(n=Sum("flaky_results"))["n"] or 0
        assert total == row.metrics["flaky_results"], (row.service.name, row.week_label)


@pytest.mark.django_db
def test_a_report_made_while_its_week_was_in_progress_is_made_again_once_it_is_over(
    history, report_week
):
    from ingest.weeks import parse_week
    from reports.models import Report
    from reports.report_services import project_week_reports_ensure, report_get_or_generate

    project, monday = history[0], parse_week(report_week)  # a week that is over
    assert project_week_reports_ensure(project=project, week=monday) in (0, 2)
    assert project_week_reports_ensure(project=project, week=monday) == 0  # up to date
    wednesday = dt.datetime.combine(monday + dt.timedelta(days=2), dt.time(12), tzinfo=dt.UTC)
    Report.objects.filter(project=project, week=monday).update(generated_at=wednesday)
    row = Report.objects.get(project=project, service=None, week=monday, format="md")
    assert row.outdated and not row.stale

    assert project_week_reports_ensure(project=project, week=monday) == 2
    fresh = report_get_or_generate(project=project, week=monday, fmt="md")
    assert fresh.pk == row.pk and fresh.generated_at > week_end(monday)
    assert not fresh.outdated


@pytest.mark.django_db
def test_services_reporting_counts_only_services_with_data_by_the_weeks_end(history, report_week):
    from ingest.models import Run, Service
    from ingest.weeks import parse_week
    from reports.weekly import weekly_report_build

    project, monday = history[0], parse_week(report_week)
    end = dt.datetime.combine(monday + dt.timedelta(days=7), dt.time(), tzinfo=dt.UTC)
    named = set(Run.objects.filter(project=project, started_at__lt=end)
                .values_list("service", flat=True))  # fmt: skip
    assert len(named) > 1 and "" not in named
    Service.objects.create(project=project, name="added-later")  # no runs yet
    try:
        report = weekly_report_build(project=project, week=monday)
    finally:
        Service.objects.filter(project=project, name="added-later").delete()
    assert report.coverage.services_total == len(named)
    assert report.coverage.services_reporting <= len(named)


def test_runs_of_several_services_count_once_and_a_ruled_service_has_its_days(db):
    import io

    from ingest.services import UploadMeta, project_create, run_create, run_parse
    from reports.services import project_recompute
    from reports.weekly import weekly_report_build

    # Uploads name no service: rules put tests/* in `app`, the rest in `default`.
    project = project_create(slug="mixed", name="Mixed", service_rules=[("app", "tests/*")])
    monday = dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC)  # 2026-W45
    document = (
        b'<testsuite name="s"><testcase classname="a" name="t" file="tests/test_a.py"/>'
        b'<testcase classname="b" name="t" file="other/test_b.py"/></testsuite>'
    )
    for day in (0, 2):
        meta = UploadMeta(commit=f"c{day}", branch="main", build_id=str(day),
                          started_at=monday + dt.timedelta(days=day))  # fmt: skip
        files = [("r.xml", io.BytesIO(document))]
        run_parse(run_id=run_create(project=project, meta=meta, files=files).run.pk)
    project_recompute(project_id=project.pk)

    now = monday + dt.timedelta(days=10)
    whole = weekly_report_build(project=project, week=monday.date(), now=now)
    assert (whole.coverage.runs, whole.coverage.commits) == (2, 2)
    app = weekly_report_build(
        project=project, week=monday.date(), service=project.services.get(name="app"), now=now
    )
    assert (app.coverage.runs, app.coverage.commits) == (2, 2)
    assert app.coverage.days_without_runs == ["Tue 03 Nov", "Thu 05 Nov", "Fri 06 Nov",
                                              "Sat 07 Nov", "Sun 08 Nov"]  # fmt: skip


def _upload_twice_daily(project, start: dt.datetime, n: int, cases: str) -> None:
    """Upload run n (commit c<n>, 12 hours after run n-1) holding the testcases `cases`."""
    import io

    from ingest.services import UploadMeta, run_create, run_parse

    meta = UploadMeta(commit=f"c{n:03d}", branch="main", build_id=str(n),
                      started_at=start + dt.timedelta(hours=12 * n))  # fmt: skip
    document = f'<testsuite name="s">{cases}</testsuite>'.encode()
    run_parse(run_id=run_create(project=project, meta=meta,
                                files=[("r.xml", io.BytesIO(document))]).run.pk)  # fmt: skip


def test_a_speed_up_found_in_a_later_week_is_reported_in_its_own_week(db):
    """A speed-up needs commits after it to be found: one at the end of a week is found by the
    next week's computation. The report of its own week lists it, and a report of that week
    generated before is marked stale by the computation that found it."""
    from ingest.services import project_create
    from reports.models import Report
    from reports.report_services import report_generate
    from reports.services import project_recompute
    from reports.weekly import weekly_report_build

    project = project_create(slug="speedup", name="Speed-up")
    week = dt.date(2026, 11, 2)  # 2026-W45
    start = dt.datetime.combine(week, dt.time(9), tzinfo=dt.UTC) - dt.timedelta(days=7)

    def upload(n: int, seconds: float) -> None:
        _upload_twice_daily(project, start, n,
                            f'<testcase classname="m" name="slow" time="{seconds:.3f}"/>'
                            '<testcase classname="m" name="other" time="0.010"/>')  # fmt: skip

    # Two runs a day at about 1 s from the Monday before, then 0.2 s from the week's Sunday.
    change = 26  # 13 days after the start: Sunday 8 November
    for n in range(change):
        upload(n, 1.0 + 0.01 * (n % 5))
    upload(change, 0.2)
    project_recompute(project_id=project.pk)
    stored = report_generate(project=project, week=week, fmt="md")
    assert weekly_report_build(project=project, week=week).improvements == []

    for n in range(change + 1, change + 9):  # the week after: the speed-up is found
        upload(n, 0.2 + 0.01 * (n % 5))
    project_recompute(project_id=project.pk, since=week + dt.timedelta(weeks=1))

    stored = Report.objects.get(pk=stored.pk)
    assert stored.stale, "the computation that found the speed-up leaves the report as it was"
    items = weekly_report_build(project=project, week=week).improvements
    assert [(i.test.name.rsplit(":", 1)[-1], i.commit) for i in items] == [
        ("slow", f"c{change:03d}")
    ]
    assert items[0].ratio is not None and items[0].ratio < 0.5
    later = weekly_report_build(project=project, week=week + dt.timedelta(weeks=1)).improvements
    assert later == []


def test_a_speed_up_stays_in_its_weeks_report_when_later_windows_no_longer_see_it(db):
    """A window starting inside the speed-up's week holds too few points before it to find it
    again: what an earlier window found is still reported."""
    from ingest.services import project_create
    from reports.services import project_recompute
    from reports.weekly import weekly_report_build

    project = project_create(slug="speedup-kept", name="Speed-up kept")
    week = dt.date(2026, 11, 2)  # 2026-W45
    start = dt.datetime.combine(week, dt.time(9), tzinfo=dt.UTC) - dt.timedelta(days=7)
    change = 17  # Tuesday 3 November, 21:00
    for n in range(change + 50):  # to the end of W48
        seconds = (1.0 if n < change else 0.2) + 0.01 * (n % 5)
        _upload_twice_daily(project, start, n,
                            f'<testcase classname="m" name="slow" time="{seconds:.3f}"/>'
                            '<testcase classname="m" name="other" time="0.010"/>')  # fmt: skip
    project_recompute(project_id=project.pk)
    items = weekly_report_build(project=project, week=week).improvements
    assert [(i.test.name.rsplit(":", 1)[-1], i.commit) for i in items] == [
        ("slow", f"c{change:03d}")
    ]


def test_reports_go_stale_when_a_regression_enters_them_and_not_otherwise(db):
    """A regression beginning on Sunday night of W45 is confirmed by W46's computation: the W45
    report, made before, now lacks it and is marked stale (W44's is not). Another failure only
    adds to its count; its fix in W47 leaves W45 and W46 as they were (open at their end): no
    past report is marked for either."""
    from ingest.services import project_create
    from reports.models import Finding, Report
    from reports.report_services import report_generate, reports_regenerate_stale
    from reports.services import project_recompute

    project = project_create(slug="fixlater", name="Fixed later")
    w44 = dt.date(2026, 10, 26)
    w45, w46, w47 = (w44 + dt.timedelta(weeks=k) for k in (1, 2, 3))
    start = dt.datetime.combine(w44, dt.time(9), tzinfo=dt.UTC)  # run n: 12 hours after run n-1
    ok = '<testcase classname="m" name="other"/>'

    def upload(runs: range, passing: bool) -> None:
        broken = "" if passing else "<failure message='boom'/>"
        for n in runs:
            _upload_twice_daily(project, start, n,
                                f'<testcase classname="m" name="t">{broken}</testcase>{ok}')  # fmt: skip

    upload(range(27), True)  # W44 and W45 to Sunday morning
    upload(range(27, 28), False)  # Sunday 8 November, 21:00: one failure, unconfirmed
    project_recompute(project_id=project.pk)
    assert not Finding.objects.filter(project=project, kind="regression").exists()
    reports = {w: report_generate(project=project, week=w, fmt="md").pk for w in (w44, w45)}

    def stale() -> list[dt.date]:
        return sorted(Report.objects.filter(pk__in=reports.values(), stale=True)
                      .values_list("week", flat=True))  # fmt: skip

    upload(range(28, 42), False)  # W46: failing
    project_recompute(project_id=project.pk, since=w46)
    regression = Finding.objects.get(project=project, kind="regression")
    assert (regression.week, regression.status) == (w45, "open")
    assert stale() == [w45]
    assert reports_regenerate_stale(project_id=project.pk, week=w45) == 1
    remade = bytes(Report.objects.get(pk=reports[w45]).content).decode()
    assert "1 new regression" in remade
    reports[w46] = report_generate(project=project, week=w46, fmt="md").pk

    upload(range(42, 45), False)  # W47 to Tuesday morning: the episode's count, not its status
    project_recompute(project_id=project.pk, since=w47)
    assert stale() == []
    upload(range(45, 52), True)  # passing again from Tuesday evening
    project_recompute(project_id=project.pk, since=w47)
    fixed = Finding.objects.get(project=project, kind="fixed")
    assert (fixed.week, Finding.objects.get(pk=regression.pk).status) == (w47, "resolved")
    assert stale() == []
    w46_report = bytes(Report.objects.get(pk=reports[w46]).content).decode()
    assert "1 earlier regression still open" in w46_report


def test_a_markdown_report_viewed_as_html_escapes_uploaded_text() -> None:
    from reports.render import markdown_html

    html = markdown_html(
        "| Test | Evidence |\n|---|---|\n| `<script>x</script>` | <img src=x onerror=1> |\n\n"
        "[run](http://example.com/p/x/runs/1/) [bad](javascript:alert(1))"
    )
    assert "<script>" not in html and "<img" not in html
    assert "<code>&lt;script&gt;x&lt;/script&gt;</code>" in html and "<table>" in html
    assert '<a href="http://example.com/p/x/runs/1/">run</a>' in html
    assert "javascript:" not in html


def test_the_report_ranks_as_the_pages_do_zero_before_unknown_then_service_test_and_id() -> None:
    from ingest.models import Service, Test
    from reports.models import Finding
    from reports.weekly import _ranked

    cache, plex = Service(name="cache"), Service(name="plex")

    def regression(pk: int, failures: object, service: Service, test: str) -> Finding:
        return Finding(pk=pk, kind="regression", evidence={"failures": failures}, service=service,
                       test=Test(name=test, classname="Z" if pk % 2 else "A"))  # fmt: skip

    ranked = _ranked(
        [
            regression(1, None, cache, "a"),
            regression(2, 0, plex, "a"),
            regression(3, 5, plex, "b"),
            regression(4, 5, cache, "z"),
            regression(5, 5, cache, "b"),
            regression(6, 5, cache, "b"),
        ]
    )
    assert [f.pk for f in ranked] == [5, 6, 4, 3, 2, 1]
