from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from jobs import services
from jobs.models import TuningJob


class Command(BaseCommand):
    help = "Stop a tuning job (StopHyperParameterTuningJob): its running training jobs are stopped."

    def add_arguments(self, parser):
        parser.add_argument("name")

    def handle(self, *args, name, **options):
        tuning_job = TuningJob.objects.filter(name=name).first()
        if tuning_job is None:
            raise CommandError(f"No tuning job named {name!r}.")
        try:
            tuning_job = services.tuning_job_stop(tuning_job_id=tuning_job.id)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        self.stdout.write(f"{tuning_job.name}: {tuning_job.status}")
