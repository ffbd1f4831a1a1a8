"""The stack on this machine: the backend (`python -m crypto_rates`) behind nginx running
frontend/nginx's config (or Vite's preview server where nginx is missing), serving frontend/dist.

The one home of this start-up. `make run` is `main()` (frontend/scripts/run-local.sh runs
`python -m testkit.local_stack`); the browser tests (frontend/e2e/e2e_stack.py) and the benchmarks'
nginx path build their stacks from the same `Backend` and `Nginx`. So what the tests prove is what
users get, and what nginx needs of its prefix is done in one place: `Nginx`.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import FrameType

from crypto_rates.config import SettingsError, load_settings

from testkit.processes import ServerProcess, free_port

REPO = Path(__file__).resolve().parents[2]
FRONTEND = REPO / "frontend"
DIST = FRONTEND / "dist"
RENDER = FRONTEND / "nginx" / "render.sh"
VITE = FRONTEND / "node_modules" / ".bin" / "vite"
# /usr/sbin is not on every user's PATH.
NGINX = (
    shutil.which("nginx", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin"]))
    or "/usr/sbin/nginx"
)
DEFAULT_UI_PORT = 8080  # the backend's default port is its own setting (crypto_rates.config)


def run_directory(prefix: str) -> Path:
    """A new directory under the temp directory (TMPDIR) that anyone may enter (mode 0755, as
    /tmp is): nginx's workers must reach their prefix in it (see `Nginx`)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


def _url_host(host: str) -> str:
    """Where to reach a server bound to `host`: a wildcard address means this machine."""
    if host in ("", "0.0.0.0", "::"):
        return "127.0.0.1"
    try:
        return f"[{host}]" if ipaddress.ip_address(host).version == 6 else host
    except ValueError:
        return host  # a name


