"""`Authorization: Token <key>` against the hashes of jobs.models.ApiToken."""

from rest_framework import authentication, exceptions

from jobs import services
from jobs.models import ApiToken


class ApiTokenAuthentication(authentication.TokenAuthentication):
    def authenticate_credentials(self, key):
        token = ApiToken.objects.select_related("user").filter(key_hash=services.token_hash(key)).first()
        # DRF's own wording, whichever of the two is the reason.
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed("Invalid token.")
        return (token.user, token)
