"""The /sagemaker endpoint through boto3's own client over real HTTP (pytest-django's live server).

State is built through the services (no workers here: training runs are
played with training_job_start/record_metrics/finish); everything asked of
the endpoint goes through boto3, which serializes, signs and parses exactly
as it does against AWS.
"""

import json
from datetime import UTC, datetime

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from botocore.validate import validate_parameters

from jobs import services
from jobs.backends.base import Outcome, RunResult
from jobs.backends.metrics import MetricRecord
from jobs.models import AccessKey, Algorithm, TuningJob
from jobs.sagemaker.validation import service_model
from tests.jobs.factories import SUPPORTED_HYPERPARAMETERS, register_algorithm, tuning_job_config
from tests.jobs.sagemaker.api.conftest import IMAGE, Key, create_request, register_image, sagemaker_client


def error_of(call, *args, **kwargs) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    error = caught.value.response
    return error["Error"]["Code"], error["Error"]["Message"], error["ResponseMetadata"]["HTTPStatusCode"]


def assert_fits_output(operation: str, response: dict) -> None:
    """The response parses into the operation's output shape, required members included."""
    body = {key: value for key, value in response.items() if key != "ResponseMetadata"}
    validate_parameters(body, service_model().operation_model(operation).output_shape)


@pytest.fixture
def alice(live_server, people):
    return sagemaker_client(live_server.url, people[1]["alice"])


@pytest.fixture
def algorithm():
    register_algorithm()
    register_image("quadratic")


def play(training_job_id: int, values: list[float]) -> None:
    services.training_job_start(training_job_id=training_job_id, worker="w@host:1", log_path="")
    services.training_job_record_metrics(
        training_job_id=training_job_id,
        records=[MetricRecord("validation:accuracy", e, v, datetime.now(UTC)) for e, v in enumerate(values, 1)],
    )
    services.training_job_finish(training_job_id=training_job_id, result=RunResult(Outcome.COMPLETED, 0))


def test_create_describe_list_and_stop(alice, algorithm, people):
    arn = alice.create_hyper_parameter_tuning_job(**create_request("seed-1"))["HyperParameterTuningJobArn"]
    assert arn == "arn:aws:sagemaker:local:000000000000:hyper-parameter-tuning-job/seed-1"
    tuning_job = TuningJob.objects.get(name="seed-1")
    assert (tuning_job.team.name, tuning_job.owner.username, tuning_job.algorithm.name) == (
        "vision",
        "alice",
        "quadratic",
    )

    described = alice.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="seed-1")
    assert_fits_output("DescribeHyperParameterTuningJob", described)
    assert described["HyperParameterTuningJobStatus"] == "InProgress"
    assert described["HyperParameterTuningJobConfig"]["ResourceLimits"] == {
        "MaxNumberOfTrainingJobs": 4,
        "MaxParallelTrainingJobs": 2,
    }
    definition = described["TrainingJobDefinition"]
    # What Tuneboard has no use for comes back as it was sent, as SageMaker echoes it.
    assert definition["RoleArn"] == "arn:aws:iam::123456789012:role/SageMakerRole"
    assert definition["ResourceConfig"] == {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10}
    assert definition["AlgorithmSpecification"]["TrainingImage"] == IMAGE
    assert definition["StaticHyperParameters"] == {"_tuning_objective_metric": "validation:accuracy", "epochs": "3"}
    assert described["CreationTime"].tzinfo is not None

    listed = alice.list_hyper_parameter_tuning_jobs()
    assert_fits_output("ListHyperParameterTuningJobs", listed)
    assert [s["HyperParameterTuningJobName"] for s in listed["HyperParameterTuningJobSummaries"]] == ["seed-1"]

    first, second = services.tuning_job_advance(tuning_job_id=tuning_job.id)
    play(first.id, [0.2, 0.5])
    training = alice.describe_training_job(TrainingJobName=first.name)
    assert_fits_output("DescribeTrainingJob", training)
    assert (training["TrainingJobStatus"], training["SecondaryStatus"]) == ("Completed", "Completed")
    assert training["TuningJobArn"] == arn
    assert [(m["MetricName"], m["Value"]) for m in training["FinalMetricDataList"]] == [("validation:accuracy", 0.5)]
    assert training["RoleArn"] == "arn:aws:iam::123456789012:role/SageMakerRole"
    jobs = alice.list_training_jobs(SortBy="Name")
    assert_fits_output("ListTrainingJobs", jobs)
    assert [j["TrainingJobName"] for j in jobs["TrainingJobSummaries"]] == [first.name, second.name]
    pages = alice.get_paginator("list_training_jobs").paginate(
        SortBy="Name", SortOrder="Descending", PaginationConfig={"PageSize": 1}
    )
    assert [s["TrainingJobName"] for page in pages for s in page["TrainingJobSummaries"]] == [second.name, first.name]

    alice.stop_training_job(TrainingJobName=second.name)
    # It never started (no worker here), so it ends at once.
    assert alice.describe_training_job(TrainingJobName=second.name)["TrainingJobStatus"] == "Stopped"
    code, message, status = error_of(alice.stop_training_job, TrainingJobName=first.name)
    assert (code, status) == ("ValidationException", 400)
    assert message == "The request was rejected because the training job is in status Completed."

    alice.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName="seed-1")
    assert (
        alice.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="seed-1")["HyperParameterTuningJobStatus"]
        == "Stopping"
    )


