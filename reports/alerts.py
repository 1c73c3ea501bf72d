"""Regression alerts: which finding transitions to tell whom, and sending each one once.

Pipeline
    A recompute writes its findings (reports.services._write_findings), then calls
    `findings_changed` inside the same transaction. That picks the transitions worth telling,
    writes one AlertDelivery row per (subscription, transition) under a unique constraint, groups
    the rows of this recompute per recipient into a batch, and enqueues `reports.alert_send(batch)`
    when the transaction commits. The task calls `alert_batch_send`, which claims the batch's
    pending rows (compare-and-set pending -> sending), sends one message (an email, a digest when
    the batch holds several, or a webhook POST) and marks the rows sent.

What is told
    - episode kinds (regression, duration_regression): when the finding becomes alertable, on a
      new row or a resolved -> open reopen. A regression is alertable once confirmed (it failed
      again on the same or the next commit): one failure that goes away is noise. A duration
      regression is alertable while open; improvements are not findings and are never told.
    - fixed: when the row is created (it records a recovery; it is always `resolved`), or when
      a second episode of the same test and week is fixed (see _later_episode).
    - recovered: an alertable open slowdown resolved by a speed-up back to where it began
      (`reverted_by`), told to the subscribers of duration_regression.
    - weekly kinds (flaky, order_dependent, cascade, budget_violation): a new row whose
      (kind, test, related test) had no finding the week before; a test that stays flaky is
      told once, not every week.
    Cascade followers, infrastructure-outage runs and plain noise never become findings (the
    metrics code guarantees it), so nothing here needs to filter them again.

Hysteresis
    A finding that flaps (open -> resolved -> open within SUITEHEALTH_ALERT_HYSTERESIS_SECONDS,
    default 24 h) does not alert again: an episode that starts within the window of the end of
    the subject's previous episode, or of an earlier delivery of the same subject to the same
    subscription, is not told. The window is measured on the CI timeline (run start times), not
    on the wall clock, so a backfill of old history behaves as live uploads did, and a
    recompute of the same data always decides the same way. An episode whose told finding a
    later recompute withdrew (a slowdown's change point re-estimated into another week) and
    replaced within REESTIMATE is the same episode, and is not told again.

Delivery semantics: at most once
    A delivery is claimed before sending (pending -> sending, a conditional UPDATE that only one
    sender can win) and marked sent after. Running the task twice, or a redelivered message,
    finds nothing pending and sends nothing. A worker killed after the SMTP server accepted the
    message but before the row was marked leaves it in `sending`; it is never sent again, because
    a second copy of an alert erodes trust in every later one, and a missed one is visible on
    the settings page. `alert_deliveries_sweep` marks a delivery still `sending` after the task
    hard time limit as failed ("interrupted; may or may not have arrived"), and re-enqueues
    `pending` ones whose message was lost. Transient SMTP/HTTP errors (connection trouble, 4xx
    SMTP replies, HTTP 5xx/429) put the claim back to pending and retry with exponential backoff,
    five times at most; permanent errors, and the last transient one, mark it failed with the
    error text. A connection lost after the whole message went out and before the server's
    answer (reports.smtp.MessageMayHaveArrived) is not transient: the message may have been
    accepted, so it is marked failed and never sent again.
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
import socket
import uuid
import zlib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q, QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from ingest.models import Project, Result, Run, Service
from ingest.queueing import enqueue_on_commit
from reports.models import AlertDelivery, Finding, Subscription

log = logging.getLogger(__name__)

EPISODE_KINDS = ("regression", "duration_regression")
WEEKLY_KINDS = tuple(Finding.WEEKLY_KINDS)
MESSAGE_EXCERPT_CHARS = 1200
# How far a re-estimated episode may move (a slowdown's change point, on more data) and still be
# the episode already told about.
REESTIMATE = dt.timedelta(days=7)


class TransientDeliveryError(Exception):
    """A send failed in a way a later attempt may not (the task retries on it)."""


# --- Deciding what to tell ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FindingState:
    """What findings_changed compares with: a finding as it was before a recompute wrote it."""

    status: str
    alertable: bool
    first_run: int | None
    last_run: int | None


def findings_state(findings: Iterable[Finding]) -> dict[str, FindingState]:
    """Snapshot of stored findings by key, taken before a recompute changes them."""
    return {
        f.key: FindingState(f.status, _alertable(f), f.first_run_id, f.last_run_id)
        for f in findings
    }


def _alertable(f: Finding) -> bool:
    if f.kind == Finding.Kind.FIXED:
        return True
    if f.status != Finding.Status.OPEN:
        return False
    if f.kind == Finding.Kind.REGRESSION:
        return bool((f.evidence or {}).get("confirmed"))
    if f.kind == Finding.Kind.DURATION_REGRESSION:
        return f.score is None or f.score > 1.0  # a speed-up is never an alert
    return True


@dataclass
class _Candidate:
    finding: Finding
    transition: str
    event_at: dt.datetime


def findings_changed(
    *, service: Service, keys: Iterable[str], before: Mapping[str, FindingState]
) -> int:
    """Create the deliveries for the alertable transitions among the findings a recompute just
    wrote (`keys`), compared with `before`; enqueue their sending on commit.

    Call it inside the recompute's transaction. Idempotent: deliveries are unique per
    (subscription, finding key, transition), and a finding that did not change makes no
    transition. Returns the number of messages (batches) enqueued.
    """
    subs = list(
        Subscription.objects.filter(project_id=service.project_id, active=True)
        .filter(Q(service__isnull=True) | Q(service_id=service.pk))
        .order_by("id")
    )
    if not subs:
        return 0  # the common case costs one query per recompute
    kinds = set().union(*(s.effective_kinds for s in subs))
    rows = list(
        Finding.objects.filter(service=service, key__in=list(keys), kind__in=kinds)
        .annotate(first_run_at=F("first_run__started_at"))
        .order_by("kind", "id")
    )
    later = _later_episode(rows, before)
    candidates = _candidates(rows, before, later)
    if not candidates:
        return 0
    with transaction.atomic():
        _lock_service(service.pk)
        candidates = _weekly_new(service, candidates)
        candidates = _not_flapping(service, candidates, before, later)
        deliveries = _deliveries(service, subs, candidates)
        if not deliveries:
            return 0
        # A notice cancelled unsent holds the unique key of the same transition told again: a
        # finding recreated under the same key (a weekly finding of the week in progress that
        # comes and goes as its data grows), a revert that was taken back and came again, a
        # subscriber back. Nobody heard it, so it gives way.
        triples = {(d.subscription_id, d.finding_key, d.transition) for d in deliveries}
        unheard = [
            pk
            for pk, sub, key, transition in AlertDelivery.objects.filter(
                # (subscription, finding key, …): the unique constraint's index finds them
                subscription_id__in={sub for sub, _k, _t in triples},
                finding_key__in={key for _s, key, _t in triples},
                status=AlertDelivery.Status.CANCELLED,
            ).values_list("pk", "subscription_id", "finding_key", "transition")
            if (sub, key, transition) in triples
        ]  # fmt: skip
        if unheard:
            AlertDelivery.objects.filter(pk__in=unheard).delete()
        AlertDelivery.objects.bulk_create(deliveries, ignore_conflicts=True)
        # Conflicting rows were made by an earlier run of this recompute: only batches that
        # gained a row are worth a task.
        batches = set(
            AlertDelivery.objects.filter(
                batch__in={d.batch for d in deliveries}, status=AlertDelivery.Status.PENDING
            ).values_list("batch", flat=True)
        )
    from reports.tasks import alert_send

    for batch in sorted(batches, key=str):
        enqueue_on_commit(alert_send, str(batch), swept_by="reports.alert_sweep")
    return len(batches)


def _later_episode(rows: Sequence[Finding], before: Mapping[str, FindingState]) -> set[int]:
    """Regression and fixed rows (one per test and week) that another episode of the same week
    took over: the stored one ended before the new one's first failure. Where they overlap, a
    late or deleted run moved the same episode's first run: nothing new to tell."""
    moved = [
        (f, was) for f in rows
        if f.kind in (Finding.Kind.REGRESSION, Finding.Kind.FIXED)
        and (was := before.get(f.key)) is not None and was.first_run != f.first_run_id
    ]  # fmt: skip
    if not moved:
        return set()
    opening = {
        f.pk: (f.evidence or {}).get("first_failing_run") or f.first_run_id for f, _ in moved
    }
    ids = {was.last_run for _, was in moved} | set(opening.values())
    # Looked up by run ids that may be None (and are then not in it).
    times: dict[int | None, dt.datetime] = dict(
        Run.objects.filter(pk__in={i for i in ids if i is not None}).values_list("pk", "started_at")
    )
    return {
        f.pk for f, was in moved
        if was.last_run in times and opening[f.pk] in times
        and times[was.last_run] < times[opening[f.pk]]
    }  # fmt: skip


