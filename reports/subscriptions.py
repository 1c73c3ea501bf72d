"""Alert subscriptions: creating, listing, deleting, and the signed one-click unsubscribe.

An unsubscribe token is a `django.core.signing.Signer` signature over the subscription id with
its own salt: it needs no login, and without SECRET_KEY it cannot be made for another
subscription or altered. It carries no timestamp and does not expire, because an email may be
read months later; the same subscription always gets the same link.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import Http404

from ingest.errors import IngestError
from ingest.models import Project, Service
from reports.models import Subscription

UNSUBSCRIBE_SALT = "suitehealth.alerts.unsubscribe"


class SubscriptionError(IngestError):
    """A subscription request that cannot be honoured (the API answers 400 with its code)."""


# --- Selectors ------------------------------------------------------------------------------------


def subscription_list(*, project: Project) -> QuerySet[Subscription]:
    """The project's subscriptions, active or not, oldest first (for the API and settings page)."""
    return Subscription.objects.filter(project=project).select_related("service").order_by("id")


def subscription_get(*, project: Project, subscription_id: int) -> Subscription:
    sub = (
        Subscription.objects.filter(project=project, pk=subscription_id)
        .select_related("service")
        .first()
    )
    if sub is None:
        raise Http404("no such subscription in this project")
    return sub


# --- Services -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SubscriptionSpec:
    """A subscription request that passed the rules: what subscription_create writes."""

    target: str
    channel: str
    service: Service | None
    kinds: list[str]


def subscription_clean(
    *, project: Project, target: str, service: str | None = None, kinds: Sequence[str] = ()
) -> SubscriptionSpec:
    """The rules every way of subscribing goes through (API, settings page, command): the
    target is an email address or an http(s) URL, the kinds are known ones, the service is one
    of the project's. Raises SubscriptionError naming the offending `field`."""
    target = target.strip()
    channel = _channel(target)
    kinds = _kinds(kinds)
    service_row = None
    if service:
        service_row = Service.objects.filter(project=project, name=service).first()
        if service_row is None:
            raise SubscriptionError(
                "unknown_service",
                f"project {project.slug!r} has no service {service!r}",
                field="service",
            )
    return SubscriptionSpec(target, channel, service_row, kinds)


def subscription_create(
    *,
    project: Project,
    target: str,
    service: str | None = None,
    kinds: Sequence[str] = (),
) -> tuple[Subscription, bool]:
    """Subscribe an email address or a webhook URL to a project's findings (one service or all).

    Idempotent: the same (project, service, target) again updates its kinds and re-activates
    it, returning (subscription, False); the unique constraints settle a concurrent double
    create. A new webhook gets a random signing secret.
    """
    spec = subscription_clean(project=project, target=target, service=service, kinds=kinds)
    existing = Subscription.objects.filter(
        project=project, service=spec.service, target=spec.target
    ).first()
    if existing is not None:
        existing.kinds, existing.active = spec.kinds, True
        existing.save(update_fields=["kinds", "active"])
        return existing, False
    sub = Subscription(
        project=project,
        service=spec.service,
        channel=spec.channel,
        target=spec.target,
        kinds=spec.kinds,
        secret=secrets.token_urlsafe(32) if spec.channel == Subscription.Channel.WEBHOOK else "",
    )
    sub.full_clean()
    try:
        with transaction.atomic():
            sub.save()
    except IntegrityError:  # created meanwhile by a concurrent request: same outcome
        return subscription_create(
            project=project, target=spec.target, service=service, kinds=spec.kinds
        )
    return sub, True


def subscription_delete(*, project: Project, subscription_id: int) -> None:
    """Delete a subscription of the project (404 for another project's). Its pending deliveries
    go with it; a send already under way finds nothing to claim."""
    subscription_get(project=project, subscription_id=subscription_id).delete()


def subscription_unsubscribe(*, token: str) -> Subscription:
    """Stop every alert of the token's project to the token's target: all its subscriptions
    there, since one email may carry findings of several (a digest). Idempotent: unsubscribing
    twice is fine. Raises SubscriptionError for a tampered or unknown token."""
    sub = unsubscribe_token_subscription(token)
    Subscription.objects.filter(project_id=sub.project_id, target=sub.target, active=True).update(
        active=False
    )
    sub.active = False
    return sub


def unsubscribe_token(subscription: Subscription) -> str:
    return signing.Signer(salt=UNSUBSCRIBE_SALT).sign_object({"s": subscription.pk})


def unsubscribe_url(subscription: Subscription) -> str:
    return f"{settings.SITE_URL}/alerts/unsubscribe/{unsubscribe_token(subscription)}/"


def unsubscribe_token_subscription(token: str) -> Subscription:
    """The subscription a token names; SubscriptionError if the signature does not verify."""
    try:
        data = signing.Signer(salt=UNSUBSCRIBE_SALT).unsign_object(token)
        pk = int(data["s"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise SubscriptionError("invalid_token", "this unsubscribe link is not valid") from None
    sub = Subscription.objects.filter(pk=pk).select_related("project", "service").first()
    if sub is None:
        raise SubscriptionError("invalid_token", "this subscription no longer exists")
    return sub


def _channel(target: str) -> str:
    if target.lower().startswith(("http://", "https://")):
        parts = urlsplit(target)
        # Dotless hosts are fine (http://chat:8080/hook inside a private network).
        if not parts.hostname or any(c.isspace() for c in target) or len(target) > 1000:
            raise SubscriptionError(
                "invalid_target", f"{target!r} is not a valid webhook URL", field="target"
            )
        if _host_blocked(parts.hostname):
            raise SubscriptionError(
                "blocked_target",
                f"webhooks may not reach {parts.hostname} "
                "(an address in SUITEHEALTH_WEBHOOK_BLOCKED_NETWORKS)",
                field="target",
            )
        return Subscription.Channel.WEBHOOK
    try:
        validate_email(target)
    except ValidationError:
        raise SubscriptionError(
            "invalid_target",
            f"{target!r} is neither an email address nor an http(s) URL",
            field="target",
        ) from None
    return Subscription.Channel.EMAIL


def _host_blocked(host: str) -> bool:
    """An address written in the URL, or a name that is always this host, that webhooks may not
    reach. Other names are checked when the POST connects (reports.webhooks)."""
    from reports.webhooks import address_blocked

    if host == "localhost" or host.endswith(".localhost"):
        host = "127.0.0.1"
    try:
        return address_blocked(host)
    except ValueError:  # a name, not an address
        return False


def _kinds(kinds: Sequence[str]) -> list[str]:
    unknown = sorted(set(kinds) - set(Subscription.KINDS))
    if unknown:
        raise SubscriptionError(
            "invalid_kind",
            f"unknown kind(s) {', '.join(unknown)}; use {', '.join(Subscription.KINDS)}",
            field="kinds",
        )
    # Stored in a fixed order so the same choice always reads the same.
    return [k for k in Subscription.KINDS if k in set(kinds)]
