"""`PortalPage`: the only way browser tests move between pages, so that no page escapes the accessibility check.

Every `goto()` and every `click_and_wait()` waits for the new page to load, then checks it:

- axe-core finds no WCAG 2.2 A/AA violation (tests/browser/axe.py);
- the page has a title and exactly one `<h1>`;
- nothing went wrong while it loaded: no stylesheet, script, image or font failed, no JavaScript error, no
  Content Security Policy refusal (a page without its CSS "works" in a test but not for a patient).

Tests read what is on the page through `portal.page` (a Playwright `Page`) and Playwright's `expect()`.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.sync_api import ConsoleMessage, Locator, Page, Request, Response

from tests.browser.axe import assert_accessible

# Problems known, explained and owned elsewhere: each is let through by an exact piece of its message, and each
# entry says what would fix it. Delete an entry once it is fixed, so that the check covers it again.
KNOWN_PROBLEMS: dict[str, str] = {
    # nhsuk-frontend's compiled CSS loads the Frutiger web font from https://assets.nhs.uk/fonts/, which our
    # policy (font-src 'self') refuses, so pages use the design system's fallback, Arial. Allowing
    # https://assets.nhs.uk in font-src is a decision for the trust; see the comment in settings.
    "Loading the font 'https://assets.nhs.uk/fonts/": "NHS web font refused by font-src 'self'",
    "font https://assets.nhs.uk/fonts/": "NHS web font refused by font-src 'self'",
}


class PageProblems(AssertionError):
    pass


def is_known_problem(problem: str) -> bool:
    return any(fragment in problem for fragment in KNOWN_PROBLEMS)


class PortalPage:
    def __init__(self, page: Page) -> None:
        self.page = page
        self.pages_checked: list[str] = []
        self._problems: list[str] = []
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self._problems.append(f"JavaScript error: {error}"))
        page.on("requestfailed", self._on_request_failed)
        page.on("response", self._on_response)

    # Moving between pages -------------------------------------------------------------------------------------

    def goto(self, path: str, *, status: int = 200) -> Response:
        """Open `path` (relative to the live server), check the final response's status, then check the page."""
        self._problems.clear()
        response = self.page.goto(path, wait_until="load")
        assert response is not None, f"no response for {path}"
        assert response.status == status, f"{path} answered {response.status}, expected {status}"
        self.check()
        return response

    def click_and_wait(self, target: Locator, *, status: int = 200) -> Response:
        """Click a link or button that loads a new page (following redirects), then check that page."""
        self._problems.clear()
        with self.page.expect_navigation(wait_until="load") as navigation:
            target.click()
        response = navigation.value
        assert response is not None, "the click loaded no page"
        assert response.status == status, f"{response.url} answered {response.status}, expected {status}"
        self.check()
        return response

    # The check run on every page ------------------------------------------------------------------------------

    def check(self) -> None:
        where = self.path
        assert self.page.title().strip(), f"{where} has no <title>"
        headings = self.page.locator("h1").count()
        assert headings == 1, f"{where} has {headings} <h1> elements; a page needs exactly one"
        problems = [problem for problem in self._problems if not is_known_problem(problem)]
        if problems:
            raise PageProblems(f"{where} did not load cleanly:\n" + "\n".join(f"- {p}" for p in problems))
        assert_accessible(self.page, where=where)
        self.pages_checked.append(where)

    @property
    def path(self) -> str:
        parts = urlsplit(self.page.url)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    # What the browser reports while a page loads --------------------------------------------------------------

    def _on_console(self, message: ConsoleMessage) -> None:
        # A failed sub-resource is reported by _on_response with its address; Chromium's console line about it
        # ("Failed to load resource") also fires for the page itself when it is a deliberate 404.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self._problems.append(f"console error: {message.text}")

    def _on_request_failed(self, request: Request) -> None:
        if request.failure == "net::ERR_ABORTED":
            return  # cancelled by the browser because the page was left, e.g. a favicon still loading
        self._problems.append(f"{request.resource_type} {request.url} failed: {request.failure}")

    def _on_response(self, response: Response) -> None:
        if response.request.is_navigation_request():
            return  # the page's own status is checked by goto()/click_and_wait()
        if response.status >= 400:
            self._problems.append(f"{response.request.resource_type} {response.url} answered {response.status}")
