"""Typed settings read from the environment; an invalid value stops start-up with one clear line."""

from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from crypto_rates.database_url import DatabaseUrl, parse_database_url, sqlite_file, sqlite_memory

PUBLIC_BASE_URL = "https://api.coingecko.com/api/v3"
PRO_BASE_URL = "https://pro-api.coingecko.com/api/v3"
MIN_REFRESH_INTERVAL = 60.0
KEY_HEADERS = {"demo": "x-cg-demo-api-key", "pro": "x-cg-pro-api-key"}
PLAN_HOSTS = {"demo": "api.coingecko.com", "pro": "pro-api.coingecko.com"}

# The plans' monthly call allowances (every call counts, failed ones too); pro: set it yourself.
PLAN_MONTHLY_CALLS: dict[str, int | None] = {"public": None, "demo": 10_000, "pro": None}
# History backfill calls per minute by plan, below each plan's documented rate limit (public:
# 5-15, Demo: 30, Pro: 500 per minute) so the live refresh always has room.
PLAN_BACKFILL_CALLS_PER_MINUTE: dict[str, int] = {"public": 3, "demo": 20, "pro": 250}
DEFAULT_DATABASE_FILE = "crypto-rates.db"  # next to SNAPSHOT_PATH when DATABASE_URL is unset

ApiPlan = Literal["public", "demo", "pro"]
LogLevel = Literal["critical", "error", "warning", "info", "debug"]


