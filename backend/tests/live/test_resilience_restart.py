"""Restarts with the default SQLite database: killed during an upstream outage, the service comes
back serving the stored snapshot and history; an old SNAPSHOT_PATH file is imported once; a corrupt
one is logged and ignored, never fatal."""

from __future__ import annotations

import json
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType

import pytest
from crypto_rates.coingecko_payload import parse_exchange_rates
from crypto_rates.json_encoding import iso
from crypto_rates.persistence import save
from crypto_rates.rate import Source
from crypto_rates.snapshot import build_snapshot
from crypto_rates.store import HistoryPoint
from testkit.fake_coingecko import FakeCoinGecko, load_fixture
from testkit.processes import wait_until

from .support import Launch

ORIGINAL_ETH = 18.801


def eth_row(body: dict[str, object]) -> dict[str, object]:
    rows = body["rates"]
    assert isinstance(rows, list)
    return next(row for row in rows if row["code"] == "eth")


def test_killed_during_an_outage_it_comes_back_serving_the_stored_snapshot(
    fake: FakeCoinGecko, launch: Launch, tmp_path: Path
) -> None:
    snapshot_path = tmp_path / "state" / "snapshot.json"  # the database sits next to it
    first = launch(fake, SNAPSHOT_PATH=str(snapshot_path))
    wait_until(
        "three refreshes", lambda: first.get("/api/v1/rates/eth/history").json()["count"] >= 3
    )
    fake.set_mode("500")
    failed_before = fake.calls
    wait_until("a failed refresh", lambda: fake.calls > failed_before)
    served = first.get("/api/v1/rates").json()
    history = first.get("/api/v1/rates/eth/history").json()
    assert first.stop(signal.SIGKILL) == -signal.SIGKILL  # no graceful anything
    assert (tmp_path / "state" / "crypto-rates.db").exists()
    assert not snapshot_path.exists()  # the JSON file is only read (imported), never written

    second = launch(fake, SNAPSHOT_PATH=str(snapshot_path))
    # Ready at once, from the database, although the upstream is still down.
    assert second.get("/health/ready").status_code == 200
    body = second.get("/api/v1/rates").json()
    assert body["source"] == "coingecko"
    assert body["fetched_at"] == served["fetched_at"]
    assert eth_row(body)["value"] == ORIGINAL_ETH
    assert second.get("/api/v1/rates/eth/history").json()["points"] == history["points"]
    # It keeps trying upstream and keeps serving the stored data while that fails.
    calls = fake.calls
    wait_until("the restarted service to poll", lambda: fake.calls > calls + 1)
    assert second.get("/health/ready").status_code == 200
    assert second.get("/api/v1/rates").json()["fetched_at"] == served["fetched_at"]


def write_old_snapshot_file(path: Path, points: int) -> list[str]:
    """A SNAPSHOT_PATH file as the service before the database wrote it; its points' times."""
    rates = parse_exchange_rates(json.dumps(load_fixture()).encode())
    now = datetime.now(UTC).replace(microsecond=0)
    times = [now - timedelta(minutes=5 * (points - i)) for i in range(points)]
    snapshot = build_snapshot(rates, times[-1], Source.COINGECKO)
    history = tuple(
        HistoryPoint(t, MappingProxyType({c: r.value for c, r in rates.items()})) for t in times
    )
    save(path, snapshot, history)
    return [iso(t) for t in times]


def test_an_old_snapshot_file_is_imported_once(
    fake: FakeCoinGecko, launch: Launch, tmp_path: Path
) -> None:
    path = tmp_path / "snapshot.json"
    times = write_old_snapshot_file(path, points=4)
    fake.set_mode("500")
    first = launch(fake, SNAPSHOT_PATH=str(path))
    assert first.get("/api/v1/rates").json()["fetched_at"] == times[-1]
    points = first.get("/api/v1/rates/eth/history").json()["points"]
    assert [p["t"] for p in points] == times
    assert "imported the snapshot file" in first.log()
    first.stop()

    path.write_text("{}")  # changed (or gone) after the import: the database is what counts
    second = launch(fake, SNAPSHOT_PATH=str(path))
    assert [p["t"] for p in second.get("/api/v1/rates/eth/history").json()["points"]] == times
    assert "imported" not in second.log()


@pytest.mark.parametrize(
    "corruption",
    ["empty", "not json", "json array", "wrong format", "bad rates", "truncated", "binary"],
)
def test_a_corrupt_snapshot_file_is_ignored_and_replaced(
    fake: FakeCoinGecko, launch: Launch, tmp_path: Path, corruption: str
) -> None:
    path = tmp_path / "snapshot.json"
    content = {
        "empty": b"",
        "not json": b"{not json",
        "json array": b"[]",
        "wrong format": b'{"format": 99, "fetched_at": "2026-11-26T00:00:00Z", "rates": {}}',
        "bad rates": json.dumps(
            {
                "format": 1,
                "fetched_at": "2026-11-26T00:00:00Z",
                "source": "coingecko",
                "rates": {"eth": {"name": "Ether", "unit": "ETH", "value": -1, "type": "crypto"}},
            }
        ).encode(),
        "binary": bytes(range(256)) * 4,
    }.get(corruption)
    if content is None:  # truncated: half of a real file
        write_old_snapshot_file(path, points=2)
        content = path.read_bytes()[: path.stat().st_size // 2]
    path.write_bytes(content)
    fake.set_mode("500")

    service = launch(fake, SNAPSHOT_PATH=str(path))  # starts: a bad file is not fatal
    assert service.get("/health/live").status_code == 200
    assert service.get("/health/ready").status_code == 503  # nothing to serve yet...
    waiting = service.get("/api/v1/rates")
    assert waiting.status_code == 503  # ...and it says so, with a hint when to retry
    assert waiting.headers["content-type"].startswith("application/problem+json")
    assert int(waiting.headers["retry-after"]) > 0
    assert "corrupt" in service.log()

    fake.set_mode("ok")
    wait_until(
        "data after upstream recovers", lambda: service.get("/health/ready").status_code == 200
    )
    assert service.get("/api/v1/rates").json()["source"] == "coingecko"


def test_an_unreadable_snapshot_path_is_not_fatal(
    fake: FakeCoinGecko, launch: Launch, tmp_path: Path
) -> None:
    path = tmp_path / "snapshot.json"
    path.mkdir()  # a directory where the file should be: unreadable, and unwritable later
    service = launch(fake, SNAPSHOT_PATH=str(path))
    wait_until("data from upstream", lambda: service.get("/health/ready").status_code == 200)
    assert service.get("/api/v1/rates").json()["source"] == "coingecko"
    assert "unreadable" in service.log()
