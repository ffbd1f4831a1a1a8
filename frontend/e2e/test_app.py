"""The app in Chromium against the shared, healthy stack: what a user sees and does.

Expected numbers are hand-computed from the fixture (units per 1 BTC): usd 41819.856,
eth 18.801, eur 38787.833, sats 1e8. E.g. 1 USD = 18.801 / 41819.856 = 0.00044957 ETH.
"""

from __future__ import annotations

import gzip
import json
from typing import Any

from e2e_page import Console, csp_violations, line_pixels, screenshot
from e2e_stack import Stack
from playwright.sync_api import Browser, Page, expect
from testkit.processes import http_get, wait_until

ROWS = "#rates-body tr[data-code]"


def open_app(page: Page, stack: Stack, query: str = "") -> None:
    page.goto(stack.url + "/" + query)
    expect(page.locator(ROWS).first).to_be_visible()


def codes(page: Page) -> list[str]:
    return page.locator(ROWS).evaluate_all("rows => rows.map(r => r.dataset.code)")


def value_text(page: Page, code: str) -> str:
    return page.locator(f'{ROWS}[data-code="{code}"] td.col-value').inner_text()


def test_table_shows_all_61_units_from_the_fixture(
    page: Page, stack: Stack, fixture_rates: dict[str, Any], console: Console
) -> None:
    open_app(page, stack)
    expect(page.locator(ROWS)).to_have_count(61)
    assert sorted(codes(page)) == sorted(fixture_rates)
    usd = page.locator(f'{ROWS}[data-code="usd"]')
    expect(usd.locator(".col-code")).to_have_text("USD")
    expect(usd.locator(".col-name")).to_have_text("US Dollar")
    expect(usd.locator(".badge")).to_have_text("fiat")
    expect(usd.locator(".col-unit")).to_have_text("$")
    expect(usd.locator(".col-value")).to_have_text("41,819.86")
    expect(page.locator('#rates-body tr[data-code="vnd"] .col-value')).to_have_text(
        "1,014,922,020.10"
    )
    # The headline: 1 BTC in USD, and when it was fetched.
    expect(page.locator("#headline-value .hero-number")).to_have_text("41,819.86")
    expect(page.locator("#updated")).to_contain_text("Updated")
    expect(page.locator("#banners")).to_be_empty()
    chips = page.locator("#type-filter .chip")
    expect(chips).to_have_text(["All61", "Fiat46", "Crypto13", "Commodity2"])
    assert console.errors == []
    assert csp_violations(page) == []
    screenshot(page, "desktop-light")


def test_filter_search_and_sort(page: Page, stack: Stack) -> None:
    open_app(page, stack)
    page.get_by_role("button", name="Crypto").click()
    expect(page.locator(ROWS)).to_have_count(13)
    expect(page.locator(f"{ROWS} .badge")).to_have_text(["crypto"] * 13)
    page.get_by_role("button", name="Commodity").click()
    assert sorted(codes(page)) == ["xag", "xau"]

    page.get_by_role("button", name="All").click()
    page.get_by_label("Search by code or name").fill("dollar")
    expect(page.locator(ROWS)).to_have_count(8)
    assert sorted(codes(page)) == ["aud", "bmd", "cad", "hkd", "nzd", "sgd", "twd", "usd"]
    page.get_by_label("Search by code or name").fill("zzz")
    expect(page.locator("#rates-body tr.empty")).to_have_text("No currency matches “zzz”.")
    page.get_by_label("Search by code or name").fill("")
    expect(page.locator(ROWS)).to_have_count(61)

    # Default sort: value ascending, BTC (1) first.
    assert codes(page)[:3] == ["btc", "yfi", "eth"]
    sort_code = page.get_by_role("button", name="Sort by code")
    sort_code.click()
    assert codes(page)[:3] == ["aed", "ars", "aud"]
    expect(page.locator("#rates-head th.col-code")).to_have_attribute("aria-sort", "ascending")
    sort_code.click()
    assert codes(page)[:3] == ["zar", "yfi", "xrp"]
    expect(page.locator("#rates-head th.col-code")).to_have_attribute("aria-sort", "descending")
    page.get_by_role("button", name="Sort by value").click()
    page.get_by_role("button", name="Sort by value").click()
    assert codes(page)[:3] == ["vnd", "idr", "sats"]


