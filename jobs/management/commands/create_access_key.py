from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from jobs import services
from jobs.management.commands._output import dumps


class Command(BaseCommand):
    help = (
        "Create an access key for the SageMaker-compatible endpoint and print its id and secret, once: "
        "as IAM's CreateAccessKey answers (JSON), or with --env as lines for a shell or a .env file."
    )

    def add_arguments(self, parser):
        parser.add_argument("username", help="The user the key acts as.")
        parser.add_argument(
            "--team",
            help="The team the key's tuning jobs belong to; needed when the user is in more than one.",
        )
        parser.add_argument("--description", default="", help="What the key is for (at most 200 characters).")
        parser.add_argument(
            "--env",
            action="store_true",
            help="Print AWS_ACCESS_KEY_ID=... and AWS_SECRET_ACCESS_KEY=... lines instead of JSON.",
        )

    def handle(self, *args, username, team=None, description="", env=False, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        if not user.is_active:
            raise CommandError(f"{username} is inactive: the endpoint refuses the keys of inactive users.")
        try:
            access_key, secret = services.access_key_create(user=user, team=_team(user, team), description=description)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        if env:
            self.stdout.write(f"AWS_ACCESS_KEY_ID={access_key.access_key_id}\nAWS_SECRET_ACCESS_KEY={secret}")
        else:
            self.stdout.write(
                dumps(
                    {
                        "AccessKey": {
                            "UserName": user.get_username(),
                            "AccessKeyId": access_key.access_key_id,
                            "Status": "Active",
                            "SecretAccessKey": secret,
                            "CreateDate": access_key.created_at,
                        }
                    }
                )
            )
        self.stderr.write("The secret is shown this once: Tuneboard cannot show it again.")


def _team(user, name: str | None) -> Group | None:
    """The team named, else the user's only team; staff may have a key in no team."""
    if name:
        team = Group.objects.filter(name=name).first()
        if team is None:
            raise CommandError(f"--team: no team named {name!r}.")
        return team
    teams = list(Group.objects.filter(members__user=user).order_by("name"))
    if len(teams) == 1:
        return teams[0]
    if not teams and user.is_staff:
        return None
    if not teams:
        raise CommandError(
            f"{user.get_username()} is in no team: add them to one first (a key acts in one of its user's teams)."
        )
    names = ", ".join(team.name for team in teams)
    raise CommandError(f"{user.get_username()} is in several teams ({names}): choose one with --team.")
