"""The SageMaker operations Tuneboard answers, one function each.

Each takes the caller (the access key's user and team) and a request body
already checked against botocore's model, reads through the visibility
rules every page uses, changes state only through jobs.services, and returns
the response as SageMaker shapes it. What a caller may not see does not
exist for them: it is answered exactly as a missing one, as everywhere else
in Tuneboard.
"""

import dataclasses
import hashlib
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from django.contrib.auth.models import Group
from django.core import signing
from django.core.exceptions import ValidationError
from django.db.models import F, OuterRef, Subquery
from django.utils import timezone

from jobs import selectors, services
from jobs.config import MAX_PARALLEL_LIMIT, MAX_TAGS, MAX_TRAINING_JOBS_LIMIT
from jobs.models import MetricSample, Tag, TrainingJob, TrainingJobStatus, TuningJob, TuningJobStatus
from jobs.sagemaker import search
from jobs.sagemaker.algorithm import algorithm_for_image
from jobs.sagemaker.api.errors import (
    AccessDeniedException,
    ResourceInUse,
    ResourceLimitExceeded,
    ResourceNotFound,
    ValidationException,
)
from jobs.sagemaker.shapes import (
    ShapeError,
    describe_training_job,
    describe_tuning_job,
    duplicate_tag_keys,
    parse_create_tuning_job,
    rename_validation_error,
    tags_from_shape,
    tags_shape,
    training_job_list_summary,
    training_job_summary,
    tuning_job_arn,
    tuning_job_summary,
)
from jobs.sagemaker.validation import error_message, parse_timestamp, service_model, violation

# SageMaker's MaxResults when a List call gives none.
DEFAULT_MAX_RESULTS = 10
_NEXT_TOKEN_SALT = "jobs.sagemaker_api.NextToken"


@dataclass(frozen=True)
class Caller:
    """Who signed the request: an access key's user, acting in the key's team."""

    user: object
    team: Group | None
    access_key_id: str


Operation = Callable[[Caller, dict], dict]
OPERATIONS: dict[str, Operation] = {}


def operation(name: str):
    def register(function: Operation) -> Operation:
        OPERATIONS[name] = function
        return function

    return register


# --- paging -----------------------------------------------------------------------------


def _page(
    body: dict, operation_name: str, queryset, summarize, default_limit: int = DEFAULT_MAX_RESULTS
) -> tuple[list[dict], str | None]:
    """One page of `queryset` and the NextToken of the next, if any.

    A NextToken is signed and bound to the operation and its filters, so a
    token is only good for the listing it came from. It holds an offset into
    a total order (every sort ends on the primary key): stateless on the
    server, at the price that rows created meanwhile can shift later pages.
    """
    filters = {key: value for key, value in body.items() if key not in ("NextToken", "MaxResults")}
    fingerprint = hashlib.sha256(
        json.dumps([operation_name, filters], sort_keys=True, default=str).encode()
    ).hexdigest()[:32]
    offset = 0
    if body.get("NextToken"):
        try:
            token = signing.loads(body["NextToken"], salt=_NEXT_TOKEN_SALT)
        except signing.BadSignature:
            token = None
        if not isinstance(token, dict) or token.get("f") != fingerprint or not isinstance(token.get("o"), int):
            raise ValidationException(
                "Invalid pagination token: it was not returned by this operation with these parameters."
            )
        offset = token["o"]
    limit = body.get("MaxResults", default_limit)
    rows = list(queryset[offset : offset + limit + 1])
    next_token = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_token = signing.dumps({"f": fingerprint, "o": offset + limit}, salt=_NEXT_TOKEN_SALT)
    return [summarize(row) for row in rows], next_token


def _listing(member: str, items: list, next_token: str | None) -> dict:
    """A List response: the page's items under `member`, and NextToken when another page follows."""
    response = {member: items}
    if next_token:
        response["NextToken"] = next_token
    return response


def _ordered(queryset, body: dict, fields: dict[str, str], default: str):
    field = fields[body.get("SortBy", default)]
    descending = body.get("SortOrder", "Ascending") == "Descending"
    expression = F(field).desc(nulls_last=True) if descending else F(field).asc(nulls_last=True)
    return queryset.order_by(expression, "-pk" if descending else "pk")


