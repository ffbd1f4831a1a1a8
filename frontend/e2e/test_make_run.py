"""`make run` as people run it (issue 25): in a fresh copy of the checkout at a terminal, as root
and as an unprivileged user, with nginx and with Vite's preview server.

Each case starts `make run` in its own session, reads the URLs it prints, checks every path the page
uses through the UI URL (and the micro-cache behind nginx), opens the page in Chromium, then presses
Ctrl-C (SIGINT to the process group, as a terminal does) and checks that nothing is left running and
nothing is left in TMPDIR.

Only what cannot be had here is swapped, through settings users have too: CoinGecko is the fake
upstream (COINGECKO_BASE_URL), the ports are free ones (PORT, UI_PORT), TMPDIR is a private
directory, and the network-installed parts come from this checkout: its virtualenv (VENV=...) and a
copy of its node_modules. The copy lives in a 0700 "home" (as /root and Debian's home directories
are), so nginx's workers, which run as nobody when root starts nginx, cannot reach the checkout.
"""

from __future__ import annotations

import json
import os
import pty
import pwd
import random
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest
from crypto_rates.config import Settings
from e2e_page import Console, screenshot
from playwright.sync_api import Page, expect
from testkit.fake_coingecko import FakeCoinGecko
from testkit.local_stack import DEFAULT_UI_PORT
from testkit.processes import http_get, wait_until

REPO = Path(__file__).resolve().parents[2]
ROOT = os.geteuid() == 0
UNPRIVILEGED = "nobody"
START_TIMEOUT_S = 300  # `make run` type-checks and builds the app first: minutes on a busy machine


def quiet_port() -> int:
    """A free port below the kernel's range for outgoing connections: `make run` binds it only
    after building the app, and meanwhile any connection on the machine may take an ephemeral
    port (testkit's free_port is one)."""
    ephemeral_low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    while True:
        port = random.randrange(10000, ephemeral_low)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


class User(NamedTuple):
    name: str
    uid: int
    gid: int


def the_user(kind: str) -> User:
    if kind == "root":
        return User("root", 0, 0)
    if ROOT:
        entry = pwd.getpwnam(UNPRIVILEGED)
        return User(UNPRIVILEGED, entry.pw_uid, entry.pw_gid)
    return User(pwd.getpwuid(os.geteuid()).pw_name, os.geteuid(), os.getegid())


def working_tree_files() -> list[str]:
    """What a clone of this working tree holds: tracked and new files, not the ignored ones."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [name for name in listed.split("\0") if name and (REPO / name).exists()]


def chown_tree(path: Path, user: User) -> None:
    for root, dirs, files in os.walk(path):
        for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
            os.lchown(name, user.uid, user.gid)


def anyone_can_run(path: Path) -> bool:
    real = path.resolve()
    return all(p.stat().st_mode & stat.S_IXOTH for p in [real, *real.parents])


def virtualenv_for(user: User, home: Path) -> Path:
    """This checkout's virtualenv, or where the user cannot run its interpreter (pyenv's under a
    0700 /root, say) one of the system's Python with the same packages (this one's site-packages
    added by a .pth file)."""
    venv = REPO / ".venv"
    if user.uid == os.geteuid() or anyone_can_run(venv / "bin" / "python"):
        return venv
    system = Path("/usr/bin/python3")
    ours = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import sys; print(sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    theirs = subprocess.run(
        [str(system), "-c", "import sys; print(sys.version_info[:2])"],
        capture_output=True,
        text=True,
    ).stdout
    if not anyone_can_run(system) or ours != theirs:
        pytest.skip(f"{user.name} cannot run {venv}'s Python and {system} is not the same version")
    overlay = home / "venv"
    subprocess.run([str(system), "-m", "venv", "--without-pip", str(overlay)], check=True)
    [site_packages] = (venv / "lib").glob("python3*/site-packages")
    [overlay_site] = (overlay / "lib").glob("python3*/site-packages")
    (overlay_site / "crypto-rates-venv.pth").write_text(
        f"import site; site.addsitedir({str(site_packages)!r})\n"
    )
    (overlay / ".installed").touch()  # what `make venv` leaves: up to date
    return overlay


class Checkout(NamedTuple):
    home: Path  # 0700, the user's, as a home directory
    repo: Path
    tmpdir: Path  # TMPDIR of the run: empty before and after
    user: User
    venv: Path


@pytest.fixture(scope="module", params=["root", "unprivileged"])
def checkout(request: pytest.FixtureRequest) -> Iterator[Checkout]:
    """A copy of this working tree owned by the user, with file times kept (so `make` sees the
    copied node_modules as up to date with the lock, as in the user's own clone)."""
    if request.param == "root" and not ROOT:
        pytest.skip("not root: the unprivileged case runs as this user")
    user = the_user(request.param)
    home = Path(tempfile.mkdtemp(prefix="crypto-rates-make-run-home-"))
    tmpdir = Path(tempfile.mkdtemp(prefix="crypto-rates-make-run-tmp-"))
    try:
        repo = home / "crypto-rates"
        for name in working_tree_files():
            target = repo / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, target, follow_symlinks=False)
        subprocess.run(
            ["cp", "-a", str(REPO / "frontend" / "node_modules"), str(repo / "frontend")],
            check=True,
        )
        venv = virtualenv_for(user, home)
        # A TMPDIR like /tmp: enterable by anyone, so by nginx's workers too.
        tmpdir.chmod(0o755)
        for path in (home, tmpdir):
            chown_tree(path, user)
        yield Checkout(home, repo, tmpdir, user, venv)
    finally:
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(tmpdir, ignore_errors=True)