def _candidates(
    rows: Sequence[Finding], before: Mapping[str, FindingState], later: set[int]
) -> list[_Candidate]:
    out = []
    for f in rows:
        was = before.get(f.key)
        back_at = _reverted_at(f)
        if back_at is not None and was is not None and was.alertable:
            # A slowdown that was open, resolved by a speed-up back to where it began: the
            # recovery of a duration regression, as `fixed` is of a regression. (A removed
            # test is no recovery: nothing is told.)
            out.append(_Candidate(f, f"recovered:{f.first_run_id or 0}", back_at))
            continue
        if not _alertable(f):
            continue
        event_at = getattr(f, "first_run_at", None) or _week_start(f.week)
        if f.kind in WEEKLY_KINDS:
            if was is None:
                out.append(_Candidate(f, f"new:{f.week.isoformat()}", _week_start(f.week)))
        elif f.kind == Finding.Kind.FIXED:
            if was is None or f.pk in later:  # a second fix of the test in the same week
                out.append(_Candidate(f, f"fixed:{f.first_run_id or 0}", event_at))
        elif (
            was is None
            or not was.alertable
            # A regression that failed again after its stored episode ended is a new episode,
            # even when no recompute saw it resolved in between (one row per week and test).
            or (f.kind == Finding.Kind.REGRESSION and f.pk in later)
        ):
            # Created, confirmed, or reopened. The episode is named by its opening run, so a
            # regression that is confirmed later or reopened by a correction is one transition.
            # (A slowdown's first run moves as its change point is re-estimated: same episode.)
            out.append(_Candidate(f, f"open:{f.first_run_id or 0}", event_at))
    return out


