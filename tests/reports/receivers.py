"""Real receivers for alert tests: an SMTP server (aiosmtpd) and an HTTP webhook endpoint, each
in a thread of the test process on 127.0.0.1 and a free port."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller


def free_port() -> int:
    """A port nothing listens on (bound once, then released): for a receiver to listen on, or
    for an address where nothing answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Mail:
    to: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def text(self) -> str:
        text = self.message.get_body(("plain",)).get_content()
        return text.replace("\r\n", "\n")  # SMTP carries CRLF line ends

    @property
    def html(self) -> str:
        html = self.message.get_body(("html",)).get_content()
        return html.replace("\r\n", "\n")


class SmtpSink:
    """Accepts every message; `replies` (codes, consumed in order) can refuse some first, and
    `on_message` runs after a message is received but before the server answers 250."""

    def __init__(self) -> None:
        self.mails: list[Mail] = []
        self.replies: list[str] = []
        self.on_message: Callable[[Mail], None] | None = None
        self._lock = threading.Lock()
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope) -> str:
        with self._lock:
            if self.replies:
                return self.replies.pop(0)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        mail = Mail(list(envelope.rcpt_tos), message)
        with self._lock:
            self.mails.append(mail)
        if self.on_message is not None:
            self.on_message(mail)
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[Mail]:
        with self._lock:
            return [m for m in self.mails if address in m.to]

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def __enter__(self) -> SmtpSink:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


@dataclass
class Hook:
    path: str
    headers: dict[str, str]
    body: bytes


class WebhookSink:
    """Records every POST; answers with `statuses` in order (then 200)."""

    def __init__(self) -> None:
        self.hooks: list[Hook] = []
        self.statuses: list[int] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = sink.statuses.pop(0) if sink.statuses else 200
                if status == 200:
                    sink.hooks.append(Hook(self.path, dict(self.headers.items()), body))
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", self.path + "/moved")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> WebhookSink:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