def _time_filters(queryset, body: dict, created: str = "created_at", modified: str = "updated_at"):
    bounds = {
        "CreationTimeAfter": f"{created}__gt",
        "CreationTimeBefore": f"{created}__lt",
        "LastModifiedTimeAfter": f"{modified}__gt",
        "LastModifiedTimeBefore": f"{modified}__lt",
    }
    for member, lookup in bounds.items():
        if member in body:
            queryset = queryset.filter(**{lookup: parse_timestamp(body[member])})
    return queryset


# --- tuning jobs -------------------------------------------------------------------------


def _visible_tuning_job(caller: Caller, name: str) -> TuningJob:
    """The tuning job, if the caller may see it; else ResourceNotFound, worded as SageMaker words it."""
    tuning_job = selectors.tuning_jobs_visible_to(user=caller.user).filter(name=name).first()
    if tuning_job is None:
        raise ResourceNotFound(f"Amazon SageMaker can't find a tuning job called {name}. Type another name.")
    return tuning_job


def _require_operator(caller: Caller, tuning_job: TuningJob, operation_name: str, target: str) -> None:
    """Changing a job (stop, delete, tag) is for its team's operators; viewers may only look."""
    if not selectors.can_operate(user=caller.user, tuning_job=tuning_job):
        raise AccessDeniedException(
            f"User {caller.user.get_username()} is not authorized to perform: sagemaker:{operation_name} "
            f"on {target} (viewers may only look)."
        )


def _algorithm_name(body: dict) -> str | None:
    """The registered algorithm AlgorithmSpecification.TrainingImage names: its image URI or one of its aliases."""
    specification = body["TrainingJobDefinition"].get("AlgorithmSpecification") or {}
    image = specification.get("TrainingImage")
    if image is None:
        return None
    path = "trainingJobDefinition.algorithmSpecification.trainingImage"
    if specification.get("AlgorithmName") is not None:
        raise ValidationException(
            error_message([violation(image, path, "Give TrainingImage or AlgorithmName, not both")])
        )
    algorithm = algorithm_for_image(image)
    if algorithm is None:
        constraint = "Member must be the image URI of an algorithm registered in Tuneboard"
        raise ValidationException(error_message([violation(image, path, constraint)]))
    return algorithm.name


@operation("CreateHyperParameterTuningJob")
def create_hyper_parameter_tuning_job(caller: Caller, body: dict) -> dict:
    try:
        config = parse_create_tuning_job(body)
    except ShapeError as exc:
        raise ValidationException(exc.message()) from None
    algorithm_name = _algorithm_name(body)
    if algorithm_name is not None:
        config = dataclasses.replace(config, algorithm_name=algorithm_name)
    if caller.team is not None:
        config = dataclasses.replace(config, team_name=caller.team.name)
    # Authorised first: a key that may not create learns nothing, not even which names are taken.
    if not selectors.can_create_in(user=caller.user, team=caller.team):
        raise AccessDeniedException(
            f"User {caller.user.get_username()} is not authorized to perform: sagemaker:CreateHyperParameterTuningJob"
            f" (access key {caller.access_key_id} is not an operator's key in team "
            f"{caller.team.name if caller.team else '(none)'})."
        )
    if TuningJob.objects.filter(name=config.name).exists():
        raise ResourceInUse(f"Hyperparameter tuning job with name {config.name} already exists.")
    _check_limits(config)
    try:
        tuning_job = services.tuning_job_create_from_request(config=config, request_body=body, owner=caller.user)
    except services.TeamLimitExceeded as exc:
        raise ResourceLimitExceeded(
            _limit_message(exc.quota, exc.limit, exc.utilization, exc.delta, "Jobs")
            + f" Tuneboard applies this limit to team {caller.team.name}."
        ) from None
    except ValidationError as exc:
        if TuningJob.objects.filter(name=config.name).exists():
            raise ResourceInUse(f"Hyperparameter tuning job with name {config.name} already exists.") from None
        raise ValidationException(rename_validation_error(exc, body).message()) from None
    return {"HyperParameterTuningJobArn": tuning_job_arn(tuning_job)}


def _limit_message(quota: str, limit: int, utilization: int, delta: int, unit: str) -> str:
    """ResourceLimitExceeded as SageMaker words it."""
    return (
        f"The account-level service limit '{quota}' is {limit} {unit}, with current utilization of "
        f"{utilization} {unit} and a request delta of {delta} {unit}. Please contact AWS support to request "
        "an increase for this limit."
    )


