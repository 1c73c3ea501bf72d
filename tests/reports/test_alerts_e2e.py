"""Alerts end to end: a simulated CI history uploaded through the API, a real Celery worker,
a real SMTP server and a real webhook receiver; held to the simulator's planted truth.

  - exactly one regression alert per planted regression per subscriber, naming the test, the
    first failing commit and the links; a recovery only to subscribers of `fixed`;
  - no alert about a test with nothing planted (cascade followers included), none from an
    outage run, and a weekly kind told once per streak, not every week;
  - several findings opening in one recompute arrive as one digest;
  - the webhook signature verifies with the recipe of docs/alerts.md;
  - a worker killed after the SMTP server accepted a message but before the delivery was marked
    sent, and the task run again, never produce a second email.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import time
from collections import Counter, defaultdict
from dataclasses import replace

import pytest

from ingest.models import Run, Test
from ingest.services import project_create, service_get_or_create, token_create
from reports.models import AlertDelivery, Finding, Subscription
from reports.subscriptions import subscription_create
from tests.reports.receivers import Mail, SmtpSink, WebhookSink
from tests.reports.test_metrics_e2e import Api
from tests.simulation import Recipe, ServiceSpec, SimConfig, simulate
from tests.workers import Worker, purge_broker, wait_for

SITE = "https://suitehealth.example.com"
# Three small services holding what alerts are about: a regression that stays, one that gets
# fixed, a slowdown, a cascade with its followers, flaky tests and two outage-hit CI runs.
CONFIG = SimConfig.test(
    seed=0,
    weeks=4,
    commits_per_weekday=3.0,
    feature_branches_per_week=0.5,
    outages=2,
    services=(
        ServiceSpec("jwt", "go", "junit", False, 16, 1, 0,
                    Recipe(flaky=1, regressions=1, slowdowns=1, added=0, removed=0)),
        ServiceSpec("cache", "pytest", "junit", False, 16, 2, 0,
                    Recipe(flaky=1, fixed_regressions=1, added=0, removed=0)),
        ServiceSpec("plex", "pytest", "ctrf", False, 16, 2, 1,
                    Recipe(flaky=1, cascades=1, added=0, removed=0)),
    ),
)  # fmt: skip

# One item of an email's text body (templates/emails/_item-text.html).
ITEM = re.compile(
    r"^(?:\d+\. )?(?P<title>[A-Z][A-Za-z -]+?)(?: \(fails on every attempt\))? — (?P<service>\S+)\n"
    r"Test: (?P<test>.+)$",
    re.M,
)


def _items(mails: list[Mail]) -> list[dict[str, str]]:
    out = []
    for m in mails:
        for match in ITEM.finditer(m.text):
            out.append({**match.groupdict(), "text": m.text, "html": m.html})
    return out


def _verify(secret: str, header: str, body: bytes, tolerance: int = 300) -> bool:
    """docs/alerts.md's verification recipe."""
    fields = dict(part.split("=", 1) for part in header.split(","))
    timestamp = int(fields["t"])
    if abs(time.time() - timestamp) > tolerance:
        return False
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(mac, fields["v1"])


def _upload_weeks(api: Api, slug: str, runs) -> None:
    """Upload week by week and let each week settle, as CI would over a month."""
    by_week: dict[str, list] = defaultdict(list)
    for run in runs:
        by_week[_week(run.started_at)].append(run)
    for week in sorted(by_week):
        for run in by_week[week]:
            status, body = api.upload({**run.form_fields(), "project": slug}, run.files)
            assert status == 202, body
        wait_for(lambda: api.get(f"/api/v1/projects/{slug}/status")["pending"] == 0,
                 timeout=240, what=f"week {week} settled")  # fmt: skip


def _week(started_at: str) -> str:
    started = dt.datetime.fromisoformat(started_at.replace("Z", "+00:00")).astimezone(dt.UTC)
    year, week, _ = started.isocalendar()
    return f"{year}-W{week:02d}"


def _deliveries_done() -> bool:
    return not AlertDelivery.objects.filter(status__in=["pending", "sending"]).exists()


def _test_name(service: str, test) -> str:
    row = Test.objects.get(service__name=service, file=test.file, name=test.name)
    return str(row)


