"""Accessibility in the browser: axe-core in every theme, size and state a user meets.

One private stack is walked through the states (offline sample -> live data, filtered, converter
used, history chart -> stale -> API unreachable) with four pages open on it, one per theme x size,
so each page loads once and axe audits it in every state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Literal

import pytest
from e2e_page import axe_violations, screenshot
from e2e_stack import Stack
from playwright.sync_api import Browser, Page, ViewportSize, expect

ROWS = "#rates-body tr[data-code]"
WAIT_MS = 20_000
THEMES: tuple[Literal["light", "dark"], ...] = ("light", "dark")
SIZES: dict[str, ViewportSize] = {
    "desktop": {"width": 1366, "height": 900},
    "phone": {"width": 390, "height": 844},
}


@pytest.fixture
def theme_pages(browser: Browser) -> Iterator[dict[str, Page]]:
    """A page per theme x size, e.g. "light-phone", each in its own browser context."""
    contexts = []
    pages = {}
    for theme in THEMES:
        for size, viewport in SIZES.items():
            phone = size == "phone"
            context = browser.new_context(
                viewport=viewport,
                device_scale_factor=2 if phone else 1,
                is_mobile=phone,
                has_touch=phone,
                locale="en-US",
                timezone_id="UTC",
                color_scheme=theme,
            )
            contexts.append(context)
            pages[f"{theme}-{size}"] = context.new_page()
    yield pages
    for context in contexts:
        context.close()


def test_axe_finds_no_violations_in_any_theme_size_or_state(
    theme_pages: dict[str, Page], make_stack: Callable[..., Stack]
) -> None:
    # CoinGecko fails at first, so the service starts on its offline sample; no micro-cache, so a
    # stopped backend reaches the page as the 502 it is.
    stack = make_stack(
        upstream_mode="500",
        SAMPLE_FALLBACK="true",
        REFRESH_INTERVAL="1",
        STALE_AFTER="3",
        nginx_env={"MICRO_CACHE_TTL": "0"},
    )
    found: list[str] = []

    def audit(state: str) -> None:
        for name, page in theme_pages.items():
            found.extend(f"[{name}, {state}] {v}" for v in axe_violations(page))

    for page in theme_pages.values():
        page.goto(stack.url + "/?refresh=1")
        expect(page.locator('[data-banner="sample"]')).to_be_visible()
        expect(page.locator(ROWS)).to_have_count(61)
    audit("the offline sample")

    stack.fake.set_mode("ok")
    for name, page in theme_pages.items():
        expect(page.locator('[data-banner="sample"]')).to_have_count(0, timeout=WAIT_MS)
        expect(page.locator("#chart canvas")).to_be_visible(timeout=WAIT_MS)
        expect(page.locator("#headline-sub")).to_contain_text("fetched from CoinGecko")
        screenshot(page, f"a11y-{name}", full_page=True)
    audit("data loaded, history chart shown")

    for page in theme_pages.values():
        page.get_by_role("button", name="Crypto").click()
        page.get_by_label("Search by code or name").fill("e")
        page.get_by_role("button", name="Sort by name").click()
        page.get_by_label("Values per 1").select_option("usd")
        expect(page.locator(ROWS).first).to_be_visible()
    audit("filters, search and sort applied")

    for page in theme_pages.values():
        page.get_by_label("Amount").fill("abc")
        expect(page.locator("#amount-error")).to_contain_text("not a number")
    audit("converter with a bad amount")
    for page in theme_pages.values():
        page.get_by_label("Amount").fill("2.5")
        page.get_by_label("From", exact=True).select_option("eth")
        page.get_by_role("button", name="Swap from and to").click()
        expect(page.locator("#convert-result")).to_contain_text("2.5 USD =")
    audit("converter used")

    stack.fake.set_mode("500")
    for page in theme_pages.values():
        expect(page.locator('[data-banner="stale"]')).to_be_visible(timeout=WAIT_MS)
    audit("stale data")

    assert stack.backend is not None
    stack.backend.stop()
    for page in theme_pages.values():
        expect(page.locator('[data-banner="error"]')).to_be_visible(timeout=WAIT_MS)
    audit("the API unreachable")

    assert not found, f"{len(found)} axe violation(s):\n" + "\n".join(found)


def test_coingecko_is_credited_as_its_attribution_guide_asks_next_to_the_data(
    browser: Browser, stack: Stack
) -> None:
    # The guide: "Data provided by CoinGecko" linked to https://www.coingecko.com, visible, just
    # above or below the data set.
    for size, viewport in SIZES.items():
        context = browser.new_context(viewport=viewport, locale="en-US")
        page = context.new_page()
        page.goto(stack.url + "/")
        expect(page.locator(ROWS).first).to_be_visible()
        credit = page.locator("#rates #attribution")
        expect(credit).to_have_text("Data provided by CoinGecko")
        link = credit.get_by_role("link", name="CoinGecko", exact=True)
        expect(link).to_have_attribute("href", "https://www.coingecko.com")
        credit.scroll_into_view_if_needed()
        expect(link).to_be_in_viewport()
        table = page.locator("#rates-table").bounding_box()
        box = credit.bounding_box()
        assert table is not None and box is not None
        assert 0 <= box["y"] - (table["y"] + table["height"]) <= 80, (
            f"{size}: credit not below the table"
        )
        context.close()
