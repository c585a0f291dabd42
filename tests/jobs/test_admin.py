"""The admin registers and changes algorithms through the service layer, and shows its refusals as form errors."""

import json
from unittest import mock

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from jobs import services
from jobs.models import Algorithm, Backend
from tests.jobs.factories import register_algorithm, tuning_job_config

pytestmark = pytest.mark.django_db

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/xgb:1"
SAGEMAKER_CONFIG = {"RoleArn": ROLE, "InstanceType": "ml.m5.large", "S3OutputPath": "s3://models/xgb"}


def form(**overrides) -> dict:
    data = {
        "name": "xgb",
        "description": "boosted trees",
        "backend": "sagemaker",
        "command": "",
        "metric_definitions": json.dumps([{"Name": "validation:auc", "Regex": r"validation-auc:(\S+)"}]),
        "static_hyperparameters": json.dumps({"num_round": "100"}),
        "image_uri": IMAGE,
        "input_channels": json.dumps({"train": "s3://data/train"}),
        "sagemaker_config": json.dumps(SAGEMAKER_CONFIG),
    }
    data.update(overrides)
    return data


def test_an_admin_add_is_an_algorithm_register_with_every_field(staff_client):
    with mock.patch.object(services, "algorithm_register", wraps=services.algorithm_register) as register:
        response = staff_client.post(reverse("admin:jobs_algorithm_add"), form())

    assert response.status_code == 302
    register.assert_called_once()
    arguments = register.call_args.kwargs
    assert arguments["algorithm_id"] is None
    assert {
        name: arguments[name] for name in ("name", "backend", "image_uri", "input_channels", "sagemaker_config")
    } == {
        "name": "xgb",
        "backend": "sagemaker",
        "image_uri": IMAGE,
        "input_channels": {"train": "s3://data/train"},
        "sagemaker_config": SAGEMAKER_CONFIG,
    }
    algorithm = Algorithm.objects.get()
    assert (algorithm.name, algorithm.image_uri, algorithm.input_channels) == (
        "xgb",
        IMAGE,
        {"train": "s3://data/train"},
    )


def test_an_admin_change_goes_through_the_service_and_may_rename(staff_client, no_tasks):
    algorithm = register_algorithm(name="quadratic")
    tuning_job = services.tuning_job_create(config=tuning_job_config())
    # Ended: a tuning job that has not ended keeps the program it started with.
    services.tuning_job_stop(tuning_job_id=tuning_job.id)
    services.tuning_job_advance(tuning_job_id=tuning_job.id)
    url = reverse("admin:jobs_algorithm_change", args=[algorithm.pk])
    data = form(name="quadratic-v2", backend="local", command=json.dumps(["python", "train.py"]), image_uri="",
                input_channels="", sagemaker_config="")  # fmt: skip

    with mock.patch.object(services, "algorithm_register", wraps=services.algorithm_register) as register:
        response = staff_client.post(url, data)

    assert response.status_code == 302
    assert register.call_args.kwargs["algorithm_id"] == algorithm.pk
    algorithm.refresh_from_db()
    assert (algorithm.name, algorithm.command, algorithm.image_uri) == ("quadratic-v2", ["python", "train.py"], None)
    assert Algorithm.objects.count() == 1
    tuning_job.refresh_from_db()
    assert tuning_job.algorithm_id == algorithm.pk


def test_an_algorithm_a_running_tuning_job_uses_keeps_its_command_in_the_admin(staff_client, no_tasks):
    algorithm = register_algorithm(name="quadratic")
    services.tuning_job_create(config=tuning_job_config())
    url = reverse("admin:jobs_algorithm_change", args=[algorithm.pk])
    data = form(name="quadratic", backend="local", command=json.dumps(["/bin/sh", "-c", "id"]), image_uri="",
                input_channels="", sagemaker_config="")  # fmt: skip
    response = staff_client.post(url, data)
    assert response.status_code == 200
    assert "register a new version" in response.content.decode()
    algorithm.refresh_from_db()
    assert algorithm.command != ["/bin/sh", "-c", "id"]


def test_an_admin_change_the_service_refuses_is_a_form_error_and_changes_nothing(staff_client):
    algorithm = register_algorithm(name="quadratic")
    url = reverse("admin:jobs_algorithm_change", args=[algorithm.pk])
    data = form(name="quadratic", backend="local", command=json.dumps(["python", "train.py"]), image_uri="",
                input_channels="", sagemaker_config="",
                metric_definitions=json.dumps([{"Name": "loss", "Regex": r"loss=\S+"}]))  # fmt: skip

    response = staff_client.post(url, data)

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["metric_definitions"]
    assert "needs a capture group" in errors["metric_definitions"][0]
    algorithm.refresh_from_db()
    assert algorithm.metric_names == ["validation:accuracy"]


