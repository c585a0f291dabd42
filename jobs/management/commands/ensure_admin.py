import os
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Create the first admin user if there is no superuser yet, and print its credentials. "
        "The password is generated once and kept in var/admin-password (mode 600)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", default=os.environ.get("TUNEBOARD_ADMIN_USER", "admin"))

    def handle(self, *args, username, **options):
        password_file = settings.VAR_DIR / "admin-password"
        users = get_user_model().objects
        if not users.filter(is_superuser=True).exists():
            password = secrets.token_urlsafe(12)
            users.create_superuser(username=username, email="", password=password)
            password_file.write_text(password)
            password_file.chmod(0o600)
        if password_file.exists() and users.filter(username=username).exists():
            self.stdout.write(f"login: {username} / {password_file.read_text().strip()}")
        else:
            self.stdout.write("login: an existing superuser (password not stored by Tuneboard)")
