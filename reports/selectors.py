"""Read operations of reports: what the API and pages show. Scoped by project."""

from __future__ import annotations

import datetime as dt

from django.db.models import F, Max, QuerySet
from django.http import Http404

from ingest.models import Project, Service, Test
from reports.models import Finding, ServiceWeek


def stale_service_weeks_count(project: Project) -> int:
    return ServiceWeek.objects.filter(project=project, dirty__gt=F("computed")).count()


def service_list(*, project: Project) -> list[dict[str, object]]:
    """Each service with its latest computed week."""
    services = list(Service.objects.filter(project=project).order_by("name"))
    latest = {
        row["service_id"]: row["week"]
        for row in ServiceWeek.objects.filter(project=project, computed__gt=0)
        .values("service_id")
        .annotate(week=Max("week"))
    }
    rows = {
        (sw.service_id, sw.week): sw
        for sw in ServiceWeek.objects.filter(
            project=project, week__in=set(latest.values())
        ).only("service_id", "week", "pass_rate", "final_pass_rate", "isolation_score", "runs")
    }
    out = []
    for service in services:
        week = latest.get(service.pk)
        sw = rows.get((service.pk, week)) if week else None
        out.append({"service": service, "latest": sw})
    return out


def service_get(*, project: Project, name: str) -> Service:
    service = Service.objects.filter(project=project, name=name).first()
    if service is None:
        raise Http404("no such service in this project")
    return service


def service_week_get(*, service: Service, week: dt.date) -> ServiceWeek:
    row = ServiceWeek.objects.filter(service=service, week=week).first()
    if row is None:
        raise Http404("no results of this service in that week")
    return row


def finding_list(
    *,
    project: Project,
    kind: str | None = None,
    service: str | None = None,
    week: dt.date | None = None,
    status: str | None = None,
) -> QuerySet[Finding]:
    qs = Finding.objects.filter(project=project).select_related(
        "service", "test", "related_test"
    )
    if kind:
        qs = qs.filter(kind=kind)
    if service:
        qs = qs.filter(service__name=service)
    if week:
        qs = qs.filter(week=week)
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-week", "kind", "service__name", "id")


def quarantine_list(*, project: Project) -> list[tuple[Finding, Test]]:
    """Tests flaky in their service's latest computed week: flaky tests and order-dependent
    victims (cascade roots break others and are reported, not quarantined)."""
    latest = dict(
        ServiceWeek.objects.filter(project=project, computed__gt=0)
        .values("service_id")
        .annotate(week=Max("week"))
        .values_list("service_id", "week")
    )
    if not latest:
        return []
    findings = (
        Finding.objects.filter(
            project=project, kind__in=[Finding.Kind.FLAKY, Finding.Kind.ORDER_DEPENDENT],
            week__in=set(latest.values()),
        )  # fmt: skip
        .select_related("service", "test")
        .order_by("service__name", "test__classname", "test__name", "kind")
    )
    seen: set[int] = set()
    out = []
    for f in findings:
        if latest.get(f.service_id) != f.week or f.test_id in seen:
            continue
        seen.add(f.test_id)
        out.append((f, f.test))
    return out


def pytest_node_id(test: Test) -> str:
    """`file::Class::name` (or `file::name`) when the test looks like a pytest test; else the
    classname and name joined by `::`."""
    if test.file.endswith(".py"):
        module = test.file[:-3].replace("/", ".")
        classname = test.classname
        if classname == module or not classname:
            return f"{test.file}::{test.name}"
        if classname.startswith(module + "."):
            return f"{test.file}::{classname[len(module) + 1:].replace('.', '::')}::{test.name}"
    return f"{test.classname}::{test.name}" if test.classname else test.name
