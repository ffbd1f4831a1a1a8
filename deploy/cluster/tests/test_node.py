"""The chart on a real node (deploy/cluster/node/node.sh): containerd + runc + CNI bridge,
kubelet, kube-proxy and CoreDNS in a network namespace of their own, joined to the control plane of
the `cluster` fixture. The backend and frontend images are the ones `make test-images` built; the
fake CoinGecko runs as a pod and Service from a test image of its own.

The tests run in file order and share one release: install, helm test, traffic through the frontend
Service, the pods' security context, a rolling upgrade under load, a deleted backend pod, an
upstream outage during a rollout, and a release whose readiness probe is broken. Each phase prints
its duration.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from clusterkit import CLUSTER_DIR, REPO, Cluster

NODE_DIR = CLUSTER_DIR / "node"
NODE_SH = NODE_DIR / "node.sh"
CHART = REPO / "deploy" / "helm" / "crypto-rates"
NAMESPACE = "crypto-rates"
RELEASE = "crypto-rates"
UPSTREAM = "http://fake-coingecko:9900/api/v3"
BACKEND, FRONTEND = (
    "docker.io/library/crypto-rates-backend",
    "docker.io/library/crypto-rates-frontend",
)

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="the node needs root (network namespace, containerd)"
)


_capture = None  # pytest's capture manager: the timings are printed past it, so CI's log shows them


@pytest.fixture(scope="module", autouse=True)
def _print_past_capture(pytestconfig: pytest.Config) -> None:
    global _capture
    _capture = pytestconfig.pluginmanager.getplugin("capturemanager")


def say(line: str) -> None:
    if _capture is None:
        print(f"[test-cluster node] {line}", flush=True)
        return
    with _capture.global_and_fixture_disabled():
        print(f"\n[test-cluster node] {line}", flush=True)


@contextmanager
def phase(name: str) -> Iterator[None]:
    """Print how long a phase took."""
    start = time.monotonic()
    try:
        yield
    finally:
        say(f"{name}: {time.monotonic() - start:.1f} s")


def sh(*args: str | Path, env: dict[str, str] | None = None, timeout: float = 900) -> str:
    """Run a provisioning script; on failure the error names the command and shows its output."""
    result = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, env=env, timeout=timeout
    )
    if result.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, args))} failed ({result.returncode}):\n"
            f"{result.stderr}{result.stdout}"
        )
    return result.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Node:
    dir: Path

    def forward(self, target: str) -> str:
        """A URL on 127.0.0.1 that reaches TARGET (ip:port) inside the node's network namespace."""
        port = free_port()
        sh(NODE_SH, "forward", self.dir, str(port), target)
        return f"http://127.0.0.1:{port}"

    def ctr(self, *args: str) -> str:
        return sh(NODE_SH, "ctr", self.dir, *args)


@pytest.fixture(scope="module")
def node(cluster: Cluster) -> Iterator[Node]:
    with phase("build pause image and CoreDNS (cached after the first run)"):
        build = sh(NODE_DIR / "build.sh").splitlines()[-1]
    # NODE_IMAGES: a directory of archives node/images.sh wrote before (skips the export).
    images = Path(
        os.environ.get("NODE_IMAGES") or tempfile.mkdtemp(prefix="crypto-rates-node-images-")
    )
    workdir = Path(tempfile.mkdtemp(prefix="crypto-rates-node-"))
    env = {
        **os.environ,
        "CLUSTER_ENV": f"{cluster.env['CLUSTER_DIR']}/cluster.env",
        "NODE_BUILD": build,
    }
    try:
        if "NODE_IMAGES" not in os.environ:
            with phase("save the three :test images of make test-images"):
                sh(NODE_DIR / "images.sh", images)
        with phase("node up (namespace, containerd, kubelet, kube-proxy, CoreDNS) until Ready"):
            sh(NODE_SH, "up", workdir, env=env)
        with phase("import the images into the node's containerd"):
            sh(NODE_SH, "import", workdir, *sorted(images.glob("*.tar")))
        yield Node(workdir)
    finally:
        subprocess.run([str(NODE_SH), "down", str(workdir)], check=False, timeout=180)
        if "NODE_IMAGES" not in os.environ:
            subprocess.run(["rm", "-rf", str(images)], check=False)


