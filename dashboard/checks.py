"""Start-up checks: refuse unsafe production settings and misspelled Celery settings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register

if TYPE_CHECKING:
    from django.apps import AppConfig

_KNOWN_CELERY = {
    "CELERY_BROKER_URL",
    "CELERY_RESULT_BACKEND",
    "CELERY_TASK_IGNORE_RESULT",
    "CELERY_TASK_ALWAYS_EAGER",
    "CELERY_TASK_EAGER_PROPAGATES",
    "CELERY_TASK_SERIALIZER",
    "CELERY_RESULT_SERIALIZER",
    "CELERY_ACCEPT_CONTENT",
    "CELERY_TIMEZONE",
    "CELERY_TASK_TIME_LIMIT",
    "CELERY_TASK_SOFT_TIME_LIMIT",
    "CELERY_TASK_ACKS_LATE",
    "CELERY_TASK_REJECT_ON_WORKER_LOST",
    "CELERY_WORKER_PREFETCH_MULTIPLIER",
    "CELERY_TASK_DEFAULT_QUEUE",
    "CELERY_BROKER_TRANSPORT_OPTIONS",
    "CELERY_WORKER_HIJACK_ROOT_LOGGER",
}


@register(Tags.security, deploy=False)
def check_production_secrets(
    app_configs: Sequence[AppConfig] | None, **kwargs: object
) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    if not settings.DEBUG and settings.SECRET_KEY == settings.DEV_SECRET_KEY:
        errors.append(
            Error(
                "DEBUG is off but SECRET_KEY is the development key.",
                hint="Set SECRET_KEY (or SECRET_KEY_FILE) to a long random value.",
                id="suitehealth.E001",
            )
        )
    if not settings.DEBUG and not settings.ALLOWED_HOSTS:
        errors.append(
            Error(
                "DEBUG is off and ALLOWED_HOSTS is empty.",
                hint="Set ALLOWED_HOSTS to the host names the app is served under.",
                id="suitehealth.E002",
            )
        )
    return errors


@register()
def check_celery_setting_names(
    app_configs: Sequence[AppConfig] | None, **kwargs: object
) -> list[CheckMessage]:
    unknown = sorted(
        name for name in dir(settings) if name.startswith("CELERY") and name not in _KNOWN_CELERY
    )
    return [
        Error(
            f"Unknown Celery setting {name}: it would be silently ignored.",
            hint="Check the spelling against dashboard/checks.py, or add it there.",
            id="suitehealth.E003",
        )
        for name in unknown
    ]
