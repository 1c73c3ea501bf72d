"""Domain errors of the ingest API and the one handler that turns every API error into
`{"error": CODE, "detail": "...", ...}` with the right status."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler


class IngestError(Exception):
    """An upload that is refused. `extra` carries where (file, line, column)."""

    status_code: int = status.HTTP_400_BAD_REQUEST

    def __init__(self, code: str, detail: str, *, status_code: int | None = None, **extra: Any):
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.extra = extra
        if status_code is not None:
            self.status_code = status_code

    def as_dict(self) -> dict[str, Any]:
        return {"error": self.code, "detail": self.detail, **self.extra}


_CODES = {
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    Http404: "not_found",  # get_object_or_404 and the like: DRF answers them with a NotFound
    PermissionDenied: "permission_denied",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.ParseError: "malformed_request",
    exceptions.ValidationError: "invalid",
    exceptions.Throttled: "throttled",
}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, IngestError):
        return Response(exc.as_dict(), status=exc.status_code)
    response = exception_handler(exc, context)
    if response is None:
        return None
    code = next((c for cls, c in _CODES.items() if isinstance(exc, cls)), "error")
    if isinstance(exc, exceptions.ValidationError):
        fields = response.data if isinstance(response.data, dict) else {"non_field": response.data}
        names = ", ".join(sorted(fields))
        response.data = {"error": code, "detail": f"Invalid fields: {names}.", "fields": fields}
    else:
        detail = response.data.get("detail", str(exc)) if isinstance(response.data, dict) else exc
        response.data = {"error": code, "detail": str(detail)}
    return response
