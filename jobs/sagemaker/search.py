"""SageMaker's Search expressions, translated into queries on Tuneboard's tables.

A SearchExpression names resource properties by their path in the result
(`TrainingJobName`, `TuningJobArn`, `Metrics.validation:accuracy`,
`HyperParameters.learning_rate`, `Tags.project`, ...). Each property
Tuneboard can search is declared here once, with its column (or the
expression that computes it) and its kind, which decides how a filter's
string Value is read: text as is, numbers as floats, times as ISO 8601 or
seconds since the epoch, ARNs as the name they end with. A property that is
not declared is refused with the list of those that are, rather than
silently matching nothing.
"""

import functools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import or_ as operator_or

from django.db.models import Exists, F, OuterRef, Q, Subquery, TextField
from django.db.models.fields.json import KT
from django.db.models.functions import Cast

from jobs.models import MetricSample, Tag
from jobs.sagemaker.validation import parse_timestamp

TEXT, NUMBER, TIME, ARN = "text", "number", "time", "arn"
_COMPARISONS = {
    "GreaterThan": "gt",
    "GreaterThanOrEqualTo": "gte",
    "LessThan": "lt",
    "LessThanOrEqualTo": "lte",
}
# The ARN of a job ends with its name, lowercased (jobs.sagemaker.shapes): compare names case-blind.
_ARN_NAME = re.compile(r"arn:aws[a-z-]*:sagemaker:[a-z0-9-]*:[0-9]{12}:[a-z-]+/(.+)")


class SearchError(Exception):
    """A SearchExpression Tuneboard cannot answer: the message says which part and why."""


@dataclass(frozen=True)
class Property:
    kind: str
    column: str


@dataclass(frozen=True)
class Resource:
    """One searchable resource: its fixed properties, its per-name families, and how to sort by default."""

    properties: dict[str, Property]
    # "Metrics.<name>" and the like: the prefix, and a function of the name giving (kind, expression).
    families: dict[str, Callable[[str], tuple[str, object]]]
    default_sort: str = "CreationTime"
    tags_owner: str = "tuning_job"


def _final_metric(name: str) -> tuple[str, object]:
    """A training job's final value of a metric: its value at the last epoch that reported it."""
    last = MetricSample.objects.filter(training_job=OuterRef("pk"), metric_name=name).order_by("-epoch")
    return NUMBER, Subquery(last.values("value")[:1])


def _hyperparameter(name: str) -> tuple[str, object]:
    # Cast: a plain text column, compared as text on every database (SQLite's JSON lookups read JSON).
    return TEXT, Cast(KT(f"hyperparameters__{name}"), output_field=TextField())


TRAINING_JOB = Resource(
    properties={
        "TrainingJobName": Property(TEXT, "name"),
        "TrainingJobArn": Property(ARN, "name"),
        "TrainingJobStatus": Property(TEXT, "status"),
        "SecondaryStatus": Property(TEXT, "secondary_status"),
        "FailureReason": Property(TEXT, "failure_reason"),
        "TuningJobArn": Property(ARN, "tuning_job__name"),
        "CreationTime": Property(TIME, "created_at"),
        "LastModifiedTime": Property(TIME, "updated_at"),
        "TrainingStartTime": Property(TIME, "started_at"),
        "TrainingEndTime": Property(TIME, "ended_at"),
        "ModelArtifacts.S3ModelArtifacts": Property(TEXT, "model_artifact_uri"),
    },
    families={"Metrics.": _final_metric, "HyperParameters.": _hyperparameter},
    tags_owner="training_job",
)

HYPER_PARAMETER_TUNING_JOB = Resource(
    properties={
        "HyperParameterTuningJobName": Property(TEXT, "name"),
        "HyperParameterTuningJobArn": Property(ARN, "name"),
        "HyperParameterTuningJobStatus": Property(TEXT, "status"),
        "HyperParameterTuningJobConfig.Strategy": Property(TEXT, "strategy"),
        "HyperParameterTuningJobConfig.HyperParameterTuningJobObjective.MetricName": Property(
            TEXT, "objective_metric_name"
        ),
        "FailureReason": Property(TEXT, "failure_reason"),
        "CreationTime": Property(TIME, "created_at"),
        "LastModifiedTime": Property(TIME, "updated_at"),
        "HyperParameterTuningEndTime": Property(TIME, "ended_at"),
        "BestTrainingJob.TrainingJobName": Property(TEXT, "best_training_job__name"),
        "BestTrainingJob.FinalHyperParameterTuningJobObjectiveMetric.Value": Property(
            NUMBER, "best_training_job__final_objective_value"
        ),
    },
    families={},
)

RESOURCES = {"TrainingJob": TRAINING_JOB, "HyperParameterTuningJob": HYPER_PARAMETER_TUNING_JOB}