def test_training_jobs_sorted_by_objective_through_the_paginator(alice, algorithm, people):
    tuning_job = services.tuning_job_create(
        config=tuning_job_config(name="paged", team_name="vision", max_training_jobs=7, max_parallel_training_jobs=7)
    )
    created = services.tuning_job_advance(tuning_job_id=tuning_job.id)
    objectives = [0.5, 0.9, 0.1, 0.7, 0.3, 0.8]
    for job, value in zip(created, objectives, strict=False):
        play(job.id, [value])
    # The seventh is still running: sorted by objective, it is left out, as SageMaker does.
    paginator = alice.get_paginator("list_training_jobs_for_hyper_parameter_tuning_job")
    pages = list(
        paginator.paginate(
            HyperParameterTuningJobName="paged",
            SortBy="FinalObjectiveMetricValue",
            SortOrder="Descending",
            PaginationConfig={"PageSize": 4},
        )
    )
    assert [len(page["TrainingJobSummaries"]) for page in pages] == [4, 2]
    values = [
        s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for p in pages for s in p["TrainingJobSummaries"]
    ]
    assert values == sorted(objectives, reverse=True)
    for page in pages:
        assert_fits_output("ListTrainingJobsForHyperParameterTuningJob", page)

    everything = alice.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName="paged", MaxResults=100
    )["TrainingJobSummaries"]
    assert len(everything) == 7
    assert [s["TrainingJobName"] for s in everything] == sorted(s["TrainingJobName"] for s in everything)
    running = alice.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName="paged", StatusEquals="InProgress", SortBy="CreationTime", SortOrder="Descending"
    )["TrainingJobSummaries"]
    assert [s["TrainingJobStatus"] for s in running] == ["InProgress"]

    for name in ("paged-2", "paged-3"):
        services.tuning_job_create(config=tuning_job_config(name=name, team_name="vision"))
    names = [
        summary["HyperParameterTuningJobName"]
        for page in alice.get_paginator("list_hyper_parameter_tuning_jobs").paginate(
            SortBy="Name", SortOrder="Descending", PaginationConfig={"PageSize": 1}
        )
        for summary in page["HyperParameterTuningJobSummaries"]
    ]
    assert names == ["paged-3", "paged-2", "paged"]
    in_progress = alice.list_hyper_parameter_tuning_jobs(NameContains="paged-", StatusEquals="InProgress")
    assert len(in_progress["HyperParameterTuningJobSummaries"]) == 2


def test_a_next_token_works_only_for_the_listing_it_came_from(alice, algorithm, people):
    for name in ("a-1", "a-2"):
        services.tuning_job_create(config=tuning_job_config(name=name, team_name="vision"))
    token = alice.list_hyper_parameter_tuning_jobs(MaxResults=1)["NextToken"]
    code, message, _ = error_of(alice.list_hyper_parameter_tuning_jobs, MaxResults=1, NextToken=token, SortBy="Status")
    assert code == "ValidationException"
    assert "Invalid pagination token" in message
    assert error_of(alice.list_hyper_parameter_tuning_jobs, NextToken="garbage")[0] == "ValidationException"