def _reverted_at(f: Finding) -> dt.datetime | None:
    """When the speed-up that resolved a slowdown came (its evidence's `reverted_by`), if one did."""
    if f.kind != Finding.Kind.DURATION_REGRESSION or f.status != Finding.Status.RESOLVED:
        return None
    back = (f.evidence or {}).get("reverted_by")
    return parse_datetime(str(back.get("time"))) if isinstance(back, dict) else None


def _weekly_new(service: Service, candidates: list[_Candidate]) -> list[_Candidate]:
    """Drop weekly findings whose subject already had a finding the week before."""
    weekly = [c for c in candidates if c.finding.kind in WEEKLY_KINDS]
    if not weekly:
        return candidates
    previous = set(
        Finding.objects.filter(
            service=service,
            kind__in={c.finding.kind for c in weekly},
            test_id__in={c.finding.test_id for c in weekly},
            week__in={c.finding.week - dt.timedelta(days=7) for c in weekly},
        ).values_list("kind", "test_id", "related_test_id", "week")
    )
    return [
        c
        for c in candidates
        if c.finding.kind not in WEEKLY_KINDS
        or (*_subject(c.finding), c.finding.week - dt.timedelta(days=7)) not in previous
    ]


def _not_flapping(
    service: Service,
    candidates: list[_Candidate],
    before: Mapping[str, FindingState],
    later: set[int],
) -> list[_Candidate]:
    """Drop episodes that start within the hysteresis window of the subject's previous one
    (`later`: rows another episode took over, see _later_episode)."""
    episodes = [c for c in candidates if _opens_episode(c)]
    if not episodes:
        return candidates
    window = dt.timedelta(seconds=settings.SUITEHEALTH_ALERT_HYSTERESIS_SECONDS)
    ends: dict[tuple[str, int, int | None], list[dt.datetime]] = defaultdict(list)
    ended_by: dict[int, dt.datetime] = {}
    for pk, kind, test, related, last, reverted, removed in Finding.objects.filter(
        service=service,
        kind__in={c.finding.kind for c in episodes},
        test_id__in={c.finding.test_id for c in episodes},
        status=Finding.Status.RESOLVED,
    ).values_list(
        "pk", "kind", "test_id", "related_test_id", "last_run__started_at",
        "evidence__reverted_by__time", "evidence__removed__removed_at",
    ):  # fmt: skip
        ended = _episode_end(last, reverted, removed)
        if ended is not None:
            ends[(kind, test, related)].append(ended)
            ended_by[pk] = ended
    # A row reopened in place (resolved before, or a new first run): its previous episode
    # ended at its old last run. A row that was merely confirmed has no previous episode.
    reopened = {}
    for c in episodes:
        was = before.get(c.finding.key)
        if was is None or not was.last_run:
            continue
        if was.status == Finding.Status.RESOLVED or c.finding.pk in later:
            reopened[c.finding.pk] = was.last_run
    run_times = dict(
        Run.objects.filter(pk__in=set(reopened.values())).values_list("pk", "started_at")
    )
    out = []
    for c in candidates:
        if _opens_episode(c):
            previous = list(ends.get(_subject(c.finding), []))
            if c.finding.pk in ended_by:  # its own end is not a previous episode
                previous.remove(ended_by[c.finding.pk])
            if c.finding.pk in reopened and reopened[c.finding.pk] in run_times:
                previous.append(run_times[reopened[c.finding.pk]])
            if any(abs(c.event_at - ended) <= window for ended in previous):
                log.info("finding %s flapped within the hysteresis window: not told", c.finding.pk)
                continue
        out.append(c)
    return out


