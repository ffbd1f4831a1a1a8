from pathlib import Path

import pytest
from crypto_rates.config import (
    PRO_BASE_URL,
    PUBLIC_BASE_URL,
    Settings,
    SettingsError,
    load_settings,
)


def test_defaults_match_the_documented_contract() -> None:
    settings = load_settings()
    assert settings.base_url == PUBLIC_BASE_URL
    assert settings.coingecko_api_plan == "public"
    assert settings.refresh_interval == 300
    assert settings.api_timeout == 10
    assert settings.effective_stale_after == 2 * settings.refresh_interval
    assert settings.snapshot_path == Path(".data/snapshot.json")
    assert settings.sample_fallback is True
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert (settings.log_level, settings.log_format) == ("info", "json")
    assert settings.cors_origins == []
    assert settings.auth_headers == {}


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REFRESH_INTERVAL", "120")
    monkeypatch.setenv("API_TIMEOUT", "3.5")
    monkeypatch.setenv("STALE_AFTER", "900")
    monkeypatch.setenv("SNAPSHOT_PATH", "/tmp/x/snap.json")
    monkeypatch.setenv("SAMPLE_FALLBACK", "false")
    monkeypatch.setenv("PORT", "9000")
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("LOG_FORMAT", "text")
    monkeypatch.setenv("CORS_ORIGINS", "http://a.example, http://b.example")
    settings = load_settings()
    assert settings.refresh_interval == 120
    assert settings.api_timeout == 3.5
    assert settings.effective_stale_after == 900
    assert settings.snapshot_path == Path("/tmp/x/snap.json")
    assert settings.sample_fallback is False
    assert settings.port == 9000
    assert (settings.log_level, settings.log_format) == ("debug", "text")
    assert settings.cors_origins == ["http://a.example", "http://b.example"]


def test_old_cache_duration_name_sets_the_refresh_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CACHE_DURATION", "240")
    assert load_settings().refresh_interval == 240


def test_empty_snapshot_path_disables_persistence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SNAPSHOT_PATH", "")
    assert load_settings().snapshot_path is None


def test_refresh_interval_below_a_minute_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REFRESH_INTERVAL", "5")
    with pytest.raises(
        SettingsError, match=r"REFRESH_INTERVAL must be at least 60 seconds \(got 5\)"
    ):
        load_settings()


