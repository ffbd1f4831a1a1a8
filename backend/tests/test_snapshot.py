import json
from datetime import UTC, datetime

from crypto_rates.snapshot import build_snapshot, iso
from crypto_rates.upstream import parse_exchange_rates

AT = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def test_pre_serialised_bodies_hold_every_rate(fixture_body: bytes) -> None:
    rates = parse_exchange_rates(fixture_body)
    snapshot = build_snapshot(rates, AT, "coingecko")
    rows = json.loads(snapshot.btc_rows_json)
    assert [row["code"] for row in rows] == list(rates)
    assert rows[1] == {
        "code": "eth",
        "name": "Ether",
        "unit": "ETH",
        "type": "crypto",
        "value": 18.801,
    }
    legacy = json.loads(snapshot.legacy_rates_json)
    assert legacy["usd"] == {
        "name": "US Dollar",
        "unit": "$",
        "value": rates["usd"].value,
        "type": "fiat",
    }
    assert snapshot.fetched_ts == AT.timestamp()
    assert snapshot.fetched_at_iso == "2026-11-26T10:00:00Z"


def test_the_version_changes_with_data_time_and_source(fixture_body: bytes) -> None:
    rates = parse_exchange_rates(fixture_body)
    changed = parse_exchange_rates(fixture_body.replace(b"18.801", b"18.9"))
    base = build_snapshot(rates, AT, "coingecko").version
    assert build_snapshot(rates, AT, "coingecko").version == base
    assert build_snapshot(changed, AT, "coingecko").version != base
    assert build_snapshot(rates, datetime(2026, 1, 1, tzinfo=UTC), "coingecko").version != base
    assert build_snapshot(rates, AT, "sample").version != base


def test_iso_is_utc_with_z() -> None:
    assert iso(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05Z"