class MakeRun:
    """`make run` in its own session, its output on a terminal the user owns (nginx reopens
    /dev/stdout for its access log, which must be the user's, as a login terminal is)."""

    def __init__(self, checkout: Checkout, env: dict[str, str]) -> None:
        self.output: list[str] = []
        command = ["make", "--no-print-directory", "run", f"VENV={checkout.venv}"]
        if checkout.user.uid != os.geteuid():
            command = ["runuser", "-u", checkout.user.name, "--", "env", *env_args(env), *command]
        master, terminal = pty.openpty()
        os.fchown(terminal, checkout.user.uid, checkout.user.gid)
        self.process = subprocess.Popen(
            command,
            cwd=checkout.repo,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=terminal,
            stderr=terminal,
            start_new_session=True,
        )
        os.close(terminal)
        self.reader = threading.Thread(target=self._read, args=(master,), daemon=True)
        self.reader.start()

    def _read(self, master: int) -> None:
        pending = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: every process holding the terminal has exited
                chunk = b""
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            self.output.extend(line.decode(errors="replace").rstrip("\r") for line in lines)
        os.close(master)

    def text(self) -> str:
        return "\n".join(self.output)

    def printed_url(self, label: str) -> str:
        """The URL printed after `label` (e.g. "UI"), once it is printed."""

        def find() -> str | None:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"make run exited with {self.process.returncode}:\n{self.text()}"
                )
            for line in self.output:
                match = re.fullmatch(rf"{label}\s+(http://\S+)(\s.*)?", line.strip())
                if match:
                    return match.group(1)
            return None

        return wait_until(f"make run to print its {label} URL", find, START_TIMEOUT_S, 0.5)

    def session_processes(self) -> list[str]:
        """Every process still in the session `make run` started (its sid is make's pid)."""
        found = []
        for stat_file in Path("/proc").glob("[0-9]*/stat"):
            try:
                text = stat_file.read_text()
            except OSError:
                continue
            fields = text[text.rindex(")") + 2 :].split()
            if int(fields[3]) == self.process.pid:  # after state, ppid, pgrp: session
                found.append(text[: text.rindex(")") + 1])
        return found

    def interrupt(self) -> None:
        os.killpg(self.process.pid, signal.SIGINT)
        self.process.wait(timeout=60)
        self.reader.join(timeout=10)

    def kill(self) -> None:
        if self.session_processes():
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


def env_args(env: dict[str, str]) -> list[str]:
    return [f"{name}={value}" for name, value in env.items()]


