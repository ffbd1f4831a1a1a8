"""A real PostgreSQL server for tests: its own data directory in a temp dir, on 127.0.0.1.

Debian's `postgresql` package (scripts/system-tools.txt) provides the binaries. `initdb` and
`postgres` refuse to run as root, so as root they run as the `postgres` user (via runuser).
Password authentication is on, so tests can check that the password never shows.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path

from testkit.processes import free_port, log_tail, wait_until


def _server_bin() -> Path:
    """POSTGRES_BIN, else the newest server Debian installed (15 on bookworm)."""
    if "POSTGRES_BIN" in os.environ:
        return Path(os.environ["POSTGRES_BIN"])
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    return found[-1].parent if found else Path("/usr/lib/postgresql/15/bin")


BIN = _server_bin()
USER = "crypto"
PASSWORD = "pg-secret-7f3a"  # tests assert this string never appears in output


def available() -> bool:
    return (BIN / "initdb").exists()


class PostgresServer:
    """`start()` runs initdb once and starts the server; `stop()` / `start()` restart it on
    the same port with the same data; `cleanup()` removes everything."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="crypto-rates-pg-"))
        self.root.chmod(0o755)
        self.data = self.root / "data"
        self.log_path = self.root / "postgres.log"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            self._as_user = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.root, "postgres")

    def url(self, database: str = "postgres", scheme: str = "postgresql") -> str:
        return f"{scheme}://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{database}"

    def _run(self, *command: str) -> None:
        result = subprocess.run(
            [*self._as_user, *command], capture_output=True, text=True, timeout=120, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"{command[0]} failed: {result.stdout}{result.stderr}")

    def start(self) -> PostgresServer:
        if not self.data.exists():
            pwfile = self.root / "pwfile"
            pwfile.write_text(PASSWORD + "\n")
            if self._as_user:
                shutil.chown(pwfile, "postgres")
            self._run(
                str(BIN / "initdb"),
                "-D",
                str(self.data),
                "-U",
                USER,
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--no-sync",
            )
        log = self.log_path.open("ab")
        if self._as_user:
            shutil.chown(self.log_path, "postgres")
        command = [
            str(BIN / "postgres"),
            "-D",
            str(self.data),
            "-p",
            str(self.port),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            f"unix_socket_directories={self.root}",
            "-c",
            "fsync=off",
            "-c",
            "max_connections=60",
        ]
        self.process = subprocess.Popen(
            [*self._as_user, *command], stdout=log, stderr=subprocess.STDOUT
        )
        log.close()

        def accepting() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"postgres exited with {self.process.returncode}:\n{log_tail(self.log_path)}"
                )
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True

        wait_until(f"postgres on port {self.port}", accepting, timeout_s=60)
        return self

    def stop(self) -> None:
        """Fast shutdown: clients are disconnected, as in a database restart or failover."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        # To the postmaster itself: runuser (as root) does not pass SIGINT on.
        try:
            postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            postmaster = process.pid
        os.kill(postmaster, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def create_database(self, name: str) -> str:
        """A fresh empty database; returns its URL."""
        env = {**os.environ, "PGPASSWORD": PASSWORD}
        subprocess.run(
            [str(BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", USER, name],
            env=env,
            check=True,
            capture_output=True,
            timeout=60,
        )
        return self.url(name)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.cleanup()
