import dataclasses
import json
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from jobs import services
from jobs.management.commands._output import dumps
from jobs.sagemaker.shapes import ShapeError, parse_create_tuning_job, rename_validation_error, tuning_job_arn


class Command(BaseCommand):
    help = "Create a tuning job from a CreateHyperParameterTuningJob request body (a JSON file, or - for stdin)."

    def add_arguments(self, parser):
        parser.add_argument("spec", help="Path to the JSON request body, or - to read it from standard input.")
        parser.add_argument("--owner", help="Username that owns the tuning job.")
        parser.add_argument("--team", help="Team (group) the tuning job belongs to; without one only staff see it.")

    def handle(self, *args, spec, owner=None, team=None, **options):
        body = _load_json(spec)
        user = None
        if owner:
            user = get_user_model().objects.filter(username=owner).first()
            if user is None:
                raise CommandError(f"--owner: no user named {owner!r}.")
        try:
            config = parse_create_tuning_job(body)
            if team:
                config = dataclasses.replace(config, team_name=team)
            tuning_job = services.tuning_job_create(config=config, owner=user, check_team_role=False)
        except ValidationError as exc:
            raise CommandError(_describe(rename_validation_error(exc, body))) from None
        except ShapeError as exc:
            raise CommandError(_describe(exc)) from None
        self.stdout.write(dumps({"HyperParameterTuningJobArn": tuning_job_arn(tuning_job)}))


def _load_json(spec: str):
    try:
        text = Path("/dev/stdin").read_text() if spec == "-" else Path(spec).read_text()
    except OSError as exc:
        raise CommandError(f"Cannot read {spec}: {exc.strerror}.") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CommandError(f"{spec} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.") from None


def _describe(error: ShapeError) -> str:
    """Each problem on a line of its own, naming the member as AWS does (a.b.1.member.c)."""
    lines = ["The tuning job was not created:"]
    for path, messages in error.errors.items():
        for message in messages:
            lines.append(f"  {path}: {message}")
    return "\n".join(lines)
