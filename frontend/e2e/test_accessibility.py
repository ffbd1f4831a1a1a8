"""Accessibility in the browser: axe-core in every theme, size and state a user meets.

One private stack is walked through the states (offline sample -> live data, filtered, converter
used, history chart -> stale -> API unreachable) with four pages open on it, one per theme x size,
so each page loads once and axe audits it in every state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Literal

import pytest
from e2e_page import axe_violations, focused, screenshot
from e2e_stack import Stack
from playwright.sync_api import Browser, Page, Route, ViewportSize, expect

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


def tab_to(page: Page, name: str, key: str = "Tab", limit: int = 100) -> None:
    """Press Tab (or Shift+Tab) until `name` (a FOCUS_JS name) has focus; every stop on the way
    must show its focus ring and be on screen."""
    for _ in range(limit):
        page.keyboard.press(key)
        now = focused(page)
        if now["name"] is None:
            continue  # past the last stop: focus left the page, the next Tab starts again
        assert now["ring"] and now["seen"], f"focus on {now['name']} is not visible: {now}"
        if now["name"] == name:
            return
    raise AssertionError(f"{name} not reached with {limit} presses of {key}")


def test_everything_works_by_keyboard_alone_in_a_sensible_order_with_focus_always_visible(
    page: Page, stack: Stack
) -> None:
    page.goto(stack.url + "/")
    expect(page.locator(ROWS)).to_have_count(61)
    codes = page.locator(ROWS).evaluate_all("rows => rows.map(r => `code:${r.dataset.code}`)")

    # The whole page forwards, then backwards: the order follows the layout, every stop shows
    # its focus ring uncovered, and past the last stop focus leaves the page or wraps round to
    # the first (nothing traps it).
    expected = [
        "Skip to the rates table",
        "crypto-rates home",
        "#refresh",
        "API docs",
        "#quote",
        "#amount",
        "#from",
        "#swap",
        "#to",
        "#chart-code",
        "24 h",  # the range radio group: one stop, the chosen range
        "#chart-csv",
        "#base",
        "chip:all",
        "chip:fiat",
        "chip:crypto",
        "chip:commodity",
        "#search",
        "sort:code",
        "sort:name",
        "sort:type",
        "sort:unit",
        "sort:value",
        *codes,
        "CoinGecko",  # the credit below the table
        "CoinGecko",  # the footer's
        "API docs",
        "JSON",
        "OpenAPI",
    ]
    for direction, order in (("Tab", expected), ("Shift+Tab", expected[::-1])):
        stops = []
        for _ in order:
            page.keyboard.press(direction)
            now = focused(page)
            assert now["name"] is None or (now["ring"] and now["seen"]), (
                f"{direction}: focus not visible: {now}"
            )
            stops.append(now["name"])
        assert stops == order, f"{direction} order"
        page.keyboard.press(direction)
        assert focused(page)["name"] in (None, order[0]), f"{direction}: stuck at the end"

    # Then use it: every change by keys only, focus staying on the control that was used.
    tab_to(page, "#base")
    page.keyboard.type("usd")
    expect(page.locator("#base")).to_have_value("usd")
    expect(page.get_by_role("button", name="Sort by value")).to_contain_text("Per 1 USD")

    tab_to(page, "chip:crypto")
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Crypto")).to_have_attribute("aria-pressed", "true")
    expect(page.locator(ROWS)).to_have_count(13)
    assert focused(page)["name"] == "chip:crypto"  # the chips re-render; focus stays put

    tab_to(page, "#search")
    page.keyboard.type("bitcoin")
    expect(page.locator(ROWS)).to_have_count(2)  # Bitcoin, Bitcoin Cash

    tab_to(page, "sort:name")
    page.keyboard.press("Space")
    expect(page.locator("#rates-head th.col-name")).to_have_attribute("aria-sort", "ascending")
    page.keyboard.press("Enter")
    expect(page.locator("#rates-head th.col-name")).to_have_attribute("aria-sort", "descending")
    assert focused(page)["name"] == "sort:name"

    tab_to(page, "code:bch")
    page.keyboard.press("Enter")
    expect(page.locator("#chart-caption")).to_have_text("BCH per 1 USD")
    assert focused(page)["name"] == "code:bch"

    tab_to(page, "#amount", "Shift+Tab")
    page.keyboard.press("Control+A")
    page.keyboard.type("2.5")
    tab_to(page, "#from")
    page.keyboard.type("eth")
    tab_to(page, "#swap")
    page.keyboard.press("Enter")
    # 2.5 * 18.801 / 41819.856 = 0.0011239
    expect(page.locator("#convert-result")).to_have_text("2.5 USD = 0.001124 ETH")
    assert focused(page)["name"] == "#swap"

    tab_to(page, "#chart-code")
    page.keyboard.type("eur")
    expect(page.locator("#chart-caption")).to_have_text("EUR per 1 USD")

    # The skip link jumps over the controls to the table.
    tab_to(page, "Skip to the rates table", "Shift+Tab")
    page.keyboard.press("Enter")
    expect(page.locator("#rates")).to_be_focused()
    page.keyboard.press("Tab")
    assert focused(page)["name"] == "#base"  # the table's first control


def test_the_chart_range_is_one_radio_group_worked_with_arrow_keys(
    page: Page, stack: Stack
) -> None:
    page.goto(stack.url + "/")
    expect(page.locator(ROWS)).to_have_count(61)
    group = page.get_by_role("radiogroup", name="Time range of the chart")
    expect(group.get_by_role("radio")).to_have_text(["24 h", "7 d", "30 d", "1 y"])
    chart = page.locator("#chart")
    tab_to(page, "24 h")
    # Arrows move the choice with focus (wrapping round), Home and End jump; each choice is
    # drawn and kept in the URL.
    for key, name, range_ in [
        ("ArrowRight", "7 d", "7d"),
        ("ArrowDown", "30 d", "30d"),
        ("End", "1 y", "1y"),
        ("ArrowRight", "24 h", "24h"),
        ("ArrowLeft", "1 y", "1y"),
        ("Home", "24 h", "24h"),
        ("ArrowUp", "1 y", "1y"),
    ]:
        page.keyboard.press(key)
        assert focused(page)["name"] == name, key
        expect(group.get_by_role("radio", name=name)).to_have_attribute("aria-checked", "true")
        expect(group.locator('[aria-checked="true"]')).to_have_count(1)
        expect(chart).to_have_attribute("data-range", range_)
        assert (f"range={range_}" in page.url) == (range_ != "24h"), page.url
    # One Tab stop: the next Tab leaves the group for the download link, Shift+Tab comes back
    # to the chosen range.
    page.keyboard.press("Tab")
    assert focused(page)["name"] == "#chart-csv"
    page.keyboard.press("Shift+Tab")
    assert focused(page)["name"] == "1 y"
    page.keyboard.press("Shift+Tab")
    assert focused(page)["name"] == "#chart-code"


def test_a_refresh_and_an_error_are_announced_without_moving_focus(
    page: Page, make_stack: Callable[..., Stack]
) -> None:
    live = make_stack(REFRESH_INTERVAL="1", nginx_env={"MICRO_CACHE_TTL": "0"})
    page.goto(live.url + "/?refresh=1")
    expect(page.locator(ROWS)).to_have_count(61)
    announcer = page.locator("#announcer")
    expect(announcer).to_have_attribute("aria-live", "polite")
    expect(announcer).to_have_attribute("aria-atomic", "true")
    expect(page.locator("#convert-result")).to_have_attribute("aria-live", "polite")
    expect(page.locator("#amount-error")).to_have_attribute("role", "alert")

    # Focus on a button of the table, which every new snapshot re-renders.
    tab_to(page, "code:eth")
    expect(announcer).to_contain_text("Rates updated at", timeout=WAIT_MS)
    renders = int(page.locator("#rates-body").get_attribute("data-renders") or 0)
    expect(page.locator("#rates-body")).not_to_have_attribute("data-renders", str(renders))
    assert focused(page)["name"] == "code:eth"

    tab_to(page, "#search", "Shift+Tab")
    page.keyboard.type("eu")
    assert live.backend is not None
    live.backend.stop()
    error = page.locator('#banners [data-banner="error"]')
    expect(error).to_be_visible(timeout=WAIT_MS)
    expect(error).to_have_attribute("role", "alert")  # assertive: read out at once
    assert focused(page)["name"] == "#search"
    expect(page.locator("#search")).to_have_value("eu")


@pytest.mark.parametrize("motion", ["no-preference", "reduce"])
def test_nothing_moves_when_the_user_prefers_reduced_motion(
    browser: Browser, stack: Stack, motion: Literal["no-preference", "reduce"]
) -> None:
    # The first answer is held, so the page shows what it animates while it waits: the skeleton
    # rows pulse and the refresh icon spins, unless the user asked for less motion.
    context = browser.new_context(locale="en-US", reduced_motion=motion)
    page = context.new_page()
    held: list[Route] = []
    page.route("**/api/v1/rates", lambda route: held.append(route))
    page.goto(stack.url + "/")
    expect(page.locator("#refresh")).to_have_attribute("aria-busy", "true")
    expect(page.locator(".skeleton").first).to_be_visible()
    running = page.evaluate("document.getAnimations().map(a => a.animationName)")
    if motion == "reduce":
        assert running == []
    else:
        assert {"pulse", "spin"} <= set(running)
    for route in held:
        route.continue_()
    page.unroute("**/api/v1/rates")
    expect(page.locator(ROWS)).to_have_count(61)
    assert page.evaluate("document.getAnimations().length") == 0  # nothing left moving
    context.close()


@pytest.mark.parametrize(
    "viewport",
    [
        pytest.param({"width": 683, "height": 450}, id="desktop-at-200-percent-zoom"),
        pytest.param({"width": 320, "height": 640}, id="320px-wide"),
    ],
)
def test_usable_at_200_percent_zoom_and_320px_without_scrolling_sideways(
    browser: Browser, stack: Stack, viewport: ViewportSize
) -> None:
    # Browser zoom at 200 % halves the CSS pixels: 1366x900 becomes 683x450 at scale 2.
    context = browser.new_context(viewport=viewport, device_scale_factor=2, locale="en-US")
    page = context.new_page()
    page.goto(stack.url + "/")
    expect(page.locator(ROWS)).to_have_count(61)

    def overflow() -> dict[str, object]:
        """The page's width against the window's, and any element that sticks out sideways."""
        answer: dict[str, object] = page.evaluate(
            """() => {
              const width = document.documentElement.clientWidth;
              const outside = [...document.querySelectorAll("body *")]
                .filter(el => !el.closest(".visually-hidden, .skip-link"))
                .filter(el => {
                  const box = el.getBoundingClientRect();
                  return box.width > 0 && (box.left < -0.5 || box.right > width + 0.5);
                })
                .map(el => el.outerHTML.slice(0, 80));
              return { scroll: document.documentElement.scrollWidth, width, outside };
            }"""
        )
        return answer

    first = overflow()
    assert first["scroll"] == first["width"] and first["outside"] == [], first
    # In use: a filter, a search, a long conversion result, the error message.
    page.get_by_role("button", name="Fiat").click()
    page.get_by_label("Search by code or name").fill("vnd")
    expect(page.locator(ROWS)).to_have_count(1)
    page.get_by_label("Amount").fill("999999999999")
    page.get_by_label("To", exact=True).select_option("vnd")
    expect(page.locator("#convert-result")).to_contain_text("VND")
    then = overflow()
    assert then["scroll"] == then["width"] and then["outside"] == [], then
    page.get_by_label("Amount").fill("not an amount")
    expect(page.locator("#amount-error")).to_be_visible()
    assert overflow()["outside"] == []
    screenshot(page, f"reflow-{viewport['width']}px", full_page=True)
    context.close()
