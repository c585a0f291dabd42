"""What django-axes needs to know about a sign-in attempt, and what a locked-out one sees."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def client_address(request: HttpRequest) -> str | None:
    """The connected peer's address: behind a proxy, the proxy's (see docs/configuration.md)."""
    return request.META.get("REMOTE_ADDR")


def lockout_response(request: HttpRequest, original_response, credentials) -> HttpResponse:
    """The lockout page, the same for both login forms and whichever limit was reached (username or address)."""
    minutes = round(settings.AXES_COOLOFF_TIME.total_seconds() / 60)
    return render(request, "registration/locked_out.html", {"cooloff_minutes": minutes}, status=429)
