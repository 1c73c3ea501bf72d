from django.urls import path, re_path

from reports.apis import (
    FindingListApi,
    QuarantineApi,
    ServiceListApi,
    ServiceWeekApi,
    SubscriptionDetailApi,
    SubscriptionListApi,
    WeeklyReportApi,
)

urlpatterns = [
    path("projects/<slug:slug>/services", ServiceListApi.as_view(), name="service-list"),
    # `path`: a service name may hold a slash (services are named by uploads and rules).
    path(
        "projects/<slug:slug>/services/<path:name>/weeks/<str:week>",
        ServiceWeekApi.as_view(),
        name="service-week",
    ),
    path("projects/<slug:slug>/findings", FindingListApi.as_view(), name="finding-list"),
    re_path(
        r"^projects/(?P<slug>[-\w]+)/reports/(?P<week>[^/]+)\.(?P<fmt>md|pdf)$",
        WeeklyReportApi.as_view(),
        name="weekly-report",
    ),
    path("projects/<slug:slug>/quarantine", QuarantineApi.as_view(), name="quarantine"),
    path(
        "projects/<slug:slug>/subscriptions",
        SubscriptionListApi.as_view(),
        name="subscription-list",
    ),
    path(
        "projects/<slug:slug>/subscriptions/<int:subscription_id>",
        SubscriptionDetailApi.as_view(),
        name="subscription-detail",
    ),
]
