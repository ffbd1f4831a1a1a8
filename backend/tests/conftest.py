"""Shared fixtures for the backend tests: the recorded CoinGecko payload, settings and apps."""

import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from crypto_rates.config import Settings
from crypto_rates.main import create_app
from crypto_rates.persistence import load_sample
from crypto_rates.runtime import Runtime
from fastapi import FastAPI
from pydantic import AliasChoices
from testkit.postgres import PostgresServer
from testkit.postgres import available as postgres_available

FIXTURE = (
    Path(__file__).resolve().parents[2] / "backend/crypto_rates/data/sample-exchange-rates.json"
)
UPSTREAM = "http://upstream.test/api/v3"
RATES_URL = f"{UPSTREAM}/exchange_rates"


@pytest.fixture
def fixture_body() -> bytes:
    """The real recorded CoinGecko /exchange_rates response (61 units)."""
    return FIXTURE.read_bytes()


@pytest.fixture
def fixture_payload(fixture_body: bytes) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(fixture_body)
    return payload


def settings_variables() -> set[str]:
    """Every environment variable Settings reads: each field's name and its aliases."""
    names = set()
    for name, field in Settings.model_fields.items():
        names.add(name)
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names.update(str(choice) for choice in alias.choices)
        elif isinstance(alias, str):
            names.add(alias)
    return {name.upper() for name in names}


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come from the environment: a developer's variables must not leak into tests."""
    for name in settings_variables():
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings pointed at a fake upstream host, persisting under tmp_path, no sample fallback."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "coingecko_base_url": UPSTREAM,
            "snapshot_path": tmp_path / "snapshot.json",
            "sample_fallback": False,
            "backfill": False,  # test_backfill.py turns it on
            "allow_test_upstream": True,  # the fake upstream speaks plain http
            **overrides,
        }
        return Settings(**values)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    """An app serving the sample data, without lifespan (no poller): routes read the store."""
    application = create_app(settings)
    runtime(application).store.replace(load_sample())
    return application


def runtime(application: FastAPI) -> Runtime:
    value: Runtime = application.state.runtime
    return value


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
def no_network() -> Iterator[None]:
    """Fail loudly if anything tries to reach a real host."""
    import respx

    with respx.mock(assert_all_called=False) as mock:
        mock.route().mock(side_effect=AssertionError("unexpected network call"))
        yield


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the session (each test makes its own database in it)."""
    if not postgres_available():
        pytest.fail("PostgreSQL is not installed: run scripts/deps.sh test-backend (as root)")
    with PostgresServer() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test against each engine: a SQLite file, then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/state.db"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.create_database(f"t_{uuid.uuid4().hex[:12]}")
