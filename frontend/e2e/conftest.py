"""Fixtures for the browser tests: Debian's Chromium through pytest-playwright, and real stacks."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_page import CSP_LISTENER, Console
from e2e_stack import DIST, NGINX, Stack
from playwright.sync_api import Page

CHROMIUM = "/usr/bin/chromium"
REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "backend" / "crypto_rates" / "data" / "sample-exchange-rates.json"


@pytest.fixture(scope="session", autouse=True)
def _prerequisites() -> None:
    missing = []
    if not (DIST / "index.html").is_file():
        missing.append("the built app frontend/dist (make frontend-build)")
    if not os.access(NGINX, os.X_OK):
        missing.append("nginx (apt-get install nginx)")
    if not os.access(CHROMIUM, os.X_OK):
        missing.append("chromium (apt-get install chromium)")
    if missing:
        pytest.fail("end-to-end tests need " + ", ".join(missing), pytrace=False)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    # Debian's Chromium; `playwright install` cannot download here and is never needed.
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
        ],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {
        **browser_context_args,
        "locale": "en-US",
        "timezone_id": "UTC",
        "viewport": {"width": 1280, "height": 900},
        "color_scheme": "light",
    }


@pytest.fixture(scope="session")
def fixture_rates() -> dict[str, dict[str, Any]]:
    rates: dict[str, dict[str, Any]] = json.loads(FIXTURE.read_text())["rates"]
    return rates


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """Shared by the tests that do not break anything: healthy upstream, a refresh every 2 s
    (so the history grows), the default snapshot values."""
    shared = Stack(REFRESH_INTERVAL="2").start()
    yield shared
    shared.stop()


@pytest.fixture
def make_stack() -> Iterator[Callable[..., Stack]]:
    """A private stack for a test that breaks or changes things; stopped after the test."""
    stacks: list[Stack] = []

    def make(
        upstream_mode: str = "ok",
        ready: bool = True,
        nginx_env: dict[str, str] | None = None,
        **backend_env: str,
    ) -> Stack:
        private = Stack(nginx_env, **backend_env)
        stacks.append(private)
        private.fake.set_mode(upstream_mode)
        return private.start(ready)

    yield make
    for private in stacks:
        private.stop()


@pytest.fixture
def console(page: Page) -> Console:
    page.add_init_script(CSP_LISTENER)
    return Console(page)
