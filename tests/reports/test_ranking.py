"""Findings rank the same on the pages (in SQL) and in the weekly report (in Python): by impact,
then, for equal impacts, by service, test name and id (docs/metrics.md "Ranking")."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from ingest.models import Project, Service, Test
from ingest.weeks import week_label
from reports.models import Finding, ServiceWeek
from reports.weekly import weekly_report_build

pytestmark = pytest.mark.django_db

WEEK = dt.date(2026, 3, 2)
# By code point '_' sorts before 'a' and 'T' before 'a'; in en_US.UTF-8 after both.
NAMES = ("cachea", "cache_b"), ("testa", "test_b", "Test_c")


def _names_collated_as_in_english() -> None:
    """Give service and test names the collation of a database created with LC_COLLATE
    en_US.UTF-8 (the test databases use C.UTF-8, and the machine may lack the locale): ICU's
    English with punctuation ignored at first, as glibc's."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_collation WHERE collprovider = 'i' LIMIT 1")
        if cursor.fetchone() is None:
            pytest.skip("PostgreSQL was built without ICU")
        cursor.execute(
            "CREATE COLLATION en_us_glibc (provider = icu, locale = 'en-US-u-ka-shifted')"
        )
        for model in (Service, Test):
            length = model._meta.get_field("name").max_length
            cursor.execute(
                f"ALTER TABLE {model._meta.db_table} ALTER COLUMN name "
                f"TYPE varchar({length}) COLLATE en_us_glibc"
            )


def _regressions(project: Project) -> list[Finding]:
    """A regression of each test in each service, all with the same impact."""
    findings = []
    for service_name in NAMES[0]:
        service = Service.objects.create(project=project, name=service_name)
        ServiceWeek.objects.create(project=project, service=service, week=WEEK, computed=1,
                                   computed_at=timezone.now(), runs=1)  # fmt: skip
        for test_name in NAMES[1]:
            test = Test.objects.create(id=len(findings) + 1, project=project, service=service,
                                       name=test_name)  # fmt: skip
            findings.append(
                Finding.objects.create(
                    project=project,
                    service=service,
                    test=test,
                    kind="regression",
                    week=WEEK,
                    key=f"regression:{test.pk}",
                    evidence={"failures": 3},
                    as_of=timezone.now(),
                    version="1",
                )
            )
    return findings


def test_equal_impacts_keep_one_order_by_name_whatever_the_database_collation(client, project):
    if connection.vendor == "postgresql":
        _names_collated_as_in_english()
    findings = _regressions(project)
    if connection.vendor == "postgresql":  # the condition holds: the database's order differs
        by_database = list(Test.objects.order_by("name").values_list("name", flat=True))
        assert by_database != sorted(by_database)

    user = get_user_model().objects.create_user("ada", "ada@example.com", "pw-for-ada-1")
    project.members.add(user)
    client.force_login(user)
    page = client.get(f"/p/{project.slug}/", {"week": week_label(WEEK), "kind": "regression"})
    on_page = [r.finding.pk for r in page.context["finding_rows"]]
    service = Service.objects.get(project=project, name=NAMES[0][0])
    service_page = client.get(f"/p/{project.slug}/s/{service.name}/", {"week": week_label(WEEK)})
    on_service_page = [r.finding.pk for r in service_page.context["detail"].regressions]
    report = weekly_report_build(project=project, week=WEEK)
    in_report = [int(i.url.rsplit("#finding-", 1)[1]) for i in report.new_regressions]

    assert sorted(on_page) == sorted(f.pk for f in findings)
    assert on_page == in_report
    assert on_service_page == [
        pk for pk in in_report if pk in {f.pk for f in service.findings.all()}
    ]


def test_an_impact_that_is_no_number_is_none_in_sql_as_in_python(project) -> None:
    """The pages rank by finding_impact_order (SQL), the weekly report by finding_impact
    (Python): a value that is null, missing or not a number is no impact in both, ranked
    last, on PostgreSQL and on SQLite alike."""
    from reports.selectors import finding_impact, finding_impact_order

    service = Service.objects.create(project=project, name="cache")
    values: list[object] = [3, 2.5, 0, None, True, "3", "x", [1], {"n": 1}]
    evidences = [
        *({"failures": v} for v in values),
        {},
        *({"status": "suspected", "series": {"failures": v}} for v in values),
        {"status": "suspected", "series": None},
        *({"shift_ms": v, "n_after_durations": 4} for v in values),
    ]
    kinds = ["regression"] * (len(values) + 1) + ["flaky"] * (len(values) + 1)
    kinds += ["duration_regression"] * len(values)
    findings = []
    for i, (kind, evidence) in enumerate(zip(kinds, evidences, strict=True)):
        test = Test.objects.create(id=i + 1, project=project, service=service, name=f"t{i}")
        findings.append(
            Finding.objects.create(
                project=project,
                service=service,
                test=test,
                kind=kind,
                week=WEEK,
                key=f"{kind}:{test.pk}",
                evidence=evidence,
                as_of=timezone.now(),
                version="1",
            )
        )

    in_sql = dict(
        Finding.objects.filter(project=project)
        .annotate(impact=finding_impact_order())
        .values_list("pk", "impact")
    )
    in_python = {f.pk: finding_impact(f.kind, f.evidence, f.score) for f in findings}
    assert in_sql == in_python
