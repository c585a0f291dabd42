"""The staff page that imports SageMaker tuning jobs, as `manage.py import_sagemaker_tuning_jobs` does.

The import runs in the request: it reads a few AWS pages per tuning job, and
staff see at once what was imported and what was not. Importing many large
tuning jobs is the command's job.
"""

from django import forms
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.shortcuts import render

from jobs.models import tuning_job_name_validator
from jobs.sagemaker import imports as sagemaker_imports


class ImportForm(forms.Form):
    name = forms.CharField(
        label="Tuning job name",
        required=False,
        max_length=32,
        validators=[tuning_job_name_validator],
        help_text="The HyperParameterTuningJobName on SageMaker.",
    )
    since = forms.CharField(
        label="Or every tuning job created since",
        required=False,
        help_text="A date (2026-11-01) or an ISO 8601 time (2026-11-01T08:00:00Z, UTC if no zone).",
    )
    team = forms.ModelChoiceField(
        queryset=Group.objects.order_by("name"),
        required=False,
        to_field_name="name",
        empty_label="No team (staff only)",
        help_text="Its members see the imported tuning jobs. Importing again without a team keeps the earlier one.",
    )

    def clean_since(self):
        text = self.cleaned_data["since"].strip()
        if not text:
            return None
        try:
            return sagemaker_imports.parse_since(text)
        except sagemaker_imports.SageMakerImportError as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean(self):
        cleaned = super().clean()
        if not self.errors and bool(cleaned.get("name")) == bool(cleaned.get("since")):
            raise forms.ValidationError("Give either a tuning job name or a date, not both.")
        return cleaned


@login_required
def import_sagemaker(request):
    if not request.user.is_staff:
        raise PermissionDenied("Only staff import tuning jobs from SageMaker.")
    form = ImportForm(request.POST if request.method == "POST" else None)
    report, error = None, ""
    if request.method == "POST" and form.is_valid():
        team = form.cleaned_data["team"]
        try:
            report = sagemaker_imports.import_tuning_jobs(
                name=form.cleaned_data["name"] or None,
                since=form.cleaned_data["since"],
                team_name=team.name if team else None,
                owner=request.user,
            )
        except sagemaker_imports.SageMakerImportError as exc:
            error = str(exc)
    return render(request, "jobs/import_sagemaker.html", {"form": form, "report": report, "error": error})
