"""Honest states in the browser when things break: each test has its own stack to break.

The page polls every second (`?refresh=1`); the backend refreshes from the fake upstream every
second where a test needs new data or ageing data.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from e2e_page import Console, csp_violations, screenshot
from e2e_stack import Stack
from playwright.sync_api import Page, Response, expect

ROWS = "#rates-body tr[data-code]"
HEADLINE = "#headline-value .hero-number"
WAIT_MS = 20_000


def open_app(page: Page, stack: Stack, query: str = "?refresh=1") -> None:
    page.goto(stack.url + "/" + query)
    expect(page.locator(ROWS)).to_have_count(61)


def test_stale_banner_when_the_upstream_fails_and_the_data_ages(
    page: Page, make_stack: Callable[..., Stack]
) -> None:
    flaky = make_stack(REFRESH_INTERVAL="1", STALE_AFTER="3")
    open_app(page, flaky)
    expect(page.locator("#banners")).to_be_empty()
    expect(page.locator("#status-dot")).to_have_attribute("data-state", "ok")

    flaky.fake.set_mode("500")
    stale = page.locator('[data-banner="stale"]')
    expect(stale).to_be_visible(timeout=WAIT_MS)
    expect(stale).to_contain_text("Rates may be out of date")
    expect(page.locator("#status-dot")).to_have_attribute("data-state", "stale")
    expect(page.locator(ROWS)).to_have_count(61)  # the data is still there
    expect(page.locator(HEADLINE)).to_have_text("41,819.86")
    screenshot(page, "stale-banner")

    flaky.fake.set_mode("ok")
    expect(stale).to_have_count(0, timeout=WAIT_MS)
    expect(page.locator("#status-dot")).to_have_attribute("data-state", "ok")


def test_offline_sample_banner_when_the_upstream_never_answered(
    page: Page, make_stack: Callable[..., Stack]
) -> None:
    offline = make_stack(upstream_mode="500", SAMPLE_FALLBACK="true")
    open_app(page, offline)
    sample = page.locator('[data-banner="sample"]')
    expect(sample).to_be_visible()
    expect(sample).to_contain_text("Offline sample data")
    expect(page.locator("#headline-sub")).to_contain_text("offline sample")
    expect(page.locator('[data-banner="error"]')).to_have_count(0)


def test_api_down_keeps_the_last_data_with_an_error_banner_then_recovers(
    page: Page, make_stack: Callable[..., Stack], console: Console
) -> None:
    # Without nginx's micro-cache: with it, nginx answers a dead backend with its last cached
    # copy (STALE, test_micro_cache.py); the page's own handling of a 502 is tested here.
    broken = make_stack(nginx_env={"MICRO_CACHE_TTL": "0"})
    open_app(page, broken)
    assert broken.backend is not None
    broken.backend.stop()

    error = page.locator('[data-banner="error"]')
    expect(error).to_be_visible(timeout=WAIT_MS)
    # nginx's 502 problem body, shown as it is, plus what the page does about it.
    expect(error).to_contain_text("Bad Gateway")
    expect(error).to_contain_text("Showing the last rates received")
    expect(error).to_have_attribute("role", "alert")
    expect(page.locator("#next-update")).to_contain_text("retry in")
    expect(page.locator(ROWS)).to_have_count(61)
    expect(page.locator(HEADLINE)).to_have_text("41,819.86")
    expect(page.locator("#convert-result")).to_have_text("1 BTC = 41,819.86 USD")
    screenshot(page, "api-down")

    broken.restart_backend()
    expect(error).to_have_count(0, timeout=WAIT_MS)
    expect(page.locator("#status-dot")).to_have_attribute("data-state", "ok")
    # The only console errors are the browser's own lines for the failed requests.
    assert all("502" in line for line in console.errors), console.errors
    assert csp_violations(page) == []


def test_first_load_failure_shows_the_error_not_a_blank_page(
    page: Page, make_stack: Callable[..., Stack]
) -> None:
    # No data at all yet: the backend answers 503 problem+json until the upstream recovers.
    empty = make_stack(upstream_mode="500", ready=False, REFRESH_INTERVAL="1")
    page.goto(empty.url + "/?refresh=1")
    error = page.locator('[data-banner="error"]')
    expect(error).to_be_visible(timeout=WAIT_MS)
    expect(error).to_contain_text("no exchange-rate data yet")
    expect(page.locator("#rates-body tr.skeleton-row").first).to_be_visible()
    expect(page.locator(".brand")).to_be_visible()

    empty.fake.set_mode("ok")
    expect(page.locator(ROWS)).to_have_count(61, timeout=WAIT_MS)
    expect(error).to_have_count(0)


def test_auto_refresh_picks_up_a_changed_snapshot(
    page: Page, make_stack: Callable[..., Stack]
) -> None:
    moving = make_stack(REFRESH_INTERVAL="1")
    open_app(page, moving, "?refresh=2")
    expect(page.locator(HEADLINE)).to_have_text("41,819.86")

    moving.fake.scale(2)  # every value per BTC doubles: 41819.856 * 2 = 83639.712
    expect(page.locator(HEADLINE)).to_have_text("83,639.71", timeout=WAIT_MS)
    expect(page.locator(f'{ROWS}[data-code="usd"] .col-value')).to_have_text("83,639.71")
    expect(page.locator("#announcer")).to_contain_text("Rates updated")


def test_refresh_pauses_while_hidden_and_runs_on_return(
    page: Page, make_stack: Callable[..., Stack]
) -> None:
    quiet = make_stack()
    # Headless tabs are always "visible"; let the test flip document.visibilityState.
    page.add_init_script(
        """Object.defineProperty(document, "visibilityState", {
             configurable: true, get: () => window.__visibility || "visible" });"""
    )
    requests: list[str] = []
    page.on(
        "request", lambda r: requests.append(r.url) if r.url.endswith("/api/v1/rates") else None
    )
    open_app(page, quiet)
    page.evaluate(
        """window.__visibility = "hidden";
           document.dispatchEvent(new Event("visibilitychange"));"""
    )
    page.wait_for_timeout(500)  # let a request already in flight land
    before = len(requests)
    page.wait_for_timeout(3_500)  # three refresh intervals
    assert len(requests) == before, "the page refreshed while hidden"

    with page.expect_request(lambda r: r.url.endswith("/api/v1/rates"), timeout=5_000):
        page.evaluate(
            """window.__visibility = "visible";
               document.dispatchEvent(new Event("visibilitychange"));"""
        )


def countdown_seconds(page: Page) -> int:
    text = page.locator("#next-update").inner_text()
    match = re.fullmatch(r"next in (\d+):(\d\d)", text)
    assert match, f"no countdown in {text!r}"
    return int(match[1]) * 60 + int(match[2])


def max_age(response: Response) -> int:
    match = re.search(r"max-age=(\d+)", response.headers["cache-control"])
    assert match, response.headers["cache-control"]
    return int(match[1])


def test_next_poll_follows_the_apis_max_age_and_manual_refresh(
    page: Page, make_stack: Callable[..., Stack]
) -> None:
    quiet = make_stack()  # the service's default interval: minutes until its next refresh
    with page.expect_response(lambda r: r.url.endswith("/api/v1/rates")) as first:
        open_app(page, quiet, "")
    # The page waits for the backend's next refresh (max-age) plus a 2-5 s settle and spread.
    waited = max_age(first.value)
    assert waited > 10  # not a fixed ?refresh= interval: the service's own (at least 60 s)
    assert waited <= countdown_seconds(page) <= waited + 5
    renders = page.locator("#rates-body").get_attribute("data-renders")
    with page.expect_response(lambda r: r.url.endswith("/api/v1/rates")) as answer:
        page.get_by_role("button", name="Refresh").click()
    assert answer.value.status == 304  # nothing new: no re-render, and the countdown restarts
    assert page.locator("#rates-body").get_attribute("data-renders") == renders
    page.wait_for_timeout(600)  # one display tick
    assert max_age(answer.value) - 1 <= countdown_seconds(page) <= max_age(answer.value) + 5