def _opens_episode(c: _Candidate) -> bool:
    """An episode's opening (created, confirmed, reopened), which the hysteresis judges; not a
    recovery, which ends its own episode whatever else ended near it."""
    return c.finding.kind in EPISODE_KINDS and not c.transition.startswith("recovered:")


def _episode_end(
    last_run_at: dt.datetime | None, reverted_at: object, removed_at: object
) -> dt.datetime | None:
    """When a resolved episode ended: the moment its evidence records for the speed-up that
    reverted it or the removal of its test, else its last run (a regression's last failure; a
    slowdown's last run is its first, the change point, long before it ended)."""
    for moment in (reverted_at, removed_at):
        at = parse_datetime(moment) if isinstance(moment, str) else None
        if at is not None:
            return at
    return last_run_at


def _deliveries(
    service: Service, subs: list[Subscription], candidates: list[_Candidate]
) -> list[AlertDelivery]:
    window = dt.timedelta(seconds=settings.SUITEHEALTH_ALERT_HYSTERESIS_SECONDS)
    told: dict[tuple[int, str, int, int | None], list[dt.datetime]] = defaultdict(list)
    # Per subject, the notices of findings withdrawn since (a slowdown re-estimated: its
    # finding was replaced): (what was told, "open", "recovered"..., when).
    withdrawn: dict[tuple[int, str, int, int | None], list[tuple[str, dt.datetime]]] = defaultdict(
        list
    )
    # Per subscription and slowdown finding: told it opened, told it was over.
    opened: set[tuple[int, int]] = set()
    recovered: set[tuple[int, int]] = set()
    for sub_id, kind, test, related, at, finding, transition, status in (
        AlertDelivery.objects.filter(
            subscription__in=subs, test_id__in={c.finding.test_id for c in candidates}
        ).values_list("subscription_id", "kind", "test_id", "related_test_id", "event_at",
                      "finding", "transition", "status")
    ):  # fmt: skip
        if status == AlertDelivery.Status.CANCELLED:
            continue  # never heard (unsubscribed, or its finding withdrawn before sending)
        told[(sub_id, kind, test, related)].append(at)
        if finding is None:
            withdrawn[(sub_id, kind, test, related)].append((transition.split(":")[0], at))
        else:
            if transition.startswith("open:"):
                opened.add((sub_id, finding))
            elif transition.startswith("recovered:"):
                recovered.add((sub_id, finding))
    batches: dict[tuple[str, str], uuid.UUID] = {}
    out = []
    for c in candidates:
        f = c.finding
        # Weekly findings neighbour each other a week apart; episodes within the window.
        near = dt.timedelta(days=7) if f.kind in WEEKLY_KINDS else window
        seen_targets: set[tuple[str, str]] = set()
        for sub in subs:  # ordered by id: the oldest matching subscription of a recipient wins
            recipient = (sub.channel, sub.target)
            if f.kind not in sub.effective_kinds or recipient in seen_targets:
                continue
            if sub.service_id is not None and sub.service_id != f.service_id:
                continue
            episode = (sub.pk, f.pk)
            subject = (sub.pk, *_subject(f))
            recovery = c.transition.startswith("recovered:")
            if recovery:
                # To whoever was told this slowdown opened, once: told of this finding, or of
                # the one it replaced (re-estimated, within REESTIMATE of its first run).
                began = getattr(f, "first_run_at", None) or _week_start(f.week)
                heard = episode in opened or any(
                    what == "open" and abs(began - at) <= REESTIMATE
                    for what, at in withdrawn[subject]
                )
                over = episode in recovered or any(
                    what == "recovered" and abs(c.event_at - at) <= REESTIMATE
                    for what, at in withdrawn[subject]
                )
                if not heard or over:
                    continue
            seen_targets.add(recipient)
            if any(abs(c.event_at - at) <= near for at in told[subject]):
                continue  # this subscription already heard about this subject just now
            if (
                f.kind in EPISODE_KINDS
                and not recovery
                and any(abs(c.event_at - at) <= REESTIMATE for _what, at in withdrawn[subject])
            ):
                # The finding told about was withdrawn by a later recompute and this one took
                # its place: the same episode re-estimated (a change point moved), not news.
                continue
            batch = batches.setdefault(recipient, uuid.uuid4())
            out.append(
                AlertDelivery(
                    subscription=sub, finding=f, finding_key=f.key, transition=c.transition,
                    kind=f.kind, service_id=f.service_id, test_id=f.test_id,
                    related_test_id=f.related_test_id, event_at=c.event_at, batch=batch,
                )
            )  # fmt: skip
    return out


