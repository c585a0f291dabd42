"""The Content-Security-Policy header, templates without inline scripts, and API docs that fetch nothing elsewhere."""

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.django_db

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def directives(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    return {name: values for name, *values in (part.split() for part in policy.split(";") if part.strip())}


def test_every_page_says_scripts_styles_fonts_and_requests_come_from_this_site_only(client):
    policy = directives(client.get("/accounts/login/"))
    for name in ("default-src", "script-src", "font-src", "connect-src"):
        assert policy[name] == ["'self'"], name
    # plotly.js and htmx add <style> elements: inline styles, never inline scripts.
    assert policy["style-src"] == ["'self'", "'unsafe-inline'"]
    assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]


def test_no_template_has_an_inline_script_or_event_handler():
    """The policy refuses them; a template that relied on one would break in the browser, here it fails first."""
    offenders = []
    for template in TEMPLATES.rglob("*.html"):
        text = template.read_text()
        for tag in re.findall(r"<script\b[^>]*>", text):
            if "src=" not in tag:
                offenders.append(f"{template.name}: {tag}")
        offenders += [f"{template.name}: {handler}" for handler in re.findall(r"\son[a-z]+=", text)]
    assert offenders == []


@pytest.mark.parametrize("path", ["/api/redoc/", "/api/docs/"])
def test_the_api_docs_load_only_our_own_files(admin_client, path):
    response = admin_client.get(path)
    page = response.content.decode()
    assert response.status_code == 200
    assert "googleapis" not in page and "https://" not in page and "cdn" not in page.lower()
    assert "drf_spectacular_sidecar" in page
    assert not [tag for tag in re.findall(r"<script\b[^>]*>", page) if "src=" not in tag]
    policy = directives(response)
    assert policy["script-src"] == ["'self'"]
    assert policy["worker-src"] == ["'self'", "blob:"]
