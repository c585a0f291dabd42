"""Request bodies checked against botocore's service model, worded as SageMaker words its ValidationException."""

from jobs.sagemaker.validation import error_message, parse_timestamp, service_model, validate


def errors_for(operation: str, body) -> list[str]:
    return validate(service_model().operation_model(operation).input_shape, body)


def test_a_body_that_fits_has_no_errors():
    assert errors_for("ListTrainingJobs", {"MaxResults": 5, "SortBy": "Name", "CreationTimeAfter": 1.7e9}) == []


def test_missing_required_members_are_null():
    assert errors_for("DescribeTrainingJob", {}) == [
        "Value null at 'trainingJobName' failed to satisfy constraint: Member must not be null"
    ]


def test_lengths_patterns_enums_and_ranges():
    errors = errors_for(
        "ListTrainingJobsForHyperParameterTuningJob",
        {"HyperParameterTuningJobName": "x" * 33, "MaxResults": 101, "SortOrder": "Up"},
    )
    assert errors == [
        "Value '" + "x" * 33 + "' at 'hyperParameterTuningJobName' failed to satisfy constraint: "
        "Member must have length less than or equal to 32",
        "Value '" + "x" * 33 + "' at 'hyperParameterTuningJobName' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [a-zA-Z0-9](-*[a-zA-Z0-9]){0,31}",
        "Value '101' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 100",
        "Value 'Up' at 'sortOrder' failed to satisfy constraint: Member must satisfy enum value set: "
        "[Ascending, Descending]",
    ]


def test_nested_lists_are_named_one_based_with_member():
    body = {
        "HyperParameterTuningJobName": "tj",
        "HyperParameterTuningJobConfig": {
            "Strategy": "Random",
            "ResourceLimits": {"MaxParallelTrainingJobs": 1},
            "ParameterRanges": {"IntegerParameterRanges": [{"Name": "a", "MinValue": "1", "MaxValue": "2"}, {}]},
        },
    }
    errors = errors_for("CreateHyperParameterTuningJob", body)
    assert (
        "Value null at 'hyperParameterTuningJobConfig.parameterRanges.integerParameterRanges.2.member.name' "
        "failed to satisfy constraint: Member must not be null"
    ) in errors


def test_types_and_unknown_members():
    errors = errors_for("ListTrainingJobs", {"MaxResults": "5", "Colour": "red", "CreationTimeAfter": "soon"})
    assert errors == [
        "Value '5' at 'maxResults' failed to satisfy constraint: Member must be an integer",
        "Value 'red' at 'colour' failed to satisfy constraint: Member is not part of the SageMaker API",
        "Value 'soon' at 'creationTimeAfter' failed to satisfy constraint: Member must be a timestamp (seconds since "
        "the epoch)",
    ]


def test_map_values_are_checked():
    errors = errors_for(
        "CreateHyperParameterTuningJob",
        {
            "HyperParameterTuningJobName": "tj",
            "HyperParameterTuningJobConfig": {"Strategy": "Random", "ResourceLimits": {"MaxParallelTrainingJobs": 1}},
            "TrainingJobDefinition": {
                "StaticHyperParameters": {"epochs": 3},
                "AlgorithmSpecification": {"TrainingInputMode": "File"},
                "RoleArn": "arn:aws:iam::123456789012:role/r",
                "OutputDataConfig": {"S3OutputPath": "s3://b/o"},
                "StoppingCondition": {},
            },
        },
    )
    assert errors == [
        "Value '3' at 'trainingJobDefinition.staticHyperParameters' failed to satisfy constraint: "
        "Map value must satisfy constraint: [Member must be a string]"
    ]


def test_the_message_counts_its_errors():
    assert error_message(["a"]) == "1 validation error detected: a"
    assert error_message(["a", "b"]) == "2 validation errors detected: a; b"


def test_timestamps_as_botocore_sends_them():
    assert parse_timestamp(0).year == 1970
    assert parse_timestamp("2026-01-02T03:04:05Z").hour == 3
    assert parse_timestamp(True) is None
    assert parse_timestamp(float("nan")) is None
