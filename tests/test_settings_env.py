"""Environment readers reject nonsense with a message naming the variable."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from dashboard.env import (
    env_bool,
    env_choice,
    env_int,
    env_list,
    env_networks,
    env_secret,
    env_url,
)


def test_it_reads_booleans_and_rejects_unknown_words(monkeypatch) -> None:
    monkeypatch.setenv("FLAG", "yes")
    assert env_bool("FLAG", False) is True
    monkeypatch.setenv("FLAG", "Off")
    assert env_bool("FLAG", True) is False
    monkeypatch.setenv("FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="FLAG='maybe' is not a boolean"):
        env_bool("FLAG", True)


def test_it_reads_integers_with_a_minimum(monkeypatch) -> None:
    monkeypatch.setenv("N", "1_000")
    assert env_int("N", 5) == 1000
    monkeypatch.setenv("N", "ten")
    with pytest.raises(ImproperlyConfigured, match="N='ten' is not a whole number"):
        env_int("N", 5)
    monkeypatch.setenv("N", "3")
    with pytest.raises(ImproperlyConfigured, match="below the minimum of 10"):
        env_int("N", 50, minimum=10)
    monkeypatch.delenv("N")
    assert env_int("N", 50) == 50


def test_it_reads_lists_and_secret_files(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("HOSTS", "a.example, b.example,,")
    assert env_list("HOSTS", []) == ["a.example", "b.example"]
    secret = tmp_path / "key"
    secret.write_text("s3cret\n")
    monkeypatch.setenv("TOKEN_FILE", str(secret))
    assert env_secret("TOKEN", "default") == "s3cret"
    monkeypatch.setenv("TOKEN_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match="TOKEN_FILE="):
        env_secret("TOKEN", "default")


def test_it_reads_networks(monkeypatch) -> None:
    monkeypatch.setenv("NETS", "10.0.0.0/8, ::1,192.168.1.7")
    assert [str(n) for n in env_networks("NETS", ["127.0.0.0/8"])] == [
        "10.0.0.0/8", "::1/128", "192.168.1.7/32",
    ]  # fmt: skip
    monkeypatch.setenv("NETS", "")
    assert [str(n) for n in env_networks("NETS", ["127.0.0.0/8"])] == ["127.0.0.0/8"]
    monkeypatch.setenv("NETS", "None")
    assert env_networks("NETS", ["127.0.0.0/8"]) == []
    monkeypatch.setenv("NETS", "10.0.0.0/8,10.0.0.300/8")
    with pytest.raises(ImproperlyConfigured, match="NETS: '10.0.0.300/8' is not an IP network"):
        env_networks("NETS", [])


def test_it_reads_choices_and_urls(monkeypatch) -> None:
    levels = ["DEBUG", "INFO", "WARNING"]
    monkeypatch.setenv("LEVEL", " warning ")
    assert env_choice("LEVEL", "INFO", levels) == "WARNING"
    monkeypatch.setenv("LEVEL", "LOUD")
    with pytest.raises(
        ImproperlyConfigured, match="LEVEL='LOUD' is not one of DEBUG, INFO, WARNING"
    ):
        env_choice("LEVEL", "INFO", levels)
    monkeypatch.setenv("SITE", "https://health.example.com:8443/suite/")
    assert env_url("SITE", "http://x") == "https://health.example.com:8443/suite"
    for bad in ("notaurl", "health.example.com", "ftp://health.example.com", "https://",
                "https://h.example/?a=1", "http://h.example:port"):  # fmt: skip
        monkeypatch.setenv("SITE", bad)
        with pytest.raises(ImproperlyConfigured, match="is not an http\\(s\\) URL with a host"):
            env_url("SITE", "http://x")
    monkeypatch.delenv("SITE")
    assert env_url("SITE", "http://127.0.0.1:8000") == "http://127.0.0.1:8000"


def _setup_fails(**environ: str) -> str:
    """Django's setup in a fresh process with these variables: its stderr (it must fail)."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    env.update(environ, DJANGO_SETTINGS_MODULE="dashboard.settings")
    proc = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env=env, capture_output=True, text=True, cwd=os.path.dirname(os.path.dirname(__file__)),
    )  # fmt: skip
    assert proc.returncode != 0, environ
    return proc.stderr


def test_settings_refuse_an_unknown_database_url() -> None:
    assert "DATABASE_URL='mysql://x/y'" in _setup_fails(DATABASE_URL="mysql://x/y")


def test_settings_name_a_wrong_log_level_and_site_url() -> None:
    assert "LOG_LEVEL='LOUD' is not one of" in _setup_fails(LOG_LEVEL="LOUD")
    assert "SITE_URL='notaurl'" in _setup_fails(SITE_URL="notaurl")


def test_settings_refuse_production_without_a_secret_key() -> None:
    """gunicorn and celery import the settings without running the system checks."""
    assert "SECRET_KEY is not set" in _setup_fails(DEBUG="false")


def test_the_system_checks_refuse_production_with_the_dev_key(settings) -> None:
    from dashboard.checks import check_production_secrets

    settings.DEBUG = False
    settings.SECRET_KEY = settings.DEV_SECRET_KEY
    assert [e.id for e in check_production_secrets(None)] == ["suitehealth.E001"]
    settings.SECRET_KEY = "x" * 50
    assert check_production_secrets(None) == []


def test_the_system_checks_catch_a_misspelled_celery_setting(settings) -> None:
    from dashboard.checks import check_celery_setting_names

    assert check_celery_setting_names(None) == []
    settings.CELERY_TASK_ACK_LATE = True
    assert [e.id for e in check_celery_setting_names(None)] == ["suitehealth.E003"]


def test_error_pages_hide_the_connection_urls(settings) -> None:
    from django.views.debug import get_default_exception_reporter_filter

    settings.EMAIL_URL = "smtp://user:hunter2@mail.example:25"
    settings.CELERY_BROKER_URL = "redis://:hunter2@redis:6379/0"
    shown = get_default_exception_reporter_filter().get_safe_settings()
    text = repr(shown)
    assert "hunter2" not in text
    for name in ("EMAIL_URL", "CELERY_BROKER_URL", "DATABASES", "CACHES"):
        assert shown[name] == "********************", name


def test_https_sites_get_secure_cookies(monkeypatch) -> None:
    import importlib

    import dashboard.settings as module

    try:
        monkeypatch.setenv("SITE_URL", "https://suitehealth.example.com")
        monkeypatch.setenv("TRUST_X_FORWARDED_PROTO", "true")
        https = importlib.reload(module)
        assert https.SESSION_COOKIE_SECURE and https.CSRF_COOKIE_SECURE
        assert https.SECURE_PROXY_SSL_HEADER == ("HTTP_X_FORWARDED_PROTO", "https")
        monkeypatch.setenv("SECURE_COOKIES", "false")
        assert not importlib.reload(module).SESSION_COOKIE_SECURE
        monkeypatch.delenv("SECURE_COOKIES")
        monkeypatch.setenv("SITE_URL", "http://127.0.0.1:8000")
        monkeypatch.delenv("TRUST_X_FORWARDED_PROTO")
        plain = importlib.reload(module)
        assert not plain.SESSION_COOKIE_SECURE and plain.SECURE_PROXY_SSL_HEADER is None
    finally:
        monkeypatch.undo()
        importlib.reload(module)
