"""Websocket origin check: the page that opens a socket must be this site, scheme, host and port.

Channels' AllowedHostsOriginValidator compares the Origin's host alone, so a
page on another port of the same host (same site for the session cookie, a
different origin) could read a user's live curves. Here the Origin must equal
the origin the socket was opened on (its Host header, itself in
ALLOWED_HOSTS, with http/https as the socket is ws/wss or as the TLS proxy
says), or be listed exactly in CSRF_TRUSTED_ORIGINS.
"""

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def _secure(scope) -> bool:
    if scope.get("scheme") == "wss":
        return True
    proxy = settings.SECURE_PROXY_SSL_HEADER
    if proxy:
        # "HTTP_X_FORWARDED_PROTO" names the header x-forwarded-proto.
        name = proxy[0].removeprefix("HTTP_").replace("_", "-").lower().encode()
        return _header(scope, name) == proxy[1]
    return False


def allowed_origin(scope) -> bool:
    origin = _header(scope, b"origin")
    host = _header(scope, b"host")
    if not origin:
        return False
    origin = origin.lower()
    if origin in {trusted.lower() for trusted in settings.CSRF_TRUSTED_ORIGINS}:
        return True
    if not host:
        return False
    domain, _ = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return False
    scheme = "https" if _secure(scope) else "http"
    return origin == f"{scheme}://{host.lower()}"


class ExactOriginValidator:
    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if allowed_origin(scope):
            return await self.application(scope, receive, send)
        return await WebsocketDenier()(scope, receive, send)