def test_other_teams_jobs_do_not_exist_for_a_key(live_server, algorithm, people):
    users, keys = people
    services.tuning_job_create(config=tuning_job_config(name="secret-audio", team_name="audio"))
    alice = sagemaker_client(live_server.url, keys["alice"])
    assert alice.list_hyper_parameter_tuning_jobs()["HyperParameterTuningJobSummaries"] == []
    assert alice.list_training_jobs()["TrainingJobSummaries"] == []
    carol = sagemaker_client(live_server.url, keys["carol"])
    assert len(carol.list_hyper_parameter_tuning_jobs()["HyperParameterTuningJobSummaries"]) == 1


def test_not_found_as_aws_says_it_and_an_invisible_job_as_a_missing_one(live_server, algorithm, people):
    tuning_job = services.tuning_job_create(config=tuning_job_config(name="secret-audio", team_name="audio"))
    hidden = services.tuning_job_advance(tuning_job_id=tuning_job.id)[0].name
    alice = sagemaker_client(live_server.url, people[1]["alice"])

    def tuning_job_not_found(name):
        return ("ResourceNotFound", f"Amazon SageMaker can't find a tuning job called {name}. Type another name.", 400)

    # SageMaker's own answers: a missing tuning job is ResourceNotFound, a missing training job a
    # ValidationException; another team's job is answered the same, word for word.
    for name in ("secret-audio", "no-such-job"):
        assert error_of(alice.describe_hyper_parameter_tuning_job, HyperParameterTuningJobName=name) == (
            tuning_job_not_found(name)
        )
        assert error_of(alice.stop_hyper_parameter_tuning_job, HyperParameterTuningJobName=name) == (
            tuning_job_not_found(name)
        )
        assert error_of(
            alice.list_training_jobs_for_hyper_parameter_tuning_job, HyperParameterTuningJobName=name
        ) == tuning_job_not_found(name)
    for name in (hidden, "no-such-job-001"):
        not_found = ("ValidationException", "Requested resource not found.", 400)
        assert error_of(alice.describe_training_job, TrainingJobName=name) == not_found
        assert error_of(alice.stop_training_job, TrainingJobName=name) == not_found


def test_a_viewers_key_reads_but_may_not_create_or_stop(live_server, algorithm, people):
    services.tuning_job_create(config=tuning_job_config(name="watched", team_name="vision"))
    bob = sagemaker_client(live_server.url, people[1]["bob"])
    assert bob.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="watched")["HyperParameterTuningJobName"]
    assert error_of(bob.stop_hyper_parameter_tuning_job, HyperParameterTuningJobName="watched")[0] == (
        "AccessDeniedException"
    )
    code, message, status = error_of(bob.create_hyper_parameter_tuning_job, **create_request("by-bob"))
    assert (code, status) == ("AccessDeniedException", 400)
    assert "bob" in message
    assert not TuningJob.objects.filter(name="by-bob").exists()
    # A taken name tells a key that may not create nothing either: it is refused first.
    assert error_of(bob.create_hyper_parameter_tuning_job, **create_request("watched"))[0] == "AccessDeniedException"


