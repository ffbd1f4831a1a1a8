"""schemathesis against the running service's /openapi.json: every operation, valid and invalid
inputs, a bounded number of examples. No 5xx; every response conforms to its documented schema;
bad input gets a documented 4xx problem response."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance
from testkit.fake_coingecko import FakeCoinGecko
from testkit.processes import wait_until

from .support import Service, start_service

# (operation, status) pairs the cases above got; pytest runs a module's tests in order.
ANSWERED: set[tuple[str, int]] = set()
EXAMPLES_PER_OPERATION = 40  # x 2 modes x 9 operations: the module stays well under a minute


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    log_path: Path = tmp_path_factory.mktemp("schemathesis") / "service.log"
    with FakeCoinGecko() as fake:
        running = start_service(fake, log_path, REFRESH_INTERVAL="300")
        try:
            wait_until("the first fetch", lambda: running.get("/health/ready").status_code == 200)
            yield running
        finally:
            running.stop()


@pytest.fixture(scope="module")
def api_schema(service: Service) -> Any:
    return schemathesis.openapi.from_url(f"{service.url}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_conforms_to_its_documented_schema(case: Any) -> None:
    # History's windows have rules across parameters that OpenAPI cannot state (`from` before
    # `to`; `range` or `from`/`to`): a schema-valid pair may be a 422, which the checks below
    # still hold to the problem shape.
    excluded = [positive_data_acceptance] if case.path.endswith("/history") else []
    response = case.call_and_validate(excluded_checks=excluded)
    ANSWERED.add((case.operation.label, response.status_code))
    if 400 <= response.status_code < 500:
        headers = {name.lower(): values[0] for name, values in response.headers.items()}
        assert headers["content-type"].startswith("application/problem+json")
        assert headers["cache-control"] == "no-store"
        problem = response.json()
        assert problem["status"] == response.status_code
        assert problem["title"] and problem["detail"], "a problem must say what was wrong"


def test_the_parameter_examples_reach_each_success_path() -> None:
    """Without examples on `from`/`to`, random codes only ever reach convert's 404."""
    assert ANSWERED, "run this module whole: it checks what the cases above were answered"
    for operation in ("GET /api/v1/convert", "GET /api/v1/rates/{code}", "GET /api/v1/rates"):
        assert (operation, 200) in ANSWERED, sorted(ANSWERED)
