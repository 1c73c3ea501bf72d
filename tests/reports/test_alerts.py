"""Alerts on real services: subscriptions, the recompute hook, the delivery ledger, the email
and webhook renderers, the unsubscribe page, the API and the commands.

Histories are small JUnit uploads stored and parsed by ingest's own services and recomputed by
reports' own recompute, in-process; messages go to a real SMTP server (aiosmtpd) and a real HTTP
receiver on 127.0.0.1. The end-to-end run with a Celery worker is test_alerts_e2e.py.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
import json
import threading
import time

import pytest
from django.core import mail, signing
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from ingest.models import Run, Service
from ingest.queueing import QueueCall
from ingest.services import UploadMeta, run_create, run_parse
from reports.alerts import (
    ALERT_SEND_ATTEMPTS,
    TransientDeliveryError,
    alert_batch_send,
    alert_delivery_list,
    alert_delivery_retry,
)
from reports.models import AlertDelivery, Finding, Subscription
from reports.services import service_week_recompute
from reports.subscriptions import (
    SubscriptionError,
    subscription_create,
    subscription_list,
    unsubscribe_url,
)
from tests.reports.receivers import WebhookSink
from tests.resultfiles import junit_xml

MONDAY = dt.datetime(2026, 11, 2, 6, 0, tzinfo=dt.UTC)  # 2026-W45
WEEK = MONDAY.date()
TESTS = 6  # test_0 .. test_5 of tests.test_api.TestApi


def _commit(i: int) -> str:
    return hashlib.sha1(f"commit {i}".encode()).hexdigest()


def _upload(project, i: int, failed: set[int], started: dt.datetime | None = None) -> Run:
    """Run i of service `api` on main, 20 minutes after run i-1, with tests `failed` failing."""
    started = started or MONDAY + dt.timedelta(minutes=20 * i)
    data = junit_xml(
        TESTS, failed=failed, prefix="tests.test_api.TestApi",
        timestamp=started.isoformat().replace("+00:00", "Z"),
    )  # fmt: skip
    meta = UploadMeta(
        commit=_commit(i), branch="main", build_id=str(i), job="test", service="api",
        started_at=started, build_url=f"https://ci.example.com/build/{i}",
    )  # fmt: skip
    run = run_create(project=project, meta=meta, files=[("results.xml", io.BytesIO(data))]).run
    run_parse(run_id=run.pk)
    return run


def _recompute(project) -> None:
    service = Service.objects.get(project=project, name="api")
    service_week_recompute(service_id=service.pk, week=WEEK, force=True)


def _send_pending() -> None:
    """What the worker does with each enqueued batch."""
    for batch in set(
        AlertDelivery.objects.filter(status="pending").values_list("batch", flat=True)
    ):
        alert_batch_send(batch=str(batch))


def _history(project, runs: range, failing: dict[int, set[int]]) -> None:
    for i in runs:
        _upload(project, i, failing.get(i, set()))


@pytest.fixture
def subscribers(project):
    """`team@` has the defaults; `oncall@` wants regressions of `api` only."""
    _upload(project, 0, set())  # creates the service
    team, _ = subscription_create(project=project, target="team@example.com")
    oncall, _ = subscription_create(
        project=project, target="oncall@example.com", service="api", kinds=["regression"]
    )
    return team, oncall


@pytest.fixture
def two_regressions(project, subscribers, settings):
    """Runs 0-4 pass; at runs 5 and 6 test_1 and test_2 fail on every attempt (confirmed)."""
    settings.SITE_URL = "https://suitehealth.example.com"
    _history(project, range(1, 7), {5: {1, 2}, 6: {1, 2}})
    _recompute(project)
    return subscribers


def _mails_to(address: str) -> list:
    return [m for m in mail.outbox if address in m.to]


# --- The recompute hook and the messages ----------------------------------------------------------


def test_it_sends_one_digest_when_two_regressions_open_in_one_recompute(
    project, two_regressions
) -> None:
    _send_pending()
    [digest] = _mails_to("team@example.com")
    [oncall] = _mails_to("oncall@example.com")
    assert digest.subject == "[mediaserver] 2 alerts: 2 × Regression"
    html = digest.alternatives[0][0]
    findings = {f.test.name: f for f in Finding.objects.filter(kind="regression")}
    assert set(findings) == {"test_1", "test_2"}
    for body in (digest.body, html, oncall.body):
        for name, finding in findings.items():
            assert f"tests.test_api.TestApi::{name}" in body
            assert f"https://suitehealth.example.com/p/mediaserver/t/{finding.test_id}/" in body
            assert (
                f"https://suitehealth.example.com/p/mediaserver/t/{finding.test_id}/"
                f"#finding-{finding.pk}" in body
            )
        assert _commit(5)[:12] in body  # first failing commit
        assert _commit(4)[:12] in body  # last passing commit
        assert "https://ci.example.com/build/5" in body  # its build
        assert "assert 1 == 2" in body  # the failure message of the first failing run
    assert "api" in digest.body and "failing runs so far" in digest.body
    url = unsubscribe_url(two_regressions[0])
    assert url in digest.body and url in html
    assert digest.extra_headers["List-Unsubscribe"] == f"<{url}>"
    assert digest.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert set(AlertDelivery.objects.values_list("status", flat=True)) == {"sent"}


def test_the_finding_link_of_a_message_opens_the_finding(
    client, project, two_regressions, settings
) -> None:
    from django.contrib.auth import get_user_model

    from reports.alerts import alert_items

    member = get_user_model().objects.create_user("member")
    project.members.add(member)
    client.force_login(member)
    deliveries = list(AlertDelivery.objects.filter(subscription=two_regressions[0]))
    for item in alert_items(deliveries):
        path, _, anchor = item.finding_url.removeprefix(settings.SITE_URL).partition("#")
        response = client.get(path)
        assert response.status_code == 200, item.finding_url
        assert f'id="{anchor}"' in response.content.decode()


@pytest.mark.parametrize("same_key", [False, True], ids=["another-key", "same-key"])
def test_a_notice_cancelled_before_sending_does_not_silence_its_replacement(
    project, two_regressions, same_key
) -> None:
    # test_1's notices were cancelled unsent: their finding was withdrawn (as a slowdown
    # re-estimated into another week is, or a weekly finding of the week in progress) before
    # the worker sent them. The finding that takes its place, under another key or the same, is
    # told: nobody heard the first.
    first = AlertDelivery.objects.filter(test__name="test_1")
    assert first.count() == 2
    first.update(status="cancelled", finding=None, error="finding withdrawn before sending")
    if not same_key:
        first.update(finding_key="withdrawn")
    Finding.objects.filter(kind="regression", test__name="test_1").delete()
    _recompute(project)
    again = AlertDelivery.objects.filter(test__name="test_1", status="pending")
    assert sorted(again.values_list("subscription__target", flat=True)) == [
        "oncall@example.com",
        "team@example.com",
    ]


def test_it_tells_nothing_new_when_the_same_data_is_recomputed(project, two_regressions) -> None:
    _send_pending()
    deliveries = AlertDelivery.objects.count()
    _recompute(project)
    _recompute(project)
    _send_pending()
    assert AlertDelivery.objects.count() == deliveries == 4  # 2 regressions x 2 subscribers
    assert len(mail.outbox) == 2


def test_it_sends_a_recovery_only_to_subscribers_of_fixed(project, two_regressions) -> None:
    _send_pending()
    mail.outbox.clear()
    # test_1 passes three times in a row (fixed at run 7); test_2 still fails.
    _history(project, range(7, 10), {7: {2}, 8: {2}, 9: {2}})
    _recompute(project)
    _send_pending()
    [fixed] = mail.outbox
    assert fixed.to == ["team@example.com"]
    assert fixed.subject == "[mediaserver] Fixed in api: tests.test_api.TestApi::test_1"
    assert _commit(7)[:12] in fixed.body  # the fixing commit
    assert _commit(5)[:12] in fixed.body  # broken since
    assert Finding.objects.get(kind="regression", test__name="test_1").status == "resolved"


# test_1 recovers at runs 7..40 and fails again at 41 and 42: a new regression episode (its last
# 30 runs hold one block of failures, so it is not flaky), 11 h 40 min after its last failure.
REOPEN = {i: {2} for i in range(7, 41)} | {41: {1, 2}, 42: {1, 2}}


def test_it_does_not_alert_again_when_a_regression_flaps_within_the_window(
    project, two_regressions
) -> None:
    _send_pending()
    _history(project, range(7, 43), REOPEN)
    _recompute(project)
    # Two episodes of test_1 in one week: the first resolved, the second open.
    first, test_1 = Finding.objects.filter(kind="regression", test__name="test_1").order_by("key")
    assert (first.status, test_1.status, test_1.first_run.commit) == (
        "resolved",
        "open",
        _commit(41),
    )
    assert test_1.key == f"{first.key}:r{test_1.first_run_id}"
    transitions = AlertDelivery.objects.filter(subscription__target="oncall@example.com")
    assert transitions.count() == 2  # the two original regressions only
    # The recovery in between is told to `fixed` subscribers, once.
    assert AlertDelivery.objects.filter(kind="fixed").count() == 1


def test_it_alerts_a_reopened_regression_outside_the_window(
    project, two_regressions, settings
) -> None:
    settings.SUITEHEALTH_ALERT_HYSTERESIS_SECONDS = 3600
    _send_pending()
    mail.outbox.clear()
    _history(project, range(7, 43), REOPEN)
    _recompute(project)
    _send_pending()
    [again] = _mails_to("oncall@example.com")
    assert again.subject == "[mediaserver] Regression in api: tests.test_api.TestApi::test_1"
    assert _commit(41)[:12] in again.body


def test_a_second_fix_of_a_test_in_the_same_week_is_told_too(
    project, two_regressions, settings
) -> None:
    settings.SUITEHEALTH_ALERT_HYSTERESIS_SECONDS = 600  # the runs are 20 minutes apart
    # test_1: fixed at runs 7-9, broken again at 26-27, fixed again at 28-30 (enough passes in
    # between that it is no flaky suspect); test_2 fixed once.
    for runs, failing in ((range(7, 10), {}), (range(10, 28), {26: {1}, 27: {1}}),
                          (range(28, 31), {})):  # fmt: skip
        _history(project, runs, failing)
        _recompute(project)  # as the workers do after each upload
    told = AlertDelivery.objects.filter(subscription__target="team@example.com")
    fixes = sorted(told.filter(kind="fixed").values_list("transition", flat=True))
    runs = {r.build_id: r.pk for r in Run.objects.all()}
    assert fixes == sorted([f"fixed:{runs['7']}", f"fixed:{runs['7']}", f"fixed:{runs['28']}"])
    assert told.filter(kind="regression").count() == 3


def test_a_late_run_that_moves_a_regressions_first_failure_tells_nothing_new(
    project, two_regressions, settings
) -> None:
    settings.SUITEHEALTH_ALERT_HYSTERESIS_SECONDS = 60  # no help from the flapping rule
    before = set(AlertDelivery.objects.values_list("subscription", "transition"))
    # Uploaded late: a run between runs 4 and 5 where test_1 already failed.
    late = _upload(project, 99, {1}, started=MONDAY + dt.timedelta(minutes=20 * 4 + 10))
    _history(project, range(7, 8), {7: {1}})
    _recompute(project)
    test_1 = Finding.objects.get(kind="regression", test__name="test_1")
    assert test_1.first_run_id == late.pk  # the episode now opens at the late run
    assert set(AlertDelivery.objects.values_list("subscription", "transition")) == before


def test_it_queues_the_sending_after_the_recompute_commits(
    project, subscribers, django_capture_on_commit_callbacks
) -> None:
    _history(project, range(1, 7), {5: {1}, 6: {1}})
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        _recompute(project)
    batches = set(AlertDelivery.objects.values_list("batch", flat=True))
    assert len(batches) == 2  # team@ and oncall@
    # One on-commit callback per batch (the recompute queues its own recomputes too).
    alert_callbacks = [
        c for c in callbacks if isinstance(c, QueueCall) and c.task.name == "reports.alert_send"
    ]
    assert len(alert_callbacks) == 2


def test_it_alerts_a_regression_once_when_a_later_recompute_confirms_it(
    project, subscribers
) -> None:
    _history(project, range(1, 6), {5: {1}})
    _recompute(project)  # one failure so far: not confirmed, not published, nothing told
    assert not Finding.objects.filter(kind="regression").exists()
    assert not AlertDelivery.objects.exists()
    _history(project, range(6, 8), {6: {1}, 7: {1}})
    _recompute(project)  # it failed again on the next commit: confirmed
    _recompute(project)
    _send_pending()
    assert [m.subject for m in _mails_to("team@example.com")] == [
        "[mediaserver] Regression in api: tests.test_api.TestApi::test_1"
    ]
    assert len(_mails_to("oncall@example.com")) == 1


def test_it_alerts_no_one_without_subscriptions(project) -> None:
    _history(project, range(0, 7), {5: {1}, 6: {1}})
    _recompute(project)
    assert Finding.objects.filter(kind="regression").exists()
    assert not AlertDelivery.objects.exists()


def test_it_does_not_alert_an_unconfirmed_regression(project, subscribers) -> None:
    _history(project, range(1, 7), {5: {1}})  # one failure, then passes: a blip
    _recompute(project)
    assert not Finding.objects.filter(kind="regression", test__name="test_1").exists()
    assert not AlertDelivery.objects.exists()


# --- Exactly once ---------------------------------------------------------------------------------


def test_it_never_sends_a_delivery_twice(project, two_regressions) -> None:
    batch = str(AlertDelivery.objects.filter(subscription=two_regressions[0]).first().batch)
    assert alert_batch_send(batch=batch) == 2
    assert alert_batch_send(batch=batch) == 0
    assert len(_mails_to("team@example.com")) == 1


def test_it_does_not_send_a_delivery_claimed_by_a_sender_that_died(
    project, two_regressions
) -> None:
    batch = AlertDelivery.objects.filter(subscription=two_regressions[0]).first().batch
    AlertDelivery.objects.filter(batch=batch).update(status="sending", claimed_at=MONDAY)
    assert alert_batch_send(batch=str(batch)) == 0
    from reports.alerts import alert_deliveries_sweep

    assert alert_deliveries_sweep(older_than_seconds=0) == (1, 2)  # oncall's batch re-enqueued
    failed = AlertDelivery.objects.filter(batch=batch)
    assert {d.status for d in failed} == {"failed"}
    assert "interrupted" in failed[0].error
    assert not _mails_to("team@example.com")


def test_it_cancels_deliveries_of_an_unsubscribed_recipient(project, two_regressions) -> None:
    team = two_regressions[0]
    Subscription.objects.filter(pk=team.pk).update(active=False)
    _send_pending()
    assert not _mails_to("team@example.com")
    assert set(
        AlertDelivery.objects.filter(subscription=team).values_list("status", flat=True)
    ) == {"cancelled"}


# --- Failures -------------------------------------------------------------------------------------


def test_it_retries_a_transient_smtp_error_and_then_sends(project, two_regressions, smtp) -> None:
    smtp.replies = ["451 4.3.0 try again later"]
    batch = str(AlertDelivery.objects.filter(subscription=two_regressions[0]).first().batch)
    with pytest.raises(TransientDeliveryError):
        alert_batch_send(batch=batch, final_attempt=False)
    rows = AlertDelivery.objects.filter(batch=batch)
    assert {(d.status, d.attempts) for d in rows} == {("pending", 1)}
    assert "451" in rows[0].error
    assert alert_batch_send(batch=batch, final_attempt=False) == 2
    [received] = smtp.to("team@example.com")
    assert "tests.test_api.TestApi::test_1" in received.text
    assert "tests.test_api.TestApi::test_1" in received.html
    assert {(d.status, d.attempts, d.error) for d in rows.all()} == {("sent", 2, "")}


def test_a_transient_error_is_tried_six_times_at_most_however_often_the_batch_is_queued(
    project, two_regressions, smtp
) -> None:
    """The sweeper may queue a batch again while a retry of its task waits: each message then
    counts its own retries. The limit is on the rows: the sixth send fails them for good."""
    smtp.replies = ["451 4.3.0 try again later"] * 10
    batch = str(AlertDelivery.objects.filter(subscription=two_regressions[0]).first().batch)
    raised = 0
    for _ in range(8):  # as many messages as the sweeper and retries could bring, none final
        try:
            alert_batch_send(batch=batch, final_attempt=False)
        except TransientDeliveryError:
            raised += 1
    rows = AlertDelivery.objects.filter(batch=batch)
    assert raised == ALERT_SEND_ATTEMPTS - 1 == 5
    assert {(d.status, d.attempts) for d in rows} == {("failed", ALERT_SEND_ATTEMPTS)}
    assert "451" in rows[0].error
    assert len(smtp.replies) == 10 - ALERT_SEND_ATTEMPTS and not smtp.mails
    # A retry from the settings page starts a new round of six, not one last send.
    assert alert_delivery_retry(project=project, delivery_id=rows[0].pk) == 2
    with pytest.raises(TransientDeliveryError):
        alert_batch_send(batch=batch, final_attempt=False)
    assert {(d.status, d.attempts) for d in rows.all()} == {("pending", ALERT_SEND_ATTEMPTS + 1)}


def test_it_records_a_permanent_smtp_failure(project, two_regressions, smtp) -> None:
    smtp.replies = ["550 5.1.1 no such user"]
    batch = str(AlertDelivery.objects.filter(subscription=two_regressions[0]).first().batch)
    assert alert_batch_send(batch=batch, final_attempt=False) == 0
    failed = list(alert_delivery_list(project=project, status="failed"))
    assert len(failed) == 2 and all("550" in d.error for d in failed)
    assert all(d.retryable for d in failed)  # the server refused it: nothing arrived
    assert not smtp.mails


def test_a_refused_delivery_can_be_retried_once_and_is_sent_once(
    project, two_regressions, smtp, django_capture_on_commit_callbacks
) -> None:
    smtp.replies = ["550 5.7.1 mailbox full"]
    first = AlertDelivery.objects.filter(subscription=two_regressions[0]).first()
    assert alert_batch_send(batch=str(first.batch)) == 0
    with django_capture_on_commit_callbacks() as queued:
        assert alert_delivery_retry(project=project, delivery_id=first.pk) == 2  # its batch
        assert alert_delivery_retry(project=project, delivery_id=first.pk) == 0  # a double click
    assert len(queued) == 1
    rows = AlertDelivery.objects.filter(batch=first.batch)
    assert {(d.status, d.retryable) for d in rows} == {("pending", False)}
    assert alert_batch_send(batch=str(first.batch)) == 2
    assert alert_batch_send(batch=str(first.batch)) == 0
    assert len(smtp.to("team@example.com")) == 1
    assert {(d.status, d.attempts) for d in rows.all()} == {("sent", 2)}
    # Nothing left to retry once sent.
    assert alert_delivery_retry(project=project, delivery_id=first.pk) == 0


def test_an_interrupted_delivery_is_never_retried(project, two_regressions, other_project) -> None:
    from django.http import Http404

    from reports.alerts import alert_deliveries_sweep

    first = AlertDelivery.objects.filter(subscription=two_regressions[0]).first()
    AlertDelivery.objects.filter(batch=first.batch).update(status="sending", claimed_at=MONDAY)
    alert_deliveries_sweep(older_than_seconds=0)
    first.refresh_from_db()
    assert (first.status, first.retryable) == ("failed", False)
    assert alert_delivery_retry(project=project, delivery_id=first.pk) == 0
    assert AlertDelivery.objects.get(pk=first.pk).status == "failed"
    with pytest.raises(Http404):  # another project's delivery
        alert_delivery_retry(project=other_project, delivery_id=first.pk)


def test_it_gives_up_after_the_last_transient_attempt(project, two_regressions, settings) -> None:
    from tests.reports.receivers import free_port

    settings.EMAIL_BACKEND = "reports.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()  # nothing listens
    batch = str(AlertDelivery.objects.filter(subscription=two_regressions[0]).first().batch)
    assert alert_batch_send(batch=batch, final_attempt=True) == 0
    assert {d.status for d in AlertDelivery.objects.filter(batch=batch)} == {"failed"}
    assert "Connection refused" in AlertDelivery.objects.filter(batch=batch).first().error
    assert AlertDelivery.objects.filter(batch=batch).first().retryable  # never connected


def test_a_message_the_server_took_without_answering_in_time_is_not_sent_again(
    project, two_regressions, smtp, settings
) -> None:
    settings.EMAIL_TIMEOUT = 1
    accepted = threading.Event()

    def answer_late(mail) -> None:
        accepted.set()
        time.sleep(2)  # the server has the message; its 250 comes after the client gave up

    smtp.on_message = answer_late
    batch = str(AlertDelivery.objects.filter(subscription=two_regressions[0]).first().batch)
    assert alert_batch_send(batch=batch, final_attempt=False) == 0  # no retry is raised
    assert accepted.wait(5)
    rows = list(AlertDelivery.objects.filter(batch=batch))
    assert {(d.status, d.retryable) for d in rows} == {("failed", False)}
    assert "may have arrived" in rows[0].error
    smtp.on_message = None
    assert alert_batch_send(batch=batch) == 0
    assert alert_delivery_retry(project=project, delivery_id=rows[0].pk) == 0
    assert len(smtp.to("team@example.com")) == 1


# --- Webhooks -------------------------------------------------------------------------------------


def _verify(secret: str, header: str, body: bytes, tolerance: int = 300) -> bool:
    """The recipe of docs/alerts.md, written out independently of reports.webhooks."""
    fields = dict(part.split("=", 1) for part in header.split(","))
    timestamp = int(fields["t"])
    if abs(time.time() - timestamp) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return hmac.compare_digest(expected.hexdigest(), fields["v1"])


@pytest.fixture
def webhook(project):
    with WebhookSink() as sink:
        _upload(project, 0, set())
        sub, _ = subscription_create(project=project, target=sink.url("/suitehealth"))
        _history(project, range(1, 7), {5: {3}, 6: {3}})
        _recompute(project)
        yield sink, sub


def test_it_posts_a_signed_slack_compatible_webhook(webhook) -> None:
    sink, sub = webhook
    _send_pending()
    [hook] = sink.hooks
    assert hook.path == "/suitehealth"
    assert hook.headers["Content-Type"] == "application/json"
    signature = hook.headers["X-Suitehealth-Signature"]
    assert _verify(sub.secret, signature, hook.body)
    assert not _verify(sub.secret, signature, hook.body + b" ")
    assert not _verify("another secret", signature, hook.body)
    payload = json.loads(hook.body)
    assert payload["version"] == 1 and payload["project"]["slug"] == "mediaserver"
    assert payload["id"] == hook.headers["X-Suitehealth-Delivery"]
    [alert] = payload["alerts"]
    assert alert["finding"]["kind"] == "regression"
    assert alert["test"]["name"] == "tests.test_api.TestApi::test_3"
    assert alert["first_failing_run"]["commit"] == _commit(5)
    assert alert["last_passing_run"]["commit"] == _commit(4)
    assert "assert 1 == 2" in alert["message_excerpt"]
    assert "*Regression* in `api`" in payload["text"]
    assert alert["test"]["url"] in payload["text"]


def test_the_signature_refuses_a_replayed_old_request() -> None:
    from reports.webhooks import sign, verify

    body = b'{"version":1}'
    old = int(time.time()) - 301
    assert not verify("s3cret", sign("s3cret", old, body), body)
    assert not _verify("s3cret", sign("s3cret", old, body), body)
    assert verify("s3cret", sign("s3cret", int(time.time()), body), body)


def test_it_retries_a_webhook_answering_503_and_fails_on_a_redirect(webhook) -> None:
    sink, _ = webhook
    batch = str(AlertDelivery.objects.get().batch)
    sink.statuses = [503, 302]
    with pytest.raises(TransientDeliveryError):
        alert_batch_send(batch=batch, final_attempt=False)
    assert AlertDelivery.objects.get().status == "pending"
    assert alert_batch_send(batch=batch, final_attempt=False) == 0
    delivery = AlertDelivery.objects.get()
    assert (delivery.status, delivery.error) == (
        "failed",
        "WebhookError: HTTP 302 from the webhook",
    )
    assert delivery.retryable  # the receiver answered: it did not take the alert
    assert not sink.hooks


def _default_blocked_networks(settings) -> None:
    """The served default, which tests/settings.py lifts for the receivers on 127.0.0.1."""
    import dashboard.settings

    settings.SUITEHEALTH_WEBHOOK_BLOCKED_NETWORKS = (
        dashboard.settings.SUITEHEALTH_WEBHOOK_BLOCKED_NETWORKS
    )


def test_a_webhook_whose_name_resolves_to_a_blocked_address_is_not_posted(
    webhook, settings
) -> None:
    sink, sub = webhook
    # A name, not an address: the check happens when the POST connects, not when subscribing.
    Subscription.objects.filter(pk=sub.pk).update(
        target=sink.url("/suitehealth").replace("127.0.0.1", "localhost")
    )
    _default_blocked_networks(settings)
    batch = str(AlertDelivery.objects.get().batch)
    assert alert_batch_send(batch=batch, final_attempt=False) == 0  # failed at once, no retry
    delivery = AlertDelivery.objects.get()
    assert delivery.status == "failed"
    assert "localhost resolves to" in delivery.error
    assert "SUITEHEALTH_WEBHOOK_BLOCKED_NETWORKS" in delivery.error
    assert delivery.retryable  # nothing reached anyone
    assert not sink.hooks


@pytest.mark.parametrize(
    ("address", "blocked"),
    [
        ("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("::ffff:127.0.0.1", True),
        ("0.0.0.0", True), ("169.254.169.254", True), ("fe80::1%eth0", True),
        ("fd00:ec2::254", True), ("100.100.100.200", True), ("100.64.0.1", False),
        ("10.1.2.3", False), ("192.168.1.20", False),
        ("172.16.0.9", False), ("93.184.216.34", False), ("2001:db8::1", False),
    ],
)  # fmt: skip
def test_webhooks_may_not_reach_this_host_or_link_local_addresses_by_default(
    settings, address: str, blocked: bool
) -> None:
    from reports.webhooks import address_blocked

    _default_blocked_networks(settings)
    assert address_blocked(address) is blocked


def test_subscribing_a_webhook_on_a_blocked_address_is_refused(project, settings) -> None:
    _default_blocked_networks(settings)
    for target in (
        "http://127.0.0.1:8000/hook", "http://localhost/hook", "http://api.localhost/hook",
        "http://[::1]:9000/x", "http://169.254.169.254/latest/meta-data/",
    ):  # fmt: skip
        with pytest.raises(SubscriptionError, match="webhooks may not reach") as caught:
            subscription_create(project=project, target=target)
        assert caught.value.code == "blocked_target"
    for target in ("http://chat:8080/hooks/x", "http://10.0.0.5/hook", "https://hooks.example/x"):
        assert subscription_create(project=project, target=target)[1]
    assert Subscription.objects.count() == 3


# --- Unsubscribing --------------------------------------------------------------------------------


def test_the_unsubscribe_link_works_without_logging_in(client, project) -> None:
    sub, _ = subscription_create(project=project, target="team@example.com")
    path = unsubscribe_url(sub).split("127.0.0.1:8000", 1)[1]
    page = client.get(path)
    assert page.status_code == 200
    assert b"team@example.com" in page.content and b"<form" in page.content
    sub.refresh_from_db()
    assert sub.active  # a GET (a mail scanner following the link) changes nothing
    done = client.post(path)
    assert done.status_code == 200 and b"Unsubscribed" in done.content
    sub.refresh_from_db()
    assert not sub.active


def test_the_one_click_unsubscribe_of_rfc_8058_works(project) -> None:
    from django.test import Client

    sub, _ = subscription_create(project=project, target="team@example.com")
    path = unsubscribe_url(sub).split("127.0.0.1:8000", 1)[1]
    response = Client(enforce_csrf_checks=True).post(
        path, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    sub.refresh_from_db()
    assert not sub.active


def test_a_recipient_with_two_matching_subscriptions_hears_once_and_one_link_stops_both(
    client, project, subscribers
) -> None:
    _, oncall = subscribers
    everywhere, _ = subscription_create(
        project=project, target="oncall@example.com", kinds=["regression", "flaky"]
    )
    _history(project, range(1, 7), {5: {1}, 6: {1}})
    _recompute(project)
    _send_pending()
    assert len(_mails_to("oncall@example.com")) == 1
    assert AlertDelivery.objects.filter(subscription__target="oncall@example.com").count() == 1
    path = unsubscribe_url(everywhere).split("127.0.0.1:8000", 1)[1]
    assert client.post(path).status_code == 200
    targets = Subscription.objects.filter(active=True).values_list("target", flat=True)
    assert list(targets) == ["team@example.com"]


def test_a_tampered_unsubscribe_token_is_refused(client, project, other_project) -> None:
    sub, _ = subscription_create(project=project, target="team@example.com")
    other, _ = subscription_create(project=other_project, target="team@example.com")
    token = unsubscribe_url(sub).rstrip("/").rsplit("/", 1)[1]
    payload, signature = token.split(":", 1)
    # The same signature over another subscription's id, and a token signed with another key.
    swapped = signing.b64_encode(
        json.dumps({"s": other.pk}, separators=(",", ":")).encode()
    ).decode()
    forgeries = [
        f"{swapped}:{signature}",
        token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
        signing.Signer(key="not-the-secret-key", salt="suitehealth.alerts.unsubscribe").sign_object(
            {"s": other.pk}
        ),
        signing.Signer().sign_object({"s": other.pk}),  # the right key, another salt
        signing.dumps({"s": other.pk}, salt="suitehealth.alerts.unsubscribe"),  # timestamped
    ]
    for bad in forgeries:
        for method in (client.get, client.post):
            response = method(f"/alerts/unsubscribe/{bad}/")
            assert response.status_code == 400, bad
            assert b"not valid" in response.content
    assert Subscription.objects.filter(active=True).count() == 2


# --- Subscriptions: services, API, command --------------------------------------------------------


def test_it_validates_subscriptions(project) -> None:
    with pytest.raises(SubscriptionError, match="neither an email address"):
        subscription_create(project=project, target="not an address")
    with pytest.raises(SubscriptionError, match="unknown kind"):
        subscription_create(project=project, target="a@example.com", kinds=["improvement"])
    with pytest.raises(SubscriptionError, match="no service"):
        subscription_create(project=project, target="a@example.com", service="nope")
    sub, created = subscription_create(project=project, target="http://chat:8080/hooks/x")
    assert created and sub.channel == "webhook" and len(sub.secret) >= 32
    assert sub.effective_kinds == ("regression", "duration_regression", "fixed")


def test_it_manages_subscriptions_through_the_api(ci_client, project) -> None:
    url = "/api/v1/projects/mediaserver/subscriptions"
    created = ci_client.post(
        url, {"target": "a@example.com", "kinds": ["flaky", "regression"]}, format="json"
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["kinds"] == ["regression", "flaky"] and body["service"] is None
    assert "secret" not in body
    again = ci_client.post(url, {"target": "a@example.com"}, format="json")
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    assert again.json()["effective_kinds"] == ["regression", "duration_regression", "fixed"]
    hook = ci_client.post(url, {"target": "https://hooks.example.com/x"}, format="json").json()
    assert hook["channel"] == "webhook" and len(hook["secret"]) >= 32
    listed = ci_client.get(url).json()
    assert [s["target"] for s in listed] == ["a@example.com", "https://hooks.example.com/x"]
    bad = ci_client.post(url, {"target": "a@example.com", "kinds": ["nope"]}, format="json")
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_kind"
    assert bad.json()["field"] == "kinds"
    assert ci_client.delete(f"{url}/{body['id']}").status_code == 204
    assert [s["id"] for s in ci_client.get(url).json()] == [hook["id"]]
    assert ci_client.delete(f"{url}/{body['id']}").status_code == 404


def test_the_api_keeps_projects_apart(ci_client, project, other_project, other_key) -> None:
    theirs, _ = subscription_create(project=other_project, target="billing@example.com")
    # Another project's subscription through our own project's URL: not found.
    response = ci_client.delete(f"/api/v1/projects/mediaserver/subscriptions/{theirs.pk}")
    assert response.status_code == 404
    # Our key on their project's URL: forbidden.
    for response in (
        ci_client.get("/api/v1/projects/billing/subscriptions"),
        ci_client.post(
            "/api/v1/projects/billing/subscriptions", {"target": "x@example.com"}, format="json"
        ),
        ci_client.delete(f"/api/v1/projects/billing/subscriptions/{theirs.pk}"),
    ):
        assert response.status_code == 403
    other_client = APIClient()
    other_client.credentials(HTTP_AUTHORIZATION=f"Token {other_key}")
    assert other_client.get("/api/v1/projects/mediaserver/subscriptions").status_code == 403
    assert APIClient().get("/api/v1/projects/mediaserver/subscriptions").status_code == 401
    assert Subscription.objects.filter(pk=theirs.pk).exists()


def test_the_subscribe_command(project, capsys) -> None:
    call_command("subscribe", "mediaserver", "team@example.com")
    call_command(
        "subscribe", "mediaserver", "team@example.com", "--kind", "flaky", "--kind", "fixed"
    )
    assert "updated team@example.com" in capsys.readouterr().out
    [sub] = subscription_list(project=project)
    assert sub.kinds == ["flaky", "fixed"]
    call_command("subscribe", "mediaserver", "team@example.com", "--kind", "regression", "fixed")
    [sub] = subscription_list(project=project)
    assert sub.kinds == ["regression", "fixed"]
    call_command("subscribe", "mediaserver", "https://hooks.example.com/x")
    secret = capsys.readouterr().out.strip().splitlines()[-1]
    assert Subscription.objects.get(channel="webhook").secret == secret
    with pytest.raises(CommandError, match="no project"):
        call_command("subscribe", "nope", "team@example.com")
    with pytest.raises(CommandError, match="no service"):
        call_command("subscribe", "mediaserver", "team@example.com", "--service", "nope")
    with pytest.raises(CommandError):
        call_command("subscribe", "mediaserver", "team@example.com", "--kind", "improvement")
    assert Subscription.objects.count() == 2


def test_send_test_email_goes_through_the_configured_server(smtp, capsys) -> None:
    call_command("send_test_email", "admin@example.com")
    [received] = smtp.to("admin@example.com")
    assert received.subject == "Suitehealth test email"
    assert f"127.0.0.1:{smtp.port}" in received.text
    assert "sent a test email" in capsys.readouterr().out


def test_send_test_email_reports_an_unreachable_server(settings) -> None:
    from tests.reports.receivers import free_port

    settings.EMAIL_BACKEND = "reports.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()
    with pytest.raises(CommandError, match="failed"):
        call_command("send_test_email", "admin@example.com")


# --- Settings -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example.com", ("smtp", "mail.example.com", 25, "", "", False, False)),
        (
            "smtp+tls://me%40x.org:p%3As@mx:2525",
            ("smtp", "mx", 2525, "me@x.org", "p:s", True, False),
        ),
        ("smtps://u:p@mx", ("smtp", "mx", 465, "u", "p", False, True)),
        ("smtp+ssl://u:p@mx:4650", ("smtp", "mx", 4650, "u", "p", False, True)),
        ("console:", ("console", "localhost", 25, "", "", False, False)),
    ],
)
def test_email_url_sets_the_smtp_settings(url: str, expected: tuple) -> None:
    from dashboard.email_url import parse_email_url

    c = parse_email_url(url)
    backend = c.backend.rsplit(".", 2)[-2]
    assert (backend, c.host, c.port, c.user, c.password, c.use_tls, c.use_ssl) == expected


@pytest.mark.parametrize("url", ["mysql://x", "smtp://", "smtp://host:port"])
def test_email_url_refuses_what_it_cannot_use(url: str) -> None:
    from django.core.exceptions import ImproperlyConfigured

    from dashboard.email_url import parse_email_url

    with pytest.raises(ImproperlyConfigured, match="EMAIL_URL"):
        parse_email_url(url)


def test_embedded_mode_prints_emails_and_served_mode_uses_smtp(tmp_path) -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = (
        "import django; django.setup(); from django.conf import settings as s;"
        " print(s.EMAIL_BACKEND, s.EMAIL_HOST, s.EMAIL_PORT)"
    )

    def backend(**env: str) -> str:
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("EMAIL_", "REDIS_URL"))}
        out = subprocess.run(
            [sys.executable, "-c", script],
            env={**clean, "DJANGO_SETTINGS_MODULE": "dashboard.settings",
                 "SUITEHEALTH_VAR_DIR": str(tmp_path), **env},
            capture_output=True, text=True, check=True, cwd=Path(__file__).parents[2],
        )  # fmt: skip
        return out.stdout.strip()

    assert backend() == "django.core.mail.backends.console.EmailBackend localhost 25"
    assert backend(REDIS_URL="redis://x:6379/0") == "reports.smtp.EmailBackend localhost 25"
    assert backend(EMAIL_URL="smtp://mx:26") == "reports.smtp.EmailBackend mx 26"
    assert backend(EMAIL_HOST="mx", EMAIL_USE_TLS="true") == "reports.smtp.EmailBackend mx 587"


def _post_to_dripping_receiver(project, settings, scheme, prelude, drip, *, tls=None):
    """alert_post (1 s timeout) to a receiver that reads the request (for TLS: the ClientHello,
    `tls` None, or the HTTP request over `tls`), sends `prelude`, then `drip` a byte every
    0.2 s. Returns the WebhookError raised and the seconds it took."""
    import socket as socketlib

    from reports.webhooks import WebhookError, alert_post

    listener = socketlib.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        conn, _ = listener.accept()
        if tls is not None:
            conn = tls.wrap_socket(conn, server_side=True)
        with conn:
            conn.recv(65536)
            try:
                conn.sendall(prelude)
                for byte in drip:
                    if stop.wait(0.2):
                        return
                    conn.sendall(bytes([byte]))
            except OSError:
                return

    threading.Thread(target=serve, daemon=True).start()
    settings.SUITEHEALTH_WEBHOOK_TIMEOUT_SECONDS = 1
    port = listener.getsockname()[1]
    sub, _ = subscription_create(project=project, target=f"{scheme}://127.0.0.1:{port}/hook")
    started = time.monotonic()
    try:
        with pytest.raises(WebhookError) as caught:
            alert_post(subscription=sub, items=[], batch="b1")
    finally:
        stop.set()
        listener.close()
    return caught.value, time.monotonic() - started


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_webhook_answering_a_byte_at_a_time_is_cut_off(
    project, settings, scheme, tmp_path, monkeypatch
) -> None:
    """The timeout bounds each wait; a receiver dripping its answer never trips it, so the whole
    delivery has its own limit (three timeouts), over TLS too (Slack's webhooks are HTTPS)."""
    import ssl
    import subprocess

    tls = None
    if scheme == "https":  # a certificate for 127.0.0.1 that this process trusts
        cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", str(key), "-out", str(cert)],
                       check=True, capture_output=True)  # fmt: skip
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(cert, key)
    error, took = _post_to_dripping_receiver(
        project, settings, scheme, b"", b"HTTP/1.1 200 OK\r\nX-Slow: " + b"x" * 1000, tls=tls
    )
    assert "within 3 s" in str(error) and error.transient
    assert took < 6


