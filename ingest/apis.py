"""The ingest API: one APIView per operation, validate -> service -> serialize."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ingest.auth import request_project
from ingest.errors import IngestError
from ingest.models import CONTROL_CHARACTERS, Project, Run, ServiceRule
from ingest.parsers.values import EARLIEST, LATEST, plausible
from ingest.selectors import project_pending_count, run_files, run_get, service_rule_list
from ingest.services import UploadMeta, run_create, service_rules_replace


class ErrorSerializer(serializers.Serializer):
    error = serializers.CharField(help_text="Machine-readable code, e.g. malformed_xml.")
    detail = serializers.CharField()
    file = serializers.CharField(required=False)
    line = serializers.IntegerField(required=False)
    column = serializers.IntegerField(required=False)


def _errors(*codes: int) -> dict[int, OpenApiResponse]:
    return {code: OpenApiResponse(ErrorSerializer) for code in codes}


class RunRefSerializer(serializers.Serializer):
    run = serializers.IntegerField()
    status = serializers.CharField()
    url = serializers.CharField()
    ignored = serializers.DictField(
        child=inline_serializer(
            "IgnoredField", {"stored": serializers.CharField(), "sent": serializers.CharField()}
        ),
        required=False,
        help_text="The same upload again (200) with other values for fields outside its "
        "identity (commit, branch, build_url, environment, service, started_at): the stored "
        "run keeps its own; each such field with both values.",
    )


def _one_line(value: str) -> None:
    """Names and labels are shown in pages, links and headers: no control characters, and only
    what was sent (a form field that is not UTF-8 is decoded with U+FFFD in place of its bytes)."""
    if CONTROL_CHARACTERS.search(value):
        raise serializers.ValidationError("must not contain control characters (newline, tab, ...)")
    if "\ufffd" in value:
        raise serializers.ValidationError("must be UTF-8 text (it holds bytes that are not)")


@extend_schema_field({"type": "string", "format": "binary"})
class _UploadedFile(serializers.FileField):
    """A file part of the form: documented as binary, so /api/docs/ offers a file picker."""


class UploadCreateApi(APIView):
    parser_classes = [MultiPartParser]

    class InputSerializer(serializers.Serializer):
        project = serializers.SlugField(required=False, help_text="Must be the key's project.")
        commit = serializers.CharField(max_length=100, validators=[_one_line])
        branch = serializers.CharField(
            max_length=255, required=False, default="", validators=[_one_line]
        )
        build_id = serializers.CharField(
            max_length=255, required=False, default="", validators=[_one_line]
        )
        job = serializers.CharField(
            max_length=255, required=False, default="", validators=[_one_line]
        )
        # Any http(s) URL: CI servers often have host names without a dot (http://jenkins:8080/).
        build_url = serializers.RegexField(
            r"^https?://\S+$",
            max_length=1000,
            required=False,
            default="",
            error_messages={"invalid": "must be an http:// or https:// URL"},
            validators=[_one_line],
        )
        started_at = serializers.DateTimeField(required=False, default=None)
        environment = serializers.CharField(
            max_length=255, required=False, default="", validators=[_one_line]
        )
        service = serializers.CharField(
            max_length=100, required=False, default="", validators=[_one_line]
        )
        file = serializers.ListField(child=_UploadedFile(allow_empty_file=True), required=False)

        def validate_started_at(self, value: dt.datetime | None) -> dt.datetime | None:
            if value is not None and plausible(value) is None:
                raise serializers.ValidationError(
                    f"must lie from {EARLIEST:%Y-%m-%d} to before {LATEST:%Y-%m-%d}"
                )
            return value

    @extend_schema(
        operation_id="upload_create",
        summary="Upload test results of one CI job",
        request={"multipart/form-data": InputSerializer},
        responses={
            202: RunRefSerializer,
            200: OpenApiResponse(RunRefSerializer, description="Same upload again: same run."),
            **_errors(400, 401, 403, 413, 415),
        },
    )
    def post(self, request: Request) -> Response:
        project = _project(request)
        _refuse_oversized(request)
        serializer = self.InputSerializer(data=_form(request))
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if data.get("project") and data["project"] != project.slug:
            raise IngestError(
                "wrong_project",
                f"this key belongs to project {project.slug!r}, not {data['project']!r}",
                status_code=403,
            )
        uploads = request.FILES.getlist("file")
        meta = UploadMeta(**{k: v for k, v in data.items() if k not in ("project", "file")})
        result = run_create(
            project=project, meta=meta, files=[(f.name or "upload", f) for f in uploads]
        )
        run = result.run
        body: dict[str, object] = {
            "run": run.pk,
            "status": run.status,
            "url": f"/api/v1/runs/{run.pk}",
        }
        if result.ignored:
            body["ignored"] = {
                name: {"stored": stored, "sent": sent}
                for name, (stored, sent) in result.ignored.items()
            }
        return Response(
            body, status=status.HTTP_202_ACCEPTED if result.created else status.HTTP_200_OK
        )


class RunFileSerializer(serializers.Serializer):
    name = serializers.CharField()
    format = serializers.CharField()
    size = serializers.IntegerField()
    digest = serializers.CharField()


class RunDetailApi(APIView):
    @extend_schema_serializer(component_name="Run")
    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        project = serializers.CharField(source="project.slug")
        commit = serializers.CharField()
        branch = serializers.CharField()
        build_id = serializers.CharField()
        job = serializers.CharField()
        build_url = serializers.CharField()
        environment = serializers.CharField()
        service = serializers.CharField()
        started_at = serializers.DateTimeField()
        week = serializers.CharField(source="week_label")
        received_at = serializers.DateTimeField()
        parsed_at = serializers.DateTimeField()
        status = serializers.CharField()
        error = serializers.JSONField()
        counts = serializers.JSONField(
            help_text="tests, results, passed, failed, error, skipped (by final attempt), "
            "retried, flaky"
        )
        files = serializers.SerializerMethodField()

        @extend_schema_field(RunFileSerializer(many=True))
        def get_files(self, run: Run) -> list[dict[str, object]]:
            return [
                {"name": f.name, "format": f.format, "size": f.size, "digest": f.digest}
                for f in run_files(run=run)
            ]

    @extend_schema(
        operation_id="run_detail",
        summary="A run's status, error and counts",
        responses={200: OutputSerializer, **_errors(401, 404)},
    )
    def get(self, request: Request, run_id: int) -> Response:
        run = run_get(project=_project(request), run_id=run_id)
        return Response(self.OutputSerializer(run).data)


class ProjectStatusApi(APIView):
    @extend_schema(
        operation_id="project_status",
        summary="Work not yet done for a project",
        responses={
            200: inline_serializer("ProjectStatus", {"pending": serializers.IntegerField()}),
            **_errors(401, 403, 404),
        },
    )
    def get(self, request: Request, slug: str) -> Response:
        project = _project(request, slug=slug)
        return Response({"pending": project_pending_count(project=project)})


class ServiceRuleSerializer(serializers.Serializer):
    service = serializers.CharField(
        max_length=100,
        validators=[_one_line],
        help_text="Service name (created when new); may contain '/' (`team/api`), as an upload's "
        "`service` may.",
    )
    pattern = serializers.CharField(
        max_length=500,
        help_text="Glob on the test's file path (its classname when the file is unknown); "
        "`*` also matches '/'.",
    )


class ServiceRulesApi(APIView):
    """A project's service rules: tests go to the first rule (in list order) whose glob matches
    them. Replacing the rules re-maps the tests no upload pinned, in the background."""

    # Named components: nested Input/Output classes would all be "Input" and "Output" in the schema.
    @extend_schema_serializer(component_name="ServiceRulesReplace")
    class InputSerializer(serializers.Serializer):
        # With many=True DRF hands max_length to the ListSerializer; the stubs leave it out.
        rules = ServiceRuleSerializer(many=True, allow_empty=True, max_length=1000)  # type: ignore[call-arg]

    @extend_schema_serializer(component_name="ServiceRules")
    class OutputSerializer(serializers.Serializer):
        rules = ServiceRuleSerializer(many=True)

    @extend_schema(
        operation_id="service_rules_list",
        summary="A project's service rules, in the order they are tried",
        responses={200: OutputSerializer, **_errors(401, 403)},
    )
    def get(self, request: Request, slug: str) -> Response:
        project = _project(request, slug=slug)
        return Response(self._output(service_rule_list(project=project)))

    @extend_schema(
        operation_id="service_rules_replace",
        summary="Replace a project's service rules (order = list order)",
        request=InputSerializer,
        responses={200: OutputSerializer, **_errors(400, 401, 403)},
    )
    def put(self, request: Request, slug: str) -> Response:
        project = _project(request, slug=slug)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        rules = [(r["service"], r["pattern"]) for r in serializer.validated_data["rules"]]
        return Response(self._output(service_rules_replace(project=project, rules=rules)))

    def _output(self, rules: list[ServiceRule]) -> dict[str, object]:
        data = [{"service": r.service.name, "pattern": r.pattern} for r in rules]
        return self.OutputSerializer({"rules": data}).data


def _project(request: Request, *, slug: str | None = None) -> Project:
    project = request_project(request)
    if project is None:  # IsAuthenticated lets no anonymous request get here; belt and braces
        raise IngestError("not_authenticated", "send 'Authorization: Token <key>'", status_code=401)
    if slug is not None and slug != project.slug:
        raise IngestError(
            "wrong_project", f"this key belongs to project {project.slug!r}", status_code=403
        )
    return project


def _form(request: Request) -> dict[str, Any] | list[Any]:
    """The multipart form, with Django's own refusals (more files or form data than it reads)
    answered as API errors instead of its HTML 400 page."""
    try:
        return request.data
    except TooManyFilesSent:
        raise IngestError(
            "too_many_files", f"at most {settings.SUITEHEALTH_MAX_FILES} files per upload"
        ) from None
    except TooManyFieldsSent:
        raise IngestError("too_many_fields", "the form has too many fields") from None
    except RequestDataTooBig:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raise IngestError(
            "fields_too_large",
            f"the form's fields other than files exceed {limit:,} bytes",
            status_code=413,
        ) from None


def _refuse_oversized(request: Request) -> None:
    """Refuse by declared length before reading a byte of the body."""
    if not request.META.get("CONTENT_LENGTH"):
        # A WSGI server hands Django no body it has no length for: the fields would be
        # reported missing ("commit: required") instead of the real problem.
        raise IngestError(
            "length_required",
            "the upload has no Content-Length: send the body with its length, not chunked",
        )
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    limit = settings.SUITEHEALTH_MAX_UPLOAD_BYTES
    if declared > limit:
        raise IngestError(
            "upload_too_large",
            f"the upload declares {declared:,} bytes; the limit is {limit:,}",
            status_code=413,
        )