def _subject(f: Finding) -> tuple[str, int, int | None]:
    return (f.kind, f.test_id, f.related_test_id)


def _week_start(week: dt.date) -> dt.datetime:
    return dt.datetime.combine(week, dt.time(), tzinfo=dt.UTC)


def _lock_service(service_id: int) -> None:
    """Serialize alert decisions per service: recomputes of two weeks of one service may both
    see the same subject, and the hysteresis check reads before it writes."""
    if connection.vendor != "postgresql":
        return
    key = zlib.crc32(f"alerts:{service_id}".encode())
    with connection.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", [key])


# --- What a message says ------------------------------------------------------------------------


@dataclass
class RunRef:
    id: int
    commit: str
    branch: str
    build_url: str
    started_at: dt.datetime

    @property
    def short_commit(self) -> str:
        return self.commit[:12]


@dataclass
class AlertItem:
    """One delivery as the email and webhook renderers see it: plain data, no ORM."""

    delivery_id: int
    transition: str
    kind: str
    title: str
    service: str
    test_id: int
    test_name: str
    test_file: str
    related_test_name: str | None
    week: str
    status: str
    finding_id: int
    score: float | None
    evidence: dict[str, object]
    test_url: str
    finding_url: str
    first_failing: RunRef | None = None
    last_passing: RunRef | None = None
    fixing: RunRef | None = None
    first_run: RunRef | None = None
    message_excerpt: str = ""
    facts: list[tuple[str, str]] = field(default_factory=list)

    @property
    def is_recovery(self) -> bool:
        return self.kind == Finding.Kind.FIXED or self.transition == "recovered"


TITLES = {
    "regression": "Regression",
    "duration_regression": "Slowdown",
    "fixed": "Fixed",
    "flaky": "Flaky test",
    "order_dependent": "Order-dependent test",
    "cascade": "Cascade",
    "budget_violation": "Duration budget exceeded",
}


RECOVERED_TITLE = "Slowdown reverted"


def alert_items(deliveries: list[AlertDelivery]) -> list[AlertItem]:
    """Build the message content of deliveries whose finding still exists: runs in one query,
    the failure message of each regression's first failing run by the results index."""
    findings = [d.finding for d in deliveries if d.finding is not None]
    run_ids: set[int] = set()
    for f in findings:
        ev = f.evidence or {}
        for key in ("first_failing_run", "last_passing_run", "fixing_run"):
            if isinstance(ev.get(key), int):
                run_ids.add(ev[key])
        if f.first_run_id:
            run_ids.add(f.first_run_id)
    runs = {
        r.pk: r
        for r in Run.objects.filter(pk__in=run_ids).only(
            "id", "commit", "branch", "build_url", "started_at", "week"
        )
    }
    items = []
    for d in deliveries:
        finding = d.finding
        if finding is None:
            continue
        items.append(_item(d, finding, runs))
    return items


def _ref(runs: Mapping[int, Run], run_id: object) -> RunRef | None:
    run = runs.get(run_id) if isinstance(run_id, int) else None
    if run is None:
        return None
    return RunRef(run.pk, run.commit, run.branch, run.build_url, run.started_at)


def _item(d: AlertDelivery, f: Finding, runs: Mapping[int, Run]) -> AlertItem:
    project = f.project
    site = settings.SITE_URL
    ev = dict(f.evidence or {})
    test = f.test
    item = AlertItem(
        delivery_id=d.pk,
        transition=d.transition.split(":", 1)[0],
        kind=f.kind,
        title=RECOVERED_TITLE
        if d.transition.startswith("recovered:")
        else TITLES.get(f.kind, f.kind),
        service=f.service.name,
        test_id=test.pk,
        test_name=str(test),
        test_file=test.file,
        related_test_name=str(f.related_test) if f.related_test_id else None,
        week=f.week_label,
        status=f.status,
        finding_id=f.pk,
        score=f.score,
        evidence=ev,
        test_url=f"{site}/p/{project.slug}/t/{test.pk}/",
        # The test's page lists its findings, each under its own anchor.
        finding_url=f"{site}/p/{project.slug}/t/{test.pk}/#finding-{f.pk}",
        first_run=_ref(runs, f.first_run_id),
    )
    if f.kind in (Finding.Kind.REGRESSION, Finding.Kind.FIXED):
        item.first_failing = _ref(runs, ev.get("first_failing_run"))
        item.last_passing = _ref(runs, ev.get("last_passing_run"))
        item.fixing = _ref(runs, ev.get("fixing_run"))
    if f.kind == Finding.Kind.REGRESSION and item.first_failing is not None:
        item.message_excerpt = _failure_message(test.pk, runs[item.first_failing.id])
    item.facts = _facts(f, ev)
    return item


