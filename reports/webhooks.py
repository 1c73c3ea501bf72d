"""Webhook alerts: a signed JSON POST (schema and verification recipe in docs/alerts.md).

The body carries a Slack-compatible `text`, so a Slack incoming-webhook URL works as a target.
The signature header is `X-Suitehealth-Signature: t=<unix seconds>,v1=<hex>` where
v1 = HMAC-SHA256(subscription secret, f"{t}.{body}"): the timestamp is signed with the body,
so a receiver that refuses old timestamps refuses replays.

Anyone holding a project's ingest key can subscribe a URL, so the POST never goes to an address
in SUITEHEALTH_WEBHOOK_BLOCKED_NETWORKS (by default the server itself and link-local addresses,
where cloud metadata services live; a chat server on the private network stays reachable). The
address checked is the one connected to: a name that resolves elsewhere a moment later (DNS
rebinding) gains nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import http.client
import ipaddress
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from typing import IO, TYPE_CHECKING, Any

from django.conf import settings

if TYPE_CHECKING:
    from reports.alerts import AlertItem, RunRef
    from reports.models import Subscription

SIGNATURE_HEADER = "X-Suitehealth-Signature"
SCHEMA_VERSION = 1


class WebhookError(Exception):
    """A POST that did not get a 2xx answer; `transient` when retrying may help, `refused`
    when the receiver certainly did not take it (it answered, or never accepted the
    connection) rather than perhaps (a timeout, a dropped connection)."""

    def __init__(self, message: str, *, transient: bool, refused: bool = False) -> None:
        super().__init__(message)
        self.transient = transient
        self.refused = refused


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The header value for `body` sent at `timestamp`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(
    secret: str, header: str, body: bytes, *, tolerance: int = 300, now: float | None = None
) -> bool:
    """The receiver's side of `sign` (docs/alerts.md has the same recipe for other languages):
    constant-time compare, and refuse timestamps more than `tolerance` seconds away."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def alert_payload(
    *, subscription: Subscription, items: list[AlertItem], batch: str
) -> dict[str, object]:
    project = subscription.project
    return {
        "version": SCHEMA_VERSION,
        "id": batch,
        "project": {"slug": project.slug, "name": project.name},
        "alerts": [_alert(item) for item in items],
        "text": _slack_text(project.slug, items),
    }


def alert_post(*, subscription: Subscription, items: list[AlertItem], batch: str) -> None:
    """POST the batch to the subscription's URL; raise WebhookError unless answered 2xx."""
    body = json.dumps(
        alert_payload(subscription=subscription, items=items, batch=batch),
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()
    request = urllib.request.Request(
        subscription.target,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "Suitehealth-Webhook/1",
            SIGNATURE_HEADER: sign(subscription.secret, int(time.time()), body),
            # The same id on every attempt of one batch: receivers may de-duplicate on it.
            "X-Suitehealth-Delivery": batch,
        },
    )
    timeout = settings.SUITEHEALTH_WEBHOOK_TIMEOUT_SECONDS
    # The timeout bounds each wait on the socket; a receiver answering a byte at a time would
    # never trip it. A watchdog shuts the connection once the whole delivery took 3 timeouts.
    watch = _Watchdog(DELIVERY_TIMEOUTS * timeout)
    try:
        with watch:
            _deliver(request, timeout)
            watch.finish()  # read in full: a late firing changes nothing
    except WebhookError:
        if not watch.fired:
            raise
    if watch.fired:  # a cut answer can even parse as a whole one ("HTTP/1.1 200 O")
        raise WebhookError(
            f"no complete answer from the webhook within {DELIVERY_TIMEOUTS * timeout} s",
            transient=True,
        )


def _deliver(request: urllib.request.Request, timeout: int) -> None:
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            response.read(65536)
    except urllib.error.HTTPError as exc:
        # 408/429 and 5xx are the receiver's temporary trouble; other 4xx will not change.
        transient = exc.code in (408, 425, 429) or exc.code >= 500
        raise WebhookError(
            f"HTTP {exc.code} from the webhook", transient=transient, refused=True
        ) from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        reason = getattr(exc, "reason", exc)
        blocked = isinstance(reason, BlockedAddress)
        raise WebhookError(
            f"cannot reach the webhook: {reason}",
            transient=not blocked,
            refused=isinstance(reason, ConnectionRefusedError | socket.gaierror | BlockedAddress),
        ) from None
    except (OSError, http.client.HTTPException) as exc:  # a connection cut mid-answer
        raise WebhookError(f"the webhook's answer broke off: {exc!r}", transient=True) from None


DELIVERY_TIMEOUTS = 3  # a whole delivery may take this many SUITEHEALTH_WEBHOOK_TIMEOUT_SECONDS
_current = threading.local()  # the watchdog of the delivery under way on this thread


