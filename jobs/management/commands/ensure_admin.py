import os
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

RESET_HINT = "forgot it? .venv/bin/python manage.py changepassword {username}"


class Command(BaseCommand):
    help = (
        "Create the first admin user if there is no superuser yet, and print its generated password, "
        "this once: Tuneboard keeps only its hash (reset it with `manage.py changepassword`)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", default=os.environ.get("TUNEBOARD_ADMIN_USER", "admin"))

    def handle(self, *args, username, **options):
        # Earlier versions kept the generated password in clear here; a copy on
        # disk outlives its use, so it goes.
        (settings.VAR_DIR / "admin-password").unlink(missing_ok=True)
        users = get_user_model().objects
        superuser = users.filter(is_superuser=True).order_by("pk").first()
        if superuser is None:
            password = secrets.token_urlsafe(12)
            users.create_superuser(username=username, email="", password=password)
            self.stdout.write(f"login: {username} / {password}   (shown only this once)")
        else:
            self.stdout.write(
                f"login: {superuser.get_username()} ({RESET_HINT.format(username=superuser.get_username())})"
            )
