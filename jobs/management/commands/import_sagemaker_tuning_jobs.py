from django.core.management.base import BaseCommand, CommandError

from jobs.sagemaker import imports as sagemaker_imports


class Command(BaseCommand):
    help = (
        "Import SageMaker tuning jobs for review (read-only): their training jobs and per-epoch metrics. "
        "Importing again updates them."
    )

    def add_arguments(self, parser):
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--name", help="The HyperParameterTuningJobName to import.")
        which.add_argument(
            "--since", help="Import every tuning job created after this date (2026-11-01) or time (ISO 8601)."
        )
        parser.add_argument("--team", help="The team whose members see the imported tuning jobs.")

    def handle(self, *args, name=None, since=None, team=None, **options):
        try:
            moment = sagemaker_imports.parse_since(since) if since is not None else None
            report = sagemaker_imports.import_tuning_jobs(name=name, since=moment, team_name=team)
        except sagemaker_imports.SageMakerImportError as exc:
            raise CommandError(str(exc)) from None
        for outcome in report.imported:
            tuning_job = outcome.tuning_job
            self.stdout.write(
                f"{'imported' if outcome.created else 'updated'} {tuning_job.name}: {tuning_job.status}, "
                f"{outcome.training_jobs_created} new and {outcome.training_jobs_updated} updated training jobs, "
                f"{outcome.metric_samples} metric samples"
            )
        if name is not None and report.failed:
            raise CommandError(report.failed[0][1])
        for failed_name, reason in report.failed:
            self.stderr.write(f"not imported {failed_name}: {reason}")
        if report.failed:
            raise CommandError(f"{len(report.failed)} of {len(report.failed) + len(report.imported)} not imported.")
        if not report.imported:
            self.stdout.write(f"No SageMaker tuning job was created after {moment.isoformat()}.")
