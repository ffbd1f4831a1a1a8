"""The docker CLI against one engine, for tests that run images (make test-images and after it).

    docker = Docker("unix:///run/crypto-rates-images/docker.sock")
    with docker.container("my-fake", "crypto-rates-fake-coingecko:test", "--read-only") as name:
        print(docker.inspect(name, "{{.State.Status}}"))

Every container runs with `--network host` (the engines here have no bridge); a container started
through `container()` is removed afterwards, and a failed command raises with docker's own message.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

from testkit.deploy import run
from testkit.processes import wait_until

DOCKER = "/usr/bin/docker"


class DockerError(RuntimeError):
    pass


class Docker:
    def __init__(self, host: str, binary: str = DOCKER) -> None:
        self.host = host
        self.binary = binary

    def run(
        self, *args: str, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """`docker ARGS...`; raises DockerError with its stderr when `check` and it fails."""
        env = {**os.environ, "DOCKER_HOST": self.host}
        result = run(self.binary, *args, env=env, check=False, timeout=timeout)
        if check and result.returncode != 0:
            raise DockerError(
                f"docker {' '.join(args)} exited {result.returncode}: {result.stderr.strip()}"
            )
        return result

    def output(self, *args: str) -> str:
        return self.run(*args).stdout.strip()

    def inspect(self, target: str, template: str) -> str:
        """`docker inspect --format TEMPLATE TARGET` (an image or a container)."""
        return self.output("inspect", "--format", template, target)

    def logs(self, name: str, tail: int = 40) -> str:
        result = self.run("logs", "--tail", str(tail), name, check=False)
        return result.stdout + result.stderr

    @contextmanager
    def container(
        self, name: str, image: str, *options: str, command: tuple[str, ...] = ()
    ) -> Iterator[str]:
        """`docker run --detach --network host --name NAME OPTIONS... IMAGE COMMAND...`, removed
        (with its anonymous volumes) on exit; a leftover of a killed run is removed first."""
        self.run("rm", "--force", "--volumes", name, check=False)
        self.run("run", "--detach", "--network", "host", "--name", name, *options, image, *command)
        try:
            yield name
        finally:
            self.run("rm", "--force", "--volumes", name, check=False)

    def wait_healthy(self, name: str, timeout_s: float = 60) -> None:
        """Until the container's HEALTHCHECK passes; raises, with its log, if it stops or times
        out."""

        def healthy() -> bool:
            state = self.inspect(name, "{{.State.Status}} {{.State.Health.Status}}")
            if not state.startswith("running"):
                raise DockerError(f"{name} stopped ({state}):\n{self.logs(name)}")
            return state == "running healthy"

        try:
            wait_until(f"{name} to be healthy", healthy, timeout_s, interval_s=0.5)
        except TimeoutError as exc:
            health = self.inspect(name, "{{json .State.Health}}")
            raise DockerError(f"{exc}; health {health}\n{self.logs(name)}") from None
