"""SageMaker's tags through boto3: Tags at CreateHyperParameterTuningJob, ListTags, AddTags, DeleteTags."""

import pytest

from jobs import services
from jobs.models import Tag, TuningJob
from tests.jobs.factories import register_algorithm, tuning_job_config
from tests.jobs.sagemaker.api.conftest import create_request, register_image, sagemaker_client
from tests.jobs.sagemaker.api.test_endpoint import assert_fits_output, error_of


@pytest.fixture
def alice(live_server, people):
    register_algorithm()
    register_image("quadratic")
    return sagemaker_client(live_server.url, people[1]["alice"])


def tags_of(client, arn: str) -> dict[str, str]:
    response = client.list_tags(ResourceArn=arn)
    assert_fits_output("ListTags", response)
    return {tag["Key"]: tag["Value"] for tag in response["Tags"]}


def test_tags_given_at_create_are_readable_and_reach_the_training_jobs_launched_after(alice):
    body = create_request("Seed-Tags")
    body["Tags"] = [{"Key": "project", "Value": "seed"}, {"Key": "owner", "Value": "vision team"}]
    arn = alice.create_hyper_parameter_tuning_job(**body)["HyperParameterTuningJobArn"]
    assert arn == "arn:aws:sagemaker:local:000000000000:hyper-parameter-tuning-job/seed-tags"
    assert tags_of(alice, arn) == {"project": "seed", "owner": "vision team"}

    tuning_job = TuningJob.objects.get(name="Seed-Tags")
    first, second = services.tuning_job_advance(tuning_job_id=tuning_job.id)
    first_arn = alice.describe_training_job(TrainingJobName=first.name)["TrainingJobArn"]
    assert tags_of(alice, first_arn) == {"project": "seed", "owner": "vision team"}

    # As SageMaker: AddTags on a tuning job reaches only the training jobs it launches afterwards.
    added = alice.add_tags(ResourceArn=arn, Tags=[{"Key": "project", "Value": "seed-2"}, {"Key": "stage", "Value": ""}])
    assert_fits_output("AddTags", added)
    assert added["Tags"] == [
        {"Key": "project", "Value": "seed-2"},
        {"Key": "owner", "Value": "vision team"},
        {"Key": "stage", "Value": ""},
    ]
    assert tags_of(alice, first_arn) == {"project": "seed", "owner": "vision team"}
    services.training_job_stop(training_job_id=second.id)
    (third,) = services.tuning_job_advance(tuning_job_id=tuning_job.id)
    third_arn = f"arn:aws:sagemaker:us-west-2:123456789012:training-job/{third.name.lower()}"
    assert tags_of(alice, third_arn) == {"project": "seed-2", "owner": "vision team", "stage": ""}

    alice.add_tags(ResourceArn=first_arn, Tags=[{"Key": "best", "Value": "yes"}])
    alice.delete_tags(ResourceArn=arn, TagKeys=["owner", "never-there"])
    assert tags_of(alice, arn) == {"project": "seed-2", "stage": ""}
    assert tags_of(alice, first_arn) == {"project": "seed", "owner": "vision team", "best": "yes"}
    alice.delete_tags(ResourceArn=first_arn, TagKeys=["best"])
    assert tags_of(alice, first_arn) == {"project": "seed", "owner": "vision team"}


def test_sagemakers_rules_for_tags(alice):
    services.tuning_job_create(config=tuning_job_config(name="ruled", team_name="vision", tags={"a": "1"}))
    arn = "arn:aws:sagemaker:local:000000000000:hyper-parameter-tuning-job/ruled"
    many = [{"Key": f"key-{n}", "Value": "v"} for n in range(50)]
    code, message, _ = error_of(alice.add_tags, ResourceArn=arn, Tags=many)
    assert (code, message) == ("ValidationException", "A resource has at most 50 tags; these are 51.")
    code, message, _ = error_of(alice.add_tags, ResourceArn=arn, Tags=[{"Key": "aws:cost", "Value": "x"}])
    assert (code, message) == (
        "ValidationException",
        "Tag key 'aws:cost': keys that start with 'aws:' are reserved for AWS.",
    )
    code, message, _ = error_of(alice.add_tags, ResourceArn=arn, Tags=[{"Key": "team!", "Value": "x"}])
    assert code == "ValidationException"
    assert message.startswith(
        "1 validation error detected: Value 'team!' at 'tags.1.member.key' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: "
    )
    twice = [{"Key": "b", "Value": "1"}, {"Key": "b", "Value": "2"}]
    code, message, _ = error_of(alice.add_tags, ResourceArn=arn, Tags=twice)
    assert (code, message) == (
        "ValidationException",
        "1 validation error detected: Value 'b' at 'tags.2.member.key' failed to satisfy constraint: "
        "Member must be unique among the keys",
    )
    assert tags_of(alice, arn) == {"a": "1"}

    body = create_request("reserved")
    body["Tags"] = [{"Key": "aws:owner", "Value": "x"}]
    code, message, _ = error_of(alice.create_hyper_parameter_tuning_job, **body)
    assert (code, message) == (
        "ValidationException",
        '1 validation error detected: Value \'[{"Key":"aws:owner","Value":"x"}]\' at \'tags\' failed to satisfy '
        "constraint: Tag key 'aws:owner': keys that start with 'aws:' are reserved for AWS.",
    )
    assert not TuningJob.objects.filter(name="reserved").exists()


def test_another_teams_job_answers_as_a_missing_one_and_viewers_only_read(live_server, alice, people):
    hidden = services.tuning_job_create(config=tuning_job_config(name="audio-job", team_name="audio", tags={"a": "1"}))
    hidden_training = services.tuning_job_advance(tuning_job_id=hidden.id)[0]
    prefix = "arn:aws:sagemaker:local:000000000000"
    for visible_elsewhere, missing in (
        (f"{prefix}:hyper-parameter-tuning-job/audio-job", f"{prefix}:hyper-parameter-tuning-job/no-such-job"),
        (f"{prefix}:training-job/{hidden_training.name}", f"{prefix}:training-job/no-such-job-001"),
    ):
        for arn in (visible_elsewhere, missing):
            expected = ("ValidationException", f"Requested resource not found: {arn}.", 400)
            assert error_of(alice.list_tags, ResourceArn=arn) == expected
            assert error_of(alice.add_tags, ResourceArn=arn, Tags=[{"Key": "b", "Value": "2"}]) == expected
            assert error_of(alice.delete_tags, ResourceArn=arn, TagKeys=["a"]) == expected
    not_a_job = f"{prefix}:endpoint/audio-job"
    assert error_of(alice.list_tags, ResourceArn=not_a_job)[:2] == (
        "ValidationException",
        f"Requested resource not found: {not_a_job}.",
    )
    carol = sagemaker_client(live_server.url, people[1]["carol"])
    assert tags_of(carol, f"{prefix}:hyper-parameter-tuning-job/audio-job") == {"a": "1"}

    services.tuning_job_create(config=tuning_job_config(name="watched", team_name="vision", tags={"a": "1"}))
    bob = sagemaker_client(live_server.url, people[1]["bob"])
    arn = f"{prefix}:hyper-parameter-tuning-job/watched"
    assert tags_of(bob, arn) == {"a": "1"}
    assert error_of(bob.add_tags, ResourceArn=arn, Tags=[{"Key": "b", "Value": "2"}])[0] == "AccessDeniedException"
    assert error_of(bob.delete_tags, ResourceArn=arn, TagKeys=["a"])[0] == "AccessDeniedException"
    assert list(Tag.objects.filter(tuning_job__name="watched").values_list("key", "value")) == [("a", "1")]