def images(tag: str) -> list[str]:
    return ["--set", f"backend.image.tag={tag}", "--set", f"frontend.image.tag={tag}"]


def install_args(namespace: str, *extra: str, timeout: str = "240s") -> list[str]:
    # values-dev.yaml, the fake upstream, two backend replicas (so one can go away), the node's
    # images. The shortest refresh interval the backend accepts: after a failed refresh it waits a
    # whole interval, so a pod started during an outage recovers within 60 s, not 300 s.
    return [
        "install",
        RELEASE,
        str(CHART),
        "-n",
        namespace,
        "-f",
        str(CHART / "values-dev.yaml"),
        "--set",
        f"backend.config.baseUrl={UPSTREAM}",
        "--set",
        "backend.replicaCount=2",
        "--set",
        "backend.config.refreshInterval=60",
        *images("test"),
        *extra,
        "--wait",
        "--timeout",
        timeout,
    ]


def not_ready_pods(cluster: Cluster, namespace: str) -> list[str]:
    """One line per pod that is not Ready: its name and the latest event that says why."""
    lines = []
    for pod in cluster.get("pods", "-n", namespace)["items"]:
        conditions = {c["type"]: c["status"] for c in pod["status"].get("conditions", [])}
        if conditions.get("Ready") == "True" or pod["status"].get("phase") == "Succeeded":
            continue
        name = pod["metadata"]["name"]
        events = cluster.get(
            "events", "-n", namespace, "--field-selector", f"involvedObject.name={name}"
        )["items"]
        why = events[-1]["message"] if events else pod["status"].get("phase", "?")
        lines.append(f"pod {name} not Ready: {why}")
    return lines


def helm_install(cluster: Cluster, namespace: str, *extra: str, timeout: str = "240s") -> None:
    """helm install --wait; on failure the error also names each pod that is not Ready and why."""
    result = cluster.helm(*install_args(namespace, *extra, timeout=timeout), check=False)
    if result.returncode != 0:
        raise AssertionError(
            f"helm install failed: {result.stderr.strip()}\n"
            + "\n".join(not_ready_pods(cluster, namespace))
        )


def helm_upgrade(cluster: Cluster, *extra: str) -> None:
    """`helm upgrade` of the test release, keeping its values, with `extra` arguments."""
    cluster.helm("upgrade", RELEASE, str(CHART), "-n", NAMESPACE, "--reuse-values", *extra)


def create_namespace(cluster: Cluster, namespace: str) -> None:
    cluster.kubectl("create", "namespace", namespace)
    cluster.kubectl(
        "label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted"
    )
    cluster.kubectl("apply", "-n", namespace, "-f", str(NODE_DIR / "fake-coingecko.yaml"))
    cluster.kubectl(
        "rollout", "status", "-n", namespace, "deployment/fake-coingecko", "--timeout", "120s"
    )


@dataclass
class Release:
    url: str  # the frontend Service, through the node: http://127.0.0.1:PORT
    upstream: str  # the fake CoinGecko Service's control endpoint


@pytest.fixture(scope="module")
def release(cluster: Cluster, node: Node) -> Release:
    with phase("fake CoinGecko pod Ready"):
        create_namespace(cluster, NAMESPACE)
    with phase("helm install --wait (values-dev.yaml)"):
        helm_install(cluster, NAMESPACE)

    def service_url(name: str) -> str:
        spec = cluster.get("service", name, "-n", NAMESPACE)["spec"]
        return node.forward(f"{spec['clusterIP']}:{spec['ports'][0]['port']}")

    return Release(service_url(f"{RELEASE}-frontend"), service_url("fake-coingecko"))


def get(url: str, timeout: float = 5) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status, response.read()