def test_every_create_error_code(alice, algorithm):
    alice.create_hyper_parameter_tuning_job(**create_request("taken"))
    code, message, _ = error_of(alice.create_hyper_parameter_tuning_job, **create_request("taken"))
    assert (code, message) == ("ResourceInUse", "Hyperparameter tuning job with name taken already exists.")

    too_parallel = create_request(
        "wide", ResourceLimits={"MaxNumberOfTrainingJobs": 200, "MaxParallelTrainingJobs": 150}
    )
    code, message, _ = error_of(alice.create_hyper_parameter_tuning_job, **too_parallel)
    assert code == "ResourceLimitExceeded"
    assert "'Maximum number of parallel training jobs per tuning job' is 100" in message

    code, message, _ = error_of(alice.create_hyper_parameter_tuning_job, **create_request("img", image="nope:1"))
    assert code == "ValidationException"
    assert message == (
        "1 validation error detected: Value 'nope:1' at 'trainingJobDefinition.algorithmSpecification.trainingImage' "
        "failed to satisfy constraint: Member must be the image URI of an algorithm registered in Tuneboard"
    )

    wrong_metric = create_request(
        "metric", HyperParameterTuningJobObjective={"Type": "Maximize", "MetricName": "validation:loss"}
    )
    code, message, _ = error_of(alice.create_hyper_parameter_tuning_job, **wrong_metric)
    assert code == "ValidationException"
    assert message.startswith(
        "1 validation error detected: Value 'validation:loss' at "
        "'hyperParameterTuningJobConfig.hyperParameterTuningJobObjective.metricName' failed to satisfy constraint: "
    )

    bad_range = create_request(
        "ranges",
        ParameterRanges={"ContinuousParameterRanges": [{"Name": "learning_rate", "MinValue": "x", "MaxValue": "1"}]},
    )
    code, message, _ = error_of(alice.create_hyper_parameter_tuning_job, **bad_range)
    assert (
        "Value 'x' at 'hyperParameterTuningJobConfig.parameterRanges.continuousParameterRanges.1.member.minValue'"
        in (message)
    )
    assert set(TuningJob.objects.values_list("name", flat=True)) == {"taken"}

    Algorithm.objects.filter(name="quadratic").update(supported_hyperparameters=SUPPORTED_HYPERPARAMETERS)
    undeclared = create_request(
        "undeclared", ParameterRanges={"CategoricalParameterRanges": [{"Name": "momentum", "Values": ["0.9"]}]}
    )
    code, message, _ = error_of(alice.create_hyper_parameter_tuning_job, **undeclared)
    assert code == "ValidationException"
    assert message.startswith("1 validation error detected: Value ")
    assert message.endswith(
        "at 'hyperParameterTuningJobConfig.parameterRanges' failed to satisfy constraint: "
        "momentum is not a hyperparameter of this algorithm (its tunable ones: learning_rate, optimizer)."
    )
    assert not TuningJob.objects.filter(name="undeclared").exists()


def test_shape_violations_name_the_member_as_aws_does(live_server, people):
    # botocore checks shapes before sending; with that off, Tuneboard must check them itself.
    raw = sagemaker_client(live_server.url, people[1]["alice"], parameter_validation=False)
    code, message, status = error_of(raw.describe_hyper_parameter_tuning_job, HyperParameterTuningJobName="bad_name!")
    assert (code, status) == ("ValidationException", 400)
    assert message == (
        "1 validation error detected: Value 'bad_name!' at 'hyperParameterTuningJobName' failed to satisfy "
        "constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9](-*[a-zA-Z0-9]){0,31}"
    )
    code, message, _ = error_of(raw.list_training_jobs, MaxResults=0, SortBy="Size", StatusEquals=3)
    assert message.startswith("3 validation errors detected: ")
    assert (
        "Value '0' at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to 1"
        in (message)
    )
    assert "Value 'Size' at 'sortBy' failed to satisfy constraint: Member must satisfy enum value set: " in message
    assert "Value '3' at 'statusEquals' failed to satisfy constraint: Member must be a string" in message
    body = create_request("x")
    del body["HyperParameterTuningJobConfig"]["ResourceLimits"]
    body["TrainingJobDefinition"]["AlgorithmSpecification"]["MetricDefinitions"][0]["Regex"] = None
    code, message, _ = error_of(raw.create_hyper_parameter_tuning_job, **body)
    assert "Value null at 'hyperParameterTuningJobConfig.resourceLimits' failed to satisfy constraint: Member must " \
        "not be null" in message  # fmt: skip
    assert "at 'trainingJobDefinition.algorithmSpecification.metricDefinitions.1.member.regex'" in message


def test_an_operation_tuneboard_does_not_answer(alice):
    code, message, status = error_of(alice.list_endpoints)
    assert (code, status) == ("UnknownOperationException", 400)
    assert "SageMaker.ListEndpoints" in message


