"""SigV4 access keys for the SageMaker-compatible endpoint, and how their secrets are kept.

SigV4 needs the secret in clear on the server (it recomputes the HMAC), so
a hash will not do. Secrets are encrypted with Fernet under a key derived
from SECRET_KEY: a leaked database dump alone gives nothing away. Every key
in SECRET_KEY_FALLBACKS still decrypts, so rotating SECRET_KEY the usual
Django way does not lock every client out at once.
"""

import base64
import secrets
from datetime import datetime, timedelta

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.crypto import salted_hmac

from jobs.models import AccessKey, TeamMember

# AWS's shape: 20 upper-case characters starting AKIA (secret scanners then
# flag a leaked one), 40-character secrets.
ACCESS_KEY_ID_PREFIX = "AKIA"
_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
# Changing the salt would make every stored secret unreadable: it keeps the
# module path the keys were first encrypted under.
_SALT = "jobs.sagemaker_api.keys.AccessKey.secret"


def new_access_key_id() -> str:
    return ACCESS_KEY_ID_PREFIX + "".join(secrets.choice(_ID_ALPHABET) for _ in range(16))


def new_secret() -> str:
    return secrets.token_urlsafe(30)


def _fernet(secret_key: str) -> Fernet:
    digest = salted_hmac(_SALT, "fernet", secret=secret_key, algorithm="sha256").digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _cipher() -> MultiFernet:
    return MultiFernet([_fernet(key) for key in (settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS)])


def encrypt_secret(secret: str) -> str:
    return _cipher().encrypt(secret.encode()).decode()


def decrypt_secret(token: str) -> str | None:
    """The secret, or None when no current or fallback SECRET_KEY opens it."""
    try:
        return _cipher().decrypt(token.encode()).decode()
    except InvalidToken:
        return None


def access_key_validate(*, user, team, description: str = "") -> None:
    """The rules for a new key, for forms to show before anything is created."""
    errors = {}
    if team is None and not user.is_staff:
        errors["team"] = ["Choose the team that tuning jobs created with this key belong to."]
    elif team is not None and not user.is_staff and not TeamMember.objects.filter(team=team, user=user).exists():
        errors["team"] = [f"{user.get_username()} is not a member of {team.name}."]
    if len(description) > 200:
        errors["description"] = ["Use at most 200 characters."]
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def access_key_create(*, user, team=None, description: str = ""):
    """A new SigV4 access key for the SageMaker-compatible endpoint; returns (key, secret).

    The secret is returned here only: it is stored encrypted and never shown
    again. A key acts in one team (its tuning jobs are created there), so
    a user may pick only a team they belong to; staff may also pick none.
    """
    access_key_validate(user=user, team=team, description=description)
    secret = new_secret()
    access_key = AccessKey.objects.create(
        access_key_id=new_access_key_id(),
        encrypted_secret=encrypt_secret(secret),
        user=user,
        team=team,
        description=description,
    )
    return access_key, secret


def access_key_revoke(*, access_key_id: str) -> bool:
    """Revoke a key at once; False if it was already revoked (revoking twice is harmless)."""
    return bool(
        AccessKey.objects.filter(access_key_id=access_key_id, revoked_at__isnull=True).update(revoked_at=timezone.now())
    )


# last_used_at is for people ("is this key still in use?"): minute precision
# is plenty, and a write per request would double the cost of a busy client.
ACCESS_KEY_USE_RESOLUTION = timedelta(minutes=1)


def access_key_mark_used(*, access_key_id: str, now: datetime | None = None) -> None:
    now = now or timezone.now()
    AccessKey.objects.filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - ACCESS_KEY_USE_RESOLUTION),
        access_key_id=access_key_id,
    ).update(last_used_at=now)