def test_base_switch_recomputes_values(page: Page, stack: Stack) -> None:
    open_app(page, stack)
    page.get_by_label("Values per 1").select_option("usd")
    expect(page.get_by_role("button", name="Sort by value")).to_contain_text("Per 1 USD")
    expect(page.locator(f'{ROWS}[data-code="usd"] .col-value')).to_have_text("1.00")
    # 18.801 / 41819.856 = 0.00044957 ETH per USD; 1e8 / 41819.856 = 2391.21 sats per USD.
    assert value_text(page, "eth") == "0.0004496"
    assert value_text(page, "sats") == "2,391.21"
    assert value_text(page, "btc") == "0.00002391"
    # 41819.856 / 38787.833 = 1.0782 USD per EUR.
    page.get_by_label("Values per 1").select_option("eur")
    expect(page.locator(f'{ROWS}[data-code="usd"] .col-value')).to_have_text("1.08")
    expect(page.locator(f"{ROWS}.is-base")).to_have_attribute("data-code", "eur")
    # The headline stays 1 BTC in the headline currency.
    expect(page.locator("#headline-value .hero-number")).to_have_text("41,819.86")
    page.get_by_label("Headline currency", exact=True).select_option("eur")
    expect(page.locator("#headline-value .hero-number")).to_have_text("38,787.83")


def test_converter(page: Page, stack: Stack) -> None:
    open_app(page, stack)
    result = page.locator("#convert-result")
    expect(result).to_have_text("1 BTC = 41,819.86 USD")
    page.get_by_label("Amount").fill("2.5")
    page.get_by_label("From", exact=True).select_option("eth")
    page.get_by_label("To", exact=True).select_option("usd")
    # 2.5 * 41819.856 / 18.801 = 5560.855
    expect(result).to_have_text("2.5 ETH = 5,560.86 USD")
    page.get_by_role("button", name="Swap from and to").click()
    # 2.5 * 18.801 / 41819.856 = 0.0011239
    expect(result).to_have_text("2.5 USD = 0.001124 ETH")
    expect(page.get_by_label("From", exact=True)).to_have_value("usd")

    for bad, message in [
        ("abc", '"abc" is not a number'),
        ("-3", "greater than zero"),
        ("", "Enter an amount"),
        ("1e16", "too large"),
    ]:
        page.get_by_label("Amount").fill(bad)
        expect(page.locator("#amount-error")).to_contain_text(message)
        expect(result).to_have_text("")
        expect(page.get_by_label("Amount")).to_have_attribute("aria-invalid", "true")
        assert "NaN" not in page.locator("main").inner_text()
    page.get_by_label("Amount").fill("1,000")
    expect(page.locator("#amount-error")).to_have_text("")
    expect(result).to_have_text("1,000 USD = 0.4496 ETH")


def test_choices_survive_a_reload(page: Page, stack: Stack) -> None:
    open_app(page, stack)
    page.get_by_label("Values per 1").select_option("eur")
    page.get_by_role("button", name="Fiat").click()
    page.get_by_label("Search by code or name").fill("kron")
    page.get_by_role("button", name="Sort by name").click()
    page.get_by_role("button", name="Sort by name").click()
    expected = codes(page)
    assert expected == ["sek", "nok", "dkk"]  # Swedish Krona, Norwegian and Danish Krone

    assert "base=eur" in page.url and "type=fiat" in page.url and "q=kron" in page.url

    page.reload()
    expect(page.locator(ROWS)).to_have_count(3)
    assert codes(page) == expected
    expect(page.get_by_label("Values per 1")).to_have_value("eur")
    expect(page.get_by_label("Search by code or name")).to_have_value("kron")
    expect(page.get_by_role("button", name="Fiat")).to_have_attribute("aria-pressed", "true")

    # A plain visit (no query) restores the same view from localStorage.
    open_app(page, stack)
    expect(page.locator(ROWS)).to_have_count(3)
    assert codes(page) == expected


def test_history_chart_draws(page: Page, stack: Stack) -> None:
    def points() -> bool:
        # nginx caches identity and gzip (the browser's) apart, and may hand the page a stale copy
        # from an earlier test while it updates: both copies must hold the grown series.
        counts = []
        for headers in ({}, {"Accept-Encoding": "gzip"}):
            _, answer, body = http_get(stack.url + "/api/v1/rates/usd/history?base=btc", headers)
            if answer.get("content-encoding") == "gzip":
                body = gzip.decompress(body)
            counts.append(json.loads(body)["count"])
        return min(counts) >= 3

    wait_until("three history points (one per 2 s refresh)", points, 30)
    open_app(page, stack)
    chart = page.locator("#chart")
    expect(chart.locator("canvas")).to_be_visible()
    assert int(chart.get_attribute("data-points") or 0) >= 3
    expect(page.locator("#chart-caption")).to_have_text("USD per 1 BTC")
    # The line is really drawn: count canvas pixels in the series colour.
    drawn = line_pixels(page)
    assert drawn > 100, f"only {drawn} pixels in the line colour"
    page.get_by_label("Currency shown in the chart").select_option("eur")
    expect(page.locator("#chart-caption")).to_have_text("EUR per 1 BTC")
    # A code in the table picks the chart's currency too.
    page.locator('#rates-body button.code[data-code="eth"]').click()
    expect(page.locator("#chart-caption")).to_have_text("ETH per 1 BTC")
    expect(page.get_by_label("Currency shown in the chart")).to_have_value("eth")


