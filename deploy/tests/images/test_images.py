"""The real images, run the way production runs them: read-only root, no capabilities, non-root,
host network, the fake CoinGecko (its own test image) as the upstream. Run by `make test-images`."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import pytest
from testkit.deploy import REPO, run
from testkit.docker import Docker
from testkit.processes import free_port, http_get, wait_until

FIXTURE = REPO / "backend" / "crypto_rates" / "data" / "sample-exchange-rates.json"
BACKEND = "crypto-rates-backend:test"
FRONTEND = "crypto-rates-frontend:test"
FAKE = "crypto-rates-fake-coingecko:test"
NAME = "crypto-rates-test"  # prefix of the containers and the volume these tests create
# Production settings: read-only root, /tmp in memory, no capabilities, no privilege gain.
HARDENING = (
    "--read-only",
    "--tmpfs",
    "/tmp",
    "--cap-drop",
    "ALL",
    "--security-opt",
    "no-new-privileges",
)
# Names that only test code has: the test kit, its fake upstream, pytest's files.
TEST_CODE = ("testkit", "fake_coingecko*", "conftest.py", "e2e_stack.py")


def revision() -> str:
    return run("git", "rev-parse", "HEAD").stdout.strip()


# ---- what the images are --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "user", "port", "healthcheck"),
    [
        (BACKEND, "10001:10001", 8000, True),
        (FRONTEND, "10002:10002", 8080, True),
        (FAKE, "10003:10003", 9900, False),
    ],
)
def test_image_is_non_root_exposes_its_port_and_carries_the_revision(
    docker: Docker, image: str, user: str, port: int, healthcheck: bool
) -> None:
    config = json.loads(docker.inspect(image, "{{json .Config}}"))
    assert config["User"] == user
    assert list(config["ExposedPorts"]) == [f"{port}/tcp"]
    assert bool(config.get("Healthcheck")) is healthcheck
    assert config["Labels"]["org.opencontainers.image.revision"] == revision()


def test_backend_runtime_has_no_pip(docker: Docker) -> None:
    result = docker.run(
        "run", "--rm", "--entrypoint", "python", BACKEND, "-c", "import pip", check=False
    )
    assert result.returncode != 0 and "No module named 'pip'" in result.stderr


def test_frontend_runtime_has_no_node_or_npm(docker: Docker) -> None:
    result = docker.run(
        "run", "--rm", "--entrypoint", "sh", FRONTEND, "-c", "command -v node npm", check=False
    )
    assert result.returncode != 0 and result.stdout == ""


def test_frontend_refuses_a_bad_listen_port_naming_it(docker: Docker) -> None:
    result = docker.run(
        "run",
        "--rm",
        "--network",
        "host",
        *HARDENING,
        "--env",
        "LISTEN_PORT=eighty",
        FRONTEND,
        check=False,
    )
    assert result.returncode != 0
    assert "LISTEN_PORT" in result.stdout + result.stderr


def scan_for_test_code(docker: Docker, image: str) -> list[str]:
    """Paths in `image` named like test code (the whole filesystem, /proc and /sys aside)."""
    names: list[str] = []
    for pattern in TEST_CODE:
        names += ["-o", "-name", pattern]
    command = ["/", "-xdev", "(", *names[1:], ")", "-print"]
    # As root: the image's user cannot read every directory, and this only reads.
    scan = ("run", "--rm", "--user", "0", "--entrypoint", "find", image, *command)
    return docker.output(*scan).splitlines()


@pytest.mark.parametrize("image", [BACKEND, FRONTEND])
def test_runtime_images_contain_no_test_code(docker: Docker, image: str) -> None:
    assert scan_for_test_code(docker, image) == []


def test_the_test_code_scan_finds_the_fake_upstream_in_its_own_image(docker: Docker) -> None:
    """The scan above can fail: on the one image that is test code, it finds it."""
    found = scan_for_test_code(docker, FAKE)
    assert "/opt/fake-coingecko/testkit" in found
    assert "/opt/fake-coingecko/testkit/fake_coingecko.py" in found


def test_backend_package_ships_only_the_service(docker: Docker) -> None:
    """What the wheel installed: crypto_rates, its metadata and the console script, no tests."""
    listing = "import importlib.metadata as m; print(*m.files('crypto-rates'), sep='\\n')"
    files = docker.output(
        "run", "--rm", "--entrypoint", "python", BACKEND, "-c", listing
    ).splitlines()
    assert "crypto_rates/__main__.py" in files
    shipped = re.compile(r"crypto_rates|crypto_rates-[\w.]+\.dist-info|\.\.")  # .. : bin/
    assert {
        path.split("/")[0] for path in files if not shipped.fullmatch(path.split("/")[0])
    } == set()
    test_like = [p for p in files if re.search(r"(^|/)(tests?|testkit)/|(^|/)test_[^/]*\.py$", p)]
    assert test_like == []


# ---- running them ---------------------------------------------------------------------------


@dataclass
class Stack:
    fake: str
    backend: str
    frontend: str
    fake_url: str
    backend_url: str
    frontend_url: str


@pytest.fixture(scope="module")
def stack(docker: Docker) -> Iterator[Stack]:
    """fake CoinGecko -> backend -> frontend, each a container of its image on free ports."""
    fake_port, backend_port, frontend_port = free_port(), free_port(), free_port()
    volume = f"{NAME}-snapshot"
    docker.run("volume", "rm", "--force", volume, check=False)  # left by a killed run
    docker.run("volume", "create", volume)
    with ExitStack() as running:
        running.callback(docker.run, "volume", "rm", "--force", volume, check=False)
        fake = running.enter_context(
            docker.container(
                f"{NAME}-fake",
                FAKE,
                *HARDENING,
                command=("--host", "127.0.0.1", "--port", str(fake_port)),
            )
        )
        fake_url = f"http://127.0.0.1:{fake_port}"
        wait_until(
            "the fake CoinGecko", lambda: http_get(fake_url + "/_control/calls")[0] == 200, 30
        )
        backend = running.enter_context(
            docker.container(
                f"{NAME}-backend",
                BACKEND,
                *HARDENING,
                # A short health interval so the test does not wait; the check is the image's own.
                "--health-interval",
                "2s",
                "--volume",
                f"{volume}:/var/lib/crypto-rates",
                "--env",
                "HOST=127.0.0.1",
                "--env",
                f"PORT={backend_port}",
                "--env",
                f"COINGECKO_BASE_URL={fake_url}/api/v3",
                "--env",
                "CRYPTO_RATES_ALLOW_TEST_UPSTREAM=1",
            )
        )
        backend_url = f"http://127.0.0.1:{backend_port}"
        frontend = running.enter_context(
            docker.container(
                f"{NAME}-frontend",
                FRONTEND,
                *HARDENING,
                "--health-interval",
                "2s",
                "--env",
                f"LISTEN_PORT={frontend_port}",
                "--env",
                f"BACKEND_URL={backend_url}",
            )
        )
        docker.wait_healthy(backend)
        docker.wait_healthy(frontend)
        yield Stack(
            fake, backend, frontend, fake_url, backend_url, f"http://127.0.0.1:{frontend_port}"
        )


def test_backend_gets_ready_from_the_fake_upstream_container(stack: Stack) -> None:
    wait_until("backend ready", lambda: http_get(stack.backend_url + "/health/ready")[0] == 200, 30)
    calls = json.loads(http_get(stack.fake_url + "/_control/calls")[2])["calls"]
    assert calls >= 1


def test_ui_loads_through_nginx(stack: Stack) -> None:
    status, _, body = http_get(stack.frontend_url + "/")
    assert status == 200
    assets = re.findall(r'/assets/[^"]+\.js', body.decode())
    assert assets, f"not the built app (no /assets/*.js script): {body[:300]!r}"
    assert http_get(stack.frontend_url + assets[0])[0] == 200
    assert http_get(stack.frontend_url + "/healthz")[0] == 200


def test_rates_through_nginx_are_the_fixtures_from_the_upstream(stack: Stack) -> None:
    expected = len(json.loads(FIXTURE.read_text())["rates"])
    wait_until("backend ready", lambda: http_get(stack.backend_url + "/health/ready")[0] == 200, 30)
    status, _, body = http_get(stack.frontend_url + "/api/v1/rates")
    assert status == 200
    answer = json.loads(body)
    assert (answer["count"], len(answer["rates"]), answer["source"]) == (
        expected,
        expected,
        "coingecko",
    )


def test_backend_persists_its_snapshot_despite_the_read_only_root(
    docker: Docker, stack: Stack
) -> None:
    # Without DATABASE_URL the backend keeps its state in SQLite next to SNAPSHOT_PATH (issue 26).
    def persisted() -> bool:
        command = ("exec", stack.backend, "test", "-s", "/var/lib/crypto-rates/crypto-rates.db")
        return docker.run(*command, check=False).returncode == 0

    wait_until("the SQLite database on the volume", persisted, 10)


@pytest.mark.parametrize(
    ("part", "uid"), [("fake", "10003"), ("backend", "10001"), ("frontend", "10002")]
)
def test_every_process_runs_as_the_images_user(
    docker: Docker, stack: Stack, part: str, uid: str
) -> None:
    top = docker.output("top", getattr(stack, part), "-eo", "pid,uid").splitlines()[1:]
    assert {line.split()[1] for line in top} == {uid}


@pytest.mark.parametrize("part", ["frontend", "backend", "fake"])
def test_containers_stop_cleanly_on_their_stop_signal(
    docker: Docker, stack: Stack, part: str
) -> None:
    """Exit 0 within docker stop's 10 s: it handled its stop signal, it was not killed."""
    name = getattr(stack, part)
    docker.run("stop", "--time", "10", name, timeout=30)
    state = docker.inspect(name, "{{.State.ExitCode}} {{.State.OOMKilled}}")
    assert state == "0 false", docker.logs(name)


