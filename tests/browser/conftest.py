"""A real browser (Debian's Chromium, driven by Playwright) against a live stack.

The stack is daphne, a control worker and a training worker on the test
database and the test Redis. Playwright's own browser download cannot work
here, so it drives /usr/bin/chromium.
"""

import os
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def chromium():
    """One browser for the session.

    Playwright's sync API runs an event loop in this thread, which Django
    takes for an async context; the tests' own ORM calls are ordinary
    blocking calls, so the guard is lifted for this session only.
    """
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def stack(workers, static_root):
    """The live site: returns its base URL, with workers running tuning jobs behind it."""
    workers.start_worker("control", 2)
    workers.start_worker("training", 2)
    return workers.start_web(static_root)


@pytest.fixture
def page(chromium, request):
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()
