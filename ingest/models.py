"""Projects, their services and tokens, and the uploaded runs with their tests and results."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from ingest.parsers.records import Outcome
from ingest.weeks import week_label, week_start

# Characters no name or label may hold (pages, links, URL paths and headers show them).
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


class Project(models.Model):
    slug = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=200)
    default_branch = models.CharField(max_length=200, default="main")
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="projects")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class Service(models.Model):
    DEFAULT = "default"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="services")
    name = models.CharField(max_length=100)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["project", "name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="service_unique_name"),
        ]

    def __str__(self) -> str:
        return f"{self.project.slug}/{self.name}"


class ServiceRule(models.Model):
    """A test whose upload names no service belongs to the first rule (by `order`) whose glob
    matches its file path, or its classname when the file is unknown."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="service_rules")
    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="rules")
    pattern = models.CharField(max_length=500)
    order = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["project", "order", "id"]

    def __str__(self) -> str:
        return f"{self.pattern} -> {self.service.name}"


class IngestToken(models.Model):
    """A project's upload key. Only its SHA-256 is stored; the key is shown once, at creation."""

    PREFIX = "shk_"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="tokens")
    name = models.CharField(max_length=100, default="ci")
    key_hash = models.CharField(max_length=64, unique=True)
    hint = models.CharField(max_length=12, help_text="The key's first characters, to recognise it.")
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["project", "-created_at"]

    def __str__(self) -> str:
        return f"{self.project.slug}: {self.name} ({self.hint}…)"

    @staticmethod
    def hash_key(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    @classmethod
    def new_key(cls) -> str:
        return cls.PREFIX + secrets.token_urlsafe(30)

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class Run(models.Model):
    """One upload: a CI job's test results for one commit."""

    class Status(models.TextChoices):
        RECEIVED = "received"
        PARSING = "parsing"
        PARSED = "parsed"
        FAILED = "failed"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="runs")
    commit = models.CharField(max_length=100)
    branch = models.CharField(max_length=255, blank=True)
    build_id = models.CharField(max_length=255, blank=True)
    job = models.CharField(max_length=255, blank=True)
    build_url = models.URLField(max_length=1000, blank=True)
    environment = models.CharField(max_length=255, blank=True)
    service = models.CharField(
        max_length=100, blank=True, help_text="Service named by the upload; overrides the rules."
    )
    started_at = models.DateTimeField(help_text="From the upload, else the files, else receipt.")
    week = models.DateField(help_text="Monday (UTC) of the ISO week of started_at.")
    received_at = models.DateTimeField(default=timezone.now)
    # (project, idempotency_key) is unique: the same build, job and files upload to one run.
    idempotency_key = models.CharField(max_length=64)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RECEIVED)
    error = models.JSONField(null=True, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    parse_attempts = models.PositiveSmallIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    parsed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "idempotency_key"], name="run_unique_idempotency_key"
            ),
        ]
        indexes = [
            # The runs list of a project and the per-week rollups both walk runs by time.
            models.Index(fields=["project", "started_at"], name="run_project_started"),
            # The runs list of one service (uploads name their service), newest first.
            models.Index(fields=["project", "service", "started_at"], name="run_project_service"),
            # Same-commit lookups (flaky results: another run of the same commit passed).
            models.Index(fields=["project", "commit"], name="run_project_commit"),
            # A span of weeks' runs (a recompute's window, the run facts it derives, the
            # regression read-back): found without walking the project's whole history.
            models.Index(fields=["project", "week"], name="run_project_week"),
            # The sweeper looks for stuck runs only.
            models.Index(
                fields=["status", "claimed_at"],
                name="run_unfinished",
                condition=models.Q(status__in=["received", "parsing"]),
            ),
        ]

    def __str__(self) -> str:
        return f"run {self.pk} ({self.project.slug} {self.commit[:10]})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.week = week_start(self.started_at)
        super().save(*args, **kwargs)

    @property
    def week_label(self) -> str:
        return week_label(self.started_at)


