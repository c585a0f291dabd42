"""Search for TrainingJob and HyperParameterTuningJob resources, through boto3's own client and paginator."""

import pytest

from jobs import services
from jobs.sagemaker.shapes import tuning_job_arn
from tests.jobs.factories import register_algorithm, tuning_job_config
from tests.jobs.sagemaker.api.conftest import register_image, sagemaker_client
from tests.jobs.sagemaker.api.test_endpoint import assert_fits_output, error_of, play

pytestmark = pytest.mark.django_db(transaction=True)

OBJECTIVES = [0.5, 0.9, 0.1, 0.7, 0.3]


@pytest.fixture
def alice(live_server, people):
    register_algorithm()
    register_image("quadratic")
    return sagemaker_client(live_server.url, people[1]["alice"])


@pytest.fixture
def tuned(alice):
    """Tuning job "tuned" of team vision: five training jobs played to the objectives above, a sixth running."""
    tuning_job = services.tuning_job_create(
        config=tuning_job_config(
            name="tuned",
            team_name="vision",
            max_training_jobs=6,
            max_parallel_training_jobs=6,
            tags={"project": "seed"},
        )
    )
    created = services.tuning_job_advance(tuning_job_id=tuning_job.id)
    for job, value in zip(created, OBJECTIVES, strict=False):
        play(job.id, [value / 2, value])
    services.tuning_job_create(config=tuning_job_config(name="other", team_name="vision"))
    hidden = services.tuning_job_create(config=tuning_job_config(name="tuned-audio", team_name="audio"))
    services.tuning_job_advance(tuning_job_id=hidden.id)
    return tuning_job


def names(response: dict, resource: str = "TrainingJob") -> list[str]:
    key = "TrainingJobName" if resource == "TrainingJob" else "HyperParameterTuningJobName"
    return [item[resource][key] for item in response["Results"]]


def search(client, resource: str = "TrainingJob", *filters, **members) -> dict:
    if filters:
        members["SearchExpression"] = {"Filters": list(filters)}
    response = client.search(Resource=resource, **members)
    assert_fits_output("Search", response)
    return response


def test_training_jobs_of_a_tuning_job_by_metric_sorted_as_asked(alice, tuned):
    response = search(
        alice,
        "TrainingJob",
        {"Name": "TuningJobArn", "Operator": "Equals", "Value": tuning_job_arn(tuned)},
        {"Name": "Metrics.validation:accuracy", "Operator": "GreaterThanOrEqualTo", "Value": "0.5"},
        SortBy="Metrics.validation:accuracy",
        SortOrder="Descending",
    )
    assert names(response) == ["tuned-002", "tuned-004", "tuned-001"]
    assert response["TotalHits"] == {"Value": 3, "Relation": "EqualTo"}
    best = response["Results"][0]["TrainingJob"]
    assert best["TrainingJobStatus"] == "Completed"
    assert {m["MetricName"]: m["Value"] for m in best["FinalMetricDataList"]} == {"validation:accuracy": 0.9}
    assert best["TuningJobArn"] == tuning_job_arn(tuned)
    assert best["Tags"] == [{"Key": "project", "Value": "seed"}]
    described = alice.describe_training_job(TrainingJobName="tuned-002")
    assert {key: value for key, value in best.items() if key != "Tags"} == {
        key: value for key, value in described.items() if key in best
    }


