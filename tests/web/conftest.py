"""Fixtures of the web page's tests: a live server on SQLite, a headless Chromium, pages per party.

The browser is Debian's `chromium` package (`/usr/bin/chromium`) driven by Playwright; Playwright's
own downloaded browsers are never used. Without the package the tests fail and say how to install
it (`.ci/run` does); they are never skipped. Every page records its console errors and uncaught
exceptions, and a test fails on any it did not expect.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Locator,
    Page,
    expect,
    sync_playwright,
)

from detente.server.clock import Clock
from detente.server.store import Store
from server.conftest import DAY, Live, serving  # tests/ is on the path (tests/conftest.py)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Screenshots and other artefacts of these tests (ignored by git).
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
#: How long a test waits for the page to show something (ms); the page answers in well under 1 s.
WAIT_MS = 15_000
_HTTP_ERROR = re.compile(r"status of (\d{3})")
expect.set_options(timeout=WAIT_MS)


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    """SQLite only: the page talks to the same API on either backend."""
    return str(tmp_path / "detente.db")


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """A migrated store whose exercise clock reads 2015-10-01T00:00:00Z at the start."""
    s = Store(store_url, clock=Clock(start=DAY)).migrate()
    yield s
    s.close()


@pytest.fixture
def parties() -> tuple[str, ...]:
    """The parties of the store (a test module may override this)."""
    return ("blue", "red")


@pytest.fixture
def live(store: Store, parties: tuple[str, ...]) -> Iterator[Live]:
    """The application on loopback with `parties` (a key each) and an admin key."""
    keys = {name: store.add_party(name)[1] for name in parties}
    admin_key = store.new_admin_key()
    with serving(store) as url:
        yield Live(url, store, keys, admin_key)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the session (each test gets fresh contexts)."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the web page's tests need Debian's chromium package. Install"
            " it as root with `apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y"
            " chromium` (.ci/run does)",
            pytrace=False,
        )
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Tab:
    """One party's page in its own browser context, with what its console said."""

    page: Page
    party: str | None
    key: str | None
    errors: list[str] = field(default_factory=list)
    #: HTTP statuses the test provokes on purpose (the browser logs them as console errors).
    expected_status: set[int] = field(default_factory=set)

    def by(self, testid: str) -> Locator:
        return self.page.get_by_test_id(testid)

    def unexpected_errors(self) -> list[str]:
        unexpected = []
        for text in self.errors:
            status = _HTTP_ERROR.search(text)
            provoked = status is not None and int(status.group(1)) in self.expected_status
            if "Failed to load resource" in text and provoked:
                continue
            unexpected.append(text)
        return unexpected

    def sign_in(self, base_url: str) -> None:
        """Open the page and sign in through the form; waits until the party is shown."""
        assert self.key is not None and self.party is not None
        self.page.goto(base_url + "/")
        self.by("key").fill(self.key)
        self.by("sign-in").click()
        self.wait_signed_in()

    def wait_signed_in(self) -> None:
        party = self.by("party")
        party.wait_for(state="visible", timeout=WAIT_MS)
        self.page.wait_for_function(
            "([el, name]) => el.textContent.includes(name)",
            arg=[party.element_handle(), self.party],
            timeout=WAIT_MS,
        )

    def shot(self, name: str) -> Path:
        """Save a screenshot of the whole page as test-artifacts/NAME.png."""
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path


@pytest.fixture
def open_tab(browser: Browser, live: Live) -> Iterator[Callable[..., Tab]]:
    """Open a page for a party (or for no one) in a fresh browser context; signed in by default."""
    contexts: list[tuple[BrowserContext, Tab]] = []

    def open_(party: str | None = None, *, sign_in: bool = True) -> Tab:
        context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-GB")
        context.set_default_timeout(WAIT_MS)
        page = context.new_page()
        tab = Tab(page, party, None if party is None else live.keys[party])

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                tab.errors.append(f"console: {message.text} ({message.location.get('url')})")

        page.on("console", on_console)
        page.on("pageerror", lambda exc: tab.errors.append(f"uncaught: {exc}"))
        contexts.append((context, tab))
        if party is not None and sign_in:
            tab.sign_in(live.url)
        return tab

    yield open_
    # Collect before closing: closing a context aborts the event streams of its pages.
    unexpected = {
        tab.party or "(no party)": errors
        for _, tab in contexts
        if (errors := tab.unexpected_errors())
    }
    for context, _ in contexts:
        context.close()
    if unexpected:
        pytest.fail(f"the page logged errors: {unexpected}", pytrace=False)
