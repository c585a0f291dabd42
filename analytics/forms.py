"""Forms of the analytics pages. They shape input; the rules live in analytics.services."""

from django import forms

from analytics.models import NOTE_MAX_LENGTH

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


class CompareForm(forms.Form):
    """Which tuning jobs to compare, the first one picked being the baseline."""

    jobs = forms.MultipleChoiceField(
        label="Tuning jobs",
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 8}),
        help_text="Pick two or more; the first one (the oldest, in this list) is the baseline for the savings.",
    )

    def __init__(self, *args, choices, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["jobs"].choices = choices

    def clean_jobs(self) -> list[str]:
        names = list(dict.fromkeys(self.cleaned_data["jobs"]))  # once each, in the order given
        if len(names) < 2:
            raise forms.ValidationError("Pick at least two tuning jobs to compare.", code="too_few")
        if len(names) > MAX_COMPARED:
            raise forms.ValidationError(f"Compare at most {MAX_COMPARED} tuning jobs at once.", code="too_many")
        return names
