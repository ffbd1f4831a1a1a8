"""The process helpers fail the way the suites rely on: bounded, naming what they waited for."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

from testkit.fake_coingecko import FakeCoinGecko
from testkit.processes import ServerProcess, free_port, http_get, wait_until


def test_wait_until_returns_the_first_truthy_result_and_treats_oserror_as_not_yet() -> None:
    answers = iter([OSError("refused"), 0, "ready"])

    def check() -> object:
        answer = next(answers)
        if isinstance(answer, OSError):
            raise answer
        return answer

    assert wait_until("the answer", check, timeout_s=5, interval_s=0) == "ready"


def test_wait_until_times_out_naming_what_it_waited_for() -> None:
    with pytest.raises(TimeoutError, match="waiting for the moon"):
        wait_until("the moon", lambda: False, timeout_s=0.1)


def test_http_get_returns_error_answers_instead_of_raising() -> None:
    with FakeCoinGecko() as fake:
        status, headers, body = http_get(fake.url.removesuffix("/api/v3") + "/nope")
    assert (status, headers["content-type"], body) == (
        404,
        "application/json",
        b'{"error":"not found"}',
    )


def test_a_server_that_answers_is_started_and_stopped_with_its_signal(tmp_path: Path) -> None:
    port = free_port()
    command = [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)]
    server = ServerProcess("http", command, f"http://127.0.0.1:{port}/", dict(os.environ), tmp_path)
    with server:
        assert http_get(f"http://127.0.0.1:{port}/")[0] == 200
        process = server.process
    assert process is not None and process.returncode == -signal.SIGTERM
    assert server.stop() is None  # stopping twice is harmless


def test_a_server_that_exits_during_start_up_raises_with_its_log(tmp_path: Path) -> None:
    command = [sys.executable, "-c", "print('bad setting: PORT'); raise SystemExit(3)"]
    server = ServerProcess("broken", command, "http://127.0.0.1:1/", dict(os.environ), tmp_path)
    with pytest.raises(
        RuntimeError, match=r"(?s)broken: exited with 3 during start-up.*bad setting"
    ):
        server.start()
    assert server.process is None
