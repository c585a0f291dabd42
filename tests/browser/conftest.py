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


@pytest.fixture(scope="module")
def chromium():
    """One browser per module, closed with it.

    Playwright's sync API keeps an event loop running in this thread while it
    is open, which Django takes for an async context (lifted here: the
    tests' own ORM calls are ordinary blocking calls) and which would make
    later tests' async_to_sync refuse to run, hence module scope.
    """
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


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
    console = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
    page.console_messages = console
    yield page
    (ARTIFACTS / f"{request.node.name}.console.txt").parent.mkdir(exist_ok=True)
    (ARTIFACTS / f"{request.node.name}.console.txt").write_text("\n".join(console))
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()