def test_keyboard_and_labels(page: Page, stack: Stack) -> None:
    open_app(page, stack)
    page.keyboard.press("Tab")
    expect(page.locator(".skip-link")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#rates")).to_be_focused()
    # Chips and sort headers work from the keyboard.
    page.get_by_role("button", name="Commodity").focus()
    page.keyboard.press("Enter")
    expect(page.locator(ROWS)).to_have_count(2)
    page.get_by_role("button", name="Sort by name").focus()
    page.keyboard.press("Space")
    expect(page.locator("#rates-head th.col-name")).to_have_attribute("aria-sort", "ascending")
    # Every control has a label; updates are announced.
    for label in ["Amount", "From", "Headline currency", "Values per 1", "Search by code or name"]:
        expect(page.get_by_label(label, exact=True)).to_have_count(1)
    expect(page.locator("#announcer")).to_have_attribute("aria-live", "polite")
    expect(page.locator("#announcer")).to_contain_text("Rates loaded: 61 currencies.")
    expect(page.get_by_role("link", name="API docs").first).to_have_attribute("href", "/docs")


def test_unchanged_snapshot_costs_a_304_and_no_rerender(page: Page, make_stack: Any) -> None:
    quiet = make_stack()  # the service's default interval (minutes): the snapshot stays the same
    with page.expect_response(lambda r: r.url.endswith("/api/v1/rates")) as first:
        open_app(page, quiet, "?refresh=1")
    assert first.value.status == 200
    renders = page.locator("#rates-body").get_attribute("data-renders")
    for _ in range(3):
        with page.expect_response(
            lambda r: r.url.endswith("/api/v1/rates") and r.status == 304, timeout=15_000
        ) as unchanged:
            pass
        assert unchanged.value.request.headers["if-none-match"] == first.value.headers["etag"]
    assert page.locator("#rates-body").get_attribute("data-renders") == renders
    expect(page.locator("#next-update")).to_contain_text("next in 0:0")


def test_no_console_errors_or_csp_violations_while_using_everything(
    page: Page, stack: Stack, console: Console
) -> None:
    open_app(page, stack)
    page.get_by_role("button", name="Crypto").click()
    page.get_by_label("Search by code or name").fill("eth")
    page.get_by_role("button", name="Sort by value").click()
    page.get_by_label("Values per 1").select_option("usd")
    page.get_by_label("Amount").fill("3")
    page.get_by_role("button", name="Swap from and to").click()
    page.get_by_label("Currency shown in the chart").select_option("eth")
    page.get_by_role("button", name="Refresh").click()
    expect(page.locator("#chart canvas")).to_be_visible()
    expect(page.locator("#refresh")).to_be_enabled()
    assert console.errors == []
    assert csp_violations(page) == []


def test_mobile_viewport(browser: Browser, stack: Stack) -> None:
    for scheme in ("light", "dark"):
        context = browser.new_context(
            viewport={"width": 360, "height": 780},
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
            locale="en-US",
            color_scheme=scheme,
        )
        page = context.new_page()
        open_app(page, stack)
        # Nothing wider than the screen; value column fully visible.
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        cell = page.locator(f'{ROWS}[data-code="vnd"] .col-value').bounding_box()
        assert cell is not None and cell["x"] + cell["width"] <= 360
        expect(page.locator("#headline-value .hero-number")).to_be_in_viewport()
        screenshot(page, f"mobile-{scheme}")
        page.locator("#rates").scroll_into_view_if_needed()
        screenshot(page, f"mobile-{scheme}-table")
        context.close()


def test_dark_theme_follows_the_system(browser: Browser, stack: Stack) -> None:
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, locale="en-US", color_scheme="dark"
    )
    page = context.new_page()
    open_app(page, stack)
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(13, 17, 23)"
    screenshot(page, "desktop-dark")
    context.close()


def test_docs_link_opens_a_working_swagger_ui_through_nginx(
    page: Page, stack: Stack, console: Console
) -> None:
    # Everything Swagger UI needs is served by the backend: no CDN, so it renders offline.
    page.route("https://**/*", lambda route: route.abort())
    open_app(page, stack)
    with page.expect_navigation() as navigation:
        page.get_by_role("link", name="API docs").first.click()
    response = navigation.value
    assert response is not None and response.status == 200
    assert page.url == stack.url + "/docs"
    expect(page).to_have_title("crypto-rates - Swagger UI")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("crypto-rates")
    expect(page.locator(".opblock-summary-path", has_text="/api/v1/convert")).to_be_visible()
    assert csp_violations(page) == []
    assert console.errors == []