class Backend:
    """`python -m crypto_rates` on `host`:`port`, with `env` over this process's environment."""

    def __init__(
        self,
        port: int,
        log_dir: Path | None,
        env: Mapping[str, str] | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.port = port
        self.url = f"http://{_url_host(host)}:{port}"
        self.env = {**os.environ, **(env or {}), "HOST": host, "PORT": str(port)}
        self.log_dir = log_dir
        self.process: ServerProcess | None = None

    def start(self, ready: bool = True) -> Backend:
        """Returns once the backend is ready (has data), or only live with `ready=False`."""
        ready_url = self.url + ("/health/ready" if ready else "/health/live")
        command = [sys.executable, "-m", "crypto_rates"]
        self.process = ServerProcess("backend", command, ready_url, self.env, self.log_dir)
        self.process.start()
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


class Nginx:
    """nginx with frontend/nginx's config, rendered into its own prefix `run_dir/nginx`, serving a
    copy of frontend/dist from `prefix/html`.

    Started by root, nginx runs its workers as nobody (the config has no `user` directive, so an
    unprivileged user runs all of it as themself, as the image does). The workers read the app and
    use the temp and micro-cache directories that the master makes in the prefix and hands to
    them. So the prefix and the copy of the app are readable by anyone, wherever the checkout is
    (a home directory is often 0700), and every directory above the prefix must let anyone in:
    checked here, since otherwise nginx starts and answers every request with a 500.
    """

    def __init__(
        self,
        backend_url: str,
        run_dir: Path,
        port: int | None = None,
        log_to_terminal: bool = False,
        **env: str,
    ) -> None:
        """`env`: more of render.sh's settings, e.g. MICRO_CACHE_TTL or RESOLVER."""
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.prefix = run_dir / "nginx"
        self.prefix.mkdir()
        self.prefix.chmod(0o755)  # whatever the umask
        if os.geteuid() == 0:
            _check_anyone_can_enter(self.prefix)
        self.html = self.prefix / "html"
        shutil.copytree(DIST, self.html)
        _make_readable_by_anyone(self.html)
        render_env = {
            **os.environ,
            "BACKEND_URL": backend_url,
            "LISTEN_PORT": str(self.port),
            "DOCUMENT_ROOT": str(self.html),
            **env,
        }
        rendered = subprocess.run(
            ["sh", str(RENDER), str(self.prefix)], env=render_env, capture_output=True, text=True
        )
        if rendered.returncode != 0:
            raise RuntimeError(rendered.stderr.strip())
        self.conf = self.prefix / "nginx.conf"
        self.run_dir = run_dir
        self.log_dir = None if log_to_terminal else run_dir
        self.log = run_dir / "nginx.log"
        self.process: ServerProcess | None = None

    def argv(self, *extra: str) -> list[str]:
        return [NGINX, "-p", str(self.prefix), "-c", str(self.conf), "-e", "stderr", *extra]

    def start(self, *wrapper: str) -> Nginx:
        """`wrapper`: a command to run nginx under, e.g. setpriv to start it as another user."""
        argv = [*wrapper, *self.argv("-g", "daemon off;")]
        ready_url = self.url + "/healthz"
        self.process = ServerProcess(
            "nginx", argv, ready_url, dict(os.environ), self.log_dir, stop_signal=signal.SIGQUIT
        )
        self.process.start()
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


def _check_anyone_can_enter(path: Path) -> None:
    for directory in path.parents:
        mode = directory.stat().st_mode
        if not mode & stat.S_IXOTH:
            raise RuntimeError(
                f"nginx's workers (nobody, when root starts nginx) cannot enter {directory} "
                f"(mode {stat.S_IMODE(mode):o}), above their directory {path}; set TMPDIR to a "
                "directory anyone may enter, e.g. TMPDIR=/tmp"
            )


def _make_readable_by_anyone(tree: Path) -> None:
    for root, _dirs, files in os.walk(tree):
        os.chmod(root, 0o755)
        for name in files:
            path = os.path.join(root, name)
            os.chmod(path, os.stat(path).st_mode | 0o444)


class VitePreview:
    """Vite's preview server: frontend/dist plus the same proxy of /api/, /docs and /openapi.json
    to the backend (frontend/vite.config.ts). What `make run` uses without nginx."""

    def __init__(self, backend_url: str, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.command = [str(VITE), "preview", str(FRONTEND), "--host", "127.0.0.1"]
        self.command += ["--port", str(port), "--strictPort"]
        self.env = {**os.environ, "BACKEND_URL": backend_url}
        self.process: ServerProcess | None = None

    def start(self) -> VitePreview:
        self.process = ServerProcess("vite", self.command, self.url + "/", self.env, None)
        self.process.start()
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


def _port(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip() or str(default)
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise SettingsError(
            f"{name}={value!r} is not valid: use a port number 1-65535, e.g. {default}"
        )
    return int(value)


def _stop_on(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main() -> int:
    """`make run`: start the stack with this process's environment (PORT and the backend's other
    settings, UI_PORT, NO_NGINX=1, render.sh's MICRO_CACHE_TTL), print the URLs, and stop it all
    on Ctrl-C or when either server exits. Its output goes to this terminal."""
    try:
        settings = load_settings()
        ui_port = _port("UI_PORT", DEFAULT_UI_PORT)
    except SettingsError as exc:
        print(f"run-local: invalid configuration: {exc}", file=sys.stderr)
        return 2
    if not (DIST / "index.html").is_file():
        print("run-local: frontend/dist is missing; run: make frontend-build", file=sys.stderr)
        return 1
    use_nginx = not os.environ.get("NO_NGINX") and os.access(NGINX, os.X_OK)
    if not use_nginx and not os.environ.get("NO_NGINX"):
        print(
            "run-local: nginx is not installed (as root: apt-get install nginx), "
            "so Vite's preview server serves the UI"
        )
    # SIGTERM and SIGHUP (the terminal closed) stop everything as Ctrl-C does.
    signal.signal(signal.SIGTERM, _stop_on)
    signal.signal(signal.SIGHUP, _stop_on)
    env = {"LOG_FORMAT": os.environ.get("LOG_FORMAT", "text")}
    backend = Backend(settings.port, None, env, host=settings.host)
    run_dir: Path | None = None
    ui: Nginx | VitePreview | None = None
    try:
        backend.start(ready=False)  # live CoinGecko may be slow or away: the sample serves
        if use_nginx:
            run_dir = run_directory("crypto-rates-run-")
            ui = Nginx(backend.url, run_dir, port=ui_port, log_to_terminal=True).start()
        else:
            ui = VitePreview(backend.url, ui_port).start()
        ui_name = "nginx" if use_nginx else "vite preview"
        print(
            f"\ncrypto-rates is running ({ui_name} in front of the backend):\n"
            f"UI          {ui.url}/\n"
            f"API docs    {ui.url}/docs\n"
            f"Rates JSON  {ui.url}/api/v1/rates\n"
            f"Backend     {backend.url}/  (health: /health, metrics: /metrics)\n"
            "Press Ctrl-C to stop.\n",
            flush=True,
        )
        servers = [part.process for part in (backend, ui)]
        while all(server is not None and server.running for server in servers):
            time.sleep(0.5)
        print("run-local: a server exited; stopping", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except RuntimeError as exc:
        print(f"run-local: {exc}", file=sys.stderr)
        return 1
    finally:
        # A second Ctrl-C must not cut the clean-up short: the servers got it too and are ending.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for part in (ui, backend):
            if part is not None:
                part.stop()
        if run_dir is not None:
            shutil.rmtree(run_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
