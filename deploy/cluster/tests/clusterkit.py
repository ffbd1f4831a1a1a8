"""Helpers for tests against the local cluster (localcluster.py): its settings, kubectl and helm
runners, Go module sources. The fixtures are in conftest.py."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localcluster import ControlPlane, read_env
from testkit.deploy import run

REPO = Path(__file__).resolve().parents[3]
CLUSTER_DIR = REPO / "deploy" / "cluster"

VERSIONS = read_env(CLUSTER_DIR / "versions.env")


@dataclass
class Cluster:
    env: dict[
        str, str
    ]  # cluster.env: KUBECONFIG, CLUSTER_BIN, API_SERVER, CA_CERT, SERVICE_CIDR, ...

    @property
    def control_plane(self) -> ControlPlane:
        return ControlPlane(Path(self.env["CLUSTER_DIR"]))

    @property
    def bin(self) -> Path:
        return Path(self.env["CLUSTER_BIN"])

    @property
    def kube_env(self) -> dict[str, str]:
        """The settings that point kubectl and helm at this cluster (helm's homes inside the
        cluster's directory)."""
        return {
            "KUBECONFIG": self.env["KUBECONFIG"],
            "HELM_CACHE_HOME": self.env["CLUSTER_DIR"] + "/helm/cache",
            "HELM_CONFIG_HOME": self.env["CLUSTER_DIR"] + "/helm/config",
            "HELM_DATA_HOME": self.env["CLUSTER_DIR"] + "/helm/data",
        }

    def run(
        self, tool: str, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl or helm against this cluster; a failure names the command and its output."""
        return run(
            self.bin / tool,
            *args,
            env={**os.environ, **self.kube_env},
            input=stdin,
            check=check,
            timeout=300,
        )

    def kubectl(
        self, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return self.run("kubectl", *args, stdin=stdin, check=check)

    def helm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("helm", *args, check=check)

    def get(self, *args: str) -> Any:
        """kubectl get ... -o json, parsed."""
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)


def module_dir(module: str, version: str) -> Path:
    """The module's source tree in the Go module cache, downloaded through the proxy if needed."""
    out = subprocess.run(
        ["go", "mod", "download", "-json", f"{module}@{version}"],
        capture_output=True,
        text=True,
        check=False,
    )
    info = json.loads(out.stdout or "{}")
    if out.returncode != 0 or "Dir" not in info:
        raise AssertionError(
            f"go mod download {module}@{version} failed: {info.get('Error') or out.stderr}"
        )
    return Path(info["Dir"])
