from django.urls import path

from ingest.apis import ProjectStatusApi, RunDetailApi, ServiceRulesApi, UploadCreateApi

urlpatterns = [
    path("uploads", UploadCreateApi.as_view(), name="upload-create"),
    path("runs/<int:run_id>", RunDetailApi.as_view(), name="run-detail"),
    path("projects/<slug:slug>/status", ProjectStatusApi.as_view(), name="project-status"),
    path("projects/<slug:slug>/service-rules", ServiceRulesApi.as_view(), name="service-rules"),
]