@pytest.mark.timeout(420)
def test_alerts_follow_the_planted_truth(transactional_db, served_only, live_server, tmp_path):
    history = simulate(CONFIG)
    truth = history.truth
    purge_broker()
    project = project_create(slug="mediaserver", name="Media server")
    api = Api(live_server.url, token_create(project=project)[1])
    service_get_or_create(project=project, name="jwt")
    with SmtpSink() as smtp, WebhookSink() as hooks:
        team, _ = subscription_create(project=project, target="team@example.com")
        oncall, _ = subscription_create(
            project=project, target="jwt@example.com", service="jwt", kinds=["regression"]
        )
        everything, _ = subscription_create(
            project=project, target="all@example.com", kinds=list(Subscription.KINDS)
        )
        hook, _ = subscription_create(project=project, target=hooks.url("/alerts"))
        with Worker(
            log_path=tmp_path / "worker.log",
            EMAIL_URL=smtp.url,
            SITE_URL=SITE,
            SUITEHEALTH_RECOMPUTE_DELAY_SECONDS="3",
        ) as worker:
            _upload_weeks(api, "mediaserver", history.runs)
            wait_for(_deliveries_done, timeout=60,
                     what=f"alerts sent; worker log tail:\n{worker.log()[-3000:]}")  # fmt: skip
        # Sent, or cancelled because a later recompute of the same week withdrew its finding
        # before the message went (a race with the worker's queue; what was heard is held to the
        # truth below).
        failed = list(
            AlertDelivery.objects.exclude(status="sent")
            .exclude(status="cancelled", error="finding withdrawn before sending")
            .values_list("status", "error")
        )
        assert not failed, failed

        regressions = {
            _test_name(s, t): (s, t) for s, t, _ in truth.expected_findings("regression")
        }
        allowed_regressions = {
            _test_name(s, t) for s, t, _ in truth.allowed_findings("regression")
        } | set(regressions)
        fixed = {_test_name(s, t) for s, t, _ in truth.expected_findings("fixed")}
        assert regressions and fixed, "the simulator planted nothing to alert on"
        planted_commit = {
            _test_name(p.service, p.test): p.from_commit for p in truth.planted_of("regression")
        }

        # --- team@: the defaults (regression, duration_regression, fixed), all services.
        team_items = _items(smtp.to("team@example.com"))
        told = Counter((i["title"], i["test"]) for i in team_items)
        for name, (service, _) in regressions.items():
            assert told[("Regression", name)] == 1, (name, told)
            item = next(i for i in team_items if i["test"] == name and i["title"] == "Regression")
            finding = Finding.objects.get(kind="regression", test__name=name.split("::")[-1],
                                          service__name=service)  # fmt: skip
            commit = finding.evidence["first_failing_commit"]
            assert commit == planted_commit[name]
            for body in (item["text"], item["html"]):
                assert commit[:12] in body
                assert f"{SITE}/p/mediaserver/t/{finding.test_id}/" in body
                assert f"{SITE}/p/mediaserver/t/{finding.test_id}/#finding-{finding.pk}" in body
        assert {t for (title, t) in told if title == "Regression"} <= allowed_regressions
        assert all(n == 1 for n in told.values()), told
        for name in fixed:
            assert told[("Fixed", name)] == 1, (name, told)
        slowdowns = {_test_name(s, t) for s, t, _ in truth.expected_findings("duration_regression")}
        allowed_slow = {
            _test_name(s, t) for s, t, _ in truth.allowed_findings("duration_regression")
        }
        assert (
            slowdowns
            <= {t for (title, t) in told if title == "Slowdown"}
            <= allowed_slow | slowdowns
        )
        assert {title for title, _ in told} <= {"Regression", "Fixed", "Slowdown"}

        # --- jwt@: regressions of jwt only; no recovery, no other service.
        oncall_items = _items(smtp.to("jwt@example.com"))
        assert Counter((i["title"], i["test"]) for i in oncall_items) == Counter(
            ("Regression", name) for name, (s, _) in regressions.items() if s == "jwt"
        )

        # --- Nothing about noise, from anyone: cascade followers, polluters, outage runs.
        everything_items = _items(smtp.to("all@example.com"))
        stored = {(t.service.name, t.file, t.name) for t in Test.objects.select_related("service")}
        noise = {_test_name(s, t) for s, t in truth.noise_tests if (s, t.file, t.name) in stored}
        followers = {
            _test_name(p.service, f) for p in truth.planted_of("cascade") for f in p.related
        }
        assert followers & noise  # followers with nothing planted of their own
        for item in team_items + oncall_items + everything_items:
            assert item["test"] not in noise, item["title"] + " " + item["test"]
        outage_runs = {
            pk
            for sim in history.runs
            if sim.outage
            for pk in Run.objects.filter(build_id=sim.build_id, job=sim.job).values_list(
                "pk", flat=True
            )
        }
        assert outage_runs
        assert not AlertDelivery.objects.filter(
            finding__first_run__in=outage_runs, kind="regression"
        )

        # --- A weekly kind is told once per streak: never in two adjacent weeks for one test.
        weekly = defaultdict(list)
        for d in AlertDelivery.objects.filter(
            subscription=everything, kind__in=Finding.WEEKLY_KINDS
        ):
            weekly[(d.kind, d.test_id, d.related_test_id)].append(d.event_at)
        assert weekly, "all@ heard of no flaky test or cascade"
        for subject, times in weekly.items():
            times.sort()
            assert all(
                b - a > dt.timedelta(days=7) for a, b in zip(times, times[1:], strict=False)
            ), subject
        assert Counter(i["title"] for i in everything_items)["Cascade"] >= 1

        # --- Several findings opening in one recompute arrive as one digest.
        batches = Counter(
            AlertDelivery.objects.filter(subscription=everything).values_list("batch", flat=True)
        )
        assert max(batches.values()) >= 2
        digests = [
            m for m in smtp.to("all@example.com") if re.search(r"\] \d+ alerts: ", m.subject)
        ]
        assert len(digests) == sum(1 for n in batches.values() if n >= 2)
        assert len(smtp.to("all@example.com")) == len(batches)

        # --- The webhook: signed, one POST per batch, the same regressions as team@.
        assert len(hooks.hooks) == len(
            set(AlertDelivery.objects.filter(subscription=hook).values_list("batch", flat=True))
        )
        hook_regressions = Counter()
        for h in hooks.hooks:
            assert _verify(hook.secret, h.headers["X-Suitehealth-Signature"], h.body)
            payload = json.loads(h.body)
            assert payload["text"].startswith("[mediaserver] ")
            for alert in payload["alerts"]:
                if alert["finding"]["kind"] == "regression":
                    hook_regressions[alert["test"]["name"]] += 1
                    assert (
                        alert["first_failing_run"]["commit"]
                        == planted_commit[alert["test"]["name"]]
                    )
        assert hook_regressions == Counter(
            t for (title, t) in told.elements() if title == "Regression"
        )


