from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _samples() -> Path:
    """The sample corpus: SUITEHEALTH_SAMPLES, else `shared/samples` beside the checkout, else
    beside the local repository this checkout was cloned from (a fresh clone in a temporary
    directory, as CI makes one)."""
    if os.environ.get("SUITEHEALTH_SAMPLES"):
        return Path(os.environ["SUITEHEALTH_SAMPLES"])
    beside = REPO.parent / "shared" / "samples"
    if beside.is_dir():
        return beside
    origin = subprocess.run(
        ["git", "-C", str(REPO), "remote", "get-url", "origin"],
        capture_output=True, text=True, check=False,
    ).stdout.strip()  # fmt: skip
    if origin and Path(origin).is_dir():
        cloned_from = Path(origin).resolve().parent / "shared" / "samples"
        if cloned_from.is_dir():
            return cloned_from
    return beside


SAMPLES = _samples()


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    if not SAMPLES.is_dir():
        pytest.fail(f"sample corpus not found at {SAMPLES} (set SUITEHEALTH_SAMPLES)")
    return SAMPLES


# --- Personas and clients -----------------------------------------------------------------------


@pytest.fixture
def project(db):
    from ingest.services import project_create

    return project_create(slug="mediaserver", name="Media server")


@pytest.fixture
def other_project(db):
    from ingest.services import project_create

    return project_create(slug="billing", name="Billing")


@pytest.fixture
def project_key(project) -> str:
    from ingest.services import token_create

    return token_create(project=project)[1]


@pytest.fixture
def other_key(other_project) -> str:
    from ingest.services import token_create

    return token_create(project=other_project)[1]


@pytest.fixture
def ci_client(project_key):
    """A DRF client authenticated with the project's ingest key, as a CI job is."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {project_key}")
    return client


@pytest.fixture
def smtp(settings):
    """A real SMTP server (aiosmtpd) on 127.0.0.1, and Django's SMTP backend pointed at it."""
    from tests.reports.receivers import SmtpSink

    with SmtpSink() as sink:
        settings.EMAIL_BACKEND = "reports.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", sink.port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.EMAIL_TIMEOUT = 10
        yield sink


# --- Served mode: real worker processes ---------------------------------------------------------


@pytest.fixture
def served_only():
    from django.conf import settings

    if "postgresql" not in settings.DATABASES["default"]["ENGINE"] or not settings.REDIS_URL:
        pytest.skip("needs DATABASE_URL (PostgreSQL) and REDIS_URL: run `make test`")


@pytest.fixture
def worker(transactional_db, served_only, tmp_path):
    """A real Celery worker process on a clean broker, stopped after the test."""
    from tests.workers import Worker, purge_broker

    purge_broker()
    with Worker(log_path=tmp_path / "worker.log") as running:
        yield running