def test_name_status_and_or_expressions(alice, tuned):
    contains = search(alice, "TrainingJob", {"Name": "TrainingJobName", "Operator": "Contains", "Value": "-00"})
    assert sorted(names(contains)) == [f"tuned-00{n}" for n in range(1, 7)]  # not tuned-audio-001: not alice's team
    by_hyperparameter = search(
        alice, "TrainingJob", {"Name": "HyperParameters.optimizer", "Operator": "In", "Value": "sgd, adam"}
    )
    assert by_hyperparameter["TotalHits"]["Value"] == 6
    running = search(alice, "TrainingJob", {"Name": "TrainingJobStatus", "Operator": "Equals", "Value": "InProgress"})
    assert names(running) == ["tuned-006"]
    either = alice.search(
        Resource="TrainingJob",
        SearchExpression={
            "Operator": "Or",
            "Filters": [
                {"Name": "TrainingJobName", "Operator": "Equals", "Value": "tuned-003"},
                {"Name": "Metrics.validation:accuracy", "Operator": "GreaterThan", "Value": "0.8"},
            ],
        },
        SortBy="TrainingJobName",
        SortOrder="Ascending",
    )
    assert names(either) == ["tuned-002", "tuned-003"]
    no_metric = search(
        alice, "TrainingJob", {"Name": "Metrics.validation:accuracy", "Operator": "NotExists"}, SortBy="TrainingJobName"
    )
    assert names(no_metric) == ["tuned-006"]


def test_tuning_jobs_by_name_status_and_tag(alice, tuned):
    by_name = search(
        alice,
        "HyperParameterTuningJob",
        {"Name": "HyperParameterTuningJobName", "Operator": "Equals", "Value": "tuned"},
    )
    assert names(by_name, "HyperParameterTuningJob") == ["tuned"]
    entity = by_name["Results"][0]["HyperParameterTuningJob"]
    assert entity["Tags"] == [{"Key": "project", "Value": "seed"}]
    assert entity["BestTrainingJob"]["TrainingJobName"] == "tuned-002"
    assert "Autotune" not in entity
    contains = search(
        alice,
        "HyperParameterTuningJob",
        {"Name": "HyperParameterTuningJobName", "Operator": "Contains", "Value": "e"},
        {"Name": "HyperParameterTuningJobStatus", "Operator": "Equals", "Value": "InProgress"},
        SortBy="HyperParameterTuningJobName",
        SortOrder="Ascending",
    )
    assert names(contains, "HyperParameterTuningJob") == ["other", "tuned"]
    tagged = search(alice, "HyperParameterTuningJob", {"Name": "Tags.project", "Operator": "Equals", "Value": "seed"})
    assert names(tagged, "HyperParameterTuningJob") == ["tuned"]


def test_the_paginator_walks_every_page_once(alice, tuned):
    paginator = alice.get_paginator("search")
    pages = list(
        paginator.paginate(
            Resource="TrainingJob",
            SearchExpression={
                "Filters": [{"Name": "TuningJobArn", "Operator": "Equals", "Value": tuning_job_arn(tuned)}]
            },
            SortBy="TrainingJobName",
            SortOrder="Ascending",
            PaginationConfig={"PageSize": 2},
        )
    )
    assert [len(page["Results"]) for page in pages] == [2, 2, 2]
    assert [name for page in pages for name in names(page)] == [f"tuned-00{n}" for n in range(1, 7)]


def test_what_tuneboard_cannot_search_is_a_validation_exception(alice, tuned):
    cases = [
        (
            {"Resource": "Endpoint"},
            "Tuneboard searches TrainingJob and HyperParameterTuningJob resources, not Endpoint.",
        ),
        (
            {"Resource": "TrainingJob", "SearchExpression": {"Filters": [{"Name": "Nope", "Value": "x"}]}},
            "Cannot search by Nope.",
        ),
        (
            {
                "Resource": "TrainingJob",
                "SearchExpression": {"Filters": [{"Name": "Metrics.loss", "Operator": "GreaterThan", "Value": "high"}]},
            },
            "Metrics.loss is a number; 'high' is not a finite one.",
        ),
        ({"Resource": "TrainingJob", "SortBy": "Colour"}, "Cannot search by Colour."),
    ]
    for request, fragment in cases:
        code, message, status = error_of(alice.search, **request)
        assert (code, status) == ("ValidationException", 400)
        assert fragment in message
    code, message, _ = error_of(alice.search, Resource="Bogus")
    assert code == "ValidationException"
    assert "resource" in message