@dataclass
class Load:
    """A bounded client loop against one URL in a thread: at most MAX requests or MAX_SECONDS."""

    url: str
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
                status, body = get(self.url)
                if status == 200 and json.loads(body)["count"] > 0:
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
        total = self.ok + len(self.failures)
        line = f"{what}: {total} requests through the frontend Service, {len(self.failures)} failed"
        say(line)
        return line + ("\n" + "\n".join(self.failures[:10]) if self.failures else "")


def deployment(cluster: Cluster, part: str) -> dict:
    return cluster.get("deployment", f"{RELEASE}-{part}", "-n", NAMESPACE)


def pods(cluster: Cluster, part: str, namespace: str = NAMESPACE) -> list[dict]:
    selector = f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/name={part}"
    return cluster.get("pods", "-n", namespace, "-l", selector)["items"]


def ready(pod: dict) -> bool:
    return any(
        c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", [])
    )


# ---- the tests ---------------------------------------------------------------------------------


def test_install_pods_ready_with_real_probes(cluster: Cluster, release: Release) -> None:
    for part, replicas in (("backend", 2), ("frontend", 1)):
        status = deployment(cluster, part)["status"]
        assert status.get("readyReplicas") == replicas, f"{part}: {status}"
        for pod in pods(cluster, part):
            container = pod["spec"]["containers"][0]
            assert {"startupProbe", "livenessProbe", "readinessProbe"} <= container.keys(), (
                f"{part}: probes missing"
            )
            assert pod["status"]["podIP"].startswith("10.244."), (
                f"{part}: pod IP {pod['status']['podIP']} outside the node's pod range"
            )


def test_pod_addresses_stay_inside_the_node_namespace(cluster: Cluster, release: Release) -> None:
    host = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True, check=True).stdout
    for pod in pods(cluster, "backend") + pods(cluster, "frontend"):
        assert f" {pod['status']['podIP']}/" not in host, (
            f"pod address {pod['status']['podIP']} is on the machine's interfaces"
        )


def test_helm_test_passes(cluster: Cluster, release: Release) -> None:
    with phase("helm test"):
        # The chart deletes its test pod once it succeeded (hook-succeeded): no logs to show.
        out = cluster.helm("test", RELEASE, "-n", NAMESPACE, "--timeout", "180s").stdout
    suite = out.split("TEST SUITE:", 1)[1].split("NOTES:", 1)[0]
    assert f"{RELEASE}-test" in suite and "Phase:          Succeeded" in suite, out


def test_ui_and_api_through_the_frontend_service(release: Release) -> None:
    status, page = get(release.url + "/")
    assert status == 200 and b"<html" in page.lower(), page[:200]
    status, body = get(release.url + "/api/v1/rates")
    assert status == 200 and json.loads(body)["count"] > 0, body[:200]


@pytest.mark.parametrize(("part", "uid"), [("backend", "10001"), ("frontend", "10002")])
def test_pods_run_as_their_user_with_a_read_only_root(
    cluster: Cluster, release: Release, part: str, uid: str
) -> None:
    script = "id -u; grep CapEff /proc/self/status; touch /probe-write 2>&1 || true"
    out = cluster.kubectl(
        "exec", "-n", NAMESPACE, f"deployment/{RELEASE}-{part}", "--", "sh", "-c", script
    ).stdout
    lines = out.splitlines()
    assert lines[0] == uid, out
    assert lines[1].split() == ["CapEff:", "0000000000000000"], out
    assert "Read-only file system" in out, out


def test_rolling_upgrade_to_a_new_tag_loses_no_request(
    cluster: Cluster, node: Node, release: Release
) -> None:
    for image in (BACKEND, FRONTEND):
        node.ctr("images", "tag", "--force", f"{image}:test", f"{image}:rollout")
    with phase("rolling upgrade under load"), Load(release.url + "/api/v1/rates") as load:
        time.sleep(1)
        helm_upgrade(cluster, *images("rollout"), "--wait", "--timeout", "240s")
        time.sleep(2)
    report = load.report("rolling upgrade")
    assert not load.failures and load.ok > 0, report
    for part in ("backend", "frontend"):  # the old pods may still be finishing their preStop sleep
        current = [
            p["spec"]["containers"][0]["image"]
            for p in pods(cluster, part)
            if "deletionTimestamp" not in p["metadata"]
        ]
        assert current and all(image.endswith(":rollout") for image in current), (
            f"{part}: {current}"
        )


