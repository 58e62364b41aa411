"""Fixtures for the browser tests: Debian's Chromium driven by Playwright, pages that fail the
test on any console error, screenshots as artifacts, and axe-core for accessibility.

Playwright never downloads a browser here: it drives the machine's `chromium` package, which
this file installs (`apt-get install -y chromium`) when it is missing and the tests run as root.
Without it the tests are skipped; with CI=true they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
# Screenshots land here (git-ignored) so a CI run keeps them as artifacts.
ARTIFACTS = Path(os.environ.get("SHUTTER_TEST_ARTIFACTS", ROOT / "test-artifacts")) / "browser"
PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 900}
INSTALL_TIMEOUT_SECONDS = 900


def _unavailable(message: str) -> None:
    if IN_CI:
        pytest.fail(f"{message}; CI requires it", pytrace=False)
    pytest.skip(message)


def find_chromium() -> str | None:
    """Return the path of the machine's Chromium, if there is one."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def install_chromium() -> str:
    """Install Debian's chromium package with apt-get (root only); return what went wrong."""
    apt = shutil.which("apt-get")
    if apt is None:
        return "apt-get is not available"
    if os.geteuid() != 0:
        return "installing it needs root (run: apt-get install -y chromium)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [apt, "install", "-y", "-q", "chromium"]
    attempts: list[list[list[str]]] = [[install], [[apt, "update", "-q"], install]]
    output = ""
    for steps in attempts:
        for step in steps:
            done = subprocess.run(
                step, env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_SECONDS
            )
            output = done.stdout[-2000:] + done.stderr[-2000:]
            if done.returncode != 0:
                break
        else:
            return ""
    return f"apt-get install chromium failed: {output.strip()}"


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Return Chromium's path, installing the Debian package first when it is missing."""
    path = find_chromium()
    if path is None:
        problem = install_chromium()
        path = find_chromium()
        if path is None:
            _unavailable(f"Chromium is not installed: {problem or 'not found after installing'}")
            raise AssertionError("unreachable")
    return path


@pytest.fixture(scope="session")
def axe_source() -> str:
    """Return axe-core's script (from the project's npm tools, installed on first use)."""
    if not AXE.exists():
        npm = shutil.which("npm")
        if npm is None:
            _unavailable("axe-core comes from npm, and npm is not installed")
        # The exact versions of package-lock.json where there is one, as `shutter check` does.
        verb = "ci" if (ROOT / "package-lock.json").exists() else "install"
        subprocess.run(
            [npm or "npm", verb, "--no-audit", "--no-fund"],
            cwd=ROOT,
            check=True,
            capture_output=True,
            timeout=INSTALL_TIMEOUT_SECONDS,
        )
    return AXE.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
async def browser(chromium_path: str) -> AsyncIterator[Any]:
    """Return a headless Chromium for the session."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=chromium_path,
            headless=True,
            # Debian's build sandboxes with user namespaces, which containers often lack.
            args=["--no-sandbox", "--disable-dev-shm-usage"],
        )
        yield chromium
        await chromium.close()


@dataclass
class Tab:
    """A page in a browser context of its own (one person), with its console errors."""

    page: Any
    context: Any
    errors: list[str] = field(default_factory=list)
    # Substrings of console errors a test expects (a 401 it provokes on purpose).
    allowed_errors: list[str] = field(default_factory=list)
    # Every answer of 400 or more, "METHOD URL -> status": the console's own line does not say
    # which resource failed, so a failure names them.
    failed_responses: list[str] = field(default_factory=list)

    def unexpected_errors(self) -> list[str]:
        """Return the console errors no test asked for."""
        return [e for e in self.errors if not any(a in e for a in self.allowed_errors)]


@pytest.fixture
async def open_tab(
    browser: Any, running_mesh: Any, axe_source: str
) -> AsyncIterator[Callable[..., Awaitable[Tab]]]:
    """Return a function opening the web client in a new browser context (a new person).

    Every console error (failed responses included) or uncaught exception of those pages fails
    the test, unless the test allowed it.
    """
    tabs: list[Tab] = []

    async def open_(viewport: dict[str, int] = PHONE) -> Tab:
        context = await browser.new_context(
            base_url=running_mesh.edge_url, viewport=viewport, reduced_motion="no-preference"
        )
        context.set_default_timeout(30_000)
        # axe-core is defined in every page from the start: an init script is not subject to
        # the page's Content-Security-Policy, as an injected <script> would be.
        await context.add_init_script(script=axe_source)
        page = await context.new_page()
        tab = Tab(page=page, context=context)
        page.on(
            "console",
            lambda message: (
                tab.errors.append(f"console {message.type}: {message.text}")
                if message.type == "error"
                else None
            ),
        )
        page.on("pageerror", lambda error: tab.errors.append(f"uncaught: {error}"))
        page.on(
            "response",
            lambda response: (
                tab.failed_responses.append(
                    f"{response.request.method} {response.url} -> {response.status}"
                )
                if response.status >= 400
                else None
            ),
        )
        tabs.append(tab)
        await page.goto("/")
        return tab

    yield open_
    errors = [error for tab in tabs for error in tab.unexpected_errors()]
    failed = [line for tab in tabs for line in tab.failed_responses]
    for tab in tabs:
        await tab.context.close()
    assert not errors, (
        "the web client logged errors:\n"
        + "\n".join(errors)
        + "\nanswers of 400 or more:\n"
        + "\n".join(failed)
    )


async def screenshot(tab: Tab, name: str) -> Path:
    """Save a screenshot of the tab as a test artifact (without the passing toasts, which
    would hide what is under them); return its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    width = tab.page.viewport_size["width"]
    path = ARTIFACTS / f"{name}-{'phone' if width < 700 else 'desktop'}.png"
    toasts = "hidden => { document.getElementById('toasts').hidden = hidden; }"
    await tab.page.evaluate(toasts, True)
    try:
        await tab.page.screenshot(path=str(path), full_page=False)
    finally:
        await tab.page.evaluate(toasts, False)
    return path


async def axe_violations(tab: Tab) -> list[dict[str, Any]]:
    """Run axe-core on the page; return its serious and critical violations."""
    result = await tab.page.evaluate(
        """async () => {
            const found = await axe.run(document, {resultTypes: ["violations"]});
            return found.violations.map((v) => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 5),
            }));
        }"""
    )
    return [v for v in result if v["impact"] in ("serious", "critical")]


def describe(violations: list[dict[str, Any]]) -> str:
    """Return violations as readable lines for an assertion message."""
    return json.dumps(violations, indent=1)
