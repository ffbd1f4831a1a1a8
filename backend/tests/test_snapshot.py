from datetime import UTC, datetime

import pytest
from crypto_rates.coingecko_payload import parse_exchange_rates
from crypto_rates.snapshot import build_snapshot

AT = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def test_the_snapshot_keeps_its_time_in_both_forms(fixture_body: bytes) -> None:
    snapshot = build_snapshot(parse_exchange_rates(fixture_body), AT, "coingecko")
    assert snapshot.fetched_ts == AT.timestamp()
    assert snapshot.fetched_at_iso == "2026-11-26T10:00:00Z"


@pytest.mark.parametrize(
    ("age", "stale", "status"),
    [
        (0, False, "fresh"),
        (299.9, False, "fresh"),
        (300, False, "cached"),
        (600, False, "cached"),
        (600.5, True, "stale"),
        (-5, False, "fresh"),
    ],
)
def test_live_data_goes_fresh_cached_stale_with_age(
    fixture_body: bytes, age: float, stale: bool, status: str
) -> None:
    snapshot = build_snapshot(parse_exchange_rates(fixture_body), AT, "coingecko")
    fresh = snapshot.freshness(AT.timestamp() + age, refresh_interval=300, stale_after=600)
    assert (fresh.stale, fresh.cache_status) == (stale, status)
    assert fresh.age == pytest.approx(max(0.0, age))
    assert fresh.age_seconds == int(max(0.0, age))


def test_the_sample_is_stale_at_any_age(fixture_body: bytes) -> None:
    snapshot = build_snapshot(parse_exchange_rates(fixture_body), AT, "sample")
    fresh = snapshot.freshness(AT.timestamp(), refresh_interval=300, stale_after=600)
    assert fresh.stale and fresh.cache_status == "stale"


def test_the_version_changes_with_data_time_and_source(fixture_body: bytes) -> None:
    rates = parse_exchange_rates(fixture_body)
    changed = parse_exchange_rates(fixture_body.replace(b"18.801", b"18.9"))
    base = build_snapshot(rates, AT, "coingecko").version
    assert build_snapshot(rates, AT, "coingecko").version == base
    assert build_snapshot(changed, AT, "coingecko").version != base
    assert build_snapshot(rates, datetime(2026, 1, 1, tzinfo=UTC), "coingecko").version != base
    assert build_snapshot(rates, AT, "sample").version != base
