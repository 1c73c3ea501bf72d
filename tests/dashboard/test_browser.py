"""The pages in a real headless Chromium: log in, open every page, check that every chart drew
all its traces, follow a chart point and a number to their evidence, and meet a 404 for another
team's project. Each page is saved as a 1440-pixel-wide PNG under var/screenshots/, or under
the directory SCREENSHOTS_DIR names (`SCREENSHOTS_DIR=docs/screenshots` refreshes the README's).

Needs Debian's `chromium` and `chromium-driver` (`bash .ci/browser` installs them); skipped with
the reason when they are missing. The server is a LiveServerThread reading the package's
committed data (see conftest.py), not pytest-django's live_server, which would flush it.
"""

from __future__ import annotations

import base64
import os
import shutil
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from tests.dashboard.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db]

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / (os.environ.get("SCREENSHOTS_DIR") or "var/screenshots")
WIDTH = 1440
WAIT = 20  # seconds; plotly.js draws in well under one


@pytest.fixture(scope="module")
def server(dataset):
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.db import connections
    from django.test.testcases import LiveServerThread

    # An in-memory SQLite database (embedded mode) exists in this thread's connection only.
    shared = {c.alias: c for c in connections.all() if c.vendor == "sqlite" and c.is_in_memory_db()}
    for conn in shared.values():
        conn.inc_thread_sharing()
    thread = LiveServerThread("127.0.0.1", StaticFilesHandler, connections_override=shared, port=0)
    thread.daemon = True
    thread.start()
    thread.is_ready.wait()
    if thread.error:
        raise thread.error
    yield f"http://127.0.0.1:{thread.port}"
    thread.terminate()
    for conn in shared.values():
        conn.dec_thread_sharing()


@pytest.fixture(scope="module")
def browser(server):
    # Depends on the server so that it quits first: no request is left in flight at shutdown.
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not shutil.which(p)]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed: run `bash .ci/browser` (apt-get)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-dev-shm-usage", f"--window-size={WIDTH},1000", "--force-device-scale-factor=1",
        "--hide-scrollbars",
    ):  # fmt: skip
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def signed_in(browser, server, dataset):
    """The browser, signed in as the member of the simulated projects."""
    from selenium.webdriver.common.by import By

    browser.get(f"{server}/p/{dataset.sim.slug}/")
    assert urlparse(browser.current_url).path == "/login/"
    _screenshot(browser, "login")
    browser.find_element(By.NAME, "username").send_keys("member")
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    _wait(browser, lambda d: urlparse(d.current_url).path == f"/p/{dataset.sim.slug}/")
    return browser


# --- helpers ------------------------------------------------------------------------------------


def _wait(driver, condition, timeout: float = WAIT):
    """Wait for `condition`, asking again while the page it looks at is being replaced: an
    element found on the old page goes stale or is not there yet, which is no answer."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(
        driver, timeout, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)
    ).until(condition)


def _loaded(driver) -> bool:
    return driver.execute_script("return document.readyState") == "complete"


# Plotly draws one group per trace: g.trace for scatter and bar traces, g.hm for a heatmap.
_COUNT_TRACES = """
const el = arguments[0];
return el.querySelectorAll(
  '.main-svg .scatterlayer > .trace, .main-svg .barlayer > .trace, .main-svg .heatmaplayer > .hm'
).length;
"""


def _charts(driver) -> dict[str, tuple[int, int]]:
    """Every chart of the page, once drawn: id -> (traces in the figure, traces in the SVG)."""
    from selenium.webdriver.common.by import By

    charts = driver.find_elements(By.CSS_SELECTOR, "[data-figure]")
    _wait(driver, lambda d: all(c.get_attribute("data-rendered") == "true" for c in charts))
    out = {}
    for chart in charts:
        expected = int(chart.get_attribute("data-expected-traces"))
        drawn = driver.execute_script(_COUNT_TRACES, chart)
        out[chart.get_attribute("data-figure")] = (expected, drawn)
    return out


def _assert_charts(driver, *names: str) -> dict[str, tuple[int, int]]:
    charts = _charts(driver)
    for name in names:
        assert f"fig-{name}" in charts, (name, sorted(charts))
    for name, (expected, drawn) in charts.items():
        assert expected > 0 and drawn == expected, (name, expected, drawn)
    return charts


def _in_view(driver, element) -> bool:
    return driver.execute_script(
        "var r = arguments[0].getBoundingClientRect();"
        "return r.top >= 0 && r.bottom <= window.innerHeight;",
        element,
    )


def _screenshot(driver, name: str) -> Path:
    """The whole page, WIDTH pixels wide, as Chromium lays it out (DevTools capture beyond the
    viewport, so charts keep the size they were drawn at)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    driver.execute_script("window.scrollTo(0, 0)")
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": WIDTH, "height": min(size["height"], 8000),
                     "scale": 1},
        },
    )  # fmt: skip
    path = SCREENSHOTS / f"{name}.png"
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


