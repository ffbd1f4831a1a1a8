"""nginx's micro-cache of the rate endpoints, through real nginx in front of the real backend: what
it caches and for how long, what it must never cache or replay, and how many requests reach the
backend (counted from the backend's own /metrics)."""

from __future__ import annotations

import gzip
import json
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from e2e_stack import Stack
from prometheus_client.parser import text_string_to_metric_families
from testkit.processes import http_get, wait_until

LONG_TTL = "60"  # long enough that nothing expires while a test runs, however busy the machine


@pytest.fixture(scope="module")
def cached() -> Iterator[Stack]:
    """A stack whose nginx keeps answers for 60 s and whose backend refreshes every 5 minutes."""
    private = Stack(nginx_env={"MICRO_CACHE_TTL": LONG_TTL}, REFRESH_INTERVAL="300").start()
    yield private
    private.stop()


def backend_requests(stack: Stack, handler: str) -> float:
    """How many requests the backend has answered on `handler` (a route template)."""
    assert stack.backend is not None
    text = http_get(stack.backend.url + "/metrics")[2].decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "crypto_app_requests_total" and sample.labels["handler"] == handler
    )


def test_a_second_request_is_a_hit_the_backend_does_not_see(cached: Stack) -> None:
    url = cached.url + "/api/v1/convert?from=btc&to=usd&amount=2"
    before = backend_requests(cached, "/api/v1/convert")
    first = http_get(url)
    second = http_get(url)
    assert (first[0], second[0]) == (200, 200)
    assert (first[1]["x-cache-status"], second[1]["x-cache-status"]) == ("MISS", "HIT")
    assert first[2] == second[2]
    assert backend_requests(cached, "/api/v1/convert") - before == 1


def test_the_key_covers_path_and_query(cached: Stack) -> None:
    fiat = http_get(cached.url + "/api/v1/rates?type=fiat")
    crypto = http_get(cached.url + "/api/v1/rates?type=crypto")
    assert fiat[1]["x-cache-status"] == crypto[1]["x-cache-status"] == "MISS"
    assert {r["type"] for r in json.loads(fiat[2])["rates"]} == {"fiat"}
    assert {r["type"] for r in json.loads(crypto[2])["rates"]} == {"crypto"}
    eth = http_get(cached.url + "/api/v1/rates/eth")
    usd = http_get(cached.url + "/api/v1/rates/usd")
    assert json.loads(eth[2])["rate"]["code"] == "eth"
    assert json.loads(usd[2])["rate"]["code"] == "usd"


def test_gzip_and_identity_bodies_are_cached_apart(cached: Stack) -> None:
    url = cached.url + "/api/v1/rates?base=usd"  # large enough for the backend to gzip
    zipped = http_get(url, {"Accept-Encoding": "gzip"})
    plain = http_get(url, {"Accept-Encoding": "identity"})
    assert (zipped[1]["x-cache-status"], plain[1]["x-cache-status"]) == ("MISS", "MISS")
    # Whatever a client spells, it lands in its class: these two are hits of the two entries.
    zipped_again = http_get(url, {"Accept-Encoding": "br, gzip;q=0.9, deflate"})
    plain_again = http_get(url)
    assert zipped_again[1]["x-cache-status"] == plain_again[1]["x-cache-status"] == "HIT"
    for response in (zipped, zipped_again):
        assert response[1]["content-encoding"] == "gzip"
    for response in (plain, plain_again):
        assert "content-encoding" not in response[1]
    assert gzip.decompress(zipped_again[2]) == plain_again[2]
    assert json.loads(plain_again[2])["count"] > 0


def test_a_historys_csv_and_json_are_cached_apart(cached: Stack) -> None:
    url = cached.url + "/api/v1/rates/eth/history?range=7d"
    as_csv = http_get(url, {"Accept": "text/csv"})
    as_json = http_get(url, {"Accept": "application/json"})
    assert (as_csv[1]["x-cache-status"], as_json[1]["x-cache-status"]) == ("MISS", "MISS")
    # Other spellings land in their class: hits of the two entries, each in its own format.
    csv_again = http_get(url, {"Accept": "text/csv, */*;q=0.1"})
    json_again = http_get(url)
    assert csv_again[1]["x-cache-status"] == json_again[1]["x-cache-status"] == "HIT"
    for response in (as_csv, csv_again):
        assert response[1]["content-type"].startswith("text/csv")
        assert response[2].startswith(b"t,value\n")
    for response in (as_json, json_again):
        assert response[1]["content-type"].startswith("application/json")
        assert json.loads(response[2])["code"] == "eth"


def test_if_none_match_gets_304_with_the_current_etag_from_the_cache(cached: Stack) -> None:
    url = cached.url + "/api/v1/rates"
    status, headers, _ = http_get(url)
    etag = headers["etag"]
    before = backend_requests(cached, "/api/v1/rates")
    status, headers, body = http_get(url, {"If-None-Match": etag})
    assert status == 304 and body == b""
    assert headers["x-cache-status"] == "HIT"
    assert headers["etag"] == etag
    assert backend_requests(cached, "/api/v1/rates") == before
    # A stale validator gets the full answer.
    assert http_get(url, {"If-None-Match": 'W/"old"'})[0] == 200