class SettingsError(Exception):
    """A configuration value is invalid; the message names the variable and what is valid."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    coingecko_base_url: str | None = None  # None: derived from the plan
    coingecko_api_plan: ApiPlan = "public"
    coingecko_api_key: SecretStr | None = None
    # The key in a file instead (a mounted Secret, which the kubelet updates in place): re-read
    # when CoinGecko answers 401/403, so a rotated key takes effect without a restart.
    coingecko_api_key_file: Path | None = None
    refresh_interval: float = Field(
        300.0, gt=0, validation_alias=AliasChoices("REFRESH_INTERVAL", "CACHE_DURATION")
    )
    api_timeout: float = Field(10.0, gt=0, le=120)
    stale_after: float | None = Field(None, gt=0)  # None: twice the refresh interval
    snapshot_path: Path | None = Path(".data/snapshot.json")
    database_url: SecretStr | None = None  # None: SQLite next to SNAPSHOT_PATH
    coingecko_monthly_calls: int | None = Field(None, ge=1)  # None: the plan's allowance
    sample_fallback: bool = True
    backfill: bool = True  # fill the history from market_chart on first start
    backfill_calls_per_minute: int | None = Field(None, ge=1, le=1000)  # None: by plan
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    log_level: LogLevel = "info"
    log_format: Literal["json", "text"] = "json"
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Test-only escape hatch: lets resilience tests poll every second. Never set in deployments.
    allow_fast_refresh: bool = Field(False, validation_alias="CRYPTO_RATES_ALLOW_FAST_REFRESH")
    # Test-only escape hatch: lets the backend talk to the fake CoinGecko on http://127.0.0.1 (and
    # send it a test key). Never set in deployments: without it the base URL must be https:// and
    # a key goes to its plan's host only.
    allow_test_upstream: bool = Field(False, validation_alias="CRYPTO_RATES_ALLOW_TEST_UPSTREAM")

    # An empty variable means unset (and an empty SNAPSHOT_PATH disables persistence).
    @field_validator(
        "coingecko_base_url",
        "coingecko_api_key",
        "coingecko_api_key_file",
        "snapshot_path",
        "database_url",
        "coingecko_monthly_calls",
        "backfill_calls_per_minute",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("log_level", "log_format", "coingecko_api_plan", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("coingecko_base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"must be an http(s) URL such as {PUBLIC_BASE_URL}")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parse_database_url(value.get_secret_value())  # raises naming what is wrong
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "Settings":
        if self.refresh_interval < MIN_REFRESH_INTERVAL and not self.allow_fast_refresh:
            raise ValueError(
                f"REFRESH_INTERVAL must be at least {MIN_REFRESH_INTERVAL:g} seconds "
                f"(got {self.refresh_interval:g})"
            )
        if self.coingecko_api_key is not None and self.coingecko_api_key_file is not None:
            raise ValueError("set COINGECKO_API_KEY or COINGECKO_API_KEY_FILE, not both")
        if self.coingecko_api_key_file is not None:
            try:
                self.current_api_key()
            except OSError as exc:
                raise ValueError(f"COINGECKO_API_KEY_FILE cannot be read: {exc.strerror}") from None
        key = self.coingecko_api_key or self.coingecko_api_key_file
        if self.coingecko_api_plan == "public" and key is not None:
            raise ValueError(
                "COINGECKO_API_KEY is set but COINGECKO_API_PLAN is public; "
                "set COINGECKO_API_PLAN to demo or pro (the key is never sent without a plan)"
            )
        if self.coingecko_api_plan != "public" and key is None:
            raise ValueError(
                f"COINGECKO_API_PLAN={self.coingecko_api_plan} needs COINGECKO_API_KEY "
                "(or COINGECKO_API_KEY_FILE) to be set"
            )
        if self.allow_test_upstream:
            return self
        url = urlsplit(self.base_url)
        if url.scheme != "https":
            raise ValueError(
                f"COINGECKO_BASE_URL must be an https:// URL (got {url.scheme}://{url.hostname}): "
                "answers and any key would travel unprotected; "
                "CRYPTO_RATES_ALLOW_TEST_UPSTREAM=1 allows http:// for tests only"
            )
        plan_host = PLAN_HOSTS.get(self.coingecko_api_plan)
        if plan_host is not None and url.hostname != plan_host:
            raise ValueError(
                f"COINGECKO_BASE_URL points at {url.hostname}, but a {self.coingecko_api_plan} "
                f"key is only ever sent to {plan_host}; leave it unset to use the plan's host"
            )
        return self

    @property
    def base_url(self) -> str:
        if self.coingecko_base_url is not None:
            return self.coingecko_base_url
        return PRO_BASE_URL if self.coingecko_api_plan == "pro" else PUBLIC_BASE_URL

    def current_api_key(self) -> str | None:
        """The key as of now: COINGECKO_API_KEY, or COINGECKO_API_KEY_FILE's content (read on
        each call; OSError when it cannot be read)."""
        if self.coingecko_api_key_file is not None:
            return self.coingecko_api_key_file.read_text(encoding="utf-8").strip() or None
        return self.coingecko_api_key.get_secret_value() if self.coingecko_api_key else None

    @property
    def auth_headers(self) -> dict[str, str]:
        key = self.current_api_key()
        if key is None or self.coingecko_api_plan == "public":
            return {}
        return {KEY_HEADERS[self.coingecko_api_plan]: key}

    @property
    def database(self) -> DatabaseUrl:
        """DATABASE_URL, else a SQLite file next to SNAPSHOT_PATH (in memory without one)."""
        if self.database_url is not None:
            return parse_database_url(self.database_url.get_secret_value())
        if self.snapshot_path is None:
            return sqlite_memory()
        return sqlite_file(self.snapshot_path.parent / DEFAULT_DATABASE_FILE)

    @property
    def monthly_call_allowance(self) -> int | None:
        if self.coingecko_monthly_calls is not None:
            return self.coingecko_monthly_calls
        return PLAN_MONTHLY_CALLS[self.coingecko_api_plan]

    @property
    def backfill_rate(self) -> int:
        """Backfill calls per minute: BACKFILL_CALLS_PER_MINUTE, else the plan's default."""
        if self.backfill_calls_per_minute is not None:
            return self.backfill_calls_per_minute
        return PLAN_BACKFILL_CALLS_PER_MINUTE[self.coingecko_api_plan]

    @property
    def effective_stale_after(self) -> float:
        return self.stale_after if self.stale_after is not None else 2 * self.refresh_interval


SECRET_VARIABLES = ("DATABASE_URL", "COINGECKO_API_KEY")


def _variable(loc: tuple[int | str, ...]) -> str:
    name = str(loc[0]).upper()
    return "REFRESH_INTERVAL" if name == "CACHE_DURATION" else name


def load_settings(**overrides: Any) -> Settings:
    """Read the environment; raise SettingsError with one line per invalid variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for error in exc.errors(include_url=False):
            message = str(error["msg"]).removeprefix("Value error, ")
            if not error["loc"]:  # cross-field checks name their variables themselves
                lines.append(message)
                continue
            variable = _variable(error["loc"])
            if variable in SECRET_VARIABLES:  # its value may hold a password: never echoed
                lines.append(f"{variable}: {message}")
                continue
            lines.append(f"{variable}: {message} (got {error.get('input')!r})")
        raise SettingsError("; ".join(lines)) from None