def _check_limits(config) -> None:
    """SageMaker's per-tuning-job quotas, on the request alone: a ResourceLimitExceeded, not a ValidationException.

    The request is the whole of what these count, so the utilization is
    always none; the per-team quotas on concurrent jobs are counted in the
    service (services.TeamLimitExceeded).
    """
    quotas = (
        ("Maximum number of training jobs per tuning job", config.max_training_jobs, MAX_TRAINING_JOBS_LIMIT),
        ("Maximum number of parallel training jobs per tuning job", config.max_parallel_training_jobs,
         MAX_PARALLEL_LIMIT),
    )  # fmt: skip
    for quota, requested, limit in quotas:
        if isinstance(requested, int) and requested > limit:
            raise ResourceLimitExceeded(_limit_message(quota, limit, 0, requested, "Jobs"))


@operation("DescribeHyperParameterTuningJob")
def describe_hyper_parameter_tuning_job(caller: Caller, body: dict) -> dict:
    return describe_tuning_job(_visible_tuning_job(caller, body["HyperParameterTuningJobName"]))


@operation("ListHyperParameterTuningJobs")
def list_hyper_parameter_tuning_jobs(caller: Caller, body: dict) -> dict:
    queryset = selectors.tuning_jobs_visible_to(user=caller.user)
    if body.get("NameContains"):
        queryset = queryset.filter(name__contains=body["NameContains"])
    if body.get("StatusEquals"):
        queryset = queryset.filter(status=body["StatusEquals"])
    queryset = _time_filters(queryset, body)
    queryset = _ordered(queryset, body, {"Name": "name", "Status": "status", "CreationTime": "created_at"}, "Name")
    page, next_token = _page(body, "ListHyperParameterTuningJobs", queryset, lambda job: job)
    totals = selectors.tuning_job_totals(tuning_job_ids=[job.id for job in page], now=timezone.now())
    empty = selectors.StatusCounters()
    return _listing(
        "HyperParameterTuningJobSummaries",
        [tuning_job_summary(job, totals[job.id].counters if job.id in totals else empty) for job in page],
        next_token,
    )


@operation("StopHyperParameterTuningJob")
def stop_hyper_parameter_tuning_job(caller: Caller, body: dict) -> dict:
    tuning_job = _visible_tuning_job(caller, body["HyperParameterTuningJobName"])
    _require_operator(caller, tuning_job, "StopHyperParameterTuningJob", tuning_job.name)
    if tuning_job.is_imported:
        raise ValidationException(f"{tuning_job.name} was imported from SageMaker: Tuneboard only shows it.")
    if tuning_job.status not in (TuningJobStatus.IN_PROGRESS, TuningJobStatus.STOPPING):
        raise ValidationException(
            f"The request was rejected because the hyperparameter tuning job is in status {tuning_job.status}."
        )
    services.tuning_job_stop(tuning_job_id=tuning_job.id)
    return {}


@operation("DeleteHyperParameterTuningJob")
def delete_hyper_parameter_tuning_job(caller: Caller, body: dict) -> dict:
    tuning_job = _visible_tuning_job(caller, body["HyperParameterTuningJobName"])
    _require_operator(caller, tuning_job, "DeleteHyperParameterTuningJob", tuning_job.name)
    if tuning_job.is_active and not tuning_job.is_imported:
        # Its model lists no error of its own (no ResourceInUse): SageMaker's common ValidationException.
        raise ValidationException(
            f"The request was rejected because the hyperparameter tuning job is in status {tuning_job.status}. "
            "Stop it and wait until it has ended before deleting it."
        )
    try:
        services.tuning_job_delete(tuning_job_id=tuning_job.id)
    except ValidationError as exc:
        raise ValidationException(" ".join(exc.messages)) from None
    return {}


_TRAINING_JOB_SORTS = {
    "Name": "name",
    "CreationTime": "created_at",
    "Status": "status",
    "FinalObjectiveMetricValue": "final_objective_value",
}


@operation("ListTrainingJobsForHyperParameterTuningJob")
def list_training_jobs_for_hyper_parameter_tuning_job(caller: Caller, body: dict) -> dict:
    tuning_job = _visible_tuning_job(caller, body["HyperParameterTuningJobName"])
    queryset = tuning_job.training_jobs.all()
    if body.get("StatusEquals"):
        queryset = queryset.filter(status=body["StatusEquals"])
    if body.get("SortBy") == "FinalObjectiveMetricValue":
        # As SageMaker: sorted by objective, the jobs without one are not listed.
        queryset = queryset.exclude(final_objective_value__isnull=True).exclude(final_objective_value=math.nan)
    queryset = _ordered(queryset, body, _TRAINING_JOB_SORTS, "Name")
    page, next_token = _page(
        body,
        "ListTrainingJobsForHyperParameterTuningJob",
        queryset,
        lambda job: training_job_summary(job, tuning_job),
    )
    return _listing("TrainingJobSummaries", page, next_token)


