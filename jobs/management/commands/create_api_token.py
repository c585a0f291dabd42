from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from jobs import services


class Command(BaseCommand):
    help = "Create a REST API token for a user and print its key, once: only a hash of it is kept."

    def add_arguments(self, parser):
        parser.add_argument("username", help="The user the token acts as.")
        parser.add_argument("--description", default="", help="What the token is for (at most 200 characters).")

    def handle(self, *args, username, description="", **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        if not user.is_active:
            raise CommandError(f"{username} is inactive: the API refuses the tokens of inactive users.")
        if len(description) > 200:
            raise CommandError("--description: at most 200 characters.")
        _, key = services.api_token_create(user=user, description=description)
        self.stdout.write(key)
        self.stderr.write("The key is shown this once: Tuneboard keeps only its hash.")