def _click_point(driver, figure: str, css: str = ".scatterlayer .trace .points path") -> None:
    """Click a drawn point of a chart as a person would: move the mouse onto it (plotly finds
    the point under the cursor) and click."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    chart = driver.find_element(By.CSS_SELECTOR, f'[data-figure="{figure}"]')
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", chart)
    point = chart.find_elements(By.CSS_SELECTOR, css)[-1]
    ActionChains(driver).move_to_element(point).pause(0.3).click().perform()


def _click_cell(driver, figure: str, column: int, row: int) -> None:
    """Click one cell of a heatmap (0-based column and row) with the mouse."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    chart = driver.find_element(By.CSS_SELECTOR, f'[data-figure="{figure}"]')
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", chart)
    image = chart.find_element(By.CSS_SELECTOR, ".heatmaplayer .hm image")
    columns, rows = driver.execute_script(
        "return [arguments[0].data[0].x.length, arguments[0].data[0].y.length]", chart
    )
    width, height = image.size["width"], image.size["height"]
    x = int((column + 0.5) * width / columns - width / 2)
    y = int((row + 0.5) * height / rows - height / 2)
    ActionChains(driver).move_to_element_with_offset(image, x, y).pause(0.3).click().perform()


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}


# --- the walk -----------------------------------------------------------------------------------


def test_it_draws_the_overview_heatmaps(signed_in, server, dataset):
    from selenium.webdriver.common.by import By

    driver = signed_in
    driver.get(f"{server}/")
    charts = _assert_charts(driver, f"heat-{dataset.sim.slug}", f"heat-{dataset.one.slug}")
    assert charts[f"fig-heat-{dataset.sim.slug}"] == (1, 1)
    # Only the member's projects: not the other team's.
    assert f"heat-{dataset.other.slug}" not in driver.page_source
    _screenshot(driver, "overview")
    # A heatmap cell leads to the runs that cost the week isolation points.
    # (the last week's first service)
    columns = driver.execute_script(
        "return document.querySelector(arguments[0]).data[0].x.length",
        f'[data-figure="fig-heat-{dataset.sim.slug}"]',
    )
    _click_cell(driver, f"fig-heat-{dataset.sim.slug}", columns - 1, 0)
    _wait(driver, lambda d: "/runs/" in d.current_url)
    query = _query(driver.current_url)
    assert query["unclean"] == "1" and query["service"] and query["week"]
    assert driver.find_elements(By.CSS_SELECTOR, "table.runs tbody tr")


def test_a_narrow_screen_keeps_the_navigation_and_the_week_labels_readable(
    signed_in, server, dataset
):
    from selenium.webdriver.common.by import By

    driver = signed_in
    size = driver.get_window_size()
    driver.set_window_size(420, 900)  # Chromium keeps a minimum width of about 500 pixels
    try:
        driver.get(f"{server}/p/{dataset.sim.slug}/")
        _assert_charts(driver, "pass-rate")
        width = driver.execute_script("return document.documentElement.clientWidth")
        links = driver.find_elements(By.CSS_SELECTOR, ".mainnav a, .account button")
        assert len(links) >= 5
        for link in links:
            assert link.rect["x"] + link.rect["width"] <= width, link.text
        ticks = [
            t.text
            for t in driver.find_elements(
                By.CSS_SELECTOR, "[data-figure=fig-pass-rate] .xtick text"
            )
        ]
        assert ticks and all(t.startswith("W") for t in ticks), ticks  # "W42", not "2026-W42"
    finally:
        driver.set_window_size(size["width"], size["height"])