# --- training jobs -------------------------------------------------------------------------


def _visible_training_job(caller: Caller, name: str) -> TrainingJob:
    training_job = (
        selectors.training_jobs_visible_to(user=caller.user)
        .select_related("tuning_job__algorithm")
        .filter(name=name)
        .first()
    )
    if training_job is None:
        # SageMaker answers a missing training job with a ValidationException, not the
        # ResourceNotFound its model lists (aws/aws-sdk#165), and client code catches that.
        raise ValidationException("Requested resource not found.")
    return training_job


def _final_metrics(training_jobs: list[TrainingJob]) -> dict[int, list[MetricSample]]:
    """Each training job's last sample of each metric (FinalMetricDataList), in one query."""
    last_epoch = (
        MetricSample.objects.filter(training_job=OuterRef("training_job"), metric_name=OuterRef("metric_name"))
        .order_by("-epoch")
        .values("epoch")[:1]
    )
    samples = MetricSample.objects.filter(training_job__in=training_jobs, epoch=Subquery(last_epoch))
    final: dict[int, list[MetricSample]] = {job.id: [] for job in training_jobs}
    for sample in samples.order_by("metric_name"):
        final[sample.training_job_id].append(sample)
    return final


@operation("DescribeTrainingJob")
def describe_training_job_operation(caller: Caller, body: dict) -> dict:
    training_job = _visible_training_job(caller, body["TrainingJobName"])
    return describe_training_job(training_job, _final_metrics([training_job])[training_job.id])


@operation("ListTrainingJobs")
def list_training_jobs_operation(caller: Caller, body: dict) -> dict:
    queryset = selectors.training_jobs_visible_to(user=caller.user)
    if body.get("NameContains"):
        queryset = queryset.filter(name__contains=body["NameContains"])
    if body.get("StatusEquals"):
        queryset = queryset.filter(status=body["StatusEquals"])
    if body.get("WarmPoolStatusEquals") or body.get("TrainingPlanArnEquals"):
        # Tuneboard has neither warm pools nor training plans: nothing matches.
        queryset = queryset.none()
    queryset = _time_filters(queryset, body)
    queryset = _ordered(
        queryset, body, {"Name": "name", "CreationTime": "created_at", "Status": "status"}, "CreationTime"
    )
    page, next_token = _page(body, "ListTrainingJobs", queryset, training_job_list_summary)
    return _listing("TrainingJobSummaries", page, next_token)


@operation("StopTrainingJob")
def stop_training_job(caller: Caller, body: dict) -> dict:
    training_job = _visible_training_job(caller, body["TrainingJobName"])
    _require_operator(caller, training_job.tuning_job, "StopTrainingJob", training_job.name)
    if training_job.status == TrainingJobStatus.STOPPING:
        return {}
    if training_job.status != TrainingJobStatus.IN_PROGRESS or training_job.tuning_job.is_imported:
        raise ValidationException(
            f"The request was rejected because the training job is in status {training_job.status}."
        )
    services.training_job_stop(training_job_id=training_job.id)
    return {}


# --- tags ------------------------------------------------------------------------------------

# The ARNs tuning_job_arn and training_job_arn form (names lowercased, as SageMaker's are).
_TAGGABLE_ARN = re.compile(
    r"arn:aws[a-z-]*:sagemaker:[a-z0-9-]*:[0-9]{12}:(hyper-parameter-tuning-job|training-job)/(.+)"
)


def _tagged_job(caller: Caller, arn: str) -> dict:
    """The visible job `arn` names, as the tags services take it; a ValidationException as SageMaker's otherwise.

    The region and account are not compared: a Tuneboard has one of each, and
    a client may form the ARN with its own region. An ARN lowercases the
    name: a job of exactly that name wins over one that differs in case.
    """
    match = _TAGGABLE_ARN.fullmatch(arn)
    if match is not None:
        kind, name = match.groups()
        if kind == "hyper-parameter-tuning-job":
            jobs = selectors.tuning_jobs_visible_to(user=caller.user)
        else:
            jobs = selectors.training_jobs_visible_to(user=caller.user).select_related("tuning_job")
        # The exact name first: it is indexed, and an ARN of a lowercase name (most) needs no more.
        job = jobs.filter(name=name).first() or jobs.filter(name__iexact=name).order_by("id").first()
        if job is not None:
            return {"tuning_job": job} if kind == "hyper-parameter-tuning-job" else {"training_job": job}
    raise ValidationException(f"Requested resource not found: {arn}.")


