"""compose.yaml as `make up` runs it, scaled to three backends on its PostgreSQL: one upstream
call per refresh interval (the fake CoinGecko's counter), not three, and one snapshot served by
every replica.

Depends on issue 26's backend (DATABASE_URL, one poller per deployment through PostgreSQL): with a
backend that polls for itself, the call count is three per interval and the first test fails.

The images are provision.sh's (:test tags; Debian's PostgreSQL in place of the official image),
and the fake CoinGecko joins the project through an override file. Debian's docker-compose (1.29)
predates the compose file's top-level `name`, so the test names the project itself and drops that
one key. The project network is a bridge of its own (the engine has no default bridge and no
iptables): the test reaches each container at its address there.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from testkit.docker import Docker
from testkit.processes import free_port, http_get, wait_until

ROOT = Path(__file__).resolve().parents[3]
PROJECT = "crypto-rates-test-compose"
REFRESH_INTERVAL = 60  # the backend's minimum
REPLICAS = 3
OVERRIDE = {
    "services": {
        "fake-coingecko": {
            "image": "crypto-rates-fake-coingecko:test",
            "read_only": True,
            "cap_drop": ["ALL"],
            "command": ["--host", "0.0.0.0", "--port", "9900"],
        },
        # The fake CoinGecko speaks http://, which the backend refuses without this (issue 27).
        "backend": {
            "depends_on": ["fake-coingecko"],
            "environment": {"CRYPTO_RATES_ALLOW_TEST_UPSTREAM": "1"},
        },
    }
}


@dataclass
class Scaled:
    fake_url: str
    backend_urls: list[str]
    frontend_url: str

    def calls(self) -> int:
        calls: int = json.loads(http_get(self.fake_url + "/_control/calls")[2])["calls"]
        return calls


def address(docker: Docker, container: str) -> str:
    return docker.inspect(container, "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}")


@pytest.fixture(scope="module")
def scaled(docker: Docker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scaled]:
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.fail("docker-compose is missing: scripts/deps.sh test-images installs it")
    work = tmp_path_factory.mktemp("compose")
    spec = yaml.safe_load((ROOT / "compose.yaml").read_text())
    spec.pop("name")
    (work / "compose.yaml").write_text(yaml.safe_dump(spec))
    (work / "override.yaml").write_text(yaml.safe_dump(OVERRIDE))
    env = {
        **os.environ,
        "DOCKER_HOST": docker.host,
        "IMAGE_TAG": "test",
        "POSTGRES_IMAGE": "crypto-rates-postgres:test",
        "POSTGRES_PASSWORD": secrets.token_hex(16),
        "COINGECKO_BASE_URL": "http://fake-coingecko:9900/api/v3",
        "REFRESH_INTERVAL": str(REFRESH_INTERVAL),
        "UI_PORT": str(free_port()),
    }
    base = [binary, "--project-name", PROJECT, "--project-directory", str(ROOT)]
    base += ["--file", str(work / "compose.yaml"), "--file", str(work / "override.yaml")]

    def compose(*args: str) -> str:
        result = subprocess.run(
            [*base, *args], env=env, capture_output=True, text=True, timeout=300, check=False
        )
        assert result.returncode == 0, f"docker-compose {' '.join(args)}:\n{result.stderr}"
        return result.stdout

    compose("down", "--volumes", "--timeout", "10")  # left by a killed run
    try:
        compose("up", "--detach", "--no-build", "--scale", f"backend={REPLICAS}")
        backends = compose("ps", "--quiet", "backend").split()
        assert len(backends) == REPLICAS
        for container in [*backends, *compose("ps", "--quiet", "frontend").split()]:
            docker.wait_healthy(container, 120)
        [fake] = compose("ps", "--quiet", "fake-coingecko").split()
        [frontend] = compose("ps", "--quiet", "frontend").split()
        yield Scaled(
            f"http://{address(docker, fake)}:9900",
            [f"http://{address(docker, b)}:8000" for b in backends],
            f"http://{address(docker, frontend)}:8080",
        )
    finally:
        subprocess.run([*base, "logs", "--tail", "30"], env=env, check=False)
        compose("down", "--volumes", "--timeout", "10")


def test_three_backends_make_one_upstream_call_per_interval(
    scaled: Scaled, capsys: pytest.CaptureFixture[str]
) -> None:
    def all_ready() -> bool:
        return all(http_get(url + "/health/ready")[0] == 200 for url in scaled.backend_urls)

    wait_until("every backend ready", all_ready, 60)
    # From just after a refresh, two whole intervals: one call each with one poller, six with three.
    first = scaled.calls()
    wait_until("the next refresh", lambda: scaled.calls() > first, REFRESH_INTERVAL + 30, 0.5)
    start = scaled.calls()
    time.sleep(2 * REFRESH_INTERVAL + 10)
    calls = scaled.calls() - start
    with capsys.disabled():  # the measurement, in the output of a passing run too
        print(
            f"\nupstream calls with {REPLICAS} backends: {calls} in 2 refresh intervals"
            f" ({calls / 2:g} per interval)"
        )
    assert calls == 2


def test_every_replica_serves_the_same_snapshot(scaled: Scaled) -> None:
    def etags() -> set[str]:
        return {http_get(url + "/api/v1/rates")[1].get("etag", "") for url in scaled.backend_urls}

    same = wait_until("one ETag from every backend", lambda: len(etags()) == 1 and etags(), 5)
    print(f"ETag served by all {REPLICAS} backends: {same}")


def test_the_frontend_serves_the_rates_from_the_scaled_backends(scaled: Scaled) -> None:
    status, _, body = http_get(scaled.frontend_url + "/api/v1/rates")
    assert status == 200
    assert json.loads(body)["count"] > 0
