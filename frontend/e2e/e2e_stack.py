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
import subprocess
import sys
import tempfile
from pathlib import Path

from testkit.fake_coingecko import FakeCoinGecko
from testkit.processes import ServerProcess, free_port

FRONTEND = Path(__file__).resolve().parents[1]
DIST = FRONTEND / "dist"
RENDER = FRONTEND / "nginx" / "render.sh"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


class Backend:
    """`python -m crypto_rates` against the fake upstream; no sample fallback unless asked."""

    def __init__(
        self, upstream_url: str, run_dir: Path, port: int | None = None, **env: str
    ) -> None:
        self.port = port or free_port()
        host = env.get("HOST", "127.0.0.1")  # any 127.0.0.0/8 address: a "re-created" backend
        self.url = f"http://{host}:{self.port}"
        self.env = {
            **os.environ,
            "HOST": host,
            "PORT": str(self.port),
            "COINGECKO_BASE_URL": upstream_url,
            "COINGECKO_API_PLAN": "public",
            "SNAPSHOT_PATH": str(run_dir / "snapshot.json"),
            "SAMPLE_FALLBACK": "false",
            "CRYPTO_RATES_ALLOW_FAST_REFRESH": "1",
            "CRYPTO_RATES_ALLOW_TEST_UPSTREAM": "1",  # the fake speaks plain http
            "API_TIMEOUT": "2",
            "LOG_FORMAT": "text",
            "LOG_LEVEL": "info",
            **env,
        }
        self.run_dir = run_dir
        self.process: ServerProcess | None = None

    def start(self, ready: bool = True) -> Backend:
        ready_url = self.url + ("/health/ready" if ready else "/health/live")
        command = [sys.executable, "-m", "crypto_rates"]
        self.process = ServerProcess("backend", command, ready_url, self.env, self.run_dir)
        self.process.start()
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


class Nginx:
    """Debian's nginx running frontend/nginx's rendered config, serving a copy of frontend/dist."""

    def __init__(self, backend_url: str, run_dir: Path, **env: str) -> None:
        """`env`: more of render.sh's settings, e.g. MICRO_CACHE_TTL or RESOLVER."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # Its own world-readable directory: as root, nginx's workers run as nobody and must be
        # able to read the app and write temp files, wherever the repository is checked out.
        self.prefix = run_dir / "nginx"
        self.prefix.mkdir(mode=0o755)
        self.html = self.prefix / "html"
        shutil.copytree(DIST, self.html)
        render_env = {
            **os.environ,
            "BACKEND_URL": backend_url,
            "LISTEN_PORT": str(self.port),
            "DOCUMENT_ROOT": str(self.html),
            **env,
        }
        subprocess.run(
            ["sh", str(RENDER), str(self.prefix)], env=render_env, check=True, capture_output=True
        )
        self.conf = self.prefix / "nginx.conf"
        self.run_dir = run_dir
        self.log = run_dir / "nginx.log"
        self.process: ServerProcess | None = None

    def argv(self, *extra: str) -> list[str]:
        return [NGINX, "-p", str(self.prefix), "-c", str(self.conf), "-e", "stderr", *extra]

    def start(self, *wrapper: str) -> Nginx:
        """`wrapper`: a command to run nginx under, e.g. setpriv to start it as another user."""
        argv = [*wrapper, *self.argv("-g", "daemon off;")]
        ready_url = self.url + "/healthz"
        self.process = ServerProcess(
            "nginx", argv, ready_url, dict(os.environ), self.run_dir, stop_signal=signal.SIGQUIT
        )
        self.process.start()
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


class Stack:
    """Fake upstream + backend + nginx. `url` is what the browser opens."""

    def __init__(self, nginx_env: dict[str, str] | None = None, **backend_env: str) -> None:
        self.run_dir = Path(tempfile.mkdtemp(prefix="crypto-rates-e2e-"))
        self.nginx_env = nginx_env or {}
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
            self.nginx = Nginx(self.backend.url, self.run_dir, **self.nginx_env)
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
