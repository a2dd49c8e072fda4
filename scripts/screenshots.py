"""Screenshots of the patient and parent pages at desktop width (1280 px) and at 320 px, for a person to look at.

    uv run python scripts/screenshots.py [--out test-artifacts/screenshots]

It loads the demo trust into a fresh SQLite file under var/, serves the portal in-process with the development
settings (Django's live-server thread, static files from the finders, as `make run` serves them), signs in as
demo.patient and demo.parent through the real sign-in form in Debian's Chromium, and saves one full-page PNG per
page and width. For each page it also reports what a reviewer should look at first: content wider than the
screen, stylesheets or scripts that failed to load, browser console errors and axe-core WCAG 2.2 A/AA violations.
The exit status is 1 when any page has such a problem.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(BASE_DIR))

WIDTHS = {"desktop": 1280, "320px": 320}


@dataclass
class Shot:
    name: str
    path: str
    status: int = 200
    before: str | None = None  # what to do on the page before the screenshot: "wrong-password"


@dataclass
class Report:
    problems: dict[str, list[str]] = field(default_factory=dict)
    known: set[str] = field(default_factory=set)

    def add(self, key: str, problem: str) -> None:
        from tests.browser.portal import KNOWN_PROBLEMS, is_known_problem

        if is_known_problem(problem):
            # Explained in tests/browser/portal.py; listed once at the end rather than on every page.
            self.known.update(reason for fragment, reason in KNOWN_PROBLEMS.items() if fragment in problem)
        else:
            self.problems.setdefault(key, []).append(problem)


SIGNED_OUT = [
    Shot("start", "/"),
    Shot("sign-in", "/sign-in/"),
    Shot("sign-in-error", "/sign-in/", before="wrong-password"),
    Shot("page-not-found", "/no-such-page/", status=404),
]
PATIENT = [
    Shot("home", "/home/"),
    Shot("your-details", "/your-details/"),
    Shot("who-has-viewed-your-record", "/who-has-viewed-your-record/"),
    Shot("get-help", "/get-help/"),
    Shot("accessibility", "/accessibility/"),
    Shot("privacy", "/privacy/"),
    Shot("start-signed-in", "/"),
]
PARENT = [
    Shot("home", "/home/"),
    Shot("their-details", "/your-details/"),
    Shot("who-has-viewed-your-record", "/who-has-viewed-your-record/", status=404),
]


def prepare_database(db_file: Path) -> None:
    """A fresh SQLite file with the demo trust, using the development settings."""
    db_file.parent.mkdir(parents=True, exist_ok=True)
    for stale in db_file.parent.glob(db_file.name + "*"):
        stale.unlink()
    os.environ["DATABASE_URL"] = f"sqlite:///{db_file}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "careportal.config.settings.base")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from careportal.demo.services import demo_trust_load

    call_command("migrate", verbosity=0, interactive=False)
    demo_trust_load()
    # whitenoise warns about a missing STATIC_ROOT even when, as here, it serves from the finders.
    Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)


def start_server():  # type: ignore[no-untyped-def]
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.test.testcases import LiveServerThread

    thread = LiveServerThread("127.0.0.1", StaticFilesHandler, port=0)
    thread.daemon = True
    thread.start()
    thread.is_ready.wait()
    if thread.error:
        raise thread.error
    return thread


def overflow_report(page) -> list[str]:  # type: ignore[no-untyped-def]
    """Elements that stick out past the right edge of the screen (the page then scrolls sideways)."""
    return page.evaluate(
        """() => {
          const width = document.documentElement.clientWidth;
          if (document.documentElement.scrollWidth <= width) return [];
          const out = [];
          for (const el of document.body.querySelectorAll('*')) {
            const box = el.getBoundingClientRect();
            if (box.width && box.right > width + 1) {
              const name = el.tagName.toLowerCase() + (el.className && typeof el.className === 'string'
                ? '.' + el.className.trim().split(/\\s+/).join('.') : '');
              out.push(`${name} reaches ${Math.round(box.right)}px (screen ${width}px)`);
            }
          }
          return out.slice(0, 10);
        }"""
    )


def capture(browser, base_url: str, out: Path, who: str | None, shots: list[Shot], report: Report) -> None:  # type: ignore[no-untyped-def]
    from careportal.demo.data import DEMO_PASSWORD
    from tests.browser.axe import axe_violations, describe_violations

    for label, width in WIDTHS.items():
        context = browser.new_context(
            base_url=base_url,
            viewport={"width": width, "height": 900 if width > 600 else 640},
            is_mobile=width < 600,
            has_touch=width < 600,
            locale="en-GB",
            timezone_id="Europe/London",
        )
        page = context.new_page()
        console: list[str] = []
        page.on(
            "console",
            lambda m, console=console: (
                m.type == "error"
                and not m.text.startswith("Failed to load resource")  # each failed asset is reported below
                and console.append(m.text)
            ),
        )
        page.on(
            "response",
            lambda r, console=console: (
                r.status >= 400
                and not r.request.is_navigation_request()
                and console.append(f"{r.request.resource_type} {r.url} answered {r.status}")
            ),
        )
        if who:
            page.goto("/sign-in/")
            page.get_by_label("Username").fill(who)
            page.get_by_label("Password", exact=True).fill(DEMO_PASSWORD)
            page.get_by_role("main").get_by_role("button", name="Sign in").click()
            page.wait_for_load_state("load")
        for shot in shots:
            console.clear()
            response = page.goto(shot.path, wait_until="load")
            key = f"{who or 'signed-out'}/{shot.name} at {label}"
            if response is None or response.status != shot.status:
                report.add(key, f"answered {response.status if response else 'nothing'}, expected {shot.status}")
            if shot.before == "wrong-password":
                page.get_by_label("Username").fill("demo.patient")
                page.get_by_label("Password", exact=True).fill("not-the-password")
                page.get_by_role("main").get_by_role("button", name="Sign in").click()
                page.wait_for_load_state("load")
            page.evaluate("document.fonts.ready")
            file = out / f"{who or 'signed-out'}--{shot.name}--{label}.png"
            page.screenshot(path=str(file), full_page=True)
            for problem in overflow_report(page):
                report.add(key, f"overflow: {problem}")
            for line in console:
                report.add(key, f"browser: {line}")
            violations = axe_violations(page)
            if violations:
                report.add(key, describe_violations(violations, where=shot.path))
            print(f"  {file.relative_to(BASE_DIR) if file.is_relative_to(BASE_DIR) else file}")
        context.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=BASE_DIR / "test-artifacts" / "screenshots")
    parser.add_argument("--database", type=Path, default=BASE_DIR / "var" / "screenshots.sqlite3")
    args = parser.parse_args()
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.png"):
        old.unlink()

    prepare_database(args.database.resolve())
    server = start_server()
    base_url = f"http://{server.host}:{server.port}"
    print(f"Serving the demo trust at {base_url}; screenshots go to {out}")

    from playwright.sync_api import sync_playwright

    from tests.browser.chromium import CHROMIUM_ARGS, chromium_path

    report = Report()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
            capture(browser, base_url, out, None, SIGNED_OUT, report)
            capture(browser, base_url, out, "demo.patient", PATIENT, report)
            capture(browser, base_url, out, "demo.parent", PARENT, report)
            browser.close()
    finally:
        server.terminate()

    for reason in sorted(report.known):
        print(f"Known problem on every page (see KNOWN_PROBLEMS in tests/browser/portal.py): {reason}")
    if not report.problems:
        print("No overflow, failed assets, console errors or axe violations on any page.")
        return 0
    print("\nWhat to look at:")
    for key, problems in report.problems.items():
        print(f"- {key}")
        for problem in problems:
            print("    " + problem.replace("\n", "\n    "))
    return 1


if __name__ == "__main__":
    sys.exit(main())
