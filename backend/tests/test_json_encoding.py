from datetime import UTC, datetime, timedelta, timezone

from crypto_rates.json_encoding import dumps, iso


def test_iso_is_utc_with_z() -> None:
    assert iso(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05Z"
    plus_two = timezone(timedelta(hours=2))
    assert iso(datetime(2026, 1, 2, 5, 4, 5, tzinfo=plus_two)) == "2026-01-02T03:04:05Z"


def test_dumps_is_compact_utf8() -> None:
    assert dumps({"name": "Złoty", "v": [1, 2.5]}) == '{"name":"Złoty","v":[1,2.5]}'.encode()
