"""The one-click unsubscribe page linked from every alert email.

GET shows a confirmation (mail scanners follow links: a GET must change nothing); POST
unsubscribes, from the page's button or from a mail client's RFC 8058 one-click request.
The signed token is the only credential, so the view needs no login and no CSRF token.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from reports.subscriptions import (
    SubscriptionError,
    subscription_unsubscribe,
    unsubscribe_token_subscription,
)


@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    try:
        if request.method == "POST":
            sub = subscription_unsubscribe(token=token)
            done = True
        else:
            sub = unsubscribe_token_subscription(token)
            done = False
    except SubscriptionError as exc:
        return render(request, "alerts/unsubscribe.html", {"error": exc.detail}, status=400)
    ctx = {
        "subscription": sub,
        "scope": sub.service.name if sub.service is not None else "all services",
        "done": done,
    }
    return render(request, "alerts/unsubscribe.html", ctx)


urlpatterns = [
    path("unsubscribe/<str:token>/", unsubscribe, name="alerts-unsubscribe"),
]
