"""The TrainingImage the SageMaker SDK resolves for a built-in algorithm names the algorithm that has it as an alias."""

import pytest
from django.core.exceptions import ValidationError

from jobs.models import TuningJob
from tests.jobs.factories import register_algorithm
from tests.jobs.sagemaker.api.conftest import IMAGE, create_request, register_image, sagemaker_client


def builtin_xgboost_image() -> str:
    """What a notebook's `sagemaker.image_uris.retrieve` answers, computed offline from the SDK's bundled JSON."""
    from sagemaker import image_uris

    return image_uris.retrieve("xgboost", "us-east-1", "1.7-1")


@pytest.mark.django_db(transaction=True)
def test_the_sdks_image_uri_resolves_to_the_aliased_algorithm(live_server, people, monkeypatch):
    monkeypatch.setenv("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    image = builtin_xgboost_image()
    assert image == "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
    register_algorithm(name="other")
    register_algorithm(name="quadratic", image_uri_aliases=[image])
    alice = sagemaker_client(live_server.url, people[1]["alice"])

    alice.create_hyper_parameter_tuning_job(**create_request("boosted", image=image))
    assert TuningJob.objects.get(name="boosted").algorithm.name == "quadratic"
    described = alice.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="boosted")
    assert described["TrainingJobDefinition"]["AlgorithmSpecification"]["TrainingImage"] == image


@pytest.mark.django_db
def test_an_image_uri_names_one_algorithm_only():
    alias = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
    register_algorithm(name="quadratic", image_uri_aliases=[alias])
    register_image("quadratic", IMAGE)
    with pytest.raises(ValidationError) as taken:
        register_algorithm(name="other", image_uri_aliases=[alias])
    assert taken.value.message_dict == {"image_uri_aliases": [f"{alias} already names algorithm quadratic."]}
    with pytest.raises(ValidationError) as own_alias:
        register_algorithm(name="other", image_uri=alias)
    assert own_alias.value.message_dict == {"image_uri": [f"{alias} already names algorithm quadratic."]}
    with pytest.raises(ValidationError) as repeated:
        register_algorithm(name="quadratic", image_uri=IMAGE, image_uri_aliases=[IMAGE])
    assert "Name each image URI once" in repeated.value.message_dict["image_uri_aliases"][0]
    with pytest.raises(ValidationError) as shape:
        register_algorithm(name="third", image_uri_aliases="not-a-list")
    assert list(shape.value.message_dict) == ["image_uri_aliases"]
