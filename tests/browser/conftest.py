"""Browser journeys: Debian's Chromium driven by Playwright against pytest-django's live server.

pytest-playwright provides the fixtures (`playwright`, `browser` once per session, `context` and `page` per test);
this file points them at /usr/bin/chromium (Playwright's own browser downloads are not used) and at the live
server, and adds `portal`: a `PortalPage` whose every navigation is checked with axe-core (see portal.py).

Run them with `uv run pytest tests/browser -q`; install Chromium first with `scripts/ensure-chromium`.
"""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.chromium import CHROMIUM_ARGS, chromium_path
from tests.browser.portal import PortalPage

BROWSER_TESTS = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Every test here is a browser test, and runs after all the others: Playwright's sync API keeps an asyncio
    # loop marked as running in the main thread from the first browser test to the end of the session, and
    # Django refuses database calls under a running loop unless DJANGO_ALLOW_ASYNC_UNSAFE is set (below).
    browser_items, other_items = [], []
    for item in items:
        if BROWSER_TESTS in Path(item.path).parents:
            item.add_marker(pytest.mark.browser)
            browser_items.append(item)
        else:
            other_items.append(item)
    items[:] = other_items + browser_items


@pytest.fixture(scope="session")
def _django_beside_playwright_loop() -> Iterator[None]:
    # The loop Playwright keeps "running" is only its own dispatcher: the test thread still makes blocking,
    # ordinary database calls, so Django's async-safety guard is a false alarm here.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="session")
def playwright(_django_beside_playwright_loop, playwright):
    """pytest-playwright's `playwright`, started only once Django tolerates its event loop."""
    return playwright


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    executable = chromium_path()
    if not Path(executable).exists():
        pytest.fail(
            f"Chromium not found at {executable}: run scripts/ensure-chromium, or set CAREPORTAL_CHROMIUM to its path",
            pytrace=False,
        )
    return {**browser_type_launch_args, "executable_path": executable, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def base_url(live_server) -> str:
    """Pages are opened by path (`portal.goto("/home/")`) on pytest-django's live server."""
    return live_server.url


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict) -> dict:
    return {
        **browser_context_args,
        "locale": "en-GB",
        "timezone_id": "Europe/London",
        "viewport": {"width": 1280, "height": 900},
    }


@pytest.fixture
def portal(page, live_server, transactional_db) -> Iterator[PortalPage]:
    """A browser tab on the live server; the test fails if a page it opens fails the accessibility check."""
    page.set_default_timeout(10_000)
    portal_page = PortalPage(page)
    yield portal_page
    assert portal_page.pages_checked, "a browser test must open at least one page through `portal`"
