"""The create-tuning-job form.

The rules a tuning job must follow live once, in jobs.config (and the search
space's own checks in jobs.tuning.space); this module only turns a browser's
fields into a TuningJobConfig and puts each error the rules report next to the
field it concerns. That is why the main form's fields carry the names of
TuningJobConfig's fields: an error keyed "max_parallel_training_jobs" lands on
the field of that name with no translation table to keep in step.

The search space and the static hyperparameters are rows (formsets), which a
script adds and removes; each range row is checked on its own as it is read,
so a bad bound is shown at that bound, and the whole-space rules (unique
names, what a strategy can search) are shown at the ranges block.
"""

from django import forms
from django.core.exceptions import ValidationError

from jobs import selectors
from jobs.config import TuningJobConfig, validate_tuning_job_config
from jobs.models import Algorithm, EarlyStoppingType, ObjectiveType, Strategy, TuningJob, WarmStartType
from jobs.tuning.space import ParameterType, ScalingType, SearchSpace, SearchSpaceError
from jobs.tuning.strategies import STRATEGIES

# The SageMaker member a SearchSpaceError names -> the row field that holds it.
RANGE_ATTRIBUTE_FIELDS = {
    "Name": "name",
    "MinValue": "min_value",
    "MaxValue": "max_value",
    "ScalingType": "scaling_type",
    "Values": "values",
}
# Config errors that depend on the rows: when some rows could not be read,
# checking the rest of the config without them would report these wrongly.
ROW_DEPENDENT_ERRORS = {"parameter_ranges", "static_hyperparameters", "hyperband_max_resource"}


class ParameterRangeForm(forms.Form):
    """One of ParameterRanges: Continuous or Integer with bounds and scaling, or Categorical with values."""

    # The datalist offers the chosen algorithm's tunable hyperparameters (tuning_job_form.js fills it).
    name = forms.CharField(
        label="Name", widget=forms.TextInput(attrs={"placeholder": "learning_rate", "list": "tunable-hyperparameters"})
    )
    type = forms.ChoiceField(label="Type", choices=[(t.value, t.value) for t in ParameterType], initial="Continuous")
    # Text, not numbers: the search space reads bounds as SageMaker sends them
    # (strings) and says precisely what is wrong with one.
    min_value = forms.CharField(label="Min", required=False, widget=forms.TextInput(attrs={"inputmode": "decimal"}))
    max_value = forms.CharField(label="Max", required=False, widget=forms.TextInput(attrs={"inputmode": "decimal"}))
    scaling_type = forms.ChoiceField(
        label="Scaling", choices=[(s.value, s.value) for s in ScalingType], initial="Auto", required=False
    )
    values = forms.CharField(
        label="Values",
        required=False,
        help_text="Comma-separated.",
        widget=forms.TextInput(attrs={"placeholder": "sgd, adam"}),
    )

    def clean(self):
        cleaned = super().clean()
        if not self.errors:
            try:
                SearchSpace.from_dicts([self.as_range(cleaned)])
            except SearchSpaceError as error:
                field = RANGE_ATTRIBUTE_FIELDS.get(error.attribute)
                self.add_error(field if field in self.fields else None, str(error))
        return cleaned

    @staticmethod
    def as_range(cleaned: dict) -> dict:
        """The stored form of the range (jobs.tuning.space), leaving out what the user left blank."""
        item = {"name": cleaned["name"], "type": cleaned["type"]}
        if cleaned["type"] == ParameterType.CATEGORICAL:
            values = [value.strip() for value in cleaned.get("values", "").split(",") if value.strip()]
            if values:
                item["values"] = values
            return item
        for key in ("min_value", "max_value"):
            if cleaned.get(key, "").strip():
                item[key] = cleaned[key].strip()
        item["scaling_type"] = cleaned.get("scaling_type") or ScalingType.AUTO.value
        return item


class StaticHyperparameterForm(forms.Form):
    name = forms.CharField(label="Name", widget=forms.TextInput(attrs={"placeholder": "epochs"}))
    value = forms.CharField(label="Value", strip=False, widget=forms.TextInput(attrs={"placeholder": "10"}))


