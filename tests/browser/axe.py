"""The accessibility check every browser test runs on every page it sees: axe-core against WCAG 2.2 A and AA.

axe-core comes bundled with axe-playwright-python (no network needed). The rules are chosen by WCAG tag, so a rule
that axe-core adds to these levels in a later version is checked without any change here. No rule is switched off:
fix the page instead.
"""

from __future__ import annotations

import functools

from playwright.sync_api import Page

# WCAG 2.0, 2.1 and 2.2 success criteria at levels A and AA (2.2 added no level A criteria that axe can test).
WCAG_22_AA_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


@functools.cache
def _axe_script() -> str:
    # Read the 500 kB bundle once per test session.
    from axe_playwright_python.sync_playwright import Axe

    return Axe().axe_script


class AccessibilityViolations(AssertionError):
    pass


def axe_violations(page: Page) -> list[dict]:
    """Run axe-core on the page as it is now and return its violations (axe's own JSON)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        # Injected through the DevTools protocol, so the page's Content Security Policy does not block it.
        page.evaluate(_axe_script())
    options = {"runOnly": {"type": "tag", "values": WCAG_22_AA_TAGS}, "resultTypes": ["violations"]}
    results = page.evaluate("options => axe.run(document, options)", options)
    return results["violations"]


def describe_violations(violations: list[dict], *, where: str) -> str:
    lines = [f"{len(violations)} accessibility violation(s) (axe-core, WCAG 2.2 A/AA) on {where}:"]
    for violation in violations:
        lines.append(f"- {violation['id']} ({violation.get('impact') or 'no impact given'}): {violation['help']}")
        lines.append(f"  {violation['helpUrl']}")
        for node in violation["nodes"]:
            target = " ".join(" >> ".join(part) if isinstance(part, list) else part for part in node["target"])
            lines.append(f"  * {target}")
            summary = (node.get("failureSummary") or "").replace("\n", " ").strip()
            if summary:
                lines.append(f"    {summary}")
            lines.append(f"    {node['html'][:200]}")
    return "\n".join(lines)


def assert_accessible(page: Page, *, where: str | None = None) -> None:
    """Fail with a readable list of every WCAG 2.2 A/AA violation axe-core finds on the page."""
    violations = axe_violations(page)
    if violations:
        raise AccessibilityViolations(describe_violations(violations, where=where or page.url))