class RunFile(models.Model):
    """A raw uploaded file, kept gzip-compressed so the run can be parsed again."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="files")
    index = models.PositiveSmallIntegerField(
        help_text="Position in the upload; names its timeline."
    )
    name = models.CharField(max_length=500)
    format = models.CharField(max_length=20)
    size = models.BigIntegerField(help_text="Decompressed size in bytes.")
    digest = models.CharField(max_length=64, help_text="SHA-256 of the decompressed content.")
    content = models.BinaryField(help_text="gzip-compressed content.")

    class Meta:
        ordering = ["run", "index"]
        constraints = [
            models.UniqueConstraint(fields=["run", "index"], name="runfile_unique_index"),
        ]

    def __str__(self) -> str:
        return self.name


class Test(models.Model):
    """A test, identified across runs and formats.

    The primary key is a 63-bit hash of (project, identity) computed by ingest.identity, so the
    loader can write result rows without looking tests up first.
    """

    __test__ = False

    id = models.BigIntegerField(primary_key=True)
    # As on results, the foreign keys carry no database constraint: the loader, the only writer
    # of new tests, takes both ids from rows it has just read, and a first upload of 100,000 tests
    # would otherwise pay 200,000 lookups at commit. Deletion cascades and protection are
    # Django's (on_delete), as before. The service has no index of its own: test_service_name
    # leads with it.
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="tests", db_constraint=False
    )
    service = models.ForeignKey(
        Service, on_delete=models.PROTECT, related_name="tests", db_constraint=False,
        db_index=False,
    )  # fmt: skip
    # True when an upload's `service` field put the test in its service: rules never move it.
    # db_default too, because the loader writes test rows with raw SQL.
    service_pinned = models.BooleanField(default=False, db_default=False)
    suite = models.CharField(max_length=1000, blank=True)
    classname = models.CharField(max_length=1000, blank=True)
    name = models.CharField(max_length=1000)
    file = models.CharField(max_length=1000, blank=True)
    line = models.IntegerField(null=True, blank=True)
    first_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["service", "classname", "name"], name="test_service_name")]

    def __str__(self) -> str:
        return f"{self.classname}::{self.name}" if self.classname else self.name

    @property
    def display_name(self) -> str:
        return str(self)


class Result(models.Model):
    """One attempt of one test in one run: the big table.

    Bulk-loaded only (COPY on PostgreSQL). On PostgreSQL the table is RANGE-partitioned by
    `run_week` (the ISO week of the run's start, UTC), which is why that column is denormalised
    here; see migration 0002. Foreign keys carry no database constraint so loading does not pay
    for a lookup per row: the loader is the only writer and takes ids from rows it just wrote.
    """

    id = models.BigAutoField(primary_key=True)
    run = models.ForeignKey(Run, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    test = models.ForeignKey(
        Test, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    run_week = models.DateField()
    outcome = models.PositiveSmallIntegerField(choices=[(o.value, o.label) for o in Outcome])
    attempt = models.PositiveSmallIntegerField(default=1)
    duration_ms = models.IntegerField(null=True)
    timeline = models.CharField(max_length=100)
    position = models.IntegerField(help_text="Order in the upload (document order across files).")
    started_at = models.DateTimeField(null=True)
    message = models.TextField(blank=True)
    output = models.TextField(blank=True)

    class Meta:
        indexes = [
            # A test's history over time (test page, metric windows).
            models.Index(fields=["test", "run_week", "run"], name="result_test_history"),
            # A run's results in execution order (run page, order dependence, cascades).
            models.Index(fields=["run", "timeline", "position"], name="result_run_order"),
            # A test's failures, newest first (the test page's default list): failures are a
            # few percent of the rows, so this stays small and a page of them reads only them.
            models.Index(
                fields=["test", "run_week", "run", "attempt"],
                include=["outcome"],
                condition=models.Q(outcome__in=[1, 2]),
                name="result_test_failures",
            ),
        ]

    def __str__(self) -> str:
        # ids only: an admin list or a log line must not cost a query per row
        return f"run {self.run_id}, test {self.test_id}, attempt {self.attempt}"

    @property
    def outcome_label(self) -> str:
        return Outcome(self.outcome).label


def run_week_bounds(week: dt.date) -> tuple[dt.date, dt.date]:
    return week, week + dt.timedelta(days=7)
