"""The console against the session's `meshplane local up`, and one Chromium per module."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from meshplane.local.harness import LocalStack
from support.fixtures import envoy_runner, lab  # noqa: F401 - fixtures for the traffic test

from console.harness import RunningConsole, chromium, console_process

VIEWPORT = {"width": 1600, "height": 1000}


@pytest.fixture(scope="module")
def console(local_stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningConsole]:
    """`meshplane console --api-url <local up's API>`, signing with the test keys (local up checks none)."""
    with console_process(tmp_path_factory.mktemp("console"), "--api-url", local_stack.api_url) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Playwright."""
    executable = chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(executable), headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=VIEWPORT)
    try:
        yield context.new_page()
    finally:
        context.close()
