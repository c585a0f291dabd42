from django.core.management.base import BaseCommand, CommandError

from jobs import selectors
from jobs.management.commands._output import dumps
from jobs.models import TuningJob
from jobs.sagemaker.shapes import describe_tuning_job


class Command(BaseCommand):
    help = "Print a tuning job as DescribeHyperParameterTuningJob's JSON response."

    def add_arguments(self, parser):
        parser.add_argument("name")

    def handle(self, *args, name, **options):
        try:
            tuning_job = selectors.tuning_job_get(name=name)
        except TuningJob.DoesNotExist:
            raise CommandError(f"No tuning job named {name!r}.") from None
        self.stdout.write(dumps(describe_tuning_job(tuning_job)))
