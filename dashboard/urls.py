from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from dashboard import views

# The pages, reversed as "pages:<name>".
pages = (
    [
        path("", views.overview, name="overview"),
        path("p/<slug:slug>/", views.project_detail, name="project"),
        # `path`: a service name may hold a slash (services are named by uploads and rules).
        path("p/<slug:slug>/s/<path:name>/", views.service_detail, name="service"),
        path("p/<slug:slug>/t/<int:test_id>/", views.test_detail, name="test"),
        path("p/<slug:slug>/tests/", views.test_search, name="tests"),
        path("p/<slug:slug>/runs/", views.run_list, name="runs"),
        path("p/<slug:slug>/runs/<int:run_id>/", views.run_detail, name="run"),
        path(
            "p/<slug:slug>/runs/<int:run_id>/files/<int:index>.gz",
            views.run_file,
            name="run-file",
        ),
        path("p/<slug:slug>/reports/", views.report_list, name="reports"),
        path(
            "p/<slug:slug>/reports/generate/",
            views.report_generate_view,
            name="reports-generate",
        ),
        path(
            "p/<slug:slug>/reports/<int:report_id>/",
            views.report_download,
            name="report-download",
        ),
        path("p/<slug:slug>/settings/", views.project_settings, name="settings"),
        path("p/<slug:slug>/settings/keys/", views.token_create_view, name="settings-token-create"),
        path(
            "p/<slug:slug>/settings/keys/<int:token_id>/revoke/",
            views.token_revoke_view,
            name="settings-token-revoke",
        ),
        path("p/<slug:slug>/settings/rules/", views.service_rules_update, name="settings-rules"),
        path(
            "p/<slug:slug>/settings/metrics/",
            views.metric_settings_update,
            name="settings-metrics",
        ),
        path(
            "p/<slug:slug>/settings/alerts/",
            views.subscription_create_view,
            name="settings-subscription-create",
        ),
        path(
            "p/<slug:slug>/settings/alerts/<int:subscription_id>/delete/",
            views.subscription_delete_view,
            name="settings-subscription-delete",
        ),
        path(
            "p/<slug:slug>/settings/alerts/deliveries/<int:delivery_id>/retry/",
            views.alert_delivery_retry_view,
            name="settings-delivery-retry",
        ),
        path(
            "login/",
            auth_views.LoginView.as_view(redirect_authenticated_user=True),
            name="login",
        ),
        path("logout/", auth_views.LogoutView.as_view(next_page="pages:login"), name="logout"),
    ],
    "pages",
)

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("ingest.urls")),
    path("api/v1/", include("reports.urls")),
    path("", include("ingest.uploader_view")),
    path("alerts/", include("reports.unsubscribe")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    # Any other /api/ path: the JSON 404 CI scripts read, with DEBUG on too (its 404 is HTML).
    re_path(r"^api/", views.api_not_found),
    path("", include(pages)),
]

handler400 = "dashboard.views.bad_request"
handler404 = "dashboard.views.not_found"
handler500 = "dashboard.views.server_error"
