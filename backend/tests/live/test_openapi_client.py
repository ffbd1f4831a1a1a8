"""The OpenAPI contract as a new user meets it: a Python client generated with
openapi-python-client from the running service's /openapi.json, every operation called through
it (errors included), every answer parsed into its typed model."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from testkit.fake_coingecko import FakeCoinGecko
from testkit.processes import wait_until

from .support import Service, start_service

PACKAGE = "crypto_rates_client"


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Service, Service]]:
    """One service with CoinGecko data; one whose upstream has never answered (no data yet)."""
    logs = tmp_path_factory.mktemp("contract")
    with FakeCoinGecko() as up, FakeCoinGecko() as down:
        down.set_mode("500")
        live = start_service(up, logs / "live.log", REFRESH_INTERVAL="300")
        empty = start_service(down, logs / "empty.log", REFRESH_INTERVAL="300")
        try:
            wait_until("the first fetch", lambda: live.get("/health/ready").status_code == 200)
            yield live, empty
        finally:
            live.stop()
            empty.stop()


@pytest.fixture(scope="module")
def generated(
    services: tuple[Service, Service], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ModuleType]:
    """The client package generated from the live document, imported."""
    live, _ = services
    workdir = tmp_path_factory.mktemp("generated")
    document = workdir / "openapi.json"
    document.write_bytes(httpx.get(f"{live.url}/openapi.json", timeout=10).content)
    tools = Path(sys.executable).parent  # the generator and the ruff it formats with
    result = subprocess.run(
        [
            str(tools / "openapi-python-client"),
            "generate",
            "--path",
            str(document),
            "--meta",
            "none",
            "--output-path",
            str(workdir / PACKAGE),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PATH": f"{tools}{os.pathsep}{os.environ.get('PATH', '')}"},
        check=False,
    )
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 0, output
    # Anything beyond the one progress line is a warning: a response or model left out.
    assert output == f"Generating {workdir / PACKAGE}", output
    sys.path.insert(0, str(workdir))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(workdir))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def call(generated: ModuleType, service: Service, operation: str, **kwargs: Any) -> Any:
    """`operation` ("rates.convert") through the generated client; returns the Response."""
    module = importlib.import_module(f"{PACKAGE}.api.{operation}")
    client = generated.Client(base_url=service.url, raise_on_unexpected_status=True, timeout=10)
    with client:
        return module.sync_detailed(client=client, **kwargs)


def models(generated: ModuleType) -> ModuleType:
    return importlib.import_module(f"{PACKAGE}.models")


@pytest.mark.parametrize(
    ("operation", "kwargs", "model"),
    [
        ("meta.index", {}, "Index"),
        ("rates.rates_legacy", {}, "LegacyRates"),
        ("rates.rates_list", {"base": "usd"}, "RatesList"),
        ("rates.rates_get", {"code": "eth", "base": "usd"}, "RateDetail"),
        ("rates.rates_history", {"code": "eth"}, "History"),
        ("rates.rates_history", {"code": "eth", "range_": "1y", "base": "usd"}, "History"),
        ("rates.rates_history", {"code": "eth", "from_": "2026-01-01"}, "History"),
        ("rates.convert", {"from_": "eth", "to": "usd", "amount": 2.5}, "Conversion"),
        ("rates.convert", {"from_": "sats", "to": "xau", "amount": 5e-324}, "Conversion"),
        ("health.health", {}, "Health"),
        ("health.health_live", {}, "Probe"),
        ("health.health_ready", {}, "Probe"),
    ],
)
def test_every_operation_parses_into_its_typed_model(
    generated: ModuleType,
    services: tuple[Service, Service],
    operation: str,
    kwargs: dict[str, Any],
    model: str,
) -> None:
    response = call(generated, services[0], operation, **kwargs)
    assert response.status_code == 200
    assert type(response.parsed) is getattr(models(generated), model), response.parsed


def test_shared_enums_are_one_class_each(
    generated: ModuleType, services: tuple[Service, Service]
) -> None:
    m = models(generated)
    listing = call(generated, services[0], "rates.rates_list", type_=[m.RateType.FIAT]).parsed
    assert listing.source is m.Source.COINGECKO
    assert {row.type_ for row in listing.rates} == {m.RateType.FIAT}
    legacy = call(generated, services[0], "rates.rates_legacy").parsed
    assert legacy.data_source is m.Source.COINGECKO
    assert legacy.rates["eth"].type_ is m.RateType.CRYPTO


@pytest.mark.parametrize(
    ("which", "operation", "kwargs", "status"),
    [
        ("live", "rates.rates_get", {"code": "xyz"}, 404),
        ("live", "rates.rates_list", {"base": "nope"}, 404),
        ("live", "rates.rates_history", {"code": "eth", "base": "x" * 17}, 422),
        (
            "live",
            "rates.rates_history",
            {"code": "eth", "from_": "2026-02-01", "to": "2026-01-01"},
            422,
        ),
        ("live", "rates.convert", {"from_": "eth", "to": "usd", "amount": 1e16}, 422),
        ("empty", "rates.rates_legacy", {}, 503),
        ("empty", "rates.rates_list", {}, 503),
        ("empty", "rates.rates_get", {"code": "eth"}, 503),
        ("empty", "rates.rates_history", {"code": "eth"}, 503),
        ("empty", "rates.convert", {"from_": "eth", "to": "usd"}, 503),
        ("empty", "health.health_ready", {}, 503),
    ],
)
def test_every_documented_error_parses_into_the_shared_problem(
    generated: ModuleType,
    services: tuple[Service, Service],
    which: str,
    operation: str,
    kwargs: dict[str, Any],
    status: int,
) -> None:
    service = services[0] if which == "live" else services[1]
    response = call(generated, service, operation, **kwargs)
    assert response.status_code == status
    problem = response.parsed
    assert type(problem) is models(generated).Problem, problem
    assert problem.status == status and problem.title and problem.detail


def test_unhealthy_health_parses_into_health(
    generated: ModuleType, services: tuple[Service, Service]
) -> None:
    response = call(generated, services[1], "health.health")
    assert response.status_code == 503
    health = response.parsed
    assert type(health) is models(generated).Health
    assert health.status == models(generated).HealthStatus.UNHEALTHY