class _Watchdog:
    """Shuts the sockets of the delivery once `seconds` have passed, so a blocked read returns
    at once; `fired` says whether it did before the answer was read in full.

    The connections register the sockets they read from (for HTTPS the TLS socket, which owns
    the descriptor once wrapped): a closed socket object has no descriptor any more, so shutting
    it late can never reach another connection that reused the number."""

    def __init__(self, seconds: float) -> None:
        self.fired = False
        self._done = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def __enter__(self) -> _Watchdog:
        _current.watch = self
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        _current.watch = None

    def register(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.fired:  # connected after the time was up
                _shut(sock)

    def finish(self) -> None:
        with self._lock:
            self._done = True

    def _fire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.fired = True
            for sock in self._sockets:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:  # closed already, or never connected
        pass


def _watched(sock: socket.socket) -> None:
    watch = getattr(_current, "watch", None)
    if watch is not None:
        watch.register(sock)


class BlockedAddress(OSError):
    """The webhook's host has no address outside SUITEHEALTH_WEBHOOK_BLOCKED_NETWORKS."""


def address_blocked(address: str) -> bool:
    """Whether an IP address (text) lies in one of SUITEHEALTH_WEBHOOK_BLOCKED_NETWORKS; an
    IPv4 address mapped into IPv6 is judged as the IPv4 address it is."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in settings.SUITEHEALTH_WEBHOOK_BLOCKED_NETWORKS)


def _connect(
    address: tuple[str, int],
    timeout: object = None,
    source_address: tuple[str, int] | None = None,
    **kwargs: object,
) -> socket.socket:
    """socket.create_connection, to the host's first reachable address outside the blocked
    networks."""
    host, port = address
    infos = _resolve(host, port, timeout if isinstance(timeout, int | float) else None)
    # An AF_INET or AF_INET6 sockaddr (SOCK_STREAM) starts with the address as text.
    allowed = [info for info in infos if not address_blocked(str(info[4][0]))]
    if not allowed:
        first = infos[0][4][0]
        where = f"{host} resolves to {first}," if first != host else f"{host} is"
        raise BlockedAddress(
            f"{where} in a network webhooks may not reach (SUITEHEALTH_WEBHOOK_BLOCKED_NETWORKS)"
        )
    error: OSError | None = None
    for family, kind, proto, _, sockaddr in allowed:
        sock = socket.socket(family, kind, proto)
        try:
            if isinstance(timeout, int | float):
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            _watched(sock)
            return sock
        except OSError as exc:
            error = exc
            sock.close()
    raise error  # type: ignore[misc]


def _resolve(host: str, port: int, timeout: float | None) -> list[Any]:
    """socket.getaddrinfo within `timeout` seconds. No socket timeout bounds a lookup (the
    system resolver's retries can take half a minute), so a name is looked up on a thread of its
    own, left behind to finish on its own should the resolver outlast the timeout."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:  # an address: nothing to look up
        return socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    found: list[Any] = []
    failed: list[OSError] = []

    def lookup() -> None:
        try:
            found.extend(socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM))
        except OSError as exc:
            failed.append(exc)

    thread = threading.Thread(target=lookup, name=f"webhook lookup {host}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError(f"looking up {host} took over {timeout:g} s")
    if failed:
        raise failed[0]
    return found


class _GuardedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = _connect


class _GuardedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = _connect

    def connect(self) -> None:
        super().connect()
        _watched(self.sock)  # the TLS socket: wrapping detached the one _connect registered


class _GuardedHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_GuardedHTTPConnection, req)


class _GuardedHTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        # HTTPSHandler keeps its SSL context in _context, which typeshed does not declare.
        return self.do_open(_GuardedHTTPSConnection, req, context=self._context)  # type: ignore[attr-defined]


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """urllib would follow a 301/302/303 with a GET and report the GET's 200 as success; a
    redirect is refused instead (an HTTPError, permanent below), so the target gets fixed."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects, _GuardedHTTPHandler, _GuardedHTTPSHandler)


def _run(ref: RunRef | None) -> dict[str, object] | None:
    if ref is None:
        return None
    return {
        "id": ref.id,
        "commit": ref.commit,
        "branch": ref.branch,
        "build_url": ref.build_url,
        "started_at": ref.started_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
    }


def _alert(item: AlertItem) -> dict[str, object]:
    return {
        "delivery": item.delivery_id,
        "transition": item.transition,
        "finding": {
            "id": item.finding_id,
            "kind": item.kind,
            "status": item.status,
            "week": item.week,
            "score": item.score,
            "evidence": item.evidence,
            "url": item.finding_url,
        },
        "service": item.service,
        "test": {
            "id": item.test_id,
            "name": item.test_name,
            "file": item.test_file,
            "url": item.test_url,
        },
        "related_test": item.related_test_name,
        "first_failing_run": _run(item.first_failing),
        "last_passing_run": _run(item.last_passing),
        "fixing_run": _run(item.fixing),
        "first_run": _run(item.first_run),
        "message_excerpt": item.message_excerpt,
        "facts": {label: value for label, value in item.facts},
    }


def _slack_text(slug: str, items: list[AlertItem]) -> str:
    lines = []
    for item in items:
        icon = ":white_check_mark:" if item.is_recovery else ":rotating_light:"
        name = _escape(item.test_name)
        line = f"{icon} *{item.title}* in `{item.service}`: <{item.test_url}|{name}>"
        ref = item.first_failing if item.kind == "regression" else item.fixing
        if ref is not None:
            line += f" at `{ref.short_commit}`"
        lines.append(line + f" (<{item.finding_url}|finding #{item.finding_id}>)")
    head = f"[{slug}] " + (f"{len(items)} alerts" if len(items) != 1 else "alert")
    return head + "\n" + "\n".join(lines)


def _escape(text: str) -> str:
    # Slack's mrkdwn needs only these three escaped.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
