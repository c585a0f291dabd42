"""Forms of the analytics pages. They shape input; the rules live in analytics.services."""

from django import forms

from analytics.models import NOTE_MAX_LENGTH, REASON_MAX_LENGTH

MAX_COMPARED = 10


class ReviewNoteForm(forms.Form):
    # Not required and not length-checked here: review_note_add is the one place
    # that says what a valid note is, and the view puts its errors on this field.
    text = forms.CharField(
        label="Note",
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": NOTE_MAX_LENGTH}),
    )


class DecisionForm(forms.Form):
    # As for notes: analytics.services.decision_make says what a valid reason is.
    reason = forms.CharField(
        label="Why this one",
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 2, "maxlength": REASON_MAX_LENGTH}),
    )


class CompareForm(forms.Form):
    """Which tuning jobs to compare, and which of them is the baseline of the savings."""

    jobs = forms.MultipleChoiceField(
        label="Tuning jobs",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Tick two or more (or tick them on the tuning jobs list).",
    )
    baseline = forms.ChoiceField(
        label="Baseline",
        required=False,
        help_text="The tuning job the others' training time saved is measured against; the first ticked if none.",
    )

    def __init__(self, *args, choices, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["jobs"].choices = choices
        self.fields["baseline"].choices = [("", "The first ticked"), *choices]

    def clean_jobs(self) -> list[str]:
        names = list(dict.fromkeys(self.cleaned_data["jobs"]))  # once each, in the order given
        if len(names) < 2:
            raise forms.ValidationError("Pick at least two tuning jobs to compare.", code="too_few")
        if len(names) > MAX_COMPARED:
            raise forms.ValidationError(f"Compare at most {MAX_COMPARED} tuning jobs at once.", code="too_many")
        return names

    def clean(self):
        cleaned = super().clean()
        names, baseline = cleaned.get("jobs"), cleaned.get("baseline")
        if names and baseline and baseline not in names:
            self.add_error("baseline", "The baseline must be one of the tuning jobs compared.")
        return cleaned

    def ordered_names(self) -> list[str]:
        """The compared tuning jobs, the baseline first and the others in the order given."""
        names, baseline = self.cleaned_data["jobs"], self.cleaned_data["baseline"] or self.cleaned_data["jobs"][0]
        return [baseline, *(name for name in names if name != baseline)]
