"""Access key ids, secrets, and how secrets are kept at rest.

SigV4 needs the secret in clear on the server (it recomputes the HMAC), so
a hash will not do. Secrets are encrypted with Fernet under a key derived
from SECRET_KEY: a leaked database dump alone gives nothing away. Every key
in SECRET_KEY_FALLBACKS still decrypts, so rotating SECRET_KEY the usual
Django way does not lock every client out at once.
"""

import base64
import secrets

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.utils.crypto import salted_hmac

# AWS's shape: 20 upper-case characters starting AKIA (secret scanners then
# flag a leaked one), 40-character secrets.
ACCESS_KEY_ID_PREFIX = "AKIA"
_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
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
