"""Serves the uploader script itself at /uploader.py, so a CI job with nothing but python3 can run
`curl -fsS https://HOST/uploader.py | python3 - --url https://HOST ...` and always get the
uploader that matches this server.

Mounted from the root URLconf with `path("", include("ingest.uploader_view"))`.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, HttpResponseNotModified
from django.urls import path
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_safe

SCRIPT = Path(__file__).resolve().with_name("uploader.py")


@lru_cache(maxsize=1)
def _script() -> tuple[bytes, str]:
    """The file's bytes and a strong ETag; read once per process (the file changes only with a
    deploy, which restarts the process)."""
    content = SCRIPT.read_bytes()
    return content, '"' + hashlib.sha256(content).hexdigest()[:32] + '"'


@login_not_required
@require_safe
def uploader_script(request: HttpRequest) -> HttpResponse:
    content, etag = _script()
    if etag in [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]:
        response: HttpResponse = HttpResponseNotModified()
    else:
        response = HttpResponse(content, content_type="text/x-python; charset=utf-8")
        response["Content-Disposition"] = 'inline; filename="uploader.py"'
    response["ETag"] = etag
    # Public and short-lived: CI caches and proxies may share it, and a deploy shows within an hour.
    patch_cache_control(response, public=True, max_age=3600)
    return response


urlpatterns = [path("uploader.py", uploader_script, name="uploader-script")]
