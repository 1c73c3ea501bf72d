"""The metrics API: services, service-week metrics, findings, quarantine."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.http import HttpResponse
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ingest.apis import _errors, _project
from ingest.errors import IngestError
from ingest.weeks import parse_week
from reports.models import Finding, Report
from reports.report_services import report_get_or_generate
from reports.selectors import (
    finding_list,
    pytest_node_id,
    quarantine_list,
    service_get,
    service_list,
    service_week_get,
)
from reports.subscriptions import subscription_create, subscription_delete, subscription_list
from reports.weekly import ReportNotFound


def _week(label: str) -> dt.date:
    try:
        return parse_week(label)
    except ValueError as exc:
        raise IngestError("invalid_week", str(exc)) from None


class TestSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    suite = serializers.CharField()
    classname = serializers.CharField()
    name = serializers.CharField()
    file = serializers.CharField()


class ServiceListApi(APIView):
    @extend_schema_serializer(component_name="ServiceSummary")
    class OutputSerializer(serializers.Serializer):
        name = serializers.CharField(source="service.name")
        latest_week = serializers.CharField(source="latest.week_label", default=None)
        runs = serializers.IntegerField(source="latest.runs", default=None)
        pass_rate = serializers.FloatField(source="latest.pass_rate", default=None)
        final_pass_rate = serializers.FloatField(source="latest.final_pass_rate", default=None)
        isolation_score = serializers.FloatField(source="latest.isolation_score", default=None)

    @extend_schema(
        operation_id="service_list",
        responses={200: OutputSerializer(many=True), **_errors(401, 403)},
    )
    def get(self, request: Request, slug: str) -> Response:
        """The project's services, each with its latest computed week: runs, pass rates and
        isolation score (the week's full metrics: `services/NAME/weeks/WEEK`)."""
        project = _project(request, slug=slug)
        return Response(self.OutputSerializer(service_list(project=project), many=True).data)


class ServiceWeekApi(APIView):
    @extend_schema(
        operation_id="service_week",
        summary="A service's metrics for one ISO week (see docs/metrics.md for every field)",
        responses={200: OpenApiTypes.OBJECT, **_errors(400, 401, 403, 404)},
    )
    def get(self, request: Request, slug: str, name: str, week: str) -> Response:
        project = _project(request, slug=slug)
        row = service_week_get(service=service_get(project=project, name=name), week=_week(week))
        return Response(
            {
                "service": name,
                "week": row.week_label,
                "stale": row.is_stale,
                "computed_at": row.computed_at,
                # the moment the figures judge at: the week's end, or a time within the week
                # while it was in progress (docs/metrics.md, "Time")
                "as_of": row.as_of,
                "in_progress": row.in_progress,
                "algorithm_version": row.version,
                "params": row.params,
                **row.metrics,
            }
        )


class FindingSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    service = serializers.CharField(source="service.name")
    test = TestSerializer()
    related_test = TestSerializer(allow_null=True)
    week = serializers.CharField(source="week_label")
    status = serializers.CharField()
    score = serializers.FloatField(allow_null=True)
    evidence = serializers.JSONField()
    first_run = serializers.IntegerField(source="first_run_id", allow_null=True)
    last_run = serializers.IntegerField(source="last_run_id", allow_null=True)
    algorithm_version = serializers.CharField(source="version")
    params = serializers.JSONField(help_text="The parameters of the recompute that wrote it.")


class FindingPageSerializer(serializers.Serializer):
    """One page of findings, DRF's page-number shape (DESIGN.md: paginated, `results`, `next`)."""

    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = FindingSerializer(many=True)


class FindingListApi(APIView):
    @extend_schema(
        operation_id="finding_list",
        parameters=[
            OpenApiParameter("kind", enum=[k.value for k in Finding.Kind]),
            OpenApiParameter("service", str),
            OpenApiParameter("week", str, description="ISO week, e.g. 2026-W45"),
            OpenApiParameter("status", enum=["open", "resolved"]),
            OpenApiParameter(
                "page",
                int,
                description=f"page number, {settings.REST_FRAMEWORK['PAGE_SIZE']} a page",
            ),
        ],
        responses={200: FindingPageSerializer, **_errors(400, 401, 403, 404)},
    )
    def get(self, request: Request, slug: str) -> Response:
        """The project's findings, newest week first, filtered by kind, service, week and
        status: flaky tests, order-dependent victims (`test`) with their polluter
        (`related_test`), cascade roots, regressions, fixes, duration regressions and budget
        violations, each with the evidence it was found on (docs/metrics.md)."""
        project = _project(request, slug=slug)
        params = request.query_params
        kind = params.get("kind") or None
        if kind and kind not in Finding.Kind.values:
            raise IngestError(
                "invalid_kind", f"kind must be one of {', '.join(Finding.Kind.values)}"
            )
        status = params.get("status") or None
        if status and status not in Finding.Status.values:
            raise IngestError("invalid_status", "status must be open or resolved")
        qs = finding_list(
            project=project, kind=kind, service=params.get("service") or None,
            week=_week(params["week"]) if params.get("week") else None, status=status,
        )  # fmt: skip
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(FindingSerializer(page, many=True).data)


class _LinesRenderer(BaseRenderer):
    """text/plain (`?format=text` or `Accept: text/plain`): the view gives the text; an error's
    JSON body is sent as it is."""

    media_type = "text/plain"
    format = "text"
    charset = "utf-8"

    def render(
        self,
        data: object,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        if isinstance(data, str):
            return data.encode()
        return JSONRenderer().render(data)


class QuarantineApi(APIView):
    # `format` is DRF's renderer switch: text must be a renderer for ?format=text to reach get().
    renderer_classes = [JSONRenderer, _LinesRenderer]

    @extend_schema(
        operation_id="quarantine",
        summary="Tests currently flaky, with their cause; ?format=text gives one test id a line",
        parameters=[
            OpenApiParameter("format", enum=["json", "text"]),
            OpenApiParameter("service", str, description="One service's tests (a CI job's)"),
        ],
        responses={200: OpenApiTypes.OBJECT, **_errors(401, 403, 404)},
    )
    def get(self, request: Request, slug: str) -> Response:
        project = _project(request, slug=slug)
        name = request.query_params.get("service") or None
        service = service_get(project=project, name=name) if name else None
        entries = quarantine_list(project=project, service=service)
        if request.accepted_renderer.format == "text":
            lines = sorted({pytest_node_id(test) for _, test in entries})
            return Response("".join(f"{line}\n" for line in lines))
        return Response(
            {
                "tests": [
                    {
                        **TestSerializer(test).data,
                        "service": f.service.name,
                        "cause": f.kind,
                        "week": f.week_label,
                        "node_id": pytest_node_id(test),
                        "finding": f.pk,
                    }
                    for f, test in entries
                ]
            }
        )


class _FormatInPath(BaseContentNegotiation):
    """The report's format is in its path (.md, .pdf): any Accept header gets it, and an error
    is answered in JSON, as everywhere in the API (no 406 for `Accept: application/pdf`)."""

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        first = next(iter(renderers))
        return first, first.media_type

    def select_parser(self, request: Request, parsers: Iterable[BaseParser]) -> BaseParser | None:
        return next(iter(parsers), None)


class WeeklyReportApi(APIView):
    """The weekly report of an ISO week, as Markdown or PDF (stored; made on first request)."""

    renderer_classes = [JSONRenderer]  # errors; the report itself is its stored bytes
    content_negotiation_class = _FormatInPath

    @extend_schema(
        operation_id="weekly_report",
        summary="The weekly status report of an ISO week: 2026-W45.md or 2026-W45.pdf",
        parameters=[
            OpenApiParameter(
                "week", str, OpenApiParameter.PATH, description="ISO week, e.g. 2026-W45"
            ),
            OpenApiParameter("fmt", str, OpenApiParameter.PATH, enum=["md", "pdf"]),
            OpenApiParameter("service", str, description="One service's report"),
        ],
        responses={
            (200, "text/markdown"): OpenApiTypes.STR,
            (200, "application/pdf"): OpenApiTypes.BINARY,
            **_errors(400, 401, 403, 404),
        },
    )
    def get(self, request: Request, slug: str, week: str, fmt: str) -> HttpResponse:
        project = _project(request, slug=slug)
        monday = _week(week)
        name = request.query_params.get("service") or None
        service = service_get(project=project, name=name) if name else None
        try:
            row = report_get_or_generate(project=project, week=monday, fmt=fmt, service=service)
        except ReportNotFound as exc:
            raise IngestError("no_data", str(exc), status_code=404) from None
        response = HttpResponse(bytes(row.content), content_type=Report.CONTENT_TYPES[fmt])
        disposition = content_disposition_header(False, row.filename)
        assert disposition is not None  # None only without a filename; a report always has one
        response["Content-Disposition"] = disposition
        return response


# --- Alert subscriptions ------------------------------------------------------------------------


class SubscriptionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    channel = serializers.CharField(help_text="email or webhook")
    target = serializers.CharField(help_text="Email address or webhook URL.")
    service = serializers.CharField(source="service.name", allow_null=True, default=None)
    kinds = serializers.ListField(child=serializers.CharField(), help_text="Empty: the defaults.")
    effective_kinds = serializers.ListField(child=serializers.CharField())
    active = serializers.BooleanField()
    created_at = serializers.DateTimeField()


class SubscriptionListApi(APIView):
    """A project's alert subscriptions (docs/alerts.md)."""

    class InputSerializer(serializers.Serializer):
        target = serializers.CharField(max_length=1000, help_text="Email address or http(s) URL.")
        service = serializers.CharField(
            max_length=100, required=False, allow_blank=True, allow_null=True, default=None,
            help_text="One service's findings only; omit for every service.",
        )  # fmt: skip
        kinds = serializers.ListField(
            child=serializers.CharField(), required=False, default=list,
            help_text="Finding kinds to alert on; empty: regression, duration_regression, fixed.",
        )  # fmt: skip

        class Meta:
            ref_name = "SubscriptionInput"  # "Input" alone collides with other APIs' schemas

    class CreatedSerializer(SubscriptionSerializer):
        secret = serializers.CharField(
            help_text="Webhooks: the HMAC key of the signature header; shown at creation only."
        )

        class Meta:
            ref_name = "SubscriptionCreated"

    @extend_schema(
        operation_id="subscription_list",
        responses={200: SubscriptionSerializer(many=True), **_errors(401, 403)},
    )
    def get(self, request: Request, slug: str) -> Response:
        project = _project(request, slug=slug)
        return Response(SubscriptionSerializer(subscription_list(project=project), many=True).data)

    @extend_schema(
        operation_id="subscription_create",
        summary="Subscribe an email address or webhook URL (the same target again updates it)",
        request=InputSerializer,
        responses={201: CreatedSerializer, 200: CreatedSerializer, **_errors(400, 401, 403)},
    )
    def post(self, request: Request, slug: str) -> Response:
        project = _project(request, slug=slug)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        sub, created = subscription_create(
            project=project, target=data["target"], service=data["service"] or None,
            kinds=data["kinds"],
        )  # fmt: skip
        body = SubscriptionSerializer(sub).data
        if created and sub.secret:
            body["secret"] = sub.secret
        return Response(body, status=201 if created else 200)


class SubscriptionDetailApi(APIView):
    @extend_schema(
        operation_id="subscription_delete", responses={204: None, **_errors(401, 403, 404)}
    )
    def delete(self, request: Request, slug: str, subscription_id: int) -> Response:
        """Remove an alert subscription of the project: its address or URL hears nothing more."""
        project = _project(request, slug=slug)
        subscription_delete(project=project, subscription_id=subscription_id)
        return Response(status=204)
