"""Processes for tests and benchmarks: a free port, a server started until it answers, and stopped.

One home for what the backend's live tests, the browser tests, the benchmarks and the image test
each need: everything talks to 127.0.0.1, every wait is bounded, and a server that fails to start
raises with the tail of its log so the reason is in the test output.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(
    what: str, check: Callable[[], T], timeout_s: float = 15, interval_s: float = 0.05
) -> T:
    """Poll `check()` until it returns something truthy and return that; an OSError (a refused
    connection, say) counts as "not yet". Raises TimeoutError naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            result = check()
        except OSError:
            result = None
        if result:
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(interval_s)


def http_get(
    url: str, headers: dict[str, str] | None = None, timeout: float = 5.0
) -> tuple[int, dict[str, str], bytes]:
    """(status, lower-cased headers, body) of a GET; HTTP errors are answers too, not exceptions."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return (
                response.status,
                {k.lower(): v for k, v in response.headers.items()},
                response.read(),
            )
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


def log_tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return "(no log)"


class ServerProcess:
    """A server run as a subprocess, its output appended to `log_dir/<name>.log` (or, with
    `log_dir=None`, on this process's own stdout and stderr, as `make run` shows it).

    `start()` returns once `ready_url` answers 200 and raises, with the log's tail, if the process
    exits first or does not answer within `ready_timeout_s`. `stop()` sends `stop_signal` and kills
    the process if it has not exited 15 s later.
    """

    def __init__(
        self,
        name: str,
        command: list[str],
        ready_url: str,
        env: dict[str, str],
        log_dir: Path | None,
        ready_timeout_s: float = 60,
        stop_signal: int = signal.SIGTERM,
    ) -> None:
        self.name = name
        self.command = command
        self.ready_url = ready_url
        self.env = env
        self.log_path = None if log_dir is None else log_dir / f"{name}.log"
        self.ready_timeout_s = ready_timeout_s
        self.stop_signal = stop_signal
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError(f"{self.name} is not running")
        return self.process.pid

    def start(self) -> ServerProcess:
        if self.log_path is None:
            process = subprocess.Popen(self.command, env=self.env)
        else:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with self.log_path.open("ab") as log:  # append: a restarted server keeps the first log
                process = subprocess.Popen(
                    self.command, env=self.env, stdout=log, stderr=subprocess.STDOUT
                )
        self.process = process

        def answering() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"exited with {process.returncode} during start-up")
            return http_get(self.ready_url, timeout=2)[0] == 200

        try:
            wait_until(self.ready_url, answering, self.ready_timeout_s, interval_s=0.1)
        except (RuntimeError, TimeoutError) as exc:
            self.stop()
            output = (
                "(its output is above)"
                if self.log_path is None
                else f"\n--- {self.log_path} ---\n{log_tail(self.log_path)}"
            )
            raise RuntimeError(f"{self.name}: {exc} {output}") from None
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, sig: int | None = None) -> int | None:
        """Send `sig` (default `stop_signal`; SIGKILL 15 s later) and reap; the exit code, None if
        it was not running."""
        process, self.process = self.process, None
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(self.stop_signal if sig is None else sig)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return process.returncode

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