def test_it_draws_the_project_trends_and_links_a_point_to_its_runs(signed_in, server, dataset):
    from selenium.webdriver.common.by import By

    from reports.models import ServiceWeek

    driver = signed_in
    driver.get(f"{server}/p/{dataset.sim.slug}/")
    charts = _assert_charts(driver, "pass-rate", "isolation", "causes", "durations", "runs")
    services = 5
    # Two lines a service, and the legend entry of the diamond when a week had outage runs.
    outages = any(
        (sw.metrics or {}).get("outage_runs")
        for sw in ServiceWeek.objects.filter(service__project=dataset.sim)
    )
    traces = 2 * services + (1 if outages else 0)
    assert charts["fig-pass-rate"] == (traces, traces)
    legend = driver.execute_script(
        "return document.querySelector('[data-figure=\"fig-pass-rate\"]').data.map(t => t.name)"
    )
    assert ("week with infra-outage runs" in legend) == outages
    assert charts["fig-runs"] == (services, services)
    assert driver.find_elements(By.CSS_SELECTOR, "#findings table tbody tr")
    _screenshot(driver, "project")

    _click_point(driver, "fig-pass-rate")
    _wait(driver, lambda d: "/runs/" in d.current_url)
    query = _query(driver.current_url)
    assert set(query) == {"service", "week"}, query
    rows = driver.find_elements(By.CSS_SELECTOR, "table.runs tbody tr")
    assert rows, "the pass rate's runs are listed"


def test_it_links_an_isolation_score_to_the_unclean_runs(signed_in, server, dataset):
    from selenium.webdriver.common.by import By

    driver = signed_in
    driver.get(f"{server}/p/{dataset.sim.slug}/")
    score = driver.find_element(By.CSS_SELECTOR, "a.score")
    label = score.text
    score.click()
    _wait(driver, lambda d: "unclean=1" in d.current_url and _loaded(d))
    causes = driver.find_elements(By.CSS_SELECTOR, "table.runs tbody tr td:last-child .badge")
    if label != "100.0":
        assert causes, "an isolation score below 100 lists the runs that cost it"


def test_it_shows_a_service_with_its_order_dependent_evidence(signed_in, server, dataset):
    from selenium.webdriver.common.by import By

    driver = signed_in
    week = _week_with(dataset.sim, "order_dependent", "cache")
    driver.get(f"{server}/p/{dataset.sim.slug}/s/cache/?week={week}")
    _assert_charts(driver, "pass-rate", "isolation", "causes", "runs", "durations", "wall-clock")
    pair = driver.find_element(By.CSS_SELECTOR, "article.pair")
    assert "pytest " in pair.find_element(By.CSS_SELECTOR, ".repro code").text
    assert "-p no:randomly" in pair.text
    _screenshot(driver, "service")
    # The 2x2's "failed after the polluter" count lists exactly those runs, each with the
    # victim's first attempt.
    cell = pair.find_element(By.CSS_SELECTOR, "table.twobytwo tbody tr td a")
    expected = int(cell.text)
    cell.click()
    _wait(driver, lambda d: "cell=a" in d.current_url and _loaded(d))
    assert len(driver.find_elements(By.CSS_SELECTOR, "table.runs tbody tr")) == expected


def test_it_marks_a_change_point_and_links_it_to_the_finding(signed_in, server, dataset):
    from selenium.webdriver.common.by import By

    from reports.models import Finding

    driver = signed_in
    finding = Finding.objects.filter(project=dataset.sim, kind="duration_regression").first()
    assert finding is not None, "the simulator plants slowdowns"
    driver.get(f"{server}/p/{dataset.sim.slug}/t/{finding.test_id}/")
    charts = _assert_charts(driver, "timeline", "duration")
    assert charts["fig-duration"][0] >= 2  # durations and the change-point markers
    _screenshot(driver, "test")
    # The change point (the last trace's diamond) leads to the finding's evidence on the page.
    _click_point(driver, "fig-duration", ".scatterlayer .trace:last-child .points path")
    _wait(driver, lambda d: urlparse(d.current_url).fragment == f"finding-{finding.pk}")
    assert driver.find_element(By.ID, f"finding-{finding.pk}").is_displayed()
    # A timeline point opens its run.
    _click_point(driver, "fig-timeline")
    _wait(driver, lambda d: "/runs/" in d.current_url)
    assert driver.find_elements(By.CSS_SELECTOR, "#results table tbody tr")


def test_it_lists_runs_and_shows_one_in_execution_order(signed_in, server, dataset):
    from selenium.webdriver.common.by import By

    from ingest.models import Run

    driver = signed_in
    driver.get(f"{server}/p/{dataset.sim.slug}/runs/")
    assert len(driver.find_elements(By.CSS_SELECTOR, "table.runs tbody tr")) == 50
    _screenshot(driver, "runs")
    # A run where a test failed and then passed on retry (red in the execution order, both
    # attempts in the results), and not an infra outage.
    run = next(
        r for r in Run.objects.filter(project=dataset.sim).order_by("-started_at")
        if r.counts.get("flaky") and r.counts.get("failed", 0) + r.counts.get("error", 0) <= 3
    )  # fmt: skip
    driver.get(f"{server}/p/{dataset.sim.slug}/runs/{run.pk}/")
    _assert_charts(driver, "order")
    _screenshot(driver, "run")
    # The failed count lists the failed tests.
    link = driver.find_element(By.XPATH, "//a[@class='count'][.//span[text()='failed']]")
    failed = int(link.find_element(By.CSS_SELECTOR, ".count-value").text)
    link.click()
    _wait(driver, lambda d: "outcome=failed" in d.current_url and _loaded(d))
    assert len(driver.find_elements(By.CSS_SELECTOR, "#results table tbody tr")) == failed


