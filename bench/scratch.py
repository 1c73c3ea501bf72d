"""A scratch PostgreSQL database for the in-process benchmarks, with Django set up on it."""

from __future__ import annotations

import os


def scratch_django(db: str, admin_dsn: str, *, keep: bool = False) -> None:
    """(Re)create database `db` (kept as it is when `keep` and it exists), point Django at it
    with tasks run in-process right after each commit (no broker), set Django up and migrate."""
    import psycopg

    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db]).fetchone()
        if not (keep and exists):
            admin.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
            admin.execute(f"CREATE DATABASE {db}")
    os.environ["DATABASE_URL"] = admin_dsn.rsplit("/", 1)[0] + f"/{db}"
    os.environ.pop("REDIS_URL", None)
    os.environ["LOG_LEVEL"] = "WARNING"
    os.environ["DJANGO_SETTINGS_MODULE"] = "dashboard.settings"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
