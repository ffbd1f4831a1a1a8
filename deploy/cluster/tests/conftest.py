"""A real control plane for the tests: localcluster.ControlPlane up in a temporary directory,
down (processes stopped, directory removed) when the session ends, whatever happened.

Fixtures: `cluster` (the running control plane and kubectl/helm runners), `crds` (the
prometheus-operator and Gateway API CRDs, read from their Go modules, installed and established),
`node` (a real node joined to it, the private registry pushed to, make certs done) and `release`
(make deploy of the chart on that node), one of each per session (nodekit.py).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from clusterkit import VERSIONS, Cluster, module_dir
from localcluster import ControlPlane
from nodekit import Node, Release, deploy_release, print_past_capture, running_node


@pytest.fixture(scope="session", autouse=True)
def _print_past_capture(pytestconfig: pytest.Config) -> None:
    print_past_capture(pytestconfig)


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    plane = ControlPlane(Path(tempfile.mkdtemp(prefix="crypto-rates-cluster-")))
    try:
        yield Cluster(plane.up())
    finally:
        plane.down()


CRD_FILES = {
    ("github.com/prometheus-operator/prometheus-operator", "PROMETHEUS_OPERATOR_VERSION"): [
        "example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml",
        "example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml",
    ],
    ("sigs.k8s.io/gateway-api", "GATEWAY_API_VERSION"): [
        "config/crd/standard/gateway.networking.k8s.io_httproutes.yaml",
    ],
}


@pytest.fixture(scope="session")
def crds(cluster: Cluster) -> list[str]:
    """Install the ServiceMonitor, PrometheusRule and HTTPRoute CRDs; names once Established."""
    names = []
    for (module, version_key), files in CRD_FILES.items():
        root = module_dir(module, "v" + VERSIONS[version_key])
        for file in files:
            # server-side: these CRDs are too large for client-side apply's last-applied annotation
            out = cluster.kubectl(
                "apply", "--server-side", "-f", str(root / file), "-o", "name"
            ).stdout
            names += out.split()
    cluster.kubectl("wait", "--for", "condition=Established", "--timeout", "60s", *names)
    return names


@pytest.fixture(scope="session")
def node(cluster: Cluster) -> Iterator[Node]:
    """Every test on the node depends on this: without root they are skipped, here, once."""
    if os.geteuid() != 0:
        pytest.skip("the node needs root (network namespace, containerd)")
    with running_node(cluster) as machine:
        yield machine


@pytest.fixture(scope="session")
def release(cluster: Cluster, crds: list[str], node: Node) -> Release:
    """make deploy renders the ServiceMonitor and PrometheusRule: their CRDs come first."""
    return deploy_release(cluster, node)
