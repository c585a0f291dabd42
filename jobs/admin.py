"""Admin: algorithms are registered here; jobs are read-only, changed only through actions."""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError

from jobs import services
from jobs.config import validate_algorithm
from jobs.models import Algorithm, MetricSample, TeamMember, TrainingJob, TuningJob


class AlgorithmAdminForm(forms.ModelForm):
    class Meta:
        model = Algorithm
        fields = ["name", "description", "backend", "command", "metric_definitions", "static_hyperparameters"]

    def clean(self):
        cleaned = super().clean()
        candidate = Algorithm(
            command=cleaned.get("command"),
            metric_definitions=cleaned.get("metric_definitions"),
            static_hyperparameters=cleaned.get("static_hyperparameters") or {},
        )
        try:
            validate_algorithm(candidate)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                for error in errors:
                    self.add_error(field, error)
        return cleaned


@admin.register(Algorithm)
class AlgorithmAdmin(admin.ModelAdmin):
    form = AlgorithmAdminForm
    list_display = ("name", "backend", "updated_at")
    search_fields = ("name",)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Jobs change state only through the service layer, never by editing a row."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.action(description="Stop the selected tuning jobs")
def stop_tuning_jobs(modeladmin, request, queryset):
    for tuning_job in queryset:
        services.tuning_job_stop(tuning_job_id=tuning_job.id)
    modeladmin.message_user(request, f"Asked {queryset.count()} tuning job(s) to stop.", messages.SUCCESS)


@admin.action(description="Stop the selected training jobs")
def stop_training_jobs(modeladmin, request, queryset):
    for training_job in queryset:
        services.training_job_stop(training_job_id=training_job.id)
    modeladmin.message_user(request, f"Asked {queryset.count()} training job(s) to stop.", messages.SUCCESS)


@admin.register(TuningJob)
class TuningJobAdmin(ReadOnlyAdmin):
    list_display = ("name", "status", "strategy", "early_stopping_type", "algorithm", "team", "owner", "created_at")
    list_filter = ("status", "strategy", "early_stopping_type", "team")
    search_fields = ("name",)
    actions = [stop_tuning_jobs]


@admin.register(TrainingJob)
class TrainingJobAdmin(ReadOnlyAdmin):
    list_display = ("name", "status", "stop_reason", "final_objective_value", "epochs_run", "started_at", "ended_at")
    list_filter = ("status", "stop_reason")
    search_fields = ("name", "tuning_job__name")
    actions = [stop_training_jobs]


@admin.register(MetricSample)
class MetricSampleAdmin(ReadOnlyAdmin):
    list_display = ("training_job", "metric_name", "epoch", "value", "timestamp")
    search_fields = ("training_job__name", "metric_name")
    list_select_related = ("training_job",)


class TeamMemberInline(admin.TabularInline):
    model = TeamMember
    extra = 1
    autocomplete_fields = ["user"]


class TeamAdmin(GroupAdmin):
    """Groups are teams: their members and each member's role are edited here."""

    inlines = [TeamMemberInline]


admin.site.unregister(Group)
admin.site.register(Group, TeamAdmin)