class BaseRowFormSet(forms.BaseFormSet):
    """Rows named by their `name` field; a name given twice is an error of the block."""

    def clean(self):
        seen = set()
        for form in self.forms:
            if self._should_delete_form(form) or not self._filled_in(form) or form.errors:
                continue
            name = form.cleaned_data["name"]
            if name in seen:
                raise ValidationError(f"{name} is given twice.")
            seen.add(name)

    def live_forms(self) -> list[forms.Form]:
        """Rows the user kept and filled in (not removed, not left blank)."""
        return [
            form
            for form in self.forms
            if not self._should_delete_form(form) and self._filled_in(form) and form.is_valid()
        ]

    def _filled_in(self, form: forms.Form) -> bool:
        # A row the page started with (a clone's) counts as it is; an extra row only once typed in.
        return form in self.initial_forms or form.has_changed()


ParameterRangeFormSet = forms.formset_factory(
    ParameterRangeForm, formset=BaseRowFormSet, extra=1, can_delete=True, max_num=30, validate_max=True
)
StaticHyperparameterFormSet = forms.formset_factory(
    StaticHyperparameterForm, formset=BaseRowFormSet, extra=1, can_delete=True, max_num=100, validate_max=True
)


def _choices(values) -> list[tuple[str, str]]:
    return [(value, value) for value in values]


