"""The chart's NetworkPolicies enforced on the test node: KubeNode runs kube-network-policies (the
engine kind ships: nftables hands the packets of pods that a policy selects to NFQUEUE, where it
accepts or drops each new connection), so these tests see a policy block something.

Each refusal has its control beside it: the same probe towards the same target from where a policy
allows it connects, so what stops the refused one is the policy engine, not a missing route or a
closed port. A probe is a TCP connect with a 3 s timeout, from a pod (the fake CoinGecko's image,
which has Python) or from the backend's own container; a dropped SYN times out (`TimeoutError`).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import yaml
from clusterkit import Cluster
from nodekit import CHART, NAMESPACE, RELEASE, VPC_CIDR, Node, Release, get, pods, rates_answered
from testkit.processes import wait_until

OUTSIDE = "crypto-rates-outsider"  # a namespace without policies, as another team's would be
DATABASE_NS = "crypto-rates-policy-db"  # the chart's database policy around a stand-in PostgreSQL
API_ADDRESS = str(
    ipaddress.ip_network(VPC_CIDR)[2]
)  # the API server for pods, in the VPC as on EKS
PROBE = """
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3).close()
    print("connected")
except OSError as error:
    print(type(error).__name__)
"""
CONNECTED, DROPPED = "connected", "TimeoutError"


def probe_pod(
    name: str, labels: dict[str, str], *, command: list[str], port: int = 0
) -> dict[str, Any]:
    """A pod of the fake CoinGecko's image (imported on the node) that Pod Security's restricted
    profile admits, running COMMAND; PORT: a container port named postgres."""
    container: dict[str, Any] = {
        "name": "probe",
        "image": "crypto-rates-fake-coingecko:test",
        "imagePullPolicy": "Never",
        "command": command,
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    if port:
        container["ports"] = [{"name": "postgres", "containerPort": port}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "automountServiceAccountToken": False,
            "terminationGracePeriodSeconds": 0,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 10003,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [container],
        },
    }


@dataclass
class Probes:
    cluster: Cluster

    def start(self, namespace: str, pod: dict[str, Any]) -> str:
        """Run POD in NAMESPACE until Ready; its IP."""
        self.cluster.kubectl("apply", "-n", namespace, "-f", "-", stdin=json.dumps(pod))
        name = pod["metadata"]["name"]
        self.cluster.kubectl(
            "wait", "-n", namespace, "--for", "condition=Ready", f"pod/{name}", "--timeout", "120s"
        )
        ip: str = self.cluster.get("pod", name, "-n", namespace)["status"]["podIP"]
        return ip

    def connect(self, namespace: str, source: str, target: str) -> str:
        """What a TCP connect from SOURCE (pod, deployment/NAME) to TARGET (ip:port) ended in."""
        host, port = target.rsplit(":", 1)
        out = self.cluster.kubectl(
            "exec", "-n", namespace, source, "--", "python3", "-c", PROBE, host, port
        ).stdout
        return out.strip().splitlines()[-1]


def pod_target(cluster: Cluster, part: str) -> str:
    """ip:port of a running pod of PART (or the fake CoinGecko) and its first container port."""
    if part == "fake-coingecko":
        selector = f"app.kubernetes.io/name={part}"
        found = cluster.get("pods", "-n", NAMESPACE, "-l", selector)["items"]
    else:
        found = pods(cluster, part)
    pod = next(p for p in found if "deletionTimestamp" not in p["metadata"])
    port = pod["spec"]["containers"][0]["ports"][0]["containerPort"]
    return f"{pod['status']['podIP']}:{port}"


BACKEND = f"deployment/{RELEASE}-backend"
SLEEP = ["sleep", "3600"]


@pytest.fixture(scope="module")
def probes(cluster: Cluster, node: Node, release: Release) -> Iterator[Probes]:
    """A probe pod in OUTSIDE, and one in the release's namespace labelled as an API client."""
    kit = Probes(cluster)
    cluster.kubectl("create", "namespace", OUTSIDE)
    try:
        kit.start(OUTSIDE, probe_pod("outsider", {}, command=SLEEP))
        client = {"app.kubernetes.io/instance": RELEASE, "crypto-rates.io/backend-client": "true"}
        kit.start(NAMESPACE, probe_pod("api-client", client, command=SLEEP))
        yield kit
    finally:
        cluster.kubectl("delete", "pod", "-n", NAMESPACE, "api-client", "--wait=false")
        cluster.kubectl("delete", "namespace", OUTSIDE, "--wait=false")