@pytest.fixture(scope="module")
def alert_history(dataset, django_db_blocker):
    """Alerts the settings page can show, committed for the server thread: team@ received
    three alerts from the real pipeline; oncall@'s mail server refused one for good."""
    from django.test import override_settings

    from ingest.models import Service
    from reports.alerts import alert_batch_send
    from reports.models import Subscription
    from reports.subscriptions import subscription_create
    from tests.dashboard.conftest import alert_ledger
    from tests.reports.receivers import SmtpSink

    with django_db_blocker.unblock(), SmtpSink() as smtp:
        sent = [
            delivery
            for kind in ("regression", "duration_regression", "fixed")
            for delivery in alert_ledger(
                dataset.sim, deliveries=1, pending=True, target="team@example.com", kind=kind
            )
        ]
        [refused] = alert_ledger(
            dataset.sim, deliveries=1, pending=True, target="oncall@example.com",
            kind="order_dependent", service="cache",
        )  # fmt: skip
        # oncall@ hears about cache only, three kinds (the same target again updates it).
        subscription_create(
            project=dataset.sim, target="oncall@example.com",
            kinds=["regression", "order_dependent", "fixed"],
        )  # fmt: skip
        Subscription.objects.filter(pk=refused.subscription_id).update(
            service=Service.objects.get(project=dataset.sim, name="cache")
        )
        smtp.replies = ["550 5.1.1 <oncall@example.com>: recipient address rejected"]
        with override_settings(
            EMAIL_BACKEND="reports.smtp.EmailBackend",
            EMAIL_HOST="127.0.0.1", EMAIL_PORT=smtp.port, EMAIL_USE_TLS=False,
            EMAIL_USE_SSL=False, EMAIL_TIMEOUT=10,
        ):  # fmt: skip
            assert alert_batch_send(batch=str(refused.batch)) == 0
            assert sum(alert_batch_send(batch=str(d.batch)) for d in sent) == 3
        yield refused
        Subscription.objects.filter(project=dataset.sim).delete()


def test_it_shows_a_new_ingest_key_once(signed_in, server, dataset):
    from selenium.webdriver.common.by import By

    driver = signed_in
    driver.get(f"{server}/p/{dataset.sim.slug}/settings/")
    field = driver.find_element(By.CSS_SELECTOR, "#keys input[name=name]")
    field.clear()
    field.send_keys("github-actions")
    driver.find_element(By.CSS_SELECTOR, "#keys form.inline-form button").click()
    key = _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".new-key code.key"))[0].text
    assert key.startswith("shk_")
    driver.get(f"{server}/p/{dataset.sim.slug}/settings/")
    assert key not in driver.page_source


