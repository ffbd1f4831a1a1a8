"""Hostile clients at the edge, through real nginx in front of the real backend: request ids,
cache-busting parameters, request floods, CORS behind the micro-cache, and how long a stale copy
may stand in for a dead backend."""

from __future__ import annotations

import json
import re
import signal
import time
from collections.abc import Callable
from datetime import datetime
from email.utils import parsedate_to_datetime

from e2e_stack import Stack
from playwright.sync_api import Page, expect
from testkit.processes import http_get, wait_until

VALID_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")


def test_an_invalid_request_id_is_replaced_and_the_same_id_is_logged(
    make_stack: Callable[..., Stack],
) -> None:
    stack = make_stack(LOG_LEVEL="debug")
    _, headers, _ = http_get(stack.url + "/api/v1/rates/nowhere", {"X-Request-ID": "x" * 3000})
    returned = headers["x-request-id"]
    assert VALID_ID.fullmatch(returned) and returned != "x" * 3000
    _, headers, _ = http_get(stack.url + "/api/v1/rates/nowhere", {"X-Request-ID": "a b"})
    assert VALID_ID.fullmatch(headers["x-request-id"])
    assert stack.backend is not None and stack.backend.process is not None
    log = stack.backend.process.log_path.read_text()
    assert f"request_id={returned}" in log, "the backend logged another id than nginx returned"
    assert "x" * 129 not in log
    # A valid id passes through unchanged.
    assert http_get(stack.url + "/api/rates", {"X-Request-ID": "ok-1"})[1]["x-request-id"] == "ok-1"


def test_cache_busters_make_no_entries(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack(nginx_env={"MICRO_CACHE_TTL": "60"})
    for buster in ("1", "1"):  # the same URL twice: a cached answer would be a HIT
        status, headers, body = http_get(stack.url + f"/api/v1/rates?_={buster}")
        assert status == 422 and headers["x-cache-status"] == "MISS"
        assert headers["content-type"] == "application/problem+json"
        assert "unknown parameter '_'" in json.loads(body)["detail"]
    # The legacy route reads no parameters: one entry, whatever the query.
    assert http_get(stack.url + "/api/rates?_=1")[1]["x-cache-status"] == "MISS"
    assert http_get(stack.url + "/api/rates?_=2")[1]["x-cache-status"] == "HIT"


def test_a_request_flood_gets_429_problems(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack(nginx_env={"RATE_LIMIT": "1"})  # 1 per second, bursts of 2
    answers = [http_get(stack.url + "/api/v1/rates") for _ in range(12)]
    limited = [a for a in answers if a[0] == 429]
    assert limited, [a[0] for a in answers]
    _, headers, body = limited[0]
    assert headers["content-type"] == "application/problem+json"
    assert headers["retry-after"] == "1" and headers["cache-control"] == "no-store"
    problem = json.loads(body)
    assert problem["status"] == 429 and "retry after a second" in problem["detail"]


def test_cors_answers_are_cached_per_origin(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack(
        nginx_env={"MICRO_CACHE_TTL": "60"}, CORS_ORIGINS="https://a.example,https://b.example"
    )
    url = stack.url + "/api/v1/rates?base=usd"
    for origin in ("https://a.example", "https://b.example", "https://a.example"):
        headers = http_get(url, {"Origin": origin})[1]
        assert headers.get("access-control-allow-origin") == origin
    assert "access-control-allow-origin" not in http_get(url, {"Origin": "https://c.example"})[1]


def test_a_stale_copy_lives_no_longer_than_stale_if_error_and_says_how_old_it_is(
    make_stack: Callable[..., Stack],
) -> None:
    stack = make_stack(nginx_env={"STALE_IF_ERROR": "10"})
    url = stack.url + "/api/v1/rates"
    # The window is a 10 s slice of nginx's clock: cache a copy early in one, then kill the backend.
    wait_until("the start of a window", lambda: time.time() % 10 < 1, timeout_s=11)
    first = http_get(url)
    assert first[0] == 200
    fetched = datetime.fromisoformat(json.loads(first[2])["fetched_at"]).timestamp()
    assert stack.backend is not None and stack.backend.process is not None
    stack.backend.process.stop(signal.SIGKILL)
    stopped = time.time()
    # Date has whole seconds: ask once the clock is past the fetch's second, so a Date of "now"
    # and one of the fetch time differ (the copy was fetched moments ago; the window is 10 s).
    time.sleep(max(0.0, int(fetched) + 1.1 - time.time()))

    def answer_with(cache_status: str) -> tuple[int, dict[str, str], bytes] | None:
        answer = http_get(url)
        return answer if answer[1].get("x-cache-status") == cache_status else None

    status, headers, body = wait_until("a stale copy", lambda: answer_with("STALE"), timeout_s=10)
    assert status == 200
    # The copy's body keeps the age it was built with; the answer's Date is now, so the page can
    # tell how old the data really is (api/client.ts asOfAnswer).
    answered = parsedate_to_datetime(headers["date"]).timestamp()
    assert datetime.fromisoformat(json.loads(body)["fetched_at"]).timestamp() == fetched
    assert answered >= int(stopped) and answered > fetched
    # Within one 10 s window the key changes: the copy is gone and nginx says the backend is down.
    status, _, _ = wait_until(
        "the stale copy to expire",
        lambda: http_get(url) if http_get(url)[0] == 502 else None,
        timeout_s=25,
    )
    assert status == 502, "a stale copy outlived STALE_IF_ERROR"


def test_the_page_says_how_old_nginxs_stale_copy_really_is(
    page: Page, make_stack: Callable[..., Stack]
) -> None:
    stack = make_stack(nginx_env={"STALE_IF_ERROR": "3600"})
    page.goto(stack.url + "/")
    expect(page.locator("#rates-body tr[data-code]")).to_have_count(61)
    assert stack.backend is not None and stack.backend.process is not None
    stack.backend.process.stop(signal.SIGKILL)
    time.sleep(12)  # the copy nginx holds ages while its body's age_seconds stays as built
    stale = page.context.new_page()
    response = stale.goto(stack.url + "/")
    assert response is not None
    stale_answers: list[str] = []
    stale.on(
        "response",
        lambda r: (
            stale_answers.append(r.headers.get("x-cache-status", ""))
            if "/api/v1/rates" in r.url
            else None
        ),
    )
    stale.reload()
    expect(stale.locator("#rates-body tr[data-code]")).to_have_count(61)
    assert "STALE" in stale_answers
    # "Updated 12 s ago" or more, never "just now": the age comes from fetched_at and Date.
    expect(stale.locator("#updated")).to_have_text(re.compile(r"Updated (1\d|[2-9]\d) s ago"))
