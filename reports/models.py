"""Rollups and findings computed from ingest's runs and results.

Pages, reports and the API read these rows, never raw results (a test's history page excepted).
Each computed row records the algorithm version and the parameters it used: ServiceWeek and
Finding in their own columns, TestWeek through its service-week, written with it.
"""

from __future__ import annotations

import datetime as dt
import uuid

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from ingest.models import Project, Run, Service, Test
from ingest.weeks import week_end, week_label


class ProjectSettings(models.Model):
    """Per-project overrides of MetricParams (reports/metrics/params.py) and duration budgets."""

    project = models.OneToOneField(
        Project, on_delete=models.CASCADE, related_name="metric_settings"
    )
    params = models.JSONField(default=dict, blank=True, help_text="Overrides of MetricParams.")
    # [{"budget_ms": 1000, "test_glob": "*::test_*", "file_glob": "tests/unit/*"}], first match wins
    budgets = models.JSONField(default=list, blank=True)

    def __str__(self) -> str:
        return f"settings of {self.project.slug}"

    def clean(self) -> None:
        """The overrides within their bounds (params_problems): the settings page, the admin
        and project_metric_settings_update all refuse the same values."""
        from reports.metrics.params import params_problems

        if not isinstance(self.params, dict):
            raise ValidationError({"params": "a JSON object of overrides"})
        problems = params_problems(self.params)
        if problems:
            raise ValidationError(
                {"params": [f"{name}: {problem}" for name, problem in sorted(problems.items())]}
            )