def check_every_path(ui: str, nginx: bool) -> None:
    status, headers, body = http_get(ui + "/")
    assert status == 200 and headers["content-type"].startswith("text/html"), (status, body[:300])
    assert b'id="rates-body"' in body

    def live() -> bool:
        status, _, body = http_get(ui + "/api/v1/rates")
        assert status == 200, body[:500]
        return bool(json.loads(body)["source"] == "coingecko")

    wait_until("live rates through the UI URL", live, timeout_s=30, interval_s=0.5)
    for path in (
        "/api/v1/rates/btc/history",
        "/api/v1/convert?from=btc&to=usd&amount=2",
        "/openapi.json",
    ):
        status, headers, body = http_get(ui + path)
        assert status == 200, (path, status, body[:500])
        assert headers["content-type"].startswith("application/json"), (path, headers)
    status, headers, body = http_get(ui + "/docs")
    assert status == 200 and b"swagger-ui" in body, (status, body[:300])
    if nginx:
        # The micro-cache keeps an answer for a second: a request right after a miss hits. A
        # pause of over a second between two requests (a loaded machine) gets another pair.
        def repeat_hits() -> bool:
            first = http_get(ui + "/api/v1/rates?base=eur")
            second = http_get(ui + "/api/v1/rates?base=eur")
            assert (first[0], second[0]) == (200, 200), (first, second)
            return second[1]["x-cache-status"] == "HIT"

        wait_until("a HIT from nginx's micro-cache", repeat_hits, timeout_s=20, interval_s=0.2)


@pytest.mark.parametrize("ui_server", ["nginx", "vite"])
def test_make_run_serves_the_page_and_stops_clean_on_ctrl_c(
    checkout: Checkout, ui_server: str, page: Page, console: Console
) -> None:
    backend_port, ui_port = quiet_port(), quiet_port()
    while ui_port == backend_port:
        ui_port = quiet_port()
    with FakeCoinGecko() as fake:
        env = {
            "PATH": os.environ["PATH"],
            "HOME": str(checkout.home),
            "LANG": "C.UTF-8",
            "TMPDIR": str(checkout.tmpdir),
            "PORT": str(backend_port),
            "UI_PORT": str(ui_port),
            "COINGECKO_BASE_URL": fake.url,
            "CRYPTO_RATES_ALLOW_TEST_UPSTREAM": "1",  # the fake speaks plain http (issue 27)
            **({"NO_NGINX": "1"} if ui_server == "vite" else {}),
        }
        run = MakeRun(checkout, env)
        try:
            ui = run.printed_url("UI").rstrip("/")
            assert ui == f"http://127.0.0.1:{ui_port}"
            assert run.printed_url("Backend") == f"http://127.0.0.1:{backend_port}/"
            assert (ui_server == "nginx") == ("nginx in front of the backend" in run.text())
            check_every_path(ui, nginx=ui_server == "nginx")
            # The README: the API and its docs at the backend's own address too.
            assert http_get(f"http://127.0.0.1:{backend_port}/docs")[0] == 200
            if ui_server == "nginx":
                assert list(checkout.tmpdir.iterdir()), "the run directory is not under TMPDIR"

            page.goto(ui + "/")
            expect(page.locator("#rates-body tr[data-code]")).to_have_count(61)
            expect(page.locator("#headline-value .hero-number")).to_have_text("41,819.86")
            expect(page.locator("#banners")).to_be_empty()
            assert console.errors == []
            screenshot(page, f"make-run-{checkout.user.name}-{ui_server}")
            page.close()

            run.interrupt()
            # A grandchild may take a moment to see that its parent is gone (Vite's esbuild).
            wait_until("every process of make run to end", lambda: not run.session_processes())
            for port in (backend_port, ui_port):
                with pytest.raises(OSError):
                    http_get(f"http://127.0.0.1:{port}/", timeout=2)
            assert list(checkout.tmpdir.iterdir()) == []
        except BaseException:
            print(run.text())
            raise
        finally:
            run.kill()


def test_readme_states_the_addresses_make_run_uses_by_default() -> None:
    readme = (REPO / "README.md").read_text()
    [line] = [line for line in readme.splitlines() if line.startswith("make run ")]
    backend = (
        f"http://{Settings.model_fields['host'].default}:{Settings.model_fields['port'].default}/"
    )
    assert f"UI http://127.0.0.1:{DEFAULT_UI_PORT}/" in line and f"API at {backend}" in line
