import json
import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from crypto_rates import persistence
from crypto_rates.coingecko_payload import parse_exchange_rates
from crypto_rates.persistence import load, load_sample, save
from crypto_rates.snapshot import build_snapshot
from crypto_rates.store import SnapshotStore

T0 = datetime(2026, 11, 26, 8, tzinfo=UTC)


def _store_with_history(fixture_body: bytes, points: int = 3) -> SnapshotStore:
    rates = parse_exchange_rates(fixture_body)
    store = SnapshotStore(history_limit=100)
    for minutes in range(points):
        scaled = fixture_body.replace(b"18.801", str(18 + minutes).encode())
        store.replace(
            build_snapshot(
                parse_exchange_rates(scaled) if minutes else rates,
                T0 + timedelta(minutes=minutes),
                "coingecko",
            )
        )
    return store


def test_round_trip_keeps_snapshot_and_history(tmp_path: Path, fixture_body: bytes) -> None:
    store = _store_with_history(fixture_body)
    assert store.current is not None
    path = tmp_path / "nested" / "snapshot.json"
    save(path, store.current, store.history)
    restored = load(path)
    assert restored is not None
    snapshot, history = restored
    assert snapshot.version == store.current.version  # same data, time and source
    assert snapshot.fetched_at == store.current.fetched_at
    assert snapshot.source == "coingecko"
    assert [(p.t, dict(p.values)) for p in history] == [
        (p.t, dict(p.values)) for p in store.history
    ]


def test_the_write_is_atomic_and_leaves_no_temporary_files(
    tmp_path: Path, fixture_body: bytes
) -> None:
    store = _store_with_history(fixture_body)
    assert store.current is not None
    path = tmp_path / "snapshot.json"
    path.write_text("old contents")
    save(path, store.current, store.history)
    assert os.listdir(tmp_path) == ["snapshot.json"]
    assert json.loads(path.read_text())["format"] == 1


def test_a_failed_write_keeps_the_old_file_and_cleans_up(
    tmp_path: Path, fixture_body: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _store_with_history(fixture_body)
    assert store.current is not None
    path = tmp_path / "snapshot.json"
    path.write_text("old contents")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(persistence.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        save(path, store.current, store.history)
    assert path.read_text() == "old contents"
    assert os.listdir(tmp_path) == ["snapshot.json"]


def test_a_missing_file_is_not_an_error(tmp_path: Path) -> None:
    assert load(tmp_path / "absent.json") is None


@pytest.mark.parametrize(
    "contents",
    [
        b"",
        b"{not json",
        b'{"format": 2, "fetched_at": "2026-11-26T08:00:00Z", "source": "coingecko", "rates": {}}',
        b'{"format": 1, "fetched_at": "yesterday", "source": "coingecko", "rates": {}}',
        b'{"format": 1, "fetched_at": "2026-11-26T08:00:00Z", "source": "coingecko", "rates": {}}',
        b'{"format": 1, "fetched_at": "2026-11-26T08:00:00Z", "source": "coingecko",'
        b' "rates": {"btc": {"name": "Bitcoin", "unit": "BTC", "value": -1, "type": "crypto"}}}',
    ],
)
def test_a_corrupt_file_is_logged_and_ignored(
    tmp_path: Path, contents: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "snapshot.json"
    path.write_bytes(contents)
    with caplog.at_level(logging.WARNING):
        assert load(path) is None
    assert "snapshot file corrupt, ignored" in caplog.text


def test_an_unreadable_file_is_logged_and_ignored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        assert load(tmp_path) is None  # a directory cannot be read as a file
    assert "snapshot file unreadable, ignored" in caplog.text


def test_the_bundled_sample_is_labelled_as_sample() -> None:
    sample = load_sample()
    assert sample.source == "sample"
    assert len(sample.rates) == 61
    assert sample.fetched_at == persistence.SAMPLE_RECORDED_AT
