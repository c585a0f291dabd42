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
    },
]


def metric_definition(name: str) -> dict:
    """The SageMaker-style regex for `name=<value>` as the examples print it."""
    return {"Name": name, "Regex": rf"{name}=(\S+)"}


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
            )
            self.stdout.write(f"registered algorithm {algorithm.name}")