def test_deleting_a_backend_pod_keeps_the_service_answering(
    cluster: Cluster, release: Release
) -> None:
    victim = pods(cluster, "backend")[0]["metadata"]["name"]
    with phase("delete a backend pod under load"), Load(release.url + "/api/v1/rates") as load:
        time.sleep(1)
        cluster.kubectl("delete", "pod", "-n", NAMESPACE, victim, "--wait", "--timeout", "120s")
        time.sleep(2)
    report = load.report(f"backend pod {victim} deleted")
    assert not load.failures and load.ok > 0, report
    cluster.kubectl(
        "rollout", "status", "-n", NAMESPACE, f"deployment/{RELEASE}-backend", "--timeout", "120s"
    )


def set_upstream(release: Release, mode: str) -> None:
    request = urllib.request.Request(
        release.upstream + "/_control/mode",
        data=json.dumps({"mode": mode}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200


def test_upstream_outage_during_a_rollout(cluster: Cluster, node: Node, release: Release) -> None:
    """The backend's snapshot lives in an emptyDir, so a new pod cannot become Ready while CoinGecko
    is down; the rollout (maxUnavailable 0) must wait and the old replicas keep serving. The test
    says which happened."""
    node.ctr("images", "tag", "--force", f"{BACKEND}:test", f"{BACKEND}:outage")
    set_upstream(release, "500")
    try:
        with (
            phase("rollout during an upstream outage, under load"),
            Load(release.url + "/api/v1/rates") as load,
        ):
            helm_upgrade(cluster, "--set", "backend.image.tag=outage")
            deadline = time.monotonic() + 45
            new_ready = False
            while time.monotonic() < deadline and not new_ready:
                new_ready = any(
                    ready(p)
                    for p in pods(cluster, "backend")
                    if p["spec"]["containers"][0]["image"].endswith(":outage")
                )
                time.sleep(3)
            old_serving = sum(
                ready(p)
                for p in pods(cluster, "backend")
                if not p["spec"]["containers"][0]["image"].endswith(":outage")
            )
        report = load.report("upstream outage during a rollout")
        if new_ready:
            verdict = (
                "the new backend pods became Ready during the outage (on a persisted snapshot)"
            )
        else:
            verdict = (
                "the new backend pod stayed unready during the outage; "
                f"{old_serving} old replicas kept serving"
            )
        say(f"outage: {verdict}")
        assert not load.failures and load.ok > 0, report
        assert new_ready or old_serving >= 1, verdict
    finally:
        set_upstream(release, "ok")
    with phase("rollout completes once the upstream is back"):
        cluster.kubectl(
            "rollout",
            "status",
            "-n",
            NAMESPACE,
            f"deployment/{RELEASE}-backend",
            "--timeout",
            "180s",
        )


def test_broken_readiness_probe_fails_the_install_naming_the_pod(
    cluster: Cluster, release: Release
) -> None:
    namespace = "crypto-rates-broken"
    with phase("fake CoinGecko for the broken release"):
        create_namespace(cluster, namespace)
    try:
        with (
            phase(
                "helm install --wait with a broken readiness path (fails after its 60 s timeout)"
            ),
            pytest.raises(AssertionError) as failure,
        ):
            helm_install(
                cluster,
                namespace,
                "--set",
                "backend.probes.readiness.path=/broken-readiness",
                "--set",
                "backend.replicaCount=1",
                timeout="60s",
            )
        message = str(failure.value)
        backend_pods = [p["metadata"]["name"] for p in pods(cluster, "backend", namespace)]
        assert backend_pods and all(f"pod {name} not Ready" in message for name in backend_pods), (
            message
        )
        assert "Readiness probe failed" in message and "404" in message, message
        say(f"broken probe: {message.splitlines()[-1]}")
    finally:
        cluster.kubectl("delete", "namespace", namespace, "--wait=false")
