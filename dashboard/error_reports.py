"""What Django's debug error page and error emails may show of the settings."""

from __future__ import annotations

import re

from django.views.debug import SafeExceptionReporterFilter


class SettingsFilter(SafeExceptionReporterFilter):
    """Django's filter hides names holding KEY, PASS, TOKEN...; ours also hides the connection
    URLs and the dicts built from them (DATABASE_URL, REDIS_URL, EMAIL_URL, CELERY_BROKER_URL,
    DATABASES, CACHES), which carry passwords."""

    hidden_settings = re.compile(
        "API|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|URL|DATABASES|CACHES|BROKER",
        flags=re.IGNORECASE,
    )