def test_the_backends_cache_control_reaches_clients(cached: Stack) -> None:
    url = cached.url + "/api/rates"
    http_get(url)
    status, headers, _ = http_get(url)
    assert (status, headers["x-cache-status"]) == (200, "HIT")
    assert "max-age=" in headers["cache-control"]
    assert "stale-if-error=" in headers["cache-control"]
    assert headers["vary"]  # the backend's Vary: Accept-Encoding is passed on, not dropped


def request_ids(url: str, headers: dict[str, str] | None = None) -> tuple[str, list[str]]:
    """(X-Cache-Status, every X-Request-ID header of the answer)."""
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {})) as response:
        return response.headers["X-Cache-Status"], response.headers.get_all("X-Request-ID")


def test_request_ids_are_per_response_never_replayed(cached: Stack) -> None:
    url = cached.url + "/api/v1/rates?type=crypto&q=e"
    assert request_ids(url, {"X-Request-ID": "client-one"}) == ("MISS", ["client-one"])
    assert request_ids(url, {"X-Request-ID": "client-two"}) == ("HIT", ["client-two"])
    status, (generated,) = request_ids(url)
    assert status == "HIT" and generated not in ("client-one", "client-two")
    assert b"client-one" not in http_get(url)[2]


def test_errors_are_never_cached_and_stay_no_store(cached: Stack) -> None:
    before = backend_requests(cached, "/api/v1/rates/{code}")
    for _ in range(3):
        status, headers, _body = http_get(cached.url + "/api/v1/rates/nosuchcode")
        assert status == 404
        assert headers["content-type"].startswith("application/problem+json")
        assert headers["cache-control"] == "no-store"
        assert headers.get("x-cache-status") == "MISS"
    assert backend_requests(cached, "/api/v1/rates/{code}") - before == 3
    status, headers, _ = http_get(cached.url + "/api/v1/convert?from=btc")  # 422
    assert (status, headers["cache-control"]) == (422, "no-store")


def test_health_metrics_and_docs_are_not_cached(cached: Stack) -> None:
    _status, headers, body = http_get(cached.url + "/metrics")
    assert b"crypto_app_requests_total" not in body  # not reachable through the frontend
    assert "x-cache-status" not in headers
    for path in ("/healthz", "/docs"):
        assert "x-cache-status" not in http_get(cached.url + path)[1], path


def test_concurrent_misses_reach_the_backend_once(cached: Stack) -> None:
    url = cached.url + "/api/v1/rates?type=fiat&q=dollar"
    before = backend_requests(cached, "/api/v1/rates")
    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(lambda _: http_get(url)[0], range(64)))
    assert statuses == [200] * 64
    assert backend_requests(cached, "/api/v1/rates") - before == 1


def test_default_ttl_is_about_a_second_and_stale_answers_cover_a_dead_backend(
    make_stack: Callable[..., Stack],
) -> None:
    stack = make_stack()  # render.sh's default MICRO_CACHE_TTL
    url = stack.url + "/api/v1/rates"
    assert http_get(url)[1]["x-cache-status"] == "MISS"
    time.sleep(2.5)  # past the default 1 s: the entry has expired, the next request refreshes it
    assert http_get(url)[1]["x-cache-status"] in ("EXPIRED", "STALE", "UPDATING")
    assert stack.backend is not None
    stack.backend.stop()

    def stale_answer() -> tuple[int, dict[str, str], bytes] | None:
        answer = http_get(url)
        return answer if answer[1].get("x-cache-status") == "STALE" else None

    # The request above refreshed the entry in the background, perhaps while the backend drained:
    # once that copy expires (1 s), nginx answers from it because the backend is gone.
    status, _, body = wait_until("nginx's stale copy of a dead backend", stale_answer, timeout_s=10)
    assert status == 200
    assert json.loads(body)["count"] > 0
    # A URL never cached has nothing stale to give: nginx's own 502, never cached either.
    status, headers, _ = http_get(stack.url + "/api/v1/rates/eth")
    assert (status, headers["cache-control"]) == (502, "no-store")


def test_ttl_zero_turns_the_micro_cache_off(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack(nginx_env={"MICRO_CACHE_TTL": "0"})
    url = stack.url + "/api/v1/rates"
    before = backend_requests(stack, "/api/v1/rates")
    for _ in range(3):
        status, headers, _ = http_get(url)
        assert status == 200 and "x-cache-status" not in headers
    assert backend_requests(stack, "/api/v1/rates") - before == 3
    etag = http_get(url)[1]["etag"]
    assert http_get(url, {"If-None-Match": etag})[0] == 304  # the backend's own 304