def test_a_pod_in_another_namespace_cannot_reach_the_backend(
    cluster: Cluster, probes: Probes
) -> None:
    backend, frontend = pod_target(cluster, "backend"), pod_target(cluster, "frontend")
    assert probes.connect(OUTSIDE, "outsider", backend) == DROPPED
    # controls: the same pod reaches the frontend (open to anyone), an API client the backend
    assert probes.connect(OUTSIDE, "outsider", frontend) == CONNECTED
    assert probes.connect(NAMESPACE, "api-client", backend) == CONNECTED


def test_a_pod_in_another_namespace_cannot_reach_the_database(
    cluster: Cluster, probes: Probes
) -> None:
    """The chart's database policy (rendered with the bundled PostgreSQL) around a stand-in that
    listens on 5432 with the database's labels; the release's backend labels let a pod in."""
    rendered = cluster.helm(
        "template", RELEASE, str(CHART), "-n", DATABASE_NS,
        "--set", "backend.database.bundled.enabled=true",
        "--set", "backend.database.bundled.existingSecret=unused",
        "--show-only", "charts/backend/templates/database/networkpolicy.yaml",
    ).stdout  # fmt: skip
    policy = yaml.safe_load(rendered)
    selector = policy["spec"]["podSelector"]["matchLabels"]
    assert policy["kind"] == "NetworkPolicy" and selector["app.kubernetes.io/name"] == "database"
    cluster.kubectl("create", "namespace", DATABASE_NS)
    try:
        cluster.kubectl("apply", "-n", DATABASE_NS, "-f", "-", stdin=rendered)
        listen = ["python3", "-m", "http.server", "5432"]
        database = probes.start(
            DATABASE_NS, probe_pod("database", selector, command=listen, port=5432)
        )
        backend = {**selector, "app.kubernetes.io/name": "backend"}
        probes.start(DATABASE_NS, probe_pod("backend", backend, command=SLEEP))
        assert probes.connect(OUTSIDE, "outsider", f"{database}:5432") == DROPPED
        assert probes.connect(DATABASE_NS, "backend", f"{database}:5432") == CONNECTED  # control
    finally:
        cluster.kubectl("delete", "namespace", DATABASE_NS, "--wait=false")


def test_the_frontend_reaches_the_backend(release: Release) -> None:
    """nginx proxies /api/ to the backend Service: both policies let that connection through."""
    assert rates_answered(*get(release.url + "/api/v1/rates"))


def test_the_backend_cannot_reach_the_api_server(
    cluster: Cluster, node: Node, probes: Probes
) -> None:
    endpoint = node.machine.api_endpoint(API_ADDRESS)
    assert probes.connect(OUTSIDE, "outsider", endpoint) == CONNECTED  # control: it answers pods
    assert probes.connect(NAMESPACE, BACKEND, endpoint) == DROPPED


def test_the_backend_cannot_reach_an_arbitrary_in_cluster_port(
    cluster: Cluster, probes: Probes
) -> None:
    frontend = pod_target(cluster, "frontend")
    assert probes.connect(NAMESPACE, BACKEND, frontend) == DROPPED
    assert probes.connect(OUTSIDE, "outsider", frontend) == CONNECTED  # control: it is open
    # control: the backend's own allowed egress (HTTPS, here to the fake CoinGecko pod) connects
    upstream = pod_target(cluster, "fake-coingecko")
    assert upstream.endswith(":443") and probes.connect(NAMESPACE, BACKEND, upstream) == CONNECTED


def test_dns_works_from_the_backend(cluster: Cluster, release: Release) -> None:
    service = cluster.get("service", "fake-coingecko", "-n", NAMESPACE)["spec"]["clusterIP"]
    resolve = "import socket; print(socket.gethostbyname('fake-coingecko'))"

    def resolved() -> str:
        return cluster.kubectl(
            "exec", "-n", NAMESPACE, BACKEND, "--", "python3", "-c", resolve, check=False
        ).stdout.strip()

    wait_until("the backend to resolve fake-coingecko", lambda: resolved() == service, 20, 2)
