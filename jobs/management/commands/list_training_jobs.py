from django.core.management.base import BaseCommand, CommandError

from jobs import selectors
from jobs.management.commands._output import dumps
from jobs.models import TrainingJobStatus, TuningJob
from jobs.sagemaker.shapes import list_training_jobs


class Command(BaseCommand):
    help = "Print ListTrainingJobsForHyperParameterTuningJob's TrainingJobSummaries for a tuning job."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--status", choices=TrainingJobStatus.values, help="StatusEquals")

    def handle(self, *args, name, status=None, **options):
        try:
            tuning_job = selectors.tuning_job_get(name=name)
        except TuningJob.DoesNotExist:
            raise CommandError(f"No tuning job named {name!r}.") from None
        training_jobs = selectors.training_jobs_for_tuning_job(tuning_job=tuning_job, status=status)
        self.stdout.write(dumps(list_training_jobs(tuning_job, training_jobs)))
