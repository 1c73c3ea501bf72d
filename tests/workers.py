"""Real Celery worker processes for served-mode tests.

A worker runs `celery -A dashboard worker` in a subprocess against the test database and the
test Redis, exactly as in production; tests wait on the database state it produces.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import redis
from django.conf import settings
from django.db import connection

REPO = Path(__file__).resolve().parent.parent
QUEUES = "default,ingest,metrics,reports,email"


def served() -> bool:
    return connection.vendor == "postgresql" and bool(settings.REDIS_URL)


def worker_env(**extra: str) -> dict[str, str]:
    db = settings.DATABASES["default"]
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "dashboard.settings",
        "DATABASE_URL": url,
        "REDIS_URL": settings.REDIS_URL,
        "PYTHONPATH": str(REPO),
        "LOG_LEVEL": "INFO",
        # As tests/settings.py: the test receivers listen on 127.0.0.1.
        "SUITEHEALTH_WEBHOOK_BLOCKED_NETWORKS": "none",
    }
    env.update(extra)
    return env


def purge_broker() -> None:
    redis.Redis.from_url(settings.REDIS_URL).flushdb()


class Worker:
    """A worker subprocess; use as a context manager or call stop()/kill()."""

    def __init__(
        self,
        *,
        log_path: Path,
        beat: bool = False,
        queues: str = QUEUES,
        concurrency: int = 1,
        **env: str,
    ) -> None:
        args = [
            sys.executable, "-m", "celery", "-A", "dashboard", "worker",
            "-Q", queues, "-c", str(concurrency), "--pool", "prefork", "--loglevel", "INFO",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        ]  # fmt: skip
        if beat:
            args += ["--beat", "--schedule", str(log_path.with_suffix(".beat"))]
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.proc = subprocess.Popen(
            args,
            cwd=REPO,
            env=worker_env(**env),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # so kill() reaches the pool's child processes too
        )

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and pool children), as a crash would."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self._log.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self._log.close()

    def pids(self) -> list[int]:
        """The worker's main process and its pool's processes: its process group (it was
        started in a session of its own)."""
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                # pid (comm) state ppid pgrp ...: comm may hold spaces, so read after its ")"
                fields = stat.read_text().rpartition(")")[2].split()
            except OSError:
                continue  # ended meanwhile
            if int(fields[2]) == self.proc.pid:
                found.append(int(stat.parent.name))
        return sorted(found)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def wait_for(condition: Callable[[], object], *, timeout: float = 60, what: str = "") -> object:
    """Poll until condition() is truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
        time.sleep(0.1)
