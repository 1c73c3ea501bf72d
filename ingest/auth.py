"""CI authenticates with `Authorization: Token <key>`; the key resolves once to its Project."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions

from ingest.models import IngestToken, Project

if TYPE_CHECKING:
    from drf_spectacular.openapi import AutoSchema
    from rest_framework.request import Request
    from rest_framework.views import APIView


class IngestTokenAuthentication(authentication.BaseAuthentication):
    """Sets request.auth to the token's Project. request.user stays None: tokens are not people."""

    keyword = "Token"

    def authenticate(self, request: Request) -> tuple[None, Project] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        parts = header.split()
        if len(parts) != 2 or parts[0] != self.keyword:
            raise exceptions.AuthenticationFailed(
                "Authorization header must be 'Token <key>' with a project's ingest key."
            )
        token = (
            IngestToken.objects.select_related("project")
            .filter(key_hash=IngestToken.hash_key(parts[1]))
            .first()
        )
        if token is None or not token.is_active:
            raise exceptions.AuthenticationFailed("Unknown or revoked ingest key.")
        # Cheap, and only written when stale, so busy CI does not write on every upload.
        now = timezone.now()
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
            IngestToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return (None, token.project)

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


class IngestTokenScheme(OpenApiAuthenticationExtension):
    target_class = "ingest.auth.IngestTokenAuthentication"
    name = "IngestToken"

    def get_security_definition(self, auto_schema: AutoSchema) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <key>` with the project's ingest key.",
        }


def request_project(request: Request) -> Project | None:
    return request.auth if isinstance(request.auth, Project) else None


class HasIngestToken(permissions.BasePermission):
    """The request carries a valid ingest key (request.auth is its Project)."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        return isinstance(request.auth, Project)
