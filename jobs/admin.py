"""Admin: algorithms are registered here; jobs are read-only, changed only through actions."""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError

from jobs import formatting, services
from jobs.models import AccessKey, Algorithm, ApiToken, MetricSample, TeamMember, TrainingJob, TuningJob


class AlgorithmAdminForm(forms.ModelForm):
    class Meta:
        model = Algorithm
        fields = [
            "name",
            "description",
            "backend",
            "command",
            "metric_definitions",
            "static_hyperparameters",
            "image_uri",
            "image_uri_aliases",
            "input_channels",
            "sagemaker_config",
            "environment_passthrough",
            "objective_metric_name",
            "objective_type",
            "supported_hyperparameters",
        ]

    def clean(self):
        cleaned = super().clean()
        try:
            services.algorithm_validate(**self.service_arguments())
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                # A field the form already refused has its own message; the service's would repeat it.
                if field not in self.errors:
                    for error in errors:
                        self.add_error(field if field in self.fields else None, error)
        return cleaned

    def service_arguments(self) -> dict:
        return {**{name: self.cleaned_data.get(name) for name in self.Meta.fields}, "algorithm_id": self.instance.pk}


@admin.register(Algorithm)
class AlgorithmAdmin(admin.ModelAdmin):
    """Algorithms are registered and changed by the service, with the rules every other way in follows."""

    form = AlgorithmAdminForm
    list_display = ("name", "backend", "updated_at")
    search_fields = ("name",)

    def save_model(self, request, obj, form, change):
        algorithm = services.algorithm_register(**form.service_arguments())
        obj.pk, obj.created_at, obj.updated_at = algorithm.pk, algorithm.created_at, algorithm.updated_at


def time_column(field: str, description: str):
    """A list column that writes a time as the pages do (jobs.formatting, zone named), sorted by its field."""

    @admin.display(description=description, ordering=field)
    def column(obj):
        return formatting.timestamp(getattr(obj, field))

    column.__name__ = field  # its cells' CSS class, field-<name>, as for the field itself
    return column


class ReadOnlyAdmin(admin.ModelAdmin):
    """Jobs change state only through the service layer, never by editing a row."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.action(description="Stop the selected tuning jobs")
def stop_tuning_jobs(modeladmin, request, queryset):
    for tuning_job in queryset:
        try:
            services.tuning_job_stop(tuning_job_id=tuning_job.id)
        except ValidationError as error:
            modeladmin.message_user(request, " ".join(error.messages), messages.ERROR)
    modeladmin.message_user(request, f"Asked {queryset.count()} tuning job(s) to stop.", messages.SUCCESS)


@admin.action(description="Stop the selected training jobs")
def stop_training_jobs(modeladmin, request, queryset):
    for training_job in queryset:
        try:
            services.training_job_stop(training_job_id=training_job.id)
        except ValidationError as error:
            modeladmin.message_user(request, " ".join(error.messages), messages.ERROR)
    modeladmin.message_user(request, f"Asked {queryset.count()} training job(s) to stop.", messages.SUCCESS)


@admin.register(TuningJob)
class TuningJobAdmin(ReadOnlyAdmin):
    list_display = (
        "name", "status", "strategy", "early_stopping_type", "algorithm", "team", "owner",
        time_column("created_at", "created"),
    )  # fmt: skip
    list_filter = ("status", "strategy", "early_stopping_type", "team")
    search_fields = ("name",)
    actions = [stop_tuning_jobs]


@admin.register(TrainingJob)
class TrainingJobAdmin(ReadOnlyAdmin):
    list_display = (
        "name", "status", "stop_reason", "objective", "epochs_run",
        time_column("started_at", "started"), time_column("ended_at", "ended"),
    )  # fmt: skip
    list_filter = ("status", "stop_reason")
    search_fields = ("name", "tuning_job__name")
    actions = [stop_training_jobs]

    @admin.display(description="final objective value", ordering="final_objective_value")
    def objective(self, job: TrainingJob) -> str:
        return formatting.number(job.final_objective_value)


@admin.register(MetricSample)
class MetricSampleAdmin(ReadOnlyAdmin):
    list_display = ("training_job", "metric_name", "epoch", "value", time_column("timestamp", "time"))
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


@admin.action(description="Revoke the selected access keys")
def revoke_access_keys(modeladmin, request, queryset):
    revoked = sum(services.access_key_revoke(access_key_id=key.access_key_id) for key in queryset)
    modeladmin.message_user(request, f"Revoked {revoked} access key(s).", messages.SUCCESS)


class AccessKeyAdminForm(forms.ModelForm):
    class Meta:
        model = AccessKey
        fields = ["user", "team", "description"]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("user") is not None:
            try:
                services.access_key_validate(
                    user=cleaned["user"], team=cleaned.get("team"), description=cleaned.get("description", "")
                )
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    for error in errors:
                        self.add_error(field, error)
        return cleaned


@admin.register(AccessKey)
class AccessKeyAdmin(admin.ModelAdmin):
    """Keys are made by the service (it encrypts the secret, shown once here); afterwards only revoked."""

    form = AccessKeyAdminForm
    list_display = (
        "access_key_id", "user", "team", "description",
        time_column("created_at", "created"), time_column("last_used_at", "last used"),
        time_column("revoked_at", "revoked"),
    )  # fmt: skip
    list_filter = ("team",)
    search_fields = ("access_key_id", "user__username", "description")
    readonly_fields = ("access_key_id", "created_at", "last_used_at", "revoked_at")
    autocomplete_fields = ["user"]
    actions = [revoke_access_keys]

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change):
        key, secret = services.access_key_create(user=obj.user, team=obj.team, description=obj.description)
        obj.pk, obj.access_key_id = key.pk, key.access_key_id
        self.message_user(
            request,
            f"Access key {key.access_key_id} created. Its secret, shown only this once: {secret}",
            messages.WARNING,
        )


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are made by the service (it keeps only a hash; the key is shown once here); revoked by deleting them."""

    fields = ("user", "description")
    list_display = ("prefix", "user", "description", time_column("created_at", "created"))
    search_fields = ("prefix", "user__username", "description")
    autocomplete_fields = ["user"]

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change):
        token, key = services.api_token_create(user=obj.user, description=obj.description)
        obj.pk, obj.prefix = token.pk, token.prefix
        self.message_user(request, f"API token created. Its key, shown only this once: {key}", messages.WARNING)