def test_an_admin_add_of_a_taken_image_uri_is_a_form_error(staff_client):
    services.algorithm_register(
        name="xgb-old", command=[], metric_definitions=[{"Name": "auc", "Regex": r"auc=(\S+)"}],
        backend=Backend.SAGEMAKER, image_uri=IMAGE, sagemaker_config=SAGEMAKER_CONFIG,
    )  # fmt: skip

    response = staff_client.post(reverse("admin:jobs_algorithm_add"), form())

    assert response.status_code == 200
    assert "image_uri" in response.context["adminform"].form.errors
    assert Algorithm.objects.count() == 1


def test_an_api_update_keeps_what_the_api_does_not_show(django_user_model):
    services.algorithm_register(
        name="xgb", command=[], metric_definitions=[{"Name": "auc", "Regex": r"auc=(\S+)"}],
        backend=Backend.SAGEMAKER, image_uri=IMAGE, input_channels={"train": "s3://data/train"},
        sagemaker_config=SAGEMAKER_CONFIG,
    )  # fmt: skip
    api = APIClient()
    api.force_authenticate(django_user_model.objects.create_superuser("root", "root@example.com", None))

    response = api.patch("/api/v1/algorithms/xgb/", {"description": "boosted trees"}, format="json")

    assert response.status_code == 200, response.content
    algorithm = Algorithm.objects.get(name="xgb")
    assert algorithm.description == "boosted trees"
    assert (algorithm.image_uri, algorithm.input_channels, algorithm.sagemaker_config) == (
        IMAGE,
        {"train": "s3://data/train"},
        SAGEMAKER_CONFIG,
    )


def test_the_admin_registers_a_sagemaker_algorithm(staff_client):
    response = staff_client.post(reverse("admin:jobs_algorithm_add"), form())

    assert response.status_code == 302
    algorithm = Algorithm.objects.get(name="xgb")
    assert algorithm.backend == Backend.SAGEMAKER
    assert algorithm.command == []
    assert algorithm.sagemaker_config == SAGEMAKER_CONFIG
    assert algorithm.input_channels == {"train": "s3://data/train"}


def test_the_admin_shows_sagemaker_problems_on_their_fields(staff_client):
    response = staff_client.post(
        reverse("admin:jobs_algorithm_add"),
        form(image_uri="", sagemaker_config=json.dumps({**SAGEMAKER_CONFIG, "RoleArn": "nope"})),
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["image_uri"] == ["A sagemaker algorithm needs a training image, or sagemaker_config.AlgorithmName."]
    assert errors["sagemaker_config"] == [
        "RoleArn: give an IAM role ARN, like arn:aws:iam::123456789012:role/SageMakerRole."
    ]
    assert not Algorithm.objects.exists()


def test_the_admin_takes_emptied_json_boxes_as_none(staff_client):
    response = staff_client.post(
        reverse("admin:jobs_algorithm_add"),
        form(backend="local", command=json.dumps(["python", "t.py"]), image_uri="", input_channels="",
                   sagemaker_config=""),
    )  # fmt: skip

    assert response.status_code == 302
    algorithm = Algorithm.objects.get(name="xgb")
    assert (algorithm.input_channels, algorithm.sagemaker_config, algorithm.image_uri) == ({}, {}, None)


def local_form(**overrides) -> dict:
    return form(
        **{
            "name": "local-algo",
            "backend": "local",
            "command": json.dumps(["/bin/true"]),
            "image_uri": "",
            "input_channels": "{}",
            "sagemaker_config": "{}",
            "environment_passthrough": json.dumps(["WANDB_API_KEY"]),
            **overrides,
        }
    )


def test_the_admin_names_the_variables_a_local_algorithms_programs_receive(staff_client):
    response = staff_client.post(reverse("admin:jobs_algorithm_add"), local_form())

    assert response.status_code == 302
    assert Algorithm.objects.get(name="local-algo").environment_passthrough == ["WANDB_API_KEY"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("environment_passthrough", json.dumps(["NO-DASH"]), "[0] &#x27;NO-DASH&#x27;: a variable name"),
        ("metric_definitions", json.dumps([{"Name": "m", "Regex": r"m=(\d)\1"}]), "MetricDefinitions[0].Regex"),
    ],
)
def test_the_admin_refuses_what_the_worker_could_not_run_on_its_field(staff_client, field, value, message):
    response = staff_client.post(reverse("admin:jobs_algorithm_add"), local_form(**{field: value}))

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Algorithm.objects.filter(name="local-algo").exists()
