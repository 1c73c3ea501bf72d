"""python manage.py subscribe SLUG ADDRESS_OR_URL [--service S] [--kind K ...]

Subscribes an email address or a webhook URL to a project's findings. Running it again for the
same target and service updates the kinds (and re-activates an unsubscribed target). A new
webhook's signing secret is printed as the last line; it is not shown again.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ingest.models import Project
from reports.models import Subscription
from reports.subscriptions import SubscriptionError, subscription_create


class Command(BaseCommand):
    help = "Subscribe an email address or webhook URL to a project's alerts."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("target", metavar="ADDRESS_OR_URL")
        parser.add_argument("--service", default=None, help="Only this service's findings.")
        parser.add_argument(
            "--kind",
            action="extend",
            nargs="+",
            default=[],
            choices=Subscription.KINDS,
            metavar="K",
            help="Finding kinds to alert on (--kind a b, or --kind repeated); default: "
            + ", ".join(Subscription.DEFAULT_KINDS),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        project = Project.objects.filter(slug=options["slug"]).first()
        if project is None:
            raise CommandError(f"no project {options['slug']!r}")
        try:
            sub, created = subscription_create(
                project=project,
                target=options["target"],
                service=options["service"],
                kinds=options["kind"],
            )
        except SubscriptionError as exc:
            raise CommandError(exc.detail) from None
        scope = f"service {sub.service.name}" if sub.service is not None else "all services"
        verb = "subscribed" if created else "updated"
        self.stdout.write(
            f"{verb} {sub.target} ({sub.channel}) to {project.slug}, {scope}: "
            f"{', '.join(sub.effective_kinds)}"
        )
        if created and sub.secret:
            self.stdout.write("webhook signing secret (shown once):")
            self.stdout.write(sub.secret)
