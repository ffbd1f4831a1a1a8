"""The real stack for the browser tests, on 127.0.0.1 with free ports:

    fake CoinGecko (thread) -> backend (`python -m crypto_rates`) -> Debian nginx (this project's
    config, serving frontend/dist) -> Chromium (pytest-playwright)

Only CoinGecko is fake. Each process logs to a file in its run directory; a failed start raises
with the log's tail so the reason is in the test output.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from crypto_rates.fake_coingecko import FakeCoinGecko

FRONTEND = Path(__file__).resolve().parents[1]
DIST = FRONTEND / "dist"
RENDER = FRONTEND / "nginx" / "render.sh"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
START_TIMEOUT = 60.0  # generous: CI machines can be busy


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


def wait_until(check: Any, timeout: float, what: str, interval: float = 0.2) -> Any:
    """Poll `check()` until it returns something truthy; bounded by `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = check()
        except OSError:
            result = None
        if result:
            return result
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class Process:
    """A child process with its output in `log`; stopped with `stop_signal`, killed if it hangs."""

    def __init__(
        self, name: str, argv: list[str], env: dict[str, str], log: Path, stop_signal: int
    ) -> None:
        self.name = name
        self.log = log
        self.stop_signal = stop_signal
        with log.open("ab") as out:
            self.popen = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)

    def alive(self) -> bool:
        return self.popen.poll() is None

    def fail(self, message: str) -> RuntimeError:
        return RuntimeError(f"{self.name}: {message}\n--- {self.log} ---\n{_tail(self.log)}")

    def wait_until_answering(self, url: str) -> None:
        """Until `url` answers 200; fails at once, with the log, if the process exits."""

        def up() -> bool:
            if not self.alive():
                raise self.fail("exited during start-up")
            return http_get(url, timeout=1)[0] == 200

        try:
            wait_until(up, START_TIMEOUT, url)
        except TimeoutError as error:
            self.stop()
            raise self.fail(str(error)) from None
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.alive():
            self.popen.send_signal(self.stop_signal)
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=5)


class Backend:
    """`python -m crypto_rates` against the fake upstream; no sample fallback unless asked."""

    def __init__(
        self, upstream_url: str, run_dir: Path, port: int | None = None, **env: str
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "COINGECKO_BASE_URL": upstream_url,
            "COINGECKO_API_PLAN": "public",
            "SNAPSHOT_PATH": str(run_dir / "snapshot.json"),
            "SAMPLE_FALLBACK": "false",
            "CRYPTO_RATES_ALLOW_FAST_REFRESH": "1",
            "API_TIMEOUT": "2",
            "LOG_FORMAT": "text",
            "LOG_LEVEL": "info",
            **env,
        }
        self.log = run_dir / "backend.log"
        self.process: Process | None = None

    def start(self, ready: bool = True) -> Backend:
        self.process = Process(
            "backend", [sys.executable, "-m", "crypto_rates"], self.env, self.log, signal.SIGTERM
        )
        self.process.wait_until_answering(self.url + ("/health/ready" if ready else "/health/live"))
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


class Nginx:
    """Debian's nginx running frontend/nginx's rendered config, serving a copy of frontend/dist."""

    def __init__(self, backend_url: str, run_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # Its own world-readable directory: as root, nginx's workers run as nobody and must be
        # able to read the app and write temp files, wherever the repository is checked out.
        self.prefix = run_dir / "nginx"
        self.prefix.mkdir(mode=0o755)
        self.html = self.prefix / "html"
        shutil.copytree(DIST, self.html)
        env = {
            **os.environ,
            "BACKEND_URL": backend_url,
            "LISTEN_PORT": str(self.port),
            "DOCUMENT_ROOT": str(self.html),
        }
        subprocess.run(
            ["sh", str(RENDER), str(self.prefix)], env=env, check=True, capture_output=True
        )
        self.conf = self.prefix / "nginx.conf"
        self.log = run_dir / "nginx.log"
        self.process: Process | None = None

    def argv(self, *extra: str) -> list[str]:
        return [NGINX, "-p", str(self.prefix), "-c", str(self.conf), "-e", "stderr", *extra]

    def start(self, *wrapper: str) -> Nginx:
        """`wrapper`: a command to run nginx under, e.g. setpriv to start it as another user."""
        argv = [*wrapper, *self.argv("-g", "daemon off;")]
        self.process = Process("nginx", argv, dict(os.environ), self.log, signal.SIGQUIT)
        self.process.wait_until_answering(self.url + "/healthz")
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


class Stack:
    """Fake upstream + backend + nginx. `url` is what the browser opens."""

    def __init__(self, **backend_env: str) -> None:
        self.run_dir = Path(tempfile.mkdtemp(prefix="crypto-rates-e2e-"))
        self.run_dir.chmod(0o755)
        self.fake = FakeCoinGecko()
        self.backend_env = backend_env
        self.backend: Backend | None = None
        self.nginx: Nginx | None = None

    @property
    def url(self) -> str:
        assert self.nginx is not None
        return self.nginx.url

    def start(self, ready: bool = True) -> Stack:
        try:
            self.fake.start()
            # Assigned before starting, so that stop() reaches a process that failed to start.
            self.backend = Backend(self.fake.url, self.run_dir, **self.backend_env)
            self.backend.start(ready)
            self.nginx = Nginx(self.backend.url, self.run_dir)
            self.nginx.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for part in (self.nginx, self.backend):
            if part is not None:
                part.stop()
        self.fake.stop()
        shutil.rmtree(self.run_dir, ignore_errors=True)

    def restart_backend(self) -> None:
        """A new backend process on the same port (the persisted snapshot carries over)."""
        assert self.backend is not None
        self.backend.stop()
        self.backend = Backend(
            self.fake.url, self.run_dir, port=self.backend.port, **self.backend_env
        )
        self.backend.start()
