"""Hostile clients against the real service (uvicorn subprocess): forged log lines, request ids."""

from __future__ import annotations

import httpx
from testkit.fake_coingecko import FakeCoinGecko

from .support import Launch

FORGED = "2026-01-01 00:00:00,000 ERROR   crypto_rates.access: forged"


def test_a_newline_in_the_path_forges_no_text_log_line(fake: FakeCoinGecko, launch: Launch) -> None:
    service = launch(fake, LOG_FORMAT="text", LOG_LEVEL="debug")
    path = "/nowhere%0a" + FORGED.replace(" ", "%20")
    response = httpx.get(service.url + path, headers={"X-Request-ID": "forge-1"}, timeout=10)
    assert response.status_code == 404
    service.stop()
    lines = service.log().splitlines()
    assert not [line for line in lines if line.startswith(FORGED)], "a forged line was written"
    (logged,) = [line for line in lines if "request_id=forge-1" in line]
    assert "path=/nowhere\\n2026-01-01" in logged


def test_the_request_id_returned_is_the_one_logged(fake: FakeCoinGecko, launch: Launch) -> None:
    service = launch(fake, LOG_FORMAT="text", LOG_LEVEL="debug")
    response = service.get("/nowhere", headers={"X-Request-ID": "x" * 3000})
    returned = response.headers["x-request-id"]
    assert len(returned) <= 128
    service.stop()
    assert f"request_id={returned}" in service.log()
    assert "x" * 129 not in service.log()