def _tagged_ids(caller: Caller, arn: str, operation_name: str) -> dict:
    """The ids tags_add/tags_delete take, for an operator of the job's team."""
    job = _tagged_job(caller, arn)
    _require_operator(caller, job.get("tuning_job") or job["training_job"].tuning_job, operation_name, arn)
    if "tuning_job" in job:
        return {"tuning_job_id": job["tuning_job"].id}
    return {"training_job_id": job["training_job"].id}


@operation("AddTags")
def add_tags(caller: Caller, body: dict) -> dict:
    duplicates = duplicate_tag_keys(body["Tags"], "tags")
    if duplicates:
        raise ValidationException(error_message([str(found) for found in duplicates]))
    owner = _tagged_ids(caller, body["ResourceArn"], "AddTags")
    try:
        tags = services.tags_add(tags=tags_from_shape(body["Tags"]), **owner)
    except ValidationError as exc:
        raise ValidationException(" ".join(exc.message_dict["tags"])) from None
    return {"Tags": tags_shape(tags)}


@operation("ListTags")
def list_tags(caller: Caller, body: dict) -> dict:
    job = _tagged_job(caller, body["ResourceArn"])
    queryset = Tag.objects.filter(**job).order_by("id")
    # A resource has at most MAX_TAGS tags, so by default one page holds them all.
    page, next_token = _page(body, "ListTags", queryset, lambda tag: tags_shape([tag])[0], default_limit=MAX_TAGS)
    return _listing("Tags", page, next_token)


@operation("DeleteTags")
def delete_tags(caller: Caller, body: dict) -> dict:
    services.tags_delete(keys=body["TagKeys"], **_tagged_ids(caller, body["ResourceArn"], "DeleteTags"))
    return {}


# --- search ----------------------------------------------------------------------------------


def _search_entity(resource: str, describe: dict, tags: list[Tag]) -> dict:
    """A Search result item: the Describe response cut to the members the resource's search shape has, and Tags."""
    members = service_model().operation_model("Search").output_shape.members["Results"].member.members
    entity = {key: value for key, value in describe.items() if key in members[resource].members}
    entity["Tags"] = tags_shape(tags)
    return {resource: entity}


@operation("Search")
def search_operation(caller: Caller, body: dict) -> dict:
    resource = body["Resource"]
    if resource not in search.RESOURCES:
        raise ValidationException(f"Tuneboard searches {' and '.join(search.RESOURCES)} resources, not {resource}.")
    translation = search.Translation(search.RESOURCES[resource])
    try:
        condition = translation.expression(body.get("SearchExpression") or {})
        ordering = translation.order(body.get("SortBy"), body.get("SortOrder"))
    except search.SearchError as exc:
        raise ValidationException(str(exc)) from None
    if resource == "TrainingJob":
        queryset = selectors.training_jobs_visible_to(user=caller.user).select_related("tuning_job__algorithm")
    else:
        queryset = selectors.tuning_jobs_visible_to(user=caller.user)
    queryset = queryset.alias(**translation.aliases).filter(condition).order_by(*ordering)
    page, next_token = _page(body, "Search", queryset, lambda job: job)
    owner = "training_job" if resource == "TrainingJob" else "tuning_job"
    tags: dict[int, list[Tag]] = {job.id: [] for job in page}
    for tag in Tag.objects.filter(**{f"{owner}__in": page}).order_by("id"):
        tags[getattr(tag, f"{owner}_id")].append(tag)
    if resource == "TrainingJob":
        final_metrics = _final_metrics(page)
        results = [
            _search_entity(resource, describe_training_job(job, final_metrics[job.id]), tags[job.id]) for job in page
        ]
    else:
        results = [_search_entity(resource, describe_tuning_job(job), tags[job.id]) for job in page]
    response = _listing("Results", results, next_token)
    response["TotalHits"] = {"Value": queryset.count(), "Relation": "EqualTo"}
    return response
