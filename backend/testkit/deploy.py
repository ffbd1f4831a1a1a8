"""What the deploy suites share (make test-registry, test-images, test-cluster): commands that fail
naming themselves, `make` in the repository, the private registry of `make registry`, SSH access
and an Ansible inventory for test nodes, and a bounded client loop in the background.

Waiting is `testkit.processes.wait_until`, the one polling loop of every suite.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import shutil
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from testkit.processes import free_port, http_get, wait_until

REPO = Path(__file__).resolve().parents[2]
DOCKER_TRUST = Path("/etc/docker/certs.d")  # how a Docker engine trusts a registry's CA


def run(
    *command: str | Path,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
    check: bool = True,
    timeout: float = 900,
) -> subprocess.CompletedProcess[str]:
    """Run COMMAND in the repository; with CHECK a failure raises naming the command, its exit
    code and its output."""
    args = [str(part) for part in command]
    result = subprocess.run(
        args,
        cwd=REPO,
        env=None if env is None else dict(env),
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} exited {result.returncode}\n{result.stdout}{result.stderr}"
        )
    return result


def make(
    *args: str, env: Mapping[str, str], check: bool = True, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """A make target of the project, run as a user would."""
    return run("make", "--no-print-directory", *args, env=env, check=check, timeout=timeout)


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without the caller's REGISTRY_* and PINNED_* settings, plus
    EXTRA: a copy, so no test changes os.environ."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REGISTRY_", "PINNED_"))}
    env.update(extra)
    return env


# ---- the private registry -----------------------------------------------------------------------


@dataclass
class Registry:
    """The registry of `make registry` (TLS + htpasswd) on 127.0.0.1:PORT, its state in DIR."""

    dir: Path  # REGISTRY_DIR: ca.crt, server.crt, htpasswd
    port: int
    env: dict[str, str]  # REGISTRY_* settings and credentials for make; never printed
    digests: dict[str, str] = field(default_factory=dict)

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def ca(self) -> Path:
        return self.dir / "ca.crt"

    def pinned(self, tag: str) -> Path:
        """Where `make push` of TAG writes the pinned values file (PINNED_VALUES)."""
        return self.dir.parent / f"images-{tag}.yaml"

    def make(self, *args: str, check: bool = True, **env: str) -> subprocess.CompletedProcess[str]:
        return make(*args, env={**self.env, **env}, check=check)

    def get(
        self, path: str, *, auth: str | None = None, cafile: Path | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        """(status, lower-cased headers, body) of an HTTPS GET; AUTH is "user:password"."""
        return self.request("GET", path, auth=auth, cafile=cafile)

    def request(
        self,
        method: str,
        path: str,
        *,
        auth: str | None = None,
        cafile: Path | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        """(status, lower-cased headers, body) of an HTTPS request; AUTH is "user:password"."""
        context = ssl.create_default_context(cafile=str(cafile or self.ca))
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=context, timeout=10)
        sent = dict(headers or {})
        if auth:
            sent["Authorization"] = "Basic " + base64.b64encode(auth.encode()).decode()
        try:
            conn.request(method, path, body=body, headers=sent)
            response = conn.getresponse()
            answer = response.read()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, answer
        finally:
            conn.close()

    def catalog(self) -> list[str]:
        auth = f"{self.env['REGISTRY_USER']}:{self.env['REGISTRY_PASSWORD']}"
        status, _, body = self.get("/v2/_catalog", auth=auth)
        assert status == 200, f"GET /v2/_catalog answered {status}"
        return list(json.loads(body)["repositories"])


@contextmanager
def private_registry(work: Path, user: str, password: str) -> Iterator[Registry]:
    """`make registry` on a free port with state under WORK, trusted by the Docker engines of
    this machine (/etc/docker/certs.d/<addr>/ca.crt); stopped and untrusted afterwards."""
    port = free_port()
    env = clean_env(
        REGISTRY_DIR=str(work / "state"),
        REGISTRY_ADDR=f"127.0.0.1:{port}",
        REGISTRY_NAMES="localhost",
        REGISTRY_IPS="127.0.0.1",
        REGISTRY_USER=user,
        REGISTRY_PASSWORD=password,
    )
    registry = Registry(work / "state", port, env)
    trust = DOCKER_TRUST / registry.addr
    try:
        started = registry.make("registry")
        assert "healthy" in started.stdout, started.stdout
        trust.mkdir(parents=True, exist_ok=True)
        shutil.copy(registry.ca, trust / "ca.crt")
        yield registry
    finally:
        shutil.rmtree(trust, ignore_errors=True)
        registry.make("registry-stop", check=False)


# ---- SSH to test nodes, for Ansible -------------------------------------------------------------


def ssh_key(dir: Path) -> Path:
    """A new ed25519 key pair DIR/id_ed25519(.pub); the private key's path."""
    dir.mkdir(parents=True, exist_ok=True)
    key = dir / "id_ed25519"
    run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key)
    return key