# ---- the PostgreSQL stand-in (deploy/images/postgres.Dockerfile) ----------------------------

POSTGRES = "crypto-rates-postgres:test"


@dataclass
class Database:
    name: str
    port: int
    password: str

    def url(self, password: str | None = None) -> str:
        secret = self.password if password is None else password
        return f"postgresql://crypto_rates:{secret}@127.0.0.1:{self.port}/crypto_rates"


def psql(docker: Docker, database: Database, sql: str, password: str | None = None) -> str:
    """One statement over TCP with a password, as the backend connects (not the trusted socket)."""
    result = docker.run(
        "exec", database.name, "psql", database.url(password), "-tAc", sql, check=False
    )
    return result.stdout.strip() if result.returncode == 0 else f"ERROR {result.stderr.strip()}"


@pytest.fixture(scope="module")
def database(docker: Docker) -> Iterator[Database]:
    """The image as the chart and compose run it: uid 10004, read-only root, socket dir and /tmp in
    memory, data on a volume below its mount point."""
    volume = f"{NAME}-postgres"
    docker.run("volume", "rm", "--force", volume, check=False)
    docker.run("volume", "create", volume)
    port, password = free_port(), "pw-" + revision()[:12]
    with ExitStack() as running:
        running.callback(docker.run, "volume", "rm", "--force", volume, check=False)
        name = running.enter_context(
            docker.container(
                f"{NAME}-postgres",
                POSTGRES,
                *HARDENING,
                "--tmpfs",
                "/run/postgresql:mode=1777",
                "--volume",
                f"{volume}:/var/lib/postgresql/data",
                "--env",
                f"PGPORT={port}",
                "--env",
                "PGDATA=/var/lib/postgresql/data/pgdata",
                "--env",
                "POSTGRES_USER=crypto_rates",
                "--env",
                "POSTGRES_DB=crypto_rates",
                "--env",
                f"POSTGRES_PASSWORD={password}",
            )
        )
        database = Database(name, port, password)
        ready = ("exec", name, "pg_isready", "--host=127.0.0.1", f"--port={port}")
        wait_until("PostgreSQL ready", lambda: docker.run(*ready, check=False).returncode == 0, 60)
        yield database


