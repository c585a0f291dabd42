import sys

from django.conf import settings
from django.core.management.base import BaseCommand

from jobs import services

EXAMPLES = [
    {
        "name": "image-classifier",
        "script": "image_classifier.py",
        "description": (
            "The SageMaker blog's image classification tuning in miniature: an MLP on scikit-learn's "
            "bundled 8x8 digit images, one epoch at a time. Maximize validation:accuracy."
        ),
        "metrics": ["train:loss", "validation:accuracy"],
        "objective": ("validation:accuracy", "Maximize"),
        "static": {"epochs": "30"},
        "hyperparameters": [
            ("learning_rate", "Continuous", True, ("0.000001", "1"), "0.001"),
            ("mini_batch_size", "Integer", True, ("1", "4096"), "32"),
            ("optimizer", "Categorical", True, ["sgd", "nag", "adam"], "adam"),
            ("epochs", "Integer", False, ("1", "10000"), "30"),
            ("hidden_units", "Integer", True, ("1", "4096"), "128"),
            ("seed", "Integer", False, ("0", "2147483647"), "0"),
        ],
    },
    {
        "name": "gradient-boosting",
        "script": "gradient_boosting.py",
        "description": (
            "Gradient-boosted regression trees on scikit-learn's bundled diabetes data, one stage of trees "
            "per epoch. Minimize validation:loss."
        ),
        "metrics": ["train:loss", "validation:loss"],
        "objective": ("validation:loss", "Minimize"),
        "static": {"stages": "20"},
        "hyperparameters": [
            ("learning_rate", "Continuous", True, ("0.000001", "1"), "0.05"),
            ("max_depth", "Integer", True, ("1", "32"), "2"),
            ("subsample", "Continuous", True, ("0.01", "1"), "1.0"),
            ("stages", "Integer", False, ("1", "10000"), "20"),
            ("trees_per_stage", "Integer", True, ("1", "1000"), "10"),
            ("seed", "Integer", False, ("0", "2147483647"), "0"),
        ],
    },
]


def metric_definition(name: str) -> dict:
    """The SageMaker-style regex for `name=<value>` as the examples print it."""
    return {"Name": name, "Regex": rf"{name}=(\S+)"}


def hyperparameter_specification(name: str, kind: str, tunable: bool, valid, default: str) -> dict:
    """SageMaker's HyperParameterSpecification for one of an example's hyperparameters."""
    if kind == "Categorical":
        valid_range = {"CategoricalParameterRangeSpecification": {"Values": valid}}
    else:
        valid_range = {f"{kind}ParameterRangeSpecification": {"MinValue": valid[0], "MaxValue": valid[1]}}
    return {"Name": name, "Type": kind, "IsTunable": tunable, "Range": valid_range, "DefaultValue": default}


class Command(BaseCommand):
    help = "Register (or update) the example training programs in examples/ as algorithms."

    def handle(self, *args, **options):
        for example in EXAMPLES:
            algorithm = services.algorithm_register(
                name=example["name"],
                command=[sys.executable, str(settings.BASE_DIR / "examples" / example["script"])],
                metric_definitions=[metric_definition(name) for name in example["metrics"]],
                static_hyperparameters=example["static"],
                description=example["description"],
                objective_metric_name=example["objective"][0],
                objective_type=example["objective"][1],
                supported_hyperparameters=[hyperparameter_specification(*spec) for spec in example["hyperparameters"]],
            )
            self.stdout.write(f"registered algorithm {algorithm.name}")