def _failure_message(test_id: int, run: Run) -> str:
    # (test, run_week, run) is the results history index, and run_week prunes partitions.
    message = (
        Result.objects.filter(test_id=test_id, run_week=run.week, run_id=run.pk)
        .order_by("attempt")
        .values_list("message", flat=True)
        .first()
    )
    message = (message or "").strip()
    if len(message) > MESSAGE_EXCERPT_CHARS:
        message = message[:MESSAGE_EXCERPT_CHARS].rstrip() + " …"
    return message


def _num(value: object, fmt: str = "{:,.0f}") -> str:
    return fmt.format(value) if isinstance(value, int | float) else "n/a"


def _facts(f: Finding, ev: Mapping[str, object]) -> list[tuple[str, str]]:
    """The evidence numbers worth reading in a message, by kind."""
    kind = f.kind
    if kind == Finding.Kind.REGRESSION:
        baseline = ev.get("baseline_runs") or []
        return [
            ("failing runs so far", _num(ev.get("failures"))),
            ("passing runs before it", _num(len(baseline) if isinstance(baseline, list) else None)),
            ("confirmed by run", _num(ev.get("confirmed_by_run"), "{}")),
        ]
    if kind == Finding.Kind.FIXED:
        passes = ev.get("passing_runs") or []
        return [
            ("failing runs while broken", _num(ev.get("failures"))),
            ("passes in a row", _num(len(passes) if isinstance(passes, list) else None)),
            (
                "broken since its first run",
                "yes"
                if ev.get("broken_since_first_run")
                else f"no: since before run {ev['broken_before_run']}"
                if ev.get("broken_before_run")
                else "no",
            ),  # fmt: skip
        ]
    if kind == Finding.Kind.DURATION_REGRESSION:
        ci = ev.get("shift_ci95_ms")
        if not isinstance(ci, list) or not ci:
            ci = [None, None]
        back = ev.get("reverted_by")
        reverted = (
            [
                ("back to", _num(back.get("after_median_ms"), "{:,.0f} ms")),
                ("speed-up commit", str(back.get("commit") or "n/a")[:12]),
            ]
            if isinstance(back, dict) and f.status == Finding.Status.RESOLVED
            else []
        )
        return [
            *reverted,
            ("median before", _num(ev.get("before_median_ms"), "{:,.0f} ms")),
            ("median after", _num(ev.get("after_median_ms"), "{:,.0f} ms")),
            ("ratio", _num(ev.get("ratio"), "×{:.2f}")),
            (
                "shift (Hodges–Lehmann, 95% CI)",
                f"{_num(ev.get('shift_ms'), '{:+,.0f}')} ms "
                f"[{_num(ci[0], '{:+,.0f}')}, {_num(ci[1], '{:+,.0f}')}]",
            ),
            ("commits before / after", f"{_num(ev.get('n_before'))} / {_num(ev.get('n_after'))}"),
            ("Mann–Whitney p", _num(ev.get("mwu_pvalue"), "{:.2g}")),
        ]
    if kind == Finding.Kind.FLAKY:
        if ev.get("status") == "suspected":  # no same-commit evidence: its outcome flips
            series = ev.get("series")
            series = series if isinstance(series, dict) else {}
            return [
                ("status", "suspected (its outcome flips on the reference branch)"),
                ("flip rate", _num(series.get("flip_rate", f.score), "{:.0%}")),
                (
                    "failures / runs looked at",
                    f"{_num(series.get('failures'))} / {_num(series.get('n'))}",
                ),
            ]
        return [
            ("status", str(ev.get("status", "n/a"))),
            ("flake rate", _num(ev.get("flake_rate"), "{:.1%}")),
            (
                "flaky results / decided runs (window)",
                f"{_num(ev.get('flaky_results_in_window'))} / {_num(ev.get('decided_in_window'))}",
            ),
        ]
    if kind == Finding.Kind.ORDER_DEPENDENT:
        return [
            ("failure risk after the polluter", _num(ev.get("risk_with"), "{:.0%}")),
            ("failure risk otherwise", _num(ev.get("risk_without"), "{:.0%}")),
            ("q (Benjamini–Hochberg)", _num(ev.get("q"), "{:.2g}")),
            ("failures it explains", _num(ev.get("explained_failures"))),
        ]
    if kind == Finding.Kind.CASCADE:
        return [
            ("cascades", _num(ev.get("count"))),
            ("tests broken after it", _num(ev.get("followers"))),
        ]
    if kind == Finding.Kind.BUDGET_VIOLATION:
        return [
            ("budget", _num(ev.get("budget_ms"), "{:,.0f} ms")),
            ("p95", _num(ev.get("p95_ms"), "{:,.0f} ms")),
            ("executions over budget", f"{_num(ev.get('over'))} of {_num(ev.get('n'))}"),
        ]
    return []