def test_a_webhook_dripping_its_tls_handshake_is_cut_off(project, settings) -> None:
    """A receiver that announces a large handshake record and sends it a byte at a time keeps
    every wait of the handshake under the timeout; the handshake as a whole is held to it."""
    error, took = _post_to_dripping_receiver(
        project, settings, "https", b"\x16\x03\x03\x40\x00", b"\x00" * 16384
    )
    assert "handshake operation timed out" in str(error) and error.transient
    assert took < 3


def test_a_webhook_whose_name_does_not_resolve_in_time_is_given_up(
    project, settings, monkeypatch
) -> None:
    """No socket timeout bounds a DNS lookup (the system resolver's own retries can take
    half a minute): the lookup gets the timeout. The resolver is outside the product, so a
    slow one is stood in for; a name that fails at once still says why."""
    import socket as socketlib

    from reports.webhooks import WebhookError, alert_post

    real = socketlib.getaddrinfo

    def slow(host, *args, **kwargs):
        if host == "slow.example.com":
            time.sleep(20)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socketlib, "getaddrinfo", slow)
    settings.SUITEHEALTH_WEBHOOK_TIMEOUT_SECONDS = 1
    sub, _ = subscription_create(project=project, target="https://slow.example.com/hook")
    started = time.monotonic()
    with pytest.raises(WebhookError, match="looking up slow.example.com took over 1 s") as caught:
        alert_post(subscription=sub, items=[], batch="b1")
    assert caught.value.transient and not caught.value.refused
    assert time.monotonic() - started < 3
    bad, _ = subscription_create(project=project, target="https://no-such-host.invalid/hook")
    with pytest.raises(WebhookError, match="cannot reach the webhook") as caught:
        alert_post(subscription=bad, items=[], batch="b2")
    assert caught.value.refused
