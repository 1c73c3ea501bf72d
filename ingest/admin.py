from __future__ import annotations

from collections.abc import Sequence

from django.contrib import admin
from django.db.models import QuerySet
from django.forms import BaseInlineFormSet, ModelForm
from django.http import HttpRequest

from ingest.models import IngestToken, Project, Result, Run, RunFile, Service, ServiceRule, Test
from ingest.services import project_delete, run_delete, runs_parse_again, tests_enqueue_remap


class ServiceRuleInline(admin.TabularInline):
    model = ServiceRule
    extra = 1
    fields = ["order", "pattern", "service"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "default_branch", "created_at"]
    search_fields = ["slug", "name"]
    filter_horizontal = ["members"]
    inlines = [ServiceRuleInline]

    def save_related(
        self,
        request: HttpRequest,
        form: ModelForm[Project],
        formsets: list[BaseInlineFormSet],
        change: bool,
    ) -> None:
        super().save_related(request, form, formsets, change)
        # Edited rules apply to the tests already known too, as when the API replaces them.
        if any(f.model is ServiceRule and f.has_changed() for f in formsets):
            tests_enqueue_remap(project_id=form.instance.pk)

    # Deleting goes through the service: a project's results are reached by no cascade.
    def delete_model(self, request: HttpRequest, obj: Project) -> None:
        project_delete(project_id=obj.pk)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Project]) -> None:
        for pk in queryset.values_list("pk", flat=True):
            project_delete(project_id=pk)

    def get_deleted_objects(
        self, objs: Sequence[Project] | QuerySet[Project], request: HttpRequest
    ) -> tuple[list[str], dict[str, int], set[str], list[str]]:
        """Counts instead of Django's list of every related object (a project has tests by
        the hundred thousand), and, as Django's own check, the kinds of objects the user may not
        delete: any of them stops the delete."""
        ids = [o.pk for o in objs]
        counts = {
            model: model.objects.filter(project__in=ids).count()
            for model in (Run, Test, Service, IngestToken)
        }
        perms_needed = {
            str(model._meta.verbose_name)
            for model, count in counts.items()
            if count and not request.user.has_perm(
                f"{model._meta.app_label}.delete_{model._meta.model_name}"
            )
        }  # fmt: skip
        listed = {
            str(model._meta.verbose_name_plural): count for model, count in counts.items() if count
        }
        return [str(o) for o in objs], listed, perms_needed, []


@admin.register(Service)
class ServiceAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "created_at"]
    list_filter = ["project"]


@admin.register(ServiceRule)
class ServiceRuleAdmin(admin.ModelAdmin):
    list_display = ["project", "order", "pattern", "service"]
    list_filter = ["project"]


@admin.register(IngestToken)
class IngestTokenAdmin(admin.ModelAdmin):
    list_display = ["project", "name", "hint", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["project"]
    # The hash is useless to a person and the key is never stored: keys are made by the
    # create_project command or the settings page, which show them once.
    readonly_fields = ["key_hash", "hint", "created_at", "last_used_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


class RunFileInline(admin.TabularInline):
    model = RunFile
    extra = 0
    fields = ["index", "name", "format", "size", "digest"]
    readonly_fields = ["index", "name", "format", "size", "digest"]
    can_delete = False


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "commit", "branch", "job", "status", "started_at"]
    list_filter = ["status", "project"]
    search_fields = ["commit", "build_id", "job"]
    readonly_fields = ["idempotency_key", "counts", "error", "week", "parse_attempts", "claimed_at"]
    inlines = [RunFileInline]
    date_hierarchy = "started_at"

    actions = ["parse_again"]

    @admin.action(description="Parse the selected failed runs again (from their stored files)")
    def parse_again(self, request: HttpRequest, queryset: QuerySet[Run]) -> None:
        ids = runs_parse_again(run_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{len(ids)} failed run(s) queued for parsing again.")

    # Deleting goes through the service: results are reached by no cascade, and the services
    # the run touched must be computed again.
    def delete_model(self, request: HttpRequest, obj: Run) -> None:
        run_delete(run_id=obj.pk)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Run]) -> None:
        for pk in queryset.values_list("pk", flat=True):
            run_delete(run_id=pk)


@admin.register(Test)
class TestAdmin(admin.ModelAdmin):
    list_display = ["name", "classname", "service", "file"]
    list_filter = ["project", "service"]
    search_fields = ["name", "classname", "file"]
    list_select_related = ["service"]


@admin.register(Result)
class ResultAdmin(admin.ModelAdmin):
    list_display = ["id", "run_id", "test_id", "outcome", "attempt", "duration_ms", "timeline"]
    list_filter = ["outcome"]
    # The results table is huge: never count it for the change list.
    show_full_result_count = False
    raw_id_fields = ["run", "test"]
