from datetime import UTC, datetime, timedelta

from crypto_rates.coingecko_payload import parse_exchange_rates
from crypto_rates.persistence import load_sample
from crypto_rates.snapshot import build_snapshot
from crypto_rates.store import MAX_HISTORY_POINTS, SnapshotStore, history_limit

T0 = datetime(2026, 11, 26, tzinfo=UTC)


def test_history_covers_24_hours_at_the_default_interval() -> None:
    assert history_limit(300) == 48 * 12 + 1  # every refresh of 48 h


def test_history_is_capped_when_polling_fast() -> None:
    assert history_limit(1) == MAX_HISTORY_POINTS


def test_replace_swaps_the_current_snapshot_and_records_history(fixture_body: bytes) -> None:
    rates = parse_exchange_rates(fixture_body)
    store = SnapshotStore(history_limit=3)
    assert store.current is None
    for minutes in range(5):
        snapshot = build_snapshot(rates, T0 + timedelta(minutes=minutes), "coingecko")
        store.replace(snapshot)
        assert store.current is snapshot
    assert [p.t.minute for p in store.history] == [2, 3, 4]  # bounded, oldest dropped
    assert store.history[-1].values["eth"] == 18.801
    assert store.current.fetched_ts == (T0 + timedelta(minutes=4)).timestamp()


def test_sample_data_is_served_but_not_recorded_as_history() -> None:
    store = SnapshotStore(history_limit=10)
    store.replace(load_sample())
    assert store.current is not None and store.current.source == "sample"
    assert store.history == ()


def test_restore_keeps_history_without_duplicating_the_current_point(fixture_body: bytes) -> None:
    rates = parse_exchange_rates(fixture_body)
    first = SnapshotStore(history_limit=10)
    for minutes in range(3):
        first.replace(build_snapshot(rates, T0 + timedelta(minutes=minutes), "coingecko"))
    assert first.current is not None
    second = SnapshotStore(history_limit=10)
    second.restore(first.current, list(reversed(first.history)))
    assert [p.t for p in second.history] == [p.t for p in first.history]
