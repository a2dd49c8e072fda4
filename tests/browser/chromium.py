"""Debian's Chromium, as the browser tests and scripts/screenshots.py launch it (not Playwright's download)."""

import os
import shutil

# Without the background-networking flags Chromium reaches for the network (updates, sync, field trials), which
# is closed on build machines; the rest suit a headless browser running as root in a container.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    """CAREPORTAL_CHROMIUM if set, else the `chromium` on PATH, else Debian's /usr/bin/chromium."""
    return os.environ.get("CAREPORTAL_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
