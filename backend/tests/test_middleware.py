"""Request ids, request logs and the last-resort error answer."""

import logging
from collections.abc import Callable

import httpx
import pytest
from crypto_rates.middleware import request_id_of
from fastapi import FastAPI

from .conftest import runtime


async def test_a_request_id_is_generated_when_none_is_sent(client: httpx.AsyncClient) -> None:
    first = (await client.get("/health/live")).headers["x-request-id"]
    second = (await client.get("/api/v1/rates")).headers["x-request-id"]
    assert len(first) == 16 and int(first, 16) >= 0
    assert first != second


@pytest.mark.parametrize("url", ["/health/live", "/api/v1/rates", "/api/rates", "/nope"])
async def test_a_valid_incoming_request_id_is_echoed(client: httpx.AsyncClient, url: str) -> None:
    response = await client.get(url, headers={"X-Request-ID": "abc-123_x.y:z"})
    assert response.headers["x-request-id"] == "abc-123_x.y:z"


@pytest.mark.parametrize("bad", ["has space", "x" * 129, "new\tline", "ünïcode"])
async def test_an_unsafe_incoming_request_id_is_replaced(
    client: httpx.AsyncClient, bad: str
) -> None:
    response = await client.get("/health/live", headers={"X-Request-ID": bad.encode("utf-8")})
    assert response.headers["x-request-id"] != bad
    assert len(response.headers["x-request-id"]) == 16


@pytest.mark.parametrize("bad", [b"abc\n", b"abc\r\n", b"abc\x00", b"x" * 3000])
def test_a_request_id_with_a_trailing_newline_or_too_long_is_replaced(bad: bytes) -> None:
    scope = {"type": "http", "headers": [(b"x-request-id", bad)]}
    assert request_id_of(scope) != bad.decode()


async def test_at_debug_level_the_fast_paths_requests_are_logged_too(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="crypto_rates.access"):
        await client.get("/api/v1/rates", headers={"X-Request-ID": "hot-1"})
    (record,) = [r for r in caplog.records if r.name == "crypto_rates.access"]
    assert (record.path, record.status) == ("/api/v1/rates", 200)  # type: ignore[attr-defined]


async def test_request_logs_are_debug_level_with_the_request_id(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="crypto_rates.access"):
        await client.get("/health/live")
    assert not [r for r in caplog.records if r.name == "crypto_rates.access"]
    with caplog.at_level(logging.DEBUG, logger="crypto_rates.access"):
        await client.get("/api/v1/rates?base=usd", headers={"X-Request-ID": "req-42"})
    (record,) = [r for r in caplog.records if r.name == "crypto_rates.access"]
    assert record.levelno == logging.DEBUG
    assert (record.method, record.path, record.status) == ("GET", "/api/v1/rates", 200)  # type: ignore[attr-defined]


def _secret_failure(*args: object, **kwargs: object) -> None:
    raise RuntimeError("secret internal detail")


def _add_failing_route(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    @app.get("/boom")
    async def boom() -> None:
        _secret_failure()


def _break_the_rate_bodies(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    # The fast path steps aside; the route renders the same way and fails the same way.
    monkeypatch.setattr("crypto_rates.api.responder.list_body", _secret_failure)


@pytest.mark.parametrize(
    ("path", "break_it"),
    [("/boom", _add_failing_route), ("/api/v1/rates", _break_the_rate_bodies)],
)
async def test_an_unexpected_error_is_a_500_problem_without_internals(
    app: FastAPI,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    path: str,
    break_it: Callable[[FastAPI, pytest.MonkeyPatch], None],
) -> None:
    break_it(app, monkeypatch)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        with caplog.at_level(logging.ERROR):
            response = await http.get(path, headers={"X-Request-ID": "trace-me"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-request-id"] == "trace-me"
    assert "secret internal detail" not in response.text and "Traceback" not in response.text
    assert response.json()["detail"] == "internal error; it has been logged"
    assert "secret internal detail" in caplog.text  # but the operator sees it
    labels = {"method": "GET", "handler": path, "status": "5xx"}
    assert runtime(app).metrics.registry.get_sample_value("crypto_app_requests_total", labels) == 1


async def test_wrong_method_is_a_405_problem(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/rates")
    assert response.status_code == 405
    assert response.headers["content-type"] == "application/problem+json"
    assert "answers GET and HEAD" in response.json()["detail"]
    assert response.headers["allow"] == "GET, HEAD"
    assert (await client.head("/api/v1/rates")).status_code == 200  # what Allow promises


async def test_unknown_paths_are_404_problems(client: httpx.AsyncClient) -> None:
    response = await client.get("/nonexistent")
    assert response.status_code == 404
    assert response.json() == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "no resource at /nonexistent; see /docs for the API",
    }


async def test_cors_headers_follow_cors_origins(make_settings: object) -> None:
    from crypto_rates.main import create_app
    from crypto_rates.persistence import load_sample

    app = create_app(make_settings(cors_origins=["http://ui.example"]))  # type: ignore[operator]
    runtime(app).store.replace(load_sample())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        allowed = await http.get("/api/v1/rates", headers={"Origin": "http://ui.example"})
        other = await http.get("/api/v1/rates", headers={"Origin": "http://evil.example"})
    assert allowed.headers["access-control-allow-origin"] == "http://ui.example"
    assert "etag" in allowed.headers["access-control-expose-headers"].lower()
    assert "access-control-allow-origin" not in other.headers


@pytest.mark.parametrize(
    "path", ["/health", "/health/live", "/api/rates", "/api/v1/rates", "/api/v1/rates?base=usd"]
)
async def test_head_answers_like_get_without_a_body(client: httpx.AsyncClient, path: str) -> None:
    get = await client.get(path)
    head = await client.head(path)
    assert head.status_code == get.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]
    assert int(head.headers["content-length"]) > 0  # the length GET's body has (it carries uptime)


async def test_head_on_an_unknown_path_is_a_404(client: httpx.AsyncClient) -> None:
    response = await client.head("/nonexistent")
    assert response.status_code == 404 and response.content == b""