def test_unsigned_and_badly_signed_requests_are_refused(live_server, people):
    users, keys = people
    assert error_of(sagemaker_client(live_server.url, None).list_training_jobs)[::2] == (
        "MissingAuthenticationTokenException",
        403,
    )
    wrong_secret = Key(keys["alice"].access_key_id, "not-the-secret")
    code, message, status = error_of(sagemaker_client(live_server.url, wrong_secret).list_training_jobs)
    assert (code, status) == ("InvalidSignatureException", 403)
    assert message.startswith("The request signature we calculated does not match the signature you provided.")
    unknown = Key("AKIAAAAAAAAAAAAAAAAA", keys["alice"].secret)
    assert error_of(sagemaker_client(live_server.url, unknown).list_training_jobs)[::2] == (
        "UnrecognizedClientException",
        400,
    )
    services.access_key_revoke(access_key_id=keys["alice"].access_key_id)
    assert error_of(sagemaker_client(live_server.url, keys["alice"]).list_training_jobs)[0] == (
        "UnrecognizedClientException"
    )
    # A browser session is no credential: the endpoint ignores cookies and wants no CSRF token.
    browser = requests.Session()
    login = browser.get(f"{live_server.url}/accounts/login/")
    assert login.status_code == 200
    response = browser.post(
        f"{live_server.url}/sagemaker",
        data="{}",
        headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "SageMaker.ListTrainingJobs"},
    )
    assert response.status_code == 403
    assert response.json() == {
        "__type": "MissingAuthenticationTokenException",
        "message": "Missing Authentication Token",
    }


def test_a_key_records_when_it_was_last_used(alice, people):
    key_id = people[1]["alice"].access_key_id
    assert AccessKey.objects.get(access_key_id=key_id).last_used_at is None
    alice.list_training_jobs()
    assert AccessKey.objects.get(access_key_id=key_id).last_used_at is not None


def test_stopping_an_ended_tuning_job_is_refused(alice, algorithm):
    tuning_job = services.tuning_job_create(config=tuning_job_config(name="done", team_name="vision"))
    services.tuning_job_stop(tuning_job_id=tuning_job.id)
    services.tuning_job_advance(tuning_job_id=tuning_job.id)
    code, message, _ = error_of(alice.stop_hyper_parameter_tuning_job, HyperParameterTuningJobName="done")
    assert (code, message) == (
        "ValidationException",
        "The request was rejected because the hyperparameter tuning job is in status Stopped.",
    )


def test_another_teams_tuning_job_is_no_warm_start_parent(live_server, algorithm, people):
    """carol (audio) names vision's ended job as a parent: answered as a name nobody used, and nothing is created."""
    parent = services.tuning_job_create(config=tuning_job_config(name="vision-done", team_name="vision"))
    services.tuning_job_stop(tuning_job_id=parent.id)
    services.tuning_job_advance(tuning_job_id=parent.id)
    carol = sagemaker_client(live_server.url, people[1]["carol"])

    def warm_request(parent_name: str) -> dict:
        return {
            **create_request("audio-warm"),
            "WarmStartConfig": {
                "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": parent_name}],
                "WarmStartType": "TransferLearning",
            },
        }

    code, message, status = error_of(carol.create_hyper_parameter_tuning_job, **warm_request("vision-done"))
    missing = error_of(carol.create_hyper_parameter_tuning_job, **warm_request("no-such-job"))
    assert (code, status) == ("ValidationException", 400)
    assert (code, message.replace("vision-done", "NAME"), status) == (
        missing[0], missing[1].replace("no-such-job", "NAME"), missing[2]
    )  # fmt: skip
    assert "Maximize" not in message and "learning_rate" not in message
    assert not TuningJob.objects.filter(name="audio-warm").exists()
    # Her own team's ended job is a parent she may name.
    own = services.tuning_job_create(config=tuning_job_config(name="audio-done", team_name="audio"))
    services.tuning_job_stop(tuning_job_id=own.id)
    services.tuning_job_advance(tuning_job_id=own.id)
    carol.create_hyper_parameter_tuning_job(**warm_request("audio-done"))
    assert [job.name for job in TuningJob.objects.get(name="audio-warm").warm_start_parents.all()] == ["audio-done"]


