"""EMAIL_URL: one variable for Django's email settings.

    smtp://[USER[:PASSWORD]@]HOST[:PORT]       plain SMTP (port 25)
    smtp+tls://...                             STARTTLS (port 587)
    smtp+ssl://... or smtps://...              TLS from the first byte (port 465)
    console:                                   print messages to the log (development)
    dummy:                                     discard messages

USER and PASSWORD are percent-decoded, so `@`, `:` and `/` in them are written %40, %3A, %2F.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

# Django's SMTP backend that knows when a failed send may still have delivered (reports/smtp.py).
SMTP = "reports.smtp.EmailBackend"
CONSOLE = "django.core.mail.backends.console.EmailBackend"
DUMMY = "django.core.mail.backends.dummy.EmailBackend"

_SMTP_SCHEMES = {"smtp": (False, False, 25), "smtp+tls": (True, False, 587),
                 "smtp+ssl": (False, True, 465), "smtps": (False, True, 465)}  # fmt: skip


@dataclass(frozen=True)
class EmailConfig:
    backend: str
    host: str = "localhost"
    port: int = 25
    user: str = ""
    password: str = ""
    use_tls: bool = False
    use_ssl: bool = False


def parse_email_url(url: str) -> EmailConfig:
    """EmailConfig for an EMAIL_URL; ImproperlyConfigured naming the variable otherwise."""
    scheme = url.split(":", 1)[0].lower()
    if scheme == "console":
        return EmailConfig(backend=CONSOLE)
    if scheme == "dummy":
        return EmailConfig(backend=DUMMY)
    if scheme not in _SMTP_SCHEMES:
        raise ImproperlyConfigured(
            f"EMAIL_URL: unknown scheme {scheme!r}; use smtp://, smtp+tls://, smtp+ssl://, "
            "console: or dummy:"
        )
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        raise ImproperlyConfigured("EMAIL_URL: the port is not a number") from None
    if not parts.hostname:
        raise ImproperlyConfigured("EMAIL_URL: an SMTP URL needs a host, e.g. smtp://mail:25")
    use_tls, use_ssl, default_port = _SMTP_SCHEMES[scheme]
    return EmailConfig(
        backend=SMTP,
        host=parts.hostname,
        port=port or default_port,
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        use_tls=use_tls,
        use_ssl=use_ssl,
    )