class ServiceWeek(models.Model):
    """One service's metrics for one ISO week, and its recomputation bookkeeping.

    `dirty` counts "data changed" marks and `computed` the mark a recompute last covered: the row
    is stale while dirty > computed. A mark that lands during a recompute is not lost, because
    the recompute records the mark it started from, not "clean".
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="service_weeks")
    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="weeks")
    week = models.DateField(help_text="Monday (UTC) of the ISO week.")
    dirty = models.PositiveIntegerField(default=1)
    computed = models.PositiveIntegerField(default=0)
    marked_at = models.DateTimeField(default=timezone.now)
    computed_at = models.DateTimeField(null=True, blank=True)
    version = models.CharField(max_length=20, blank=True)
    params = models.JSONField(default=dict, blank=True)
    # The moment the metrics judge at (runs started from then on are unknown to them): the week's
    # end, or, for the week in progress, the time of the computation (`in_progress`). A week
    # computed in progress is computed again once it has ended (reports.staleness).
    as_of = models.DateTimeField(null=True, blank=True)
    in_progress = models.BooleanField(default=False)
    # The headline numbers as columns (charts and the overview heatmap read them) ...
    runs = models.IntegerField(default=0)
    pass_rate = models.FloatField(null=True)
    final_pass_rate = models.FloatField(null=True)
    isolation_score = models.FloatField(null=True)
    flake_rate = models.FloatField(null=True)
    p50_ms = models.FloatField(null=True)
    p95_ms = models.FloatField(null=True)
    # ... and every published figure, with its components, as JSON (see docs/metrics.md).
    metrics = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["service", "week"]
        constraints = [
            models.UniqueConstraint(fields=["service", "week"], name="serviceweek_unique"),
        ]
        indexes = [
            models.Index(fields=["project", "week"], name="serviceweek_project_week"),
            # The sweeper and the status endpoint look for stale rows only.
            models.Index(
                fields=["marked_at"],
                name="serviceweek_stale",
                condition=models.Q(dirty__gt=models.F("computed")),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.service} {self.week_label}"

    @property
    def week_label(self) -> str:
        return week_label(self.week)

    @property
    def is_stale(self) -> bool:
        return self.dirty > self.computed


class TestWeek(models.Model):
    """One test's week: outcomes and durations (for the service page and the test page).

    Written by the recompute of its service-week, always with it: the algorithm version and the
    parameters it used are that ServiceWeek row's (same service, same week).
    """

    __test__ = False

    test = models.ForeignKey(Test, on_delete=models.CASCADE, related_name="weeks")
    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="test_weeks")
    week = models.DateField()
    runs = models.IntegerField()
    passed = models.IntegerField(help_text="First attempts.")
    failed = models.IntegerField(help_text="First attempts, errors included.")
    skipped = models.IntegerField()
    final_failed = models.IntegerField()
    flaky_results = models.IntegerField(default=0)
    pass_rate = models.FloatField(null=True)
    n_durations = models.IntegerField(default=0)
    p50_ms = models.FloatField(null=True)
    p95_ms = models.FloatField(null=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["test", "week"], name="testweek_unique")]
        indexes = [
            models.Index(fields=["service", "week"], name="testweek_service_week"),
        ]

    def __str__(self) -> str:
        return f"test {self.test_id}, week of {self.week}"


class RunFacts(models.Model):
    """One run's test-runs in one service (attempts collapsed, execution order resolved), derived
    once from its results and read by every recompute whose window holds the run.

    Results of a parsed run never change, so neither do these; when tests move between services
    (`tests_remapped`) the facts of the weeks they touch are dropped and derived again.
    `data` holds one list per TestRun field (reports/metrics/data.py), see reports/history.py.
    """

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="+")
    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="+")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    week = models.DateField(help_text="The run's week (Monday).")
    data = models.JSONField()
    # Names this row's content for the workers' memo of decoded rows (ids can be reused).
    token = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "service"], name="runfacts_unique")]
        indexes = [
            models.Index(fields=["service", "week"], name="runfacts_service_week"),
            models.Index(fields=["project", "week"], name="runfacts_project_week"),
        ]

    def __str__(self) -> str:
        return f"facts of run {self.run_id} in service {self.service_id}"


class Finding(models.Model):
    """Something a reader should know, with the evidence behind it.

    Two lifetimes:
      - weekly kinds (flaky, order_dependent, cascade, budget_violation) are the state of that
        week, recomputed with it;
      - episode kinds (regression, fixed, duration_regression) belong to the week they started
        and are updated by later recomputes (status, last_run), never by an older one:
        `as_of` records the end of the window that last wrote the row.
    """

    class Kind(models.TextChoices):
        FLAKY = "flaky"
        ORDER_DEPENDENT = "order_dependent"
        CASCADE = "cascade"
        REGRESSION = "regression"
        FIXED = "fixed"
        DURATION_REGRESSION = "duration_regression"
        BUDGET_VIOLATION = "budget_violation"

    class Status(models.TextChoices):
        OPEN = "open"
        RESOLVED = "resolved"

    WEEKLY_KINDS = ("flaky", "order_dependent", "cascade", "budget_violation")

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="findings")
    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="findings")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    test = models.ForeignKey(Test, on_delete=models.CASCADE, related_name="findings")
    related_test = models.ForeignKey(
        Test, on_delete=models.CASCADE, null=True, blank=True, related_name="related_findings"
    )
    week = models.DateField()
    # kind:test:related:week — unique per service; a plain column because NULL related_test
    # would make a composite unique constraint useless on PostgreSQL.
    key = models.CharField(max_length=120)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    score = models.FloatField(null=True)
    evidence = models.JSONField(default=dict)
    first_run = models.ForeignKey(Run, on_delete=models.SET_NULL, null=True, related_name="+")
    last_run = models.ForeignKey(Run, on_delete=models.SET_NULL, null=True, related_name="+")
    as_of = models.DateTimeField()
    # The algorithm version and the parameters of the recompute that last wrote the row.
    version = models.CharField(max_length=20)
    params = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-week", "kind", "id"]
        constraints = [
            models.UniqueConstraint(fields=["service", "key"], name="finding_unique_key"),
        ]
        indexes = [
            # With the service and test in the index, the pages' counts of tests with a finding
            # per service, week and kind read the index alone, not the wide evidence rows.
            models.Index(
                fields=["project", "week", "kind"],
                include=["service", "test"],
                name="finding_project_week",
            ),  # fmt: skip
            models.Index(fields=["project", "status", "kind"], name="finding_project_status"),
            models.Index(fields=["test", "week"], name="finding_test"),
            # The episodes a recompute judges for removal and reverts, or may open again: the
            # few open or removed rows of a service, not all its weekly findings.
            models.Index(
                fields=["service", "kind", "week"],
                condition=Q(status="open") | Q(evidence__has_key="removed"),
                name="finding_open_or_removed",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.test_id} {week_label(self.week)}"

    @property
    def week_label(self) -> str:
        return week_label(self.week)

    @staticmethod
    def make_key(kind: str, test: int, related: int | None, week: dt.date) -> str:
        return f"{kind}:{test}:{related or 0}:{week.isoformat()}"


# --- Alerts -------------------------------------------------------------------------------------


class Subscription(models.Model):
    """Who hears about which findings of a project: an email address or a webhook URL.

    `service` None means every service. `kinds` empty means DEFAULT_KINDS. Unsubscribing (the
    signed link in every email) sets `active` to False rather than deleting, so re-subscribing
    never re-sends what was already sent.
    """

    class Channel(models.TextChoices):
        EMAIL = "email"
        WEBHOOK = "webhook"

    # Finding kinds a subscription may name; `fixed` is the recovery notice.
    KINDS = (
        "regression",
        "duration_regression",
        "flaky",
        "order_dependent",
        "cascade",
        "budget_violation",
        "fixed",
    )
    DEFAULT_KINDS = ("regression", "duration_regression", "fixed")

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="subscriptions")
    service = models.ForeignKey(
        Service, on_delete=models.CASCADE, null=True, blank=True, related_name="subscriptions"
    )
    channel = models.CharField(max_length=10, choices=Channel.choices)
    target = models.CharField(max_length=1000, help_text="Email address or webhook URL.")
    kinds = models.JSONField(default=list, blank=True)
    # HMAC key of webhook signatures (empty for email).
    secret = models.CharField(max_length=100, blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["project", "id"]
        constraints = [
            # NULL service would make a plain (project, service, target) constraint useless.
            models.UniqueConstraint(
                fields=["project", "target"],
                condition=models.Q(service__isnull=True),
                name="subscription_unique_all_services",
            ),
            models.UniqueConstraint(
                fields=["project", "service", "target"],
                condition=models.Q(service__isnull=False),
                name="subscription_unique_service",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.project.slug}: {self.target}"

    @property
    def effective_kinds(self) -> tuple[str, ...]:
        return tuple(self.kinds) if self.kinds else self.DEFAULT_KINDS


class AlertDelivery(models.Model):
    """One finding transition to tell one subscription about: the exactly-once ledger.

    Unique per (subscription, finding key, transition): a recompute run twice, or two recomputes
    racing, create the row once. The subject (kind, test, related test) is copied here so that
    the ledger survives a recompute that replaces the finding row. Deliveries created by one
    recompute for one recipient share a `batch` and go out as one message (a digest).
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        SENDING = "sending"  # claimed by a sender; never sent again (see reports/alerts.py)
        SENT = "sent"
        FAILED = "failed"
        CANCELLED = "cancelled"  # unsubscribed, or the finding withdrawn, before sending

    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    finding = models.ForeignKey(
        Finding, on_delete=models.SET_NULL, null=True, blank=True, related_name="deliveries"
    )
    finding_key = models.CharField(max_length=120)
    transition = models.CharField(max_length=60, help_text="open:RUN, fixed:RUN or new:WEEK")
    kind = models.CharField(max_length=30)
    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="+")
    test = models.ForeignKey(Test, on_delete=models.CASCADE, related_name="+")
    related_test = models.ForeignKey(
        Test, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    # When it happened on the CI timeline (start of the run that opened it): the hysteresis
    # window is measured here, so a backfill behaves like live uploads.
    event_at = models.DateTimeField()
    batch = models.UUIDField(db_index=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    # `attempts` when it was last retried from the settings page: each retry gets a new round
    # of sends (reports/alerts.py ALERT_SEND_ATTEMPTS), while `attempts` keeps counting them all.
    attempts_before_retry = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    # A failure known to have left nothing with the recipient (the mail server or the webhook
    # answered with a refusal, or no connection was made): sending it again cannot make a
    # second copy, so the settings page offers a retry. False for an interrupted send.
    retryable = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "finding_key", "transition"], name="alertdelivery_unique"
            ),
        ]
        indexes = [
            # Hysteresis: earlier deliveries of the same subject to the same subscription.
            models.Index(fields=["subscription", "kind", "test"], name="alertdelivery_subject"),
            # The sweeper looks for unfinished deliveries only.
            models.Index(
                fields=["status", "created_at"],
                name="alertdelivery_unfinished",
                condition=models.Q(status__in=["pending", "sending"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.transition} {self.finding_key} -> {self.subscription_id} ({self.status})"


# --- Weekly reports -----------------------------------------------------------------------------


class Report(models.Model):
    """A generated weekly report of a project (or one service of it) for one ISO week.

    One row per (project, service-or-all, week, format): generating again replaces the content.
    `stale` is set when a recompute changed that week's metrics (or the previous week's, which
    the report compares with) after the report was made; the regeneration clears it. A report
    made while its week was in progress is out of date too once the week is over (`outdated`).
    """

    class Format(models.TextChoices):
        MARKDOWN = "md", "Markdown"
        PDF = "pdf", "PDF"

    CONTENT_TYPES = {"md": "text/markdown; charset=utf-8", "pdf": "application/pdf"}

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="reports")
    service = models.ForeignKey(
        Service, on_delete=models.CASCADE, null=True, blank=True, related_name="reports"
    )
    week = models.DateField(help_text="Monday (UTC) of the ISO week.")
    format = models.CharField(max_length=5, choices=Format.choices)
    content = models.BinaryField()
    generated_at = models.DateTimeField(default=timezone.now)
    stale = models.BooleanField(default=False)
    stale_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-week", "service", "format"]
        constraints = [
            # NULL service would make a plain (project, service, week, format) constraint useless.
            models.UniqueConstraint(
                fields=["project", "week", "format"],
                condition=models.Q(service__isnull=True),
                name="report_unique_all_services",
            ),
            models.UniqueConstraint(
                fields=["project", "service", "week", "format"],
                condition=models.Q(service__isnull=False),
                name="report_unique_service",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.project.slug} {self.week_label}.{self.format}"

    @property
    def week_label(self) -> str:
        return week_label(self.week)

    @property
    def outdated(self) -> bool:
        """Stale, or made before its week ended when the week has ended since."""
        return self.stale or self.generated_at < week_end(self.week) <= timezone.now()

    @classmethod
    def up_to_date(cls, week: dt.date) -> models.Q:
        """The rows of `week` that are not `outdated`, as a filter."""
        current = models.Q(stale=False)
        end = week_end(week)
        return current & models.Q(generated_at__gte=end) if timezone.now() >= end else current

    @property
    def filename(self) -> str:
        scope = f"-{self.service.name.replace('/', '-')}" if self.service is not None else ""
        return f"{self.project.slug}{scope}-{self.week_label}.{self.format}"
