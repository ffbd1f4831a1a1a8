"""Restarts: killed during an upstream outage, the service comes back serving the persisted
snapshot; a corrupt snapshot file is logged and ignored, never fatal."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from testkit.fake_coingecko import FakeCoinGecko
from testkit.processes import wait_until

from .support import Launch

ORIGINAL_ETH = 18.801


def eth_row(body: dict[str, object]) -> dict[str, object]:
    rows = body["rates"]
    assert isinstance(rows, list)
    return next(row for row in rows if row["code"] == "eth")


def test_killed_during_an_outage_it_comes_back_serving_the_persisted_snapshot(
    fake: FakeCoinGecko, launch: Launch, tmp_path: Path
) -> None:
    snapshot_path = tmp_path / "state" / "snapshot.json"
    first = launch(fake, SNAPSHOT_PATH=str(snapshot_path))
    wait_until("the snapshot to be persisted", snapshot_path.exists)
    fake.set_mode("500")
    failed_before = fake.calls
    wait_until("a failed refresh", lambda: fake.calls > failed_before)
    assert first.stop(signal.SIGKILL) == -signal.SIGKILL  # no graceful anything
    persisted = json.loads(snapshot_path.read_bytes())

    second = launch(fake, SNAPSHOT_PATH=str(snapshot_path))
    # Ready at once, from the file, although the upstream is still down.
    assert second.get("/health/ready").status_code == 200
    body = second.get("/api/v1/rates").json()
    assert body["source"] == "coingecko"
    assert body["fetched_at"] == persisted["fetched_at"]
    assert eth_row(body)["value"] == ORIGINAL_ETH
    # It keeps trying upstream and keeps serving the persisted data while that fails.
    calls = fake.calls
    wait_until("the restarted service to poll", lambda: fake.calls > calls + 1)
    assert second.get("/health/ready").status_code == 200
    assert second.get("/api/v1/rates").json()["fetched_at"] == persisted["fetched_at"]
    history = second.get("/api/v1/rates/eth/history").json()
    assert history["count"] >= 1, "the history survives the restart too"


def _truncated_real_snapshot(fake: FakeCoinGecko, launch: Launch, path: Path) -> bytes:
    service = launch(fake, SNAPSHOT_PATH=str(path))
    wait_until("the snapshot to be persisted", path.exists)
    service.stop()
    content = path.read_bytes()
    path.unlink()
    return content[: len(content) // 2]


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
    }.get(corruption) or _truncated_real_snapshot(fake, launch, path)
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
    wait_until("the corrupt file to be replaced", lambda: path.read_bytes() != content)
    assert json.loads(path.read_bytes())["format"] == 1


def test_an_unreadable_snapshot_path_is_not_fatal(
    fake: FakeCoinGecko, launch: Launch, tmp_path: Path
) -> None:
    path = tmp_path / "snapshot.json"
    path.mkdir()  # a directory where the file should be: unreadable, and unwritable later
    service = launch(fake, SNAPSHOT_PATH=str(path))
    wait_until("data from upstream", lambda: service.get("/health/ready").status_code == 200)
    assert service.get("/api/v1/rates").json()["source"] == "coingecko"
    assert "unreadable" in service.log()