def signed_post(url: str, key: Key, body: bytes, content_type="application/x-amz-json-1.1") -> requests.Response:
    """A request signed by botocore's own signer but with a body boto3 would never send."""
    request = AWSRequest(
        method="POST",
        url=url,
        data=body,
        headers={"Content-Type": content_type, "X-Amz-Target": "SageMaker.ListTrainingJobs"},
    )
    SigV4Auth(Credentials(key.access_key_id, key.secret), "sagemaker", "us-east-1").add_auth(request)
    return requests.post(url, data=body, headers=dict(request.headers))


def test_the_endpoint_url_may_end_in_a_slash(live_server, people):
    client = sagemaker_client(live_server.url, people[1]["alice"], path="/sagemaker/")
    assert client.list_training_jobs()["TrainingJobSummaries"] == []


def test_bodies_boto3_would_never_send(live_server, people):
    url, key = f"{live_server.url}/sagemaker", people[1]["alice"]
    assert signed_post(url, key, b"{}").json() == {"TrainingJobSummaries": []}
    response = signed_post(url, key, b"not json")
    assert response.status_code == 400
    assert response.json()["__type"] == "SerializationException"
    assert signed_post(url, key, b"[1]").json()["__type"] == "SerializationException"
    assert signed_post(url, key, b"{}", content_type="text/plain").json()["__type"] == "SerializationException"
    response = requests.get(url)
    assert (response.status_code, response.json()["__type"]) == (400, "UnknownOperationException")
    for depth in (100, 100_000):
        response = signed_post(url, key, b'{"NameContains": ' + b"[" * depth + b"]" * depth + b"}")
        assert (response.status_code, response.json()["__type"]) == (400, "SerializationException"), depth
        assert response.json()["message"] == "The JSON body nests more than 64 levels deep."


def test_a_retry_strategy_is_kept_and_described(alice, algorithm):
    request = create_request("retried")
    request["TrainingJobDefinition"]["RetryStrategy"] = {"MaximumRetryAttempts": 3}
    alice.create_hyper_parameter_tuning_job(**request)
    assert TuningJob.objects.get(name="retried").max_retry_attempts == 3
    described = alice.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="retried")
    assert described["TrainingJobDefinition"]["RetryStrategy"] == {"MaximumRetryAttempts": 3}


def nested(depth: int) -> bytes:
    """A JSON object `depth` levels deep: {"a": {"a": ... 1}}."""
    return ('{"a":' * depth + "1" + "}" * depth).encode()


def test_body_size_and_nesting_limits_answer_as_aws_json(live_server, people, settings):
    url, key = f"{live_server.url}/sagemaker", people[1]["alice"]
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2000
    fits = signed_post(url, key, json.dumps({"NameContains": "x" * 50, "MaxResults": 5}).encode().ljust(2000))
    assert fits.json() == {"TrainingJobSummaries": []}
    response = signed_post(url, key, b" " * 2001 + b"{}")
    assert (response.status_code, response.headers["Content-Type"]) == (413, "application/x-amz-json-1.1")
    assert response.json() == {
        "__type": "SerializationException",
        "message": "The request body is larger than the 2000 bytes this endpoint accepts.",
    }
    # Unsigned, it is refused for its size all the same: nothing reads it first.
    unsigned = requests.post(url, data=b"{}" + b" " * 3000, headers={"X-Amz-Target": "SageMaker.ListTrainingJobs"})
    assert (unsigned.status_code, unsigned.json()["__type"]) == (413, "SerializationException")

    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
    too_deep = {"__type": "SerializationException", "message": "The JSON body nests more than 64 levels deep."}
    for depth in (65, 100_000):  # deep enough for Python's parser to give up, too
        response = signed_post(url, key, nested(depth))
        assert (response.status_code, response.json()) == (400, too_deep)
    response = signed_post(url, key, nested(64))
    assert (response.status_code, response.json()["__type"]) == (400, "ValidationException")
    assert 'Value \'{"a":{"a":' in response.json()["message"]