def test_fast_refresh_is_allowed_only_with_the_test_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REFRESH_INTERVAL", "1")
    monkeypatch.setenv("CRYPTO_RATES_ALLOW_FAST_REFRESH", "1")
    assert load_settings().refresh_interval == 1


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PORT", "http", "PORT: Input should be a valid integer"),
        ("PORT", "70000", "PORT: Input should be less than or equal to 65535"),
        ("API_TIMEOUT", "0", "API_TIMEOUT: Input should be greater than 0"),
        ("LOG_LEVEL", "loud", "LOG_LEVEL: Input should be 'critical', 'error'"),
        ("LOG_FORMAT", "xml", "LOG_FORMAT: Input should be 'json' or 'text'"),
        ("COINGECKO_API_PLAN", "gold", "COINGECKO_API_PLAN: Input should be 'public', 'demo'"),
        ("COINGECKO_BASE_URL", "ftp://x", "COINGECKO_BASE_URL: Value error, must be an http(s)"),
        ("SAMPLE_FALLBACK", "maybe", "SAMPLE_FALLBACK: Input should be a valid boolean"),
    ],
)
def test_invalid_values_name_the_variable_in_one_line(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    text = str(caught.value).replace("Value error, ", "")
    assert message.replace("Value error, ", "") in text
    assert "\n" not in text and "Traceback" not in text


@pytest.mark.parametrize(
    ("plan", "host"), [("pro", PRO_BASE_URL), ("demo", PUBLIC_BASE_URL)], ids=["pro", "demo"]
)
def test_a_paid_plan_uses_its_host_and_key_header(
    monkeypatch: pytest.MonkeyPatch, plan: str, host: str
) -> None:
    monkeypatch.setenv("COINGECKO_API_PLAN", plan)
    monkeypatch.setenv("COINGECKO_API_KEY", f"{plan}-key")
    settings = load_settings()
    assert settings.base_url == host
    assert settings.auth_headers == {f"x-cg-{plan}-api-key": f"{plan}-key"}


@pytest.mark.parametrize(("plan", "url"), [("pro", PUBLIC_BASE_URL), ("demo", PRO_BASE_URL)])
def test_a_key_is_never_sent_to_the_other_plans_host(
    monkeypatch: pytest.MonkeyPatch, plan: str, url: str
) -> None:
    monkeypatch.setenv("COINGECKO_API_PLAN", plan)
    monkeypatch.setenv("COINGECKO_API_KEY", "k")
    monkeypatch.setenv("COINGECKO_BASE_URL", url)
    with pytest.raises(SettingsError, match="key is only ever sent to"):
        load_settings()


@pytest.mark.parametrize(
    ("plan", "url", "message"),
    [
        ("public", "http://mirror.example/api/v3", "must be an https:// URL"),
        ("demo", "http://api.coingecko.com/api/v3", "must be an https:// URL"),
        ("demo", "https://mirror.example/api/v3", "only ever sent to api.coingecko.com"),
        ("pro", "https://pro-api.coingecko.com.evil.example/v3", "only ever sent to pro-api"),
    ],
)
def test_the_key_and_the_data_travel_over_https_to_the_plans_host_only(
    monkeypatch: pytest.MonkeyPatch, plan: str, url: str, message: str
) -> None:
    monkeypatch.setenv("COINGECKO_API_PLAN", plan)
    if plan != "public":
        monkeypatch.setenv("COINGECKO_API_KEY", "k")
    monkeypatch.setenv("COINGECKO_BASE_URL", url)
    with pytest.raises(SettingsError, match=message):
        load_settings()


def test_an_https_mirror_is_allowed_without_a_key() -> None:
    settings = Settings(coingecko_base_url="https://mirror.example/api/v3/")
    assert settings.base_url == "https://mirror.example/api/v3"


def test_the_test_switch_allows_the_fake_upstream_on_plain_http(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COINGECKO_API_PLAN", "demo")
    monkeypatch.setenv("COINGECKO_API_KEY", "k")
    monkeypatch.setenv("COINGECKO_BASE_URL", "http://127.0.0.1:9900/api/v3")
    monkeypatch.setenv("CRYPTO_RATES_ALLOW_TEST_UPSTREAM", "1")
    assert load_settings().base_url == "http://127.0.0.1:9900/api/v3"


def test_a_key_without_a_paid_plan_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COINGECKO_API_KEY", "k")
    with pytest.raises(SettingsError, match="COINGECKO_API_PLAN is public"):
        load_settings()


def test_a_paid_plan_without_a_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COINGECKO_API_PLAN", "demo")
    with pytest.raises(SettingsError, match="needs COINGECKO_API_KEY"):
        load_settings()


def test_the_key_never_appears_in_the_settings_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COINGECKO_API_PLAN", "demo")
    monkeypatch.setenv("COINGECKO_API_KEY", "super-secret-key")
    settings = load_settings()
    assert "super-secret-key" not in repr(settings)
    assert "super-secret-key" not in str(settings.model_dump())


def test_an_explicit_base_url_overrides_the_plan_default() -> None:
    settings = Settings(coingecko_base_url="https://127.0.0.1:9900/api/v3/")
    assert settings.base_url == "https://127.0.0.1:9900/api/v3"


def test_the_key_can_come_from_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    key_file = tmp_path / "api-key"
    key_file.write_text("file-key\n")
    monkeypatch.setenv("COINGECKO_API_PLAN", "pro")
    monkeypatch.setenv("COINGECKO_API_KEY_FILE", str(key_file))
    assert load_settings().auth_headers == {"x-cg-pro-api-key": "file-key"}
    monkeypatch.setenv("COINGECKO_API_KEY", "k")
    with pytest.raises(SettingsError, match="not both"):
        load_settings()
    monkeypatch.delenv("COINGECKO_API_KEY")
    monkeypatch.setenv("COINGECKO_API_KEY_FILE", str(tmp_path / "missing"))
    with pytest.raises(SettingsError, match="COINGECKO_API_KEY_FILE cannot be read"):
        load_settings()