# --- Sending ------------------------------------------------------------------------------------


# Sends a delivery is tried at most: the first and five retries (again after each retry from
# the settings page). Counted on the rows (each claim is an attempt), not per task message: a
# batch can be queued again by the sweeper while a retry of its task is still waiting, and
# neither message may add attempts of its own.
ALERT_SEND_ATTEMPTS = 6


def alert_batch_send(*, batch: str, final_attempt: bool = True) -> int:
    """Send one batch's pending deliveries as one message; returns how many were sent.

    At most once per delivery: each row is claimed with a conditional UPDATE (pending ->
    sending) before sending and marked sent after, so a second run of the task, or a
    redelivered message, finds nothing to claim. A transient error releases the claim and
    raises TransientDeliveryError, unless this is the `final_attempt` of the task or the rows'
    ALERT_SEND_ATTEMPTS-th; anything else marks the rows failed.
    """
    from reports import emails, webhooks

    ids = list(
        AlertDelivery.objects.filter(batch=batch, status=AlertDelivery.Status.PENDING)
        .order_by("id")
        .values_list("pk", flat=True)
    )
    now = timezone.now()
    claimed = [
        pk
        for pk in ids
        if AlertDelivery.objects.filter(pk=pk, status=AlertDelivery.Status.PENDING).update(
            status=AlertDelivery.Status.SENDING, claimed_at=now, attempts=F("attempts") + 1
        )
        == 1
    ]
    if not claimed:
        return 0
    deliveries = list(
        AlertDelivery.objects.filter(pk__in=claimed)
        .select_related(
            "subscription",
            "subscription__project",
            "subscription__service",
            "finding",
            "finding__project",
            "finding__service",
            "finding__test",
            "finding__related_test",
        )  # fmt: skip
        .order_by("id")
    )
    # One recipient's deliveries may come from several of its subscriptions (one per service,
    # say); each is checked, and the oldest active one speaks for the message.
    unsubscribed = [d.pk for d in deliveries if not d.subscription.active]
    withdrawn = [d.pk for d in deliveries if d.finding is None and d.subscription.active]
    # A revert taken back since (its speed-up's runs deleted, say): the slowdown is open again.
    reopened = [
        d.pk
        for d in deliveries
        if d.finding is not None
        and d.subscription.active
        and d.transition.startswith("recovered:")
        and _reverted_at(d.finding) is None
    ]
    _finish(unsubscribed, AlertDelivery.Status.CANCELLED, error="unsubscribed before sending")
    _finish(withdrawn, AlertDelivery.Status.CANCELLED, error="finding withdrawn before sending")
    _finish(reopened, AlertDelivery.Status.CANCELLED, error="slowdown open again before sending")
    dropped = set(unsubscribed) | set(withdrawn) | set(reopened)
    deliveries = [d for d in deliveries if d.pk not in dropped]
    claimed = [d.pk for d in deliveries]
    if not deliveries:
        return 0
    sub = min((d.subscription for d in deliveries), key=lambda s: s.pk)
    try:
        items = alert_items(deliveries)
        if sub.channel == Subscription.Channel.WEBHOOK:
            webhooks.alert_post(subscription=sub, items=items, batch=batch)
        else:
            emails.alert(subscription=sub, items=items)
    except Exception as exc:  # classified below; nothing may leave a claim dangling
        transient = _is_transient(exc)
        error = _error_text(exc)[:2000]
        attempts_left = all(
            d.attempts - d.attempts_before_retry < ALERT_SEND_ATTEMPTS for d in deliveries
        )
        if transient and not final_attempt and attempts_left:
            AlertDelivery.objects.filter(pk__in=claimed).update(
                status=AlertDelivery.Status.PENDING, error=error
            )
            log.warning("alert batch %s: transient error, will retry: %s", batch, error)
            raise TransientDeliveryError(error) from exc
        _finish(claimed, AlertDelivery.Status.FAILED, error=error, retryable=_refused(exc))
        log.error("alert batch %s failed: %s", batch, error)
        return 0
    _finish(claimed, AlertDelivery.Status.SENT, error="")
    return len(claimed)


