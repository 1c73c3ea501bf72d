"""The SMTP email backend: Django's, plus telling a failure that may have delivered the message
from one that certainly did not.

After the whole message has gone out (DATA, the body, the final ".") the server answers 250 once
it has taken responsibility for it. If the connection drops or times out while waiting for that
answer, the message may well have been accepted: sending it again could make a second copy.
Such a failure is raised as `MessageMayHaveArrived`, which reports.alerts never retries (alerts
are sent at most once, docs/alerts.md). Every earlier failure leaves nothing with the server.
"""

from __future__ import annotations

import smtplib
from typing import TYPE_CHECKING

from django.core.mail.backends.smtp import EmailBackend as DjangoEmailBackend

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

_END_OF_DATA = b"\r\n.\r\n"


class MessageMayHaveArrived(smtplib.SMTPException):
    """The connection failed after the message was sent and before the server's answer."""


class _Tracking:
    """Marks the moment the message body (ending in CRLF . CRLF) has been sent inside DATA."""

    _in_data = False
    _body_sent = False

    def send(self, s: ReadableBuffer | str) -> None:
        super().send(s)  # type: ignore[misc]
        if self._in_data and isinstance(s, bytes) and s.endswith(_END_OF_DATA):
            self._body_sent = True

    def data(self, msg: ReadableBuffer | str) -> tuple[int, bytes]:
        self._in_data, self._body_sent = True, False
        try:
            return super().data(msg)  # type: ignore[misc]
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            if self._body_sent:
                raise MessageMayHaveArrived(
                    f"no answer after the message was sent ({exc}): it may have arrived, "
                    "so it is not sent again"
                ) from exc
            raise
        finally:
            self._in_data = False


class _SMTP(_Tracking, smtplib.SMTP):
    pass


class _SMTP_SSL(_Tracking, smtplib.SMTP_SSL):  # noqa: N801 (smtplib's naming)
    pass


class EmailBackend(DjangoEmailBackend):
    """Django's SMTP backend, raising MessageMayHaveArrived for an unanswered message."""

    @property
    def connection_class(self) -> type[_SMTP_SSL | _SMTP]:
        return _SMTP_SSL if self.use_ssl else _SMTP
