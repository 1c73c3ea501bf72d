from __future__ import annotations

import os
from typing import TYPE_CHECKING

from django.core.wsgi import get_wsgi_application
from django.db.backends.signals import connection_created

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")


def _no_parallel_plans(
    sender: type[BaseDatabaseWrapper], connection: BaseDatabaseWrapper, **kwargs: object
) -> None:
    """Web processes plan without parallel workers. Page queries read short index ranges, and
    starting parallel workers costs more than it saves there (a test's 12 weeks of attempts on a
    5-million-result database: 22 ms with two workers, 10 ms without), all the more on a busy
    machine. The task workers, whose recomputes scan whole weeks, keep PostgreSQL's default."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET max_parallel_workers_per_gather = 0")


connection_created.connect(_no_parallel_plans, dispatch_uid="dashboard.wsgi.no_parallel_plans")
application = get_wsgi_application()