@dataclass
class Translation:
    """Q objects for a resource's queryset, and the computed columns (aliases) they refer to."""

    resource: Resource
    aliases: dict[str, object] = field(default_factory=dict)

    def expression(self, expression: dict) -> Q:
        if expression.get("NestedFilters"):
            raise SearchError("NestedFilters are not supported: filter on Metrics.<name> and HyperParameters.<name>.")
        parts = [self.filter(item) for item in expression.get("Filters") or []]
        parts += [self.expression(item) for item in expression.get("SubExpressions") or []]
        combined = Q()
        for part in parts:
            combined = combined | part if expression.get("Operator") == "Or" else combined & part
        return combined

    def column(self, name: str) -> tuple[str, str]:
        """(kind, column or alias) of the property `name`."""
        if name in self.resource.properties:
            found = self.resource.properties[name]
            return found.kind, found.column
        for prefix, family in self.resource.families.items():
            if name.startswith(prefix) and len(name) > len(prefix):
                kind, computed = family(name[len(prefix) :])
                alias = f"search_{len(self.aliases)}"
                self.aliases[alias] = computed
                return kind, alias
        known = sorted([*self.resource.properties, *(f"{prefix}<name>" for prefix in self.resource.families)])
        raise SearchError(f"Cannot search by {name}. Tuneboard searches by: {', '.join(known)}, Tags.<key>.")

    def filter(self, item: dict) -> Q:
        name, operator, value = item["Name"], item.get("Operator", "Equals"), item.get("Value")
        if name.startswith("Tags.") and len(name) > len("Tags."):
            return self._tag(name[len("Tags.") :], operator, value)
        kind, column = self.column(name)
        if operator in ("Exists", "NotExists"):
            present = ~Q(**{f"{column}__isnull": True})
            if kind == TEXT:
                present &= ~Q(**{column: ""})
            return present if operator == "Exists" else ~present
        if value is None:
            raise SearchError(f"The filter on {name} with operator {operator} needs a Value.")
        if operator == "In":
            lookup = f"{column}__iexact" if kind == ARN else column
            return functools.reduce(
                operator_or, (Q(**{lookup: _read(kind, name, part.strip())}) for part in value.split(","))
            )
        if operator == "Contains":
            if kind != TEXT:
                raise SearchError(f"Contains applies to text properties; {name} is not one.")
            return Q(**{f"{column}__contains": value})
        read = _read(kind, name, value)
        if kind == ARN:
            column = f"{column}__iexact"
        if operator == "Equals":
            return Q(**{column: read})
        if operator == "NotEquals":
            return ~Q(**{column: read})
        if kind == ARN:
            raise SearchError(f"{operator} does not apply to an ARN ({name}).")
        return Q(**{f"{column}__{_COMPARISONS[operator]}": read})

    def _tag(self, key: str, operator: str, value: str | None) -> Q:
        tags = Tag.objects.filter(**{self.resource.tags_owner: OuterRef("pk")}, key=key)
        if operator in ("Exists", "NotExists"):
            return Q(Exists(tags)) if operator == "Exists" else ~Q(Exists(tags))
        if value is None:
            raise SearchError(f"The filter on Tags.{key} with operator {operator} needs a Value.")
        lookups = {"Equals": "value", "NotEquals": "value", "Contains": "value__contains"}
        if operator not in lookups:
            raise SearchError(f"Tags.{key} takes Equals, NotEquals, Contains, Exists or NotExists, not {operator}.")
        matching = Q(Exists(tags.filter(**{lookups[operator]: value})))
        return ~matching if operator == "NotEquals" else matching

    def order(self, sort_by: str | None, sort_order: str | None) -> list:
        """The ordering: the property asked for (jobs without it last), then the primary key, as a total order."""
        _, column = self.column(sort_by or self.resource.default_sort)
        descending = (sort_order or "Descending") == "Descending"
        expression = F(column).desc(nulls_last=True) if descending else F(column).asc(nulls_last=True)
        return [expression, "-pk" if descending else "pk"]


def _read(kind: str, name: str, value: str):
    if kind == NUMBER:
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            raise SearchError(f"{name} is a number; {value!r} is not a finite one.")
        return number
    if kind == TIME:
        moment = parse_timestamp(float(value) if re.fullmatch(r"-?\d+(\.\d+)?", value) else value)
        if moment is None:
            raise SearchError(f"{name} is a time; give {value!r} as ISO 8601 or seconds since the epoch.")
        return moment
    if kind == ARN:
        match = _ARN_NAME.fullmatch(value)
        if match is None:
            raise SearchError(f"{name} is an ARN; {value!r} is not a SageMaker ARN.")
        return match.group(1)
    return value
