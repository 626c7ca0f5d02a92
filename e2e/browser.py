"""Headless Chromium for the console's tests: Debian's `chromium` (/usr/bin/chromium,
`CAIRN_CHROMIUM` to use another) driven by Playwright's Python client with
`executable_path`, so nothing downloads a browser of its own. Playwright gives every
launch a fresh, temporary profile (`--user-data-dir`).

Screenshots go to target/e2e-screenshots/ at 1440x900."""
import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCREENSHOTS = REPO / "target" / "e2e-screenshots"
VIEWPORT = {"width": 1440, "height": 900}
CHROMIUM = os.environ.get("CAIRN_CHROMIUM", "/usr/bin/chromium")
# The flags that work on this kind of machine (no GPU, no sandbox in a container, no
# network but loopback: nothing in the background reaches out).
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def chromium_path():
    path = CHROMIUM if os.path.isabs(CHROMIUM) else shutil.which(CHROMIUM)
    if not path or not os.path.exists(path):
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install -y chromium` (scripts/test.sh "
                    "installs it when run as root)", pytrace=False)
    return path


class Page:
    """A Playwright page that records the console errors and uncaught exceptions of
    everything it loads."""

    def __init__(self, page, endpoint):
        self.page = page
        self.endpoint = endpoint
        self.errors = []
        page.on("console", lambda m: m.type == "error" and self.errors.append(
            f"console: {m.text} ({m.location.get('url', '')})"))
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        page.on("dialog", lambda d: d.accept())

    def open(self, path):
        self.page.goto(self.endpoint + path, wait_until="networkidle")
        return self.page

    def screenshot(self, name, full_page=False):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)
