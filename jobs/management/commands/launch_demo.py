import json

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from jobs import services
from jobs.sagemaker.shapes import ShapeError, parse_create_tuning_job, rename_validation_error

SPEC = "examples/specs/image-classifier.json"


class Command(BaseCommand):
    help = (
        "Launch the seed's experiment: the image classifier tuned with 20 training jobs, 2 in parallel, "
        "once with early stopping Off and once Auto, on the same random seed so both try the same hyperparameters."
    )

    def handle(self, *args, **options):
        body = json.loads((settings.BASE_DIR / SPEC).read_text())
        stamp = timezone.now().strftime("%d-%H-%M-%S")
        for early_stopping in ("Off", "Auto"):
            body["HyperParameterTuningJobName"] = f"imageclassif-{stamp}-{early_stopping.lower()}"
            body["HyperParameterTuningJobConfig"]["TrainingJobEarlyStoppingType"] = early_stopping
            try:
                tuning_job = services.tuning_job_create(config=parse_create_tuning_job(body))
            except ShapeError as exc:
                raise CommandError(f"{SPEC}: {exc}") from None
            except ValidationError as exc:
                raise CommandError(str(rename_validation_error(exc, body))) from None
            self.stdout.write(f"launched tuning job {tuning_job.name} (early stopping {early_stopping})")
