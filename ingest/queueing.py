"""Queueing a task once the current transaction commits, without failing what has committed.

What the task is queued for is already in the database (a run `received`, a service-week marked
stale, an alert batch pending, a report marked stale), and a periodic sweeper queues it again
when it waits too long. A broker that cannot be reached at that moment is therefore logged, not
raised: raising would answer an upload that is stored with an error, and the client would send it
again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from celery import Task
from django.db import transaction

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QueueCall:
    """The on-commit callback: `task.apply_async(args, countdown=countdown)`, a broker error
    logged with the sweeper (`swept_by`, a beat task's name) that will queue it later."""

    task: Task
    args: tuple[Any, ...]
    countdown: float | None
    swept_by: str

    def __call__(self) -> None:
        try:
            # None is celery's own default (no delay); the stubs accept only a number.
            self.task.apply_async(self.args, countdown=self.countdown)  # type: ignore[arg-type]
        except Exception as exc:  # kombu.OperationalError and whatever the transport raises
            log.error(
                "could not queue %s%r, %s will queue it again: %s: %s",
                self.task.name, self.args, self.swept_by, type(exc).__name__, exc,
            )  # fmt: skip


def enqueue_on_commit(
    task: Task, *args: Any, countdown: float | None = None, swept_by: str
) -> None:
    """Queue `task(*args)` once the current transaction commits (see QueueCall)."""
    transaction.on_commit(QueueCall(task, args, countdown, swept_by))