def _finish(ids: list[int], status: str, *, error: str, retryable: bool = False) -> None:
    now = timezone.now()
    AlertDelivery.objects.filter(pk__in=ids, status=AlertDelivery.Status.SENDING).update(
        status=status,
        error=error,
        retryable=retryable,
        sent_at=now if status == AlertDelivery.Status.SENT else None,
    )


def _error_text(exc: BaseException) -> str:
    """What the settings page shows: an SMTP reply as its code and text, not a bytes repr."""
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error
        text = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
        return f"{type(exc).__name__}: {exc.smtp_code} {text}"
    return f"{type(exc).__name__}: {exc}"


def _refused(exc: BaseException) -> bool:
    """Whether a failed send certainly left nothing with the recipient: the SMTP server
    answered with an error code, the webhook answered non-2xx, or no connection was made.
    A timeout or a dropped connection may come after the message was accepted: not certain."""
    from reports.webhooks import WebhookError

    if isinstance(exc, WebhookError):
        return exc.refused
    return isinstance(
        exc,
        smtplib.SMTPResponseException | smtplib.SMTPRecipientsRefused | ConnectionRefusedError,
    )


def _is_transient(exc: BaseException) -> bool:
    from reports.smtp import MessageMayHaveArrived
    from reports.webhooks import WebhookError

    if isinstance(exc, WebhookError):
        return exc.transient
    if isinstance(exc, MessageMayHaveArrived):
        return False  # at most once: it may be in the recipient's mailbox already
    if isinstance(exc, smtplib.SMTPResponseException):
        # 4xx replies are "try again later" (greylisting, a full queue); 5xx are final.
        return 400 <= exc.smtp_code < 500
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(400 <= code < 500 for code, _ in exc.recipients.values())
    return isinstance(
        exc, smtplib.SMTPServerDisconnected | smtplib.SMTPConnectError | socket.timeout | OSError
    )


def alert_deliveries_sweep(*, older_than_seconds: int, limit: int = 100) -> tuple[int, int]:
    """Re-enqueue batches whose pending deliveries were never picked up (a lost message), and
    mark deliveries stuck in `sending` past the task hard time limit as failed: their worker
    died mid-send and they are not sent again (at most once). Returns (re-enqueued, failed).
    Safe to run twice: sending claims each row, and the failed update is conditional."""
    from reports.tasks import alert_send

    now = timezone.now()
    cutoff = now - dt.timedelta(seconds=older_than_seconds)
    batches = list(
        AlertDelivery.objects.filter(status=AlertDelivery.Status.PENDING, created_at__lte=cutoff)
        .filter(Q(claimed_at__isnull=True) | Q(claimed_at__lte=cutoff))
        .order_by("batch")
        .values_list("batch", flat=True)
        .distinct()[:limit]
    )
    for batch in batches:
        alert_send.delay(str(batch))
    dead = now - dt.timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)
    failed = AlertDelivery.objects.filter(
        status=AlertDelivery.Status.SENDING, claimed_at__lte=dead
    ).update(
        status=AlertDelivery.Status.FAILED,
        error="interrupted while sending (the worker stopped); not sent again, "
        "it may or may not have arrived",
    )
    return len(batches), failed


def alert_delivery_retry(*, project: Project, delivery_id: int) -> int:
    """Send a failed delivery again, with the deliveries of its message (batch) that failed
    with it; returns how many were put back to pending (0: nothing to retry).

    Only a failure known to have delivered nothing (`retryable`) goes back, so a retry never
    makes a second copy; an interrupted send (`sending` when its worker died) never does. The
    update is conditional (failed -> pending), and sending claims each row again, so a double
    click or two tasks still send one message. Http404 for another project's delivery.
    """
    from reports.tasks import alert_send

    batch = (
        AlertDelivery.objects.filter(subscription__project=project, pk=delivery_id)
        .values_list("batch", flat=True)
        .first()
    )
    if batch is None:
        raise Http404("no such delivery in this project")
    with transaction.atomic():
        count = AlertDelivery.objects.filter(
            batch=batch, status=AlertDelivery.Status.FAILED, retryable=True
        ).update(
            status=AlertDelivery.Status.PENDING,
            retryable=False,
            claimed_at=None,
            attempts_before_retry=F("attempts"),
        )
        if count:
            enqueue_on_commit(alert_send, str(batch), swept_by="reports.alert_sweep")
    return count


# --- Selectors for the settings page ------------------------------------------------------------


def alert_delivery_list(
    *, project: Project, status: str | None = None, limit: int = 100
) -> QuerySet[AlertDelivery]:
    """The project's latest deliveries (failed ones carry their error text), newest first."""
    qs = AlertDelivery.objects.filter(subscription__project=project).select_related(
        "subscription", "service", "test"
    )
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-created_at", "-id")[:limit]