KILL_CONFIG = replace(
    CONFIG,
    weeks=2,
    outages=0,
    services=(
        ServiceSpec(
            "jwt",
            "go",
            "junit",
            False,
            12,
            1,
            0,
            Recipe(flaky=0, regressions=1, added=0, removed=0),
        ),
    ),  # fmt: skip
)


@pytest.mark.timeout(240)
def test_a_worker_killed_mid_send_or_a_task_run_twice_never_sends_twice(
    transactional_db, served_only, live_server, tmp_path, settings
):
    from reports.alerts import alert_deliveries_sweep
    from reports.tasks import alert_send

    history = simulate(KILL_CONFIG)
    assert history.truth.expected_findings("regression")
    purge_broker()
    project = project_create(slug="mediaserver")
    api = Api(live_server.url, token_create(project=project)[1])
    subscription_create(project=project, target="team@example.com", kinds=["regression"])
    with SmtpSink() as smtp:
        worker = Worker(log_path=tmp_path / "first.log", EMAIL_URL=smtp.url,
                        SUITEHEALTH_RECOMPUTE_DELAY_SECONDS="1")  # fmt: skip
        # The SMTP server has the whole message when the worker dies: sent, never marked.
        smtp.on_message = lambda mail: worker.kill()
        try:
            for run in history.runs:
                status, body = api.upload(
                    {**run.form_fields(), "project": "mediaserver"}, run.files
                )
                assert status == 202, body
            wait_for(lambda: smtp.mails, timeout=120, what="the alert reached the SMTP server")
            wait_for(lambda: worker.proc.poll() is not None, timeout=20, what="the worker died")
        finally:
            worker.kill()
        smtp.on_message = None
        [delivery] = AlertDelivery.objects.all()
        assert delivery.status == "sending"

        # A new worker; the batch's message delivered again, twice (acks_late redelivers it
        # after the visibility timeout; here it is sent again at once).
        with Worker(log_path=tmp_path / "second.log", EMAIL_URL=smtp.url) as second:
            alert_send.delay(str(delivery.batch))
            alert_send.delay(str(delivery.batch))
            done = re.compile(r"reports\.alert_send\[[^\]]+\] succeeded")
            wait_for(lambda: len(done.findall(second.log())) >= 2, timeout=60,
                     what="both deliveries of the task ran")  # fmt: skip
        settings.CELERY_TASK_TIME_LIMIT = 0  # the sender of a `sending` row is surely dead
        assert alert_deliveries_sweep(older_than_seconds=0)[1] == 1
        delivery.refresh_from_db()
        assert delivery.status == "failed" and "interrupted" in delivery.error
        assert len(smtp.to("team@example.com")) == 1
