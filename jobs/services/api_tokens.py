"""REST API tokens: made here, kept as hashes, shown once."""

import secrets

from django.db import transaction

from jobs.models import ApiToken
from jobs.services.training_jobs import token_hash

API_TOKEN_PREFIX_LENGTH = 8


@transaction.atomic
def api_token_create(*, user, description: str = "") -> tuple[ApiToken, str]:
    """A new token for `user`, and its key: the only time the key exists outside the caller's hands."""
    key = secrets.token_hex(20)
    token = ApiToken.objects.create(
        user=user, prefix=key[:API_TOKEN_PREFIX_LENGTH], key_hash=token_hash(key), description=description
    )
    return token, key
