"""Emails: one function per email type, each rendering three templates
(`templates/emails/<name>-subject.html`, `-body-text.html`, `-body-html.html`).

The functions send and let SMTP errors propagate: the caller (reports.alerts) decides what is
transient. Every alert carries a signed one-click unsubscribe link, also in the
List-Unsubscribe headers (RFC 2369, RFC 8058) so mail clients can offer it.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from reports.subscriptions import unsubscribe_url

if TYPE_CHECKING:
    from reports.alerts import AlertItem
    from reports.models import Subscription


def alert(*, subscription: Subscription, items: list[AlertItem]) -> None:
    """One finding to one subscriber (a digest when a recompute produced several)."""
    if len(items) != 1:
        digest(subscription=subscription, items=items)
        return
    _send("alert", to=subscription.target, context=_context(subscription, items),
          headers=_unsubscribe_headers(subscription))  # fmt: skip


def digest(*, subscription: Subscription, items: list[AlertItem]) -> None:
    """Several findings of one recompute to one subscriber, in one message."""
    context = _context(subscription, items)
    counts = Counter(item.title for item in items)
    context["summary"] = ", ".join(f"{n} × {title}" for title, n in sorted(counts.items()))
    _send("digest", to=subscription.target, context=context,
          headers=_unsubscribe_headers(subscription))  # fmt: skip


def test(*, to: str) -> None:
    """A configuration check: proves the SMTP settings deliver mail to `to`."""
    _send(
        "test",
        to=to,
        context={
            "site_url": settings.SITE_URL,
            "backend": settings.EMAIL_BACKEND,
            "host": settings.EMAIL_HOST,
            "port": settings.EMAIL_PORT,
            "from_email": settings.DEFAULT_FROM_EMAIL,
        },
        headers={},
    )


def _context(subscription: Subscription, items: list[AlertItem]) -> dict[str, object]:
    project = subscription.project
    return {
        "project": project,
        "subscription": subscription,
        "scope": subscription.service.name if subscription.service is not None else "all services",
        "items": items,
        "site_url": settings.SITE_URL,
        "unsubscribe_url": unsubscribe_url(subscription),
    }


def _unsubscribe_headers(subscription: Subscription) -> dict[str, str]:
    return {
        "List-Unsubscribe": f"<{unsubscribe_url(subscription)}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        # Tells auto-responders not to answer (RFC 3834).
        "Auto-Submitted": "auto-generated",
    }


def _send(name: str, *, to: str, context: dict[str, object], headers: dict[str, str]) -> None:
    # A subject is one line: templates may wrap for readability.
    subject = " ".join(render_to_string(f"emails/{name}-subject.html", context).split())
    text = render_to_string(f"emails/{name}-body-text.html", context)
    html = render_to_string(f"emails/{name}-body-html.html", context)
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
        headers=headers,
    )
    message.attach_alternative(html, "text/html")
    message.send(fail_silently=False)
