"""Server-Timing: how long the server spent on a response, for browsers' devtools and benchmarks.

`app` is the time from this middleware (the first) receiving the request to the response leaving
it; `db` is the time spent in database queries on the default connection meanwhile, with their
number as its description. Neither says anything about the data, only about the request;
still, they are sent to signed-in users only (anonymous visitors and API clients get none).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.db import connection
from django.http import HttpRequest, HttpResponse


class _QueryTimer:
    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0

    def __call__(
        self,
        execute: Callable[[str, Any, bool, dict[str, Any]], Any],
        sql: str,
        params: Any,
        many: bool,
        context: dict[str, Any],
    ) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - started
            self.count += 1


class ServerTimingMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        timer = _QueryTimer()
        started = time.perf_counter()
        with connection.execute_wrapper(timer):
            response = self.get_response(request)
        app_ms = (time.perf_counter() - started) * 1000
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return response  # timings are a side channel: signed-in users only
        response["Server-Timing"] = (
            f'db;dur={timer.seconds * 1000:.1f};desc="{timer.count} queries", app;dur={app_ms:.1f}'
        )
        return response
