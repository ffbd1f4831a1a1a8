"""The real stack for the browser tests, on 127.0.0.1 with free ports:

    fake CoinGecko (thread) -> backend (`python -m crypto_rates`) -> Debian nginx (this project's
    config, serving frontend/dist) -> Chromium (pytest-playwright)

Started by testkit.local_stack, the code `make run` starts the stack with; only the settings are
the tests' own: the fake upstream, free ports, fast refreshes. Each process logs to a file in its
run directory; a failed start raises with the log's tail so the reason is in the test output.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from testkit import local_stack
from testkit.fake_coingecko import FakeCoinGecko
from testkit.local_stack import DIST, NGINX, RENDER, Nginx, run_directory
from testkit.processes import free_port

__all__ = ["DIST", "NGINX", "RENDER", "Backend", "Nginx", "Stack"]


class Backend(local_stack.Backend):
    """The backend against the fake upstream; no sample fallback unless asked. `env`: more
    settings; HOST may be any 127.0.0.0/8 address (a "re-created" backend elsewhere)."""

    def __init__(
        self, upstream_url: str, run_dir: Path, port: int | None = None, **env: str
    ) -> None:
        settings = {
            "COINGECKO_BASE_URL": upstream_url,
            "COINGECKO_API_PLAN": "public",
            "COINGECKO_API_KEY": "",  # empty is unset: the public plan refuses a developer's key
            "SNAPSHOT_PATH": str(run_dir / "snapshot.json"),
            "SAMPLE_FALLBACK": "false",
            "CRYPTO_RATES_ALLOW_FAST_REFRESH": "1",
            "CRYPTO_RATES_ALLOW_TEST_UPSTREAM": "1",  # the fake speaks plain http
            "API_TIMEOUT": "2",
            "LOG_FORMAT": "text",
            "LOG_LEVEL": "info",
            "BACKFILL": "false",  # the history backfill's own tests are in backend/tests
            **env,
        }
        host = settings.pop("HOST", "127.0.0.1")
        super().__init__(port or free_port(), run_dir, settings, host=host)
        self.run_dir = run_dir


class Stack:
    """Fake upstream + backend + nginx. `url` is what the browser opens."""

    def __init__(self, nginx_env: dict[str, str] | None = None, **backend_env: str) -> None:
        self.run_dir = run_directory("crypto-rates-e2e-")
        self.nginx_env = nginx_env or {}
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
