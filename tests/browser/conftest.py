"""Browser tests: the console in headless Chromium (Debian's package) against the live service.

One Chromium serves the package's tests; each test gets its own server (``live_service``),
its own browser context (cookies, language) and a page at the laptop viewport.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, sync_playwright

from billing.models import StaffScope
from demo.day import DEMO_USERS, DemoDay, demo_day_seed
from tests.browser.console_ui import LAPTOP, ConsoleUI
from tests.browser.sandboxes import sandboxes_forget

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps calling out to Google's services,
# which this machine's closed network refuses, slowing every page.
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


@pytest.fixture(scope="package")
def browser() -> Browser:
    # Playwright's sync API runs its asyncio loop inside this thread (in a greenlet), so
    # Django takes the test code for async code and refuses its ORM calls. They are safe:
    # the test makes them between browser steps, never while the loop works. The setting is
    # undone when the last browser test has run, so the rest of the suite keeps the guard.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()


@pytest.fixture
def ui(browser, live_service) -> ConsoleUI:
    """A Chinese-speaking member of staff's browser (the console's default language)."""
    context = browser.new_context(
        base_url=live_service.url, viewport=LAPTOP, locale="zh-CN", accept_downloads=True
    )
    context.set_default_timeout(10_000)
    yield ConsoleUI(context.new_page())
    context.close()


@pytest.fixture
def day(live_service, task_worker, public_platform) -> DemoDay:
    """The demo's business day, seeded through this test's server and its sandboxes."""
    sandboxes_forget(live_service.url)
    return demo_day_seed(sandbox_url=live_service.url)


def scoped_user() -> tuple[str, list[int]]:
    """The demo user limited to departments, and the ids of those departments."""
    scope = StaffScope.objects.get(user__username__in=DEMO_USERS)
    return scope.user.get_username(), list(scope.departments.values_list("pk", flat=True))
