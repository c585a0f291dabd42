"""The websocket origin check: scheme, host and port must all be the site's."""

import pytest

from tuning_site.websocket_origin import allowed_origin


def scope(origin, host="127.0.0.1:8301", scheme="ws", **headers):
    pairs = [(b"host", host.encode())] if host else []
    if origin is not None:
        pairs.append((b"origin", origin.encode()))
    pairs += [(name.replace("_", "-").encode(), value.encode()) for name, value in headers.items()]
    return {"type": "websocket", "scheme": scheme, "headers": pairs}


@pytest.fixture(autouse=True)
def hosts(settings):
    settings.ALLOWED_HOSTS = ["127.0.0.1", "tuneboard.example"]
    settings.CSRF_TRUSTED_ORIGINS = ["https://dash.example"]
    settings.SECURE_PROXY_SSL_HEADER = None


@pytest.mark.parametrize(
    ("origin", "host", "scheme", "allowed"),
    [
        ("http://127.0.0.1:8301", "127.0.0.1:8301", "ws", True),
        ("HTTP://127.0.0.1:8301", "127.0.0.1:8301", "ws", True),
        ("https://tuneboard.example", "tuneboard.example", "wss", True),
        # Same host, another port: same site for the cookie, another origin (issue 15, finding 4).
        ("http://127.0.0.1:8302", "127.0.0.1:8301", "ws", False),
        # Same host and port, another scheme.
        ("https://127.0.0.1:8301", "127.0.0.1:8301", "ws", False),
        ("http://tuneboard.example", "tuneboard.example", "wss", False),
        ("http://evil.example", "evil.example", "ws", False),
        ("null", "127.0.0.1:8301", "ws", False),
        (None, "127.0.0.1:8301", "ws", False),
        ("http://127.0.0.1:8301", None, "ws", False),
        ("https://dash.example", "127.0.0.1:8301", "ws", True),
        ("https://dash.example:8443", "127.0.0.1:8301", "ws", False),
    ],
)
def test_only_the_sites_own_origin_or_a_trusted_one_may_open_a_socket(origin, host, scheme, allowed):
    assert allowed_origin(scope(origin, host, scheme)) is allowed


def test_behind_a_tls_proxy_the_forwarded_scheme_counts(settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert allowed_origin(scope("https://tuneboard.example", "tuneboard.example", x_forwarded_proto="https"))
    assert not allowed_origin(scope("https://tuneboard.example", "tuneboard.example"))
