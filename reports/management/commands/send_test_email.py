"""python manage.py send_test_email ADDRESS: check the email settings by sending one message."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from reports import emails


class Command(BaseCommand):
    help = "Send a test email to ADDRESS with the configured settings (EMAIL_URL...)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("address")

    def handle(self, *args: Any, **options: Any) -> None:
        where = f"{settings.EMAIL_BACKEND} {settings.EMAIL_HOST}:{settings.EMAIL_PORT}"
        try:
            emails.test(to=options["address"])
        except OSError as exc:  # SMTP errors, refused connections and timeouts alike
            raise CommandError(
                f"sending through {where} failed: {type(exc).__name__}: {exc}"
            ) from None
        self.stdout.write(f"sent a test email to {options['address']} through {where}")