def test_it_manages_alerts_on_the_settings_page(signed_in, server, dataset, alert_history):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver = signed_in
    driver.get(f"{server}/p/{dataset.sim.slug}/settings/")
    # The refused delivery is announced at the top and listed with its error and a retry.
    notice = driver.find_element(By.CSS_SELECTOR, ".notice-bad")
    assert "1 alert delivery failed" in notice.text
    failed = driver.find_element(By.CSS_SELECTOR, "#failed-deliveries tbody tr")
    assert "recipient address rejected" in failed.text and "oncall@example.com" in failed.text
    assert failed.find_element(By.CSS_SELECTOR, "button").text == "Retry"
    sent = driver.find_elements(By.CSS_SELECTOR, "#alerts table.deliveries .delivery-sent")
    assert len(sent) == 3
    # A mistyped target is refused with the reason, next to the field.
    form = "#alerts form.subscribe-form"
    driver.find_element(By.CSS_SELECTOR, f"{form} input[name=target]").send_keys("ops@")
    driver.find_element(By.CSS_SELECTOR, f"{form} button[type=submit]").click()
    error = _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, f"{form} .errorlist"))
    assert "neither an email address nor an http(s) URL" in error[0].text
    assert _in_view(driver, error[0])  # the page is long: it is scrolled to the error
    # A webhook for one service and two kinds.
    target = driver.find_element(By.CSS_SELECTOR, f"{form} input[name=target]")
    target.clear()
    target.send_keys("https://hooks.slack.com/services/T0001/B0001/suitehealth")
    Select(driver.find_element(By.CSS_SELECTOR, f"{form} select[name=service]")).select_by_value(
        "jwt"
    )
    for kind in ("duration_regression", "fixed"):  # leaves regression; adds flaky
        driver.find_element(By.CSS_SELECTOR, f"{form} input[value={kind}]").click()
    driver.find_element(By.CSS_SELECTOR, f"{form} input[value=flaky]").click()
    driver.find_element(By.CSS_SELECTOR, f"{form} button[type=submit]").click()
    secret = _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#alerts .new-key code.key"))
    assert len(secret[0].text) >= 32
    # The message is told in the section the page was sent back to, in sight.
    [told] = driver.find_elements(By.CSS_SELECTOR, "#alerts .messages")
    assert "subscribed to alerts of jwt" in told.text and _in_view(driver, told)
    rows = driver.find_elements(By.CSS_SELECTOR, "#alerts table.subscriptions tbody tr")
    assert [r.find_element(By.CSS_SELECTOR, "td.target").text.split()[-1] for r in rows] == [
        "team@example.com", "oncall@example.com",
        "https://hooks.slack.com/services/T0001/B0001/suitehealth",
    ]  # fmt: skip
    assert "jwt" in rows[-1].text and "regression" in rows[-1].text and "flaky" in rows[-1].text
    _screenshot(driver, "settings")


def test_it_lists_weekly_reports_and_generates_one_from_the_page(signed_in, server, dataset):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.expected_conditions import staleness_of
    from selenium.webdriver.support.ui import Select

    from reports.models import Report, ServiceWeek

    driver = signed_in
    weeks = sorted(
        set(ServiceWeek.objects.filter(project=dataset.sim).values_list("week", flat=True))
    )
    driver.get(f"{server}/p/{dataset.sim.slug}/")
    driver.find_element(By.LINK_TEXT, "Reports").click()
    _wait(driver, lambda d: d.current_url.endswith("/reports/") and _loaded(d))
    # Two weeks from the form, one of them for one service. The task runs in the server's
    # process, as without a broker (embedded mode).
    from dashboard.celery import app

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        for week, service in ((weeks[-2], ""), (weeks[-3], ""), (weeks[-2], "cache")):
            label = ServiceWeek(week=week).week_label
            Select(driver.find_element(By.ID, "report-week")).select_by_value(label)
            Select(driver.find_element(By.ID, "report-service")).select_by_value(service)
            page = driver.find_element(By.TAG_NAME, "html")
            driver.find_element(By.CSS_SELECTOR, "#generate button").click()
            # The previous round's message names the same week: wait for the new page first.
            _wait(driver, staleness_of(page))
            _wait(
                driver,
                lambda d, label=label: label in d.find_element(By.CSS_SELECTOR, ".alert").text,
            )
            assert "report" in driver.find_element(By.CSS_SELECTOR, ".alert").text
            assert "is ready below" in driver.find_element(By.CSS_SELECTOR, ".alert").text
    finally:
        app.conf.task_always_eager = eager
    rows = driver.find_elements(By.CSS_SELECTOR, "table.reports tbody tr")
    assert len(rows) == 3
    assert Report.objects.filter(project=dataset.sim).count() == 6
    _screenshot(driver, "reports")
    # The Markdown opens as a page: its heading and tables rendered.
    driver.find_element(By.CSS_SELECTOR, "table.reports tbody tr td a[href$='/']").click()
    heading = _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".report-doc h1"))
    assert heading[0].text.startswith(f"{dataset.sim.name} — week ")
    assert driver.find_elements(By.CSS_SELECTOR, ".report-doc table td a")


def test_it_answers_not_found_for_another_teams_project(signed_in, server, dataset):
    from selenium.webdriver.common.by import By

    driver = signed_in
    driver.get(f"{server}/p/{dataset.other.slug}/")
    assert driver.find_element(By.TAG_NAME, "h1").text == "Not found"
    assert dataset.other.name not in driver.page_source


def _week_with(project, kind: str, service: str) -> str:
    from reports.models import Finding

    finding = (
        Finding.objects.filter(project=project, kind=kind, service__name=service)
        .order_by("-week")
        .first()
    )
    assert finding is not None, f"no {kind} finding in {service}"
    return finding.week_label
