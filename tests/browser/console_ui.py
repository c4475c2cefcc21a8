"""The console as a person in a browser uses it: log in and out, open pages, take pictures."""

from __future__ import annotations

import os
import re
from pathlib import Path

from django.conf import settings
from playwright.sync_api import Locator, Page, expect

LAPTOP = {"width": 1366, "height": 900}
TABLET = {"width": 820, "height": 1180}
# `make screenshots` retakes the README's pictures in docs/screenshots; any other run keeps
# its pictures in var/screenshots (ignored by git), so a test run rewrites no tracked file.
SCREENSHOTS = Path(
    os.environ.get("CONSOLE_SCREENSHOTS") or Path(settings.BASE_DIR) / "var" / "screenshots"
)


class ConsoleUI:
    def __init__(self, page: Page) -> None:
        self.page = page
        # Forms with data-confirm ask before they post; the person answers yes.
        page.on("dialog", lambda dialog: dialog.accept())

    def open(self, path: str = "") -> int:
        """Go to /console/<path>; the HTTP status of the page."""
        return self.page.goto(f"/console/{path}").status

    def testid(self, name: str) -> Locator:
        return self.page.get_by_test_id(name)

    def submit_login(self, username: str, password: str) -> None:
        """Fill in and send the login form of the current page."""
        self.page.locator("input[name=username]").fill(username)
        self.page.locator("input[name=password]").fill(password)
        self.page.locator("form:has(input[name=password]) button[type=submit]").click()

    def log_in(self, username: str, password: str) -> None:
        self.open("login/")
        self.submit_login(username, password)
        expect(self.testid("current-user")).to_have_text(username)

    def log_out(self) -> None:
        self.page.locator("form[action$='/logout/'] button").click()
        expect(self.page).to_have_url(re.compile(r"/console/login/"))

    def submit(self, form: Locator) -> None:
        """Send a form and wait for the page it leads to (a POST answers with a redirect)."""
        with self.page.expect_navigation():
            form.locator("button[type=submit]").click()

    def screenshot(self, name: str, *, viewport: dict[str, int] | None = None) -> Path:
        """A full-page picture of the current page in SCREENSHOTS/<name>.png."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        laptop = self.page.viewport_size
        if viewport:
            self.page.set_viewport_size(viewport)
        self.page.screenshot(path=path, full_page=True, animations="disabled")
        if viewport:
            self.page.set_viewport_size(laptop)
        return path