def test_postgres_image_creates_the_user_and_database_it_is_given(
    docker: Docker, database: Database
) -> None:
    assert psql(docker, database, "select current_user, current_database()") == (
        "crypto_rates|crypto_rates"
    )
    assert psql(docker, database, "select 1", password="wrong").startswith("ERROR")
    assert "password authentication failed" in psql(docker, database, "select 1", "wrong")


def test_postgres_image_runs_as_10004_on_a_read_only_root(
    docker: Docker, database: Database
) -> None:
    top = docker.output("top", database.name, "-eo", "pid,uid").splitlines()[1:]
    assert {line.split()[1] for line in top} == {"10004"}
    assert docker.inspect(database.name, "{{.HostConfig.ReadonlyRootfs}}") == "true"


def test_postgres_image_keeps_its_data_across_a_restart_and_stops_fast(
    docker: Docker, database: Database
) -> None:
    # psql 15 prints every statement's status of a -c string, not only the last one's.
    assert psql(docker, database, "create table kept (v int); insert into kept values (7)") == (
        "CREATE TABLE\nINSERT 0 1"
    )
    # The image's stop signal (SIGINT) is PostgreSQL's fast shutdown: exit 0 within the 10 s.
    docker.run("stop", "--time", "10", database.name, timeout=30)
    assert docker.inspect(database.name, "{{.State.ExitCode}}") == "0", docker.logs(database.name)
    docker.run("start", database.name)
    ready = ("exec", database.name, "pg_isready", "--host=127.0.0.1", f"--port={database.port}")
    wait_until("PostgreSQL back", lambda: docker.run(*ready, check=False).returncode == 0, 60)
    assert psql(docker, database, "select v from kept") == "7"


def test_postgres_image_refuses_a_first_start_without_a_password(docker: Docker) -> None:
    result = docker.run(
        "run",
        "--rm",
        "--network",
        "host",
        *HARDENING,
        "--env",
        "POSTGRES_PASSWORD=",
        POSTGRES,
        check=False,
    )
    assert result.returncode == 1
    assert "POSTGRES_PASSWORD is empty" in result.stderr