class TuningJobForm(forms.Form):
    """Everything but the rows; field names are TuningJobConfig's."""

    name = forms.CharField(
        label="Tuning job name",
        help_text="1 to 32 letters, digits and hyphens.",
        # The browser stops typing at SageMaker's limit; the server still says why a longer one is refused.
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", "maxlength": 32}),
    )
    algorithm_name = forms.ChoiceField(label="Algorithm")
    objective_metric_name = forms.CharField(
        label="Objective metric", widget=forms.Select, help_text="One of the algorithm's metric definitions."
    )
    objective_type = forms.ChoiceField(
        label="Goal", choices=ObjectiveType.choices, initial=ObjectiveType.MAXIMIZE, widget=forms.RadioSelect
    )
    strategy = forms.ChoiceField(
        label="Strategy",
        # Only the strategies this installation implements, in SageMaker's order.
        choices=_choices(value for value in Strategy.values if value in STRATEGIES),
        initial=Strategy.BAYESIAN if Strategy.BAYESIAN in STRATEGIES else Strategy.RANDOM,
    )
    team_name = forms.ChoiceField(label="Team", required=False)
    max_training_jobs = forms.IntegerField(
        label="Max training jobs", initial=10, widget=forms.NumberInput(attrs={"min": 1})
    )
    max_parallel_training_jobs = forms.IntegerField(
        label="Max parallel training jobs", initial=2, widget=forms.NumberInput(attrs={"min": 1})
    )
    max_runtime_seconds = forms.IntegerField(
        label="Max runtime (s)",
        required=False,
        help_text="Of the whole tuning job; empty for no limit.",
        widget=forms.NumberInput(attrs={"min": 1}),
    )
    training_max_runtime_seconds = forms.IntegerField(
        label="Max runtime per training job (s)", required=False, widget=forms.NumberInput(attrs={"min": 1})
    )
    max_retry_attempts = forms.IntegerField(
        label="Retries after an internal error",
        required=False,
        help_text="A training job whose worker was lost runs again up to this many times (SageMaker's "
        "RetryStrategy); empty for none.",
        widget=forms.NumberInput(attrs={"min": 0, "max": 30}),
    )
    early_stopping_type = forms.ChoiceField(
        label="Early stopping",
        choices=EarlyStoppingType.choices,
        initial=EarlyStoppingType.OFF,
        widget=forms.RadioSelect,
        help_text="Auto stops a training job whose objective is worse than the median of earlier jobs at the "
        "same epoch.",
    )
    random_seed = forms.IntegerField(
        label="Random seed", required=False, help_text="Empty for a random one.", widget=forms.NumberInput()
    )
    hyperband_min_resource = forms.IntegerField(label="Hyperband min resource (epochs)", required=False)
    hyperband_max_resource = forms.IntegerField(
        label="Hyperband max resource (epochs)",
        required=False,
        help_text="Empty to infer it from a static hyperparameter such as epochs.",
    )
    warm_start_type = forms.ChoiceField(
        label="Warm start",
        required=False,
        choices=[("", "None"), *WarmStartType.choices],
        help_text="Seed the search with what earlier tuning jobs learned (SageMaker's WarmStartConfig).",
    )
    warm_start_parents = forms.CharField(
        label="Parent tuning jobs",
        required=False,
        help_text="Up to 5 ended tuning jobs, comma-separated.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    target_objective_value = forms.FloatField(label="Target objective value", required=False)
    max_jobs_not_improving = forms.IntegerField(label="Stop after this many jobs not improving", required=False)
    complete_on_convergence = forms.BooleanField(label="Complete on convergence", required=False)

    def __init__(self, *args, user, algorithms, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["algorithm_name"].choices = _choices(algorithm.name for algorithm in algorithms)
        teams = _choices(selectors.teams_for_creation(user=user).values_list("name", flat=True))
        if user.is_staff:
            teams.insert(0, ("", "No team (only staff see it)"))
        else:
            self.fields["team_name"].required = True
        self.fields["team_name"].choices = teams
        self.fields["objective_metric_name"].widget.choices = _choices(self._metric_choices(algorithms))
        first = next(iter(algorithms), None)
        if first is not None and first.objective_metric_name and not self.is_bound:
            # The algorithm's own objective, not its first metric: accepting the defaults must
            # not maximize a training loss.
            self.initial.setdefault("objective_metric_name", first.objective_metric_name)
            self.initial.setdefault("objective_type", first.objective_type)

    def _metric_choices(self, algorithms) -> list[str]:
        """The chosen algorithm's metrics (the script swaps them when the algorithm changes)."""
        chosen = self.data.get(self.add_prefix("algorithm_name")) if self.is_bound else None
        by_name = {algorithm.name: algorithm for algorithm in algorithms}
        algorithm = by_name.get(chosen) or next(iter(by_name.values()), None)
        names = list(algorithm.metric_names) if algorithm else []
        submitted = self.data.get(self.add_prefix("objective_metric_name")) if self.is_bound else None
        if submitted and submitted not in names:
            names.append(submitted)  # keep what was sent, so its error shows next to it
        return names


class TuningJobCreationForm:
    """The main form and its two row blocks, read together into one TuningJobConfig."""

    def __init__(self, data=None, *, user, source: TuningJob | None = None, warm_start: bool = False):
        """`source`: a tuning job to start from (Clone), and with `warm_start` its warm-start child."""
        self.algorithms = list(Algorithm.objects.order_by("name"))
        self.user = user
        self.source = source
        initial = _initial_from(source, warm_start) if source is not None else {}
        self.form = TuningJobForm(data, user=user, algorithms=self.algorithms, initial=initial.get("form"))
        self.ranges = ParameterRangeFormSet(data, prefix="ranges", initial=initial.get("ranges"))
        self.statics = StaticHyperparameterFormSet(data, prefix="statics", initial=initial.get("statics"))
        self.range_errors: list[str] = []
        self.static_errors: list[str] = []

    def is_valid(self) -> bool:
        form_valid = self.form.is_valid()
        rows_valid = self.ranges.is_valid() & self.statics.is_valid()
        if form_valid and not rows_valid:
            # Show the config's other problems now, not after the rows are fixed.
            try:
                validate_tuning_job_config(self.config(), user=self.user)
            except ValidationError as error:
                self.add_errors(error, skip=ROW_DEPENDENT_ERRORS)
        elif rows_valid and not form_valid:
            # The ranges are judged without the rest of the form: an empty form says at once
            # that it has none, not only once its other fields are right.
            self._check_search_space()
        return form_valid and rows_valid

    def _check_search_space(self) -> None:
        ranges = [ParameterRangeForm.as_range(row.cleaned_data) for row in self.ranges.live_forms()]
        try:
            SearchSpace.from_dicts(ranges)
        except SearchSpaceError as error:
            self.add_errors(ValidationError({"parameter_ranges": [str(error)]}))

    def config(self) -> TuningJobConfig:
        data = self.form.cleaned_data
        return TuningJobConfig(
            name=data["name"],
            algorithm_name=data["algorithm_name"],
            objective_metric_name=data["objective_metric_name"],
            objective_type=data["objective_type"],
            parameter_ranges=[ParameterRangeForm.as_range(row.cleaned_data) for row in self.ranges.live_forms()],
            static_hyperparameters={
                row.cleaned_data["name"]: row.cleaned_data["value"] for row in self.statics.live_forms()
            },
            max_training_jobs=data["max_training_jobs"],
            max_parallel_training_jobs=data["max_parallel_training_jobs"],
            strategy=data["strategy"],
            max_runtime_seconds=data["max_runtime_seconds"],
            training_max_runtime_seconds=data["training_max_runtime_seconds"],
            max_retry_attempts=data["max_retry_attempts"],
            early_stopping_type=data["early_stopping_type"],
            random_seed=data["random_seed"],
            hyperband_min_resource=data["hyperband_min_resource"],
            hyperband_max_resource=data["hyperband_max_resource"],
            target_objective_value=data["target_objective_value"],
            max_jobs_not_improving=data["max_jobs_not_improving"],
            complete_on_convergence=data["complete_on_convergence"],
            warm_start_type=data["warm_start_type"],
            warm_start_parents=[name.strip() for name in data["warm_start_parents"].split(",") if name.strip()],
            team_name=data["team_name"] or None,
        )

    def add_errors(self, error: ValidationError, skip=frozenset()) -> None:
        """Place the errors of validate_tuning_job_config / services.tuning_job_create at their fields."""
        range_rows = self.ranges.live_forms()
        static_rows = self.statics.live_forms()
        for key, messages in error.message_dict.items():
            if key in skip:
                continue
            for message in messages:
                if key == "parameter_ranges":
                    _add_row_error(range_rows, self.range_errors, message)
                elif key == "static_hyperparameters":
                    _add_row_error(static_rows, self.static_errors, message)
                elif key in self.form.fields:
                    self.form.add_error(key, message)
                else:
                    self.form.add_error(None, message)

    @property
    def has_errors(self) -> bool:
        return bool(
            self.form.errors
            or self.range_errors
            or self.static_errors
            or any(self.ranges.errors)
            or self.ranges.non_form_errors()
            or any(self.statics.errors)
            or self.statics.non_form_errors()
        )

    def algorithm_catalog(self) -> dict:
        """What the script needs to fill the objective choices and show the defaults, per algorithm."""
        return {
            algorithm.name: {
                "metrics": algorithm.metric_names,
                "static_hyperparameters": algorithm.static_hyperparameters,
                "description": algorithm.description,
                "objective": [algorithm.objective_metric_name, algorithm.objective_type]
                if algorithm.objective_metric_name
                else None,
                "hyperparameters": [
                    {"name": declared.name, "tunable": declared.is_tunable, "valid": declared.describe()}
                    for declared in algorithm.supported
                ],
            }
            for algorithm in self.algorithms
        }


# The configuration a clone copies: everything but the name (which must be new) and what SageMaker
# decides per run.
CLONED_FIELDS = (
    "objective_metric_name", "objective_type", "strategy", "max_training_jobs", "max_parallel_training_jobs",
    "max_runtime_seconds", "training_max_runtime_seconds", "max_retry_attempts", "early_stopping_type",
    "random_seed", "hyperband_min_resource", "hyperband_max_resource", "target_objective_value",
    "max_jobs_not_improving", "complete_on_convergence", "warm_start_type",
)  # fmt: skip


def _initial_from(source: TuningJob, warm_start: bool) -> dict:
    """The form's, the ranges' and the statics' initial data for a clone (or a warm-start child) of `source`."""
    form = {field: getattr(source, field) for field in CLONED_FIELDS}
    form["algorithm_name"] = source.algorithm.name
    form["team_name"] = source.team.name if source.team else ""
    form["warm_start_parents"] = ", ".join(source.warm_start_parents.values_list("name", flat=True))
    if warm_start:
        form["warm_start_type"] = WarmStartType.IDENTICAL_DATA_AND_ALGORITHM
        form["warm_start_parents"] = source.name
    ranges = []
    for param_range in source.parameter_ranges:
        row = {"name": param_range["name"], "type": param_range["type"]}
        if param_range["type"] == ParameterType.CATEGORICAL:
            row["values"] = ", ".join(param_range["values"])
        else:
            row.update(
                min_value=str(param_range["min_value"]),
                max_value=str(param_range["max_value"]),
                scaling_type=param_range.get("scaling_type", ScalingType.AUTO.value),
            )
        ranges.append(row)
    statics = [{"name": name, "value": value} for name, value in source.static_hyperparameters.items()]
    return {"form": form, "ranges": ranges, "statics": statics}


def _add_row_error(rows: list[forms.Form], block_errors: list[str], message: str) -> None:
    """At the one row the message names ("lr: ..." or "lr is ..."), else at the block.

    Messages keep the parameter's name either way, so a block error still says which row.
    """
    named = [
        row for row in rows if message.startswith((f"{row.cleaned_data['name']}:", f"{row.cleaned_data['name']} "))
    ]
    if len(named) == 1:
        named[0].add_error(None, message)
    else:
        block_errors.append(message)