def host_keys(port: int) -> str:
    """What ssh-keyscan reads from the sshd on 127.0.0.1:PORT (empty while it does not answer)."""
    return run("ssh-keyscan", "-p", str(port), "127.0.0.1", check=False).stdout.strip()


def ansible_inventory(dir: Path, hosts: Mapping[str, int], key: Path) -> Path:
    """DIR/inventory.json: HOSTS (name -> sshd port on 127.0.0.1, root, KEY) in group k8s_nodes,
    their host keys scanned into DIR/known_hosts once each sshd answers and checked strictly."""
    known_hosts = dir / "known_hosts"
    for name, port in hosts.items():
        scan = wait_until(
            f"the sshd of {name} on 127.0.0.1:{port}",
            partial(host_keys, port),
            timeout_s=15,
            interval_s=0.2,
        )
        with known_hosts.open("a") as out:
            out.write(scan + "\n")
    group = {
        "hosts": {
            name: {"ansible_host": "127.0.0.1", "ansible_port": p} for name, p in hosts.items()
        },
        "vars": {
            "ansible_user": "root",
            "ansible_become": False,
            "ansible_python_interpreter": "/usr/bin/python3",
            "ansible_ssh_private_key_file": str(key),
            "ansible_ssh_common_args": f"-o UserKnownHostsFile={known_hosts}"
            " -o StrictHostKeyChecking=yes",
        },
    }
    inventory = dir / "inventory.json"
    inventory.write_text(json.dumps({"all": {"children": {"k8s_nodes": group}}}))
    return inventory


# ---- background load ----------------------------------------------------------------------------


@dataclass
class Load:
    """A bounded client loop against URL on a thread (at most MAX requests or MAX_SECONDS): every
    answer that ACCEPT refuses, and every error, is a failure.

        with Load(url, accept) as load:
            ...  # the change under load
        assert not load.failures, load.report("rolling upgrade")
    """

    url: str
    accept: Callable[[int, bytes], bool]
    say: Callable[[str], None] = print
    ok: int = 0
    failures: list[str] = field(default_factory=list)
    MAX = 20_000
    MAX_SECONDS = 300.0

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        deadline = time.monotonic() + self.MAX_SECONDS
        while (
            not self._stop.is_set()
            and self.ok + len(self.failures) < self.MAX
            and time.monotonic() < deadline
        ):
            try:
                status, _, body = http_get(self.url)
                if self.accept(status, body):
                    self.ok += 1
                else:
                    self.failures.append(f"{status} {body[:80]!r}")
            except (OSError, ValueError, KeyError) as error:
                self.failures.append(repr(error))
            time.sleep(0.02)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def report(self, what: str) -> str:
        """One line (also said) counting the requests and failures, then the first failures."""
        total = self.ok + len(self.failures)
        line = f"{what}: {total} requests to {self.url}, {len(self.failures)} failed"
        self.say(line)
        return line + ("\n" + "\n".join(self.failures[:10]) if self.failures else "")
