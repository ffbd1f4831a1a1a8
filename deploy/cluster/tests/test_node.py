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
import re
import secrets
import shutil
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
import yaml
from clusterkit import CLUSTER_DIR, REPO, Cluster
from testkit.processes import free_port

NODE_DIR = CLUSTER_DIR / "node"
NODE_SH = NODE_DIR / "node.sh"
CHART = REPO / "deploy" / "helm" / "crypto-rates"
NAMESPACE = "crypto-rates"
RELEASE = "crypto-rates"
UPSTREAM = "http://fake-coingecko:9900/api/v3"

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


# ---- the delivery flow: registry -> push -> certs -> deploy ------------------------------------
# Every step is the project's own make target, run as a user would (docs/DEPLOYMENT-GUIDE.md).

ENGINE = "unix:///run/crypto-rates-images/docker.sock"  # deploy/images/provision.sh's dockerd
PROVISION = REPO / "deploy" / "images" / "provision.sh"
PULL_SECRET = "crypto-rates-registry"
TAGS = ("test", "rollout", "outage")  # pushed up front: the install, then two upgrades to new tags


def make(*args: str, env: dict[str, str], timeout: float = 900) -> str:
    return sh("make", "--no-print-directory", "-C", REPO, *args, env=env, timeout=timeout)


@dataclass
class Registry:
    """The private registry of `make registry` (TLS + htpasswd) on 127.0.0.1."""

    dir: Path
    addr: str
    env: dict[str, str]  # REGISTRY_* settings and credentials for make; never printed

    @property
    def ca(self) -> Path:
        return self.dir / "state" / "ca.crt"

    def pinned(self, tag: str) -> Path:
        return self.dir / f"images-{tag}.yaml"


@contextmanager
def private_registry() -> Iterator[Registry]:
    work = Path(tempfile.mkdtemp(prefix="crypto-rates-node-registry-"))
    addr = f"127.0.0.1:{free_port()}"
    env = {
        **os.environ,
        "REGISTRY_DIR": str(work / "state"),
        "REGISTRY_ADDR": addr,
        "REGISTRY": addr,
        "REGISTRY_NAMES": "localhost",
        "REGISTRY_IPS": "127.0.0.1",
        "REGISTRY_USER": "node-test",
        "REGISTRY_PASSWORD": secrets.token_urlsafe(18),
    }
    registry = Registry(work, addr, env)
    # The pushing Docker engine trusts the registry through /etc/docker/certs.d/<host:port>/ca.crt.
    engine_trust = Path("/etc/docker/certs.d") / addr
    try:
        make("registry", env=env)
        engine_trust.mkdir(parents=True, exist_ok=True)
        shutil.copy(registry.ca, engine_trust / "ca.crt")
        yield registry
    finally:
        shutil.rmtree(engine_trust, ignore_errors=True)
        subprocess.run(["make", "-C", str(REPO), "registry-stop"], env=env, check=False, timeout=60)
        shutil.rmtree(work, ignore_errors=True)


def push_images(registry: Registry, fake_archive: Path) -> None:
    """`make push` of the :test images of make test-images under each of TAGS, and the fake
    CoinGecko (a test image, not part of the delivery) saved for `node.sh import`."""
    sh(PROVISION, "start")
    try:
        env = {**registry.env, "DOCKER_HOST": ENGINE}
        for tag in TAGS:
            for image in ("crypto-rates-backend", "crypto-rates-frontend"):
                sh("docker", "tag", f"{image}:test", f"{image}:{tag}", env=env)
            make("push", env={**env, "IMAGE_TAG": tag, "PINNED_VALUES": str(registry.pinned(tag))})
        sh("docker", "save", "-o", fake_archive, "crypto-rates-fake-coingecko:test", env=env)
    finally:
        sh(PROVISION, "stop")


@dataclass
class Node:
    dir: Path
    registry: Registry
    pull_before_certs: str = ""  # what containerd said to an anonymous pull before make certs
    pull_after_certs: str = ""  # ... and after it
    certs_output: str = ""  # make certs' output (Ansible's)

    @property
    def certs_d(self) -> Path:
        return self.dir / "certs.d"  # node.sh's default config_path

    def forward(self, target: str) -> str:
        """A URL on 127.0.0.1 that reaches TARGET (ip:port) inside the node's network namespace."""
        port = free_port()
        sh(NODE_SH, "forward", self.dir, str(port), target)
        return f"http://127.0.0.1:{port}"

    def anonymous_pull(self, hosts_dir: Path | None = None) -> str:
        """What containerd says to a pull through the node's certs.d, without credentials."""
        image = f"{self.registry.addr}/crypto-rates-frontend:test"
        hosts = str(hosts_dir or self.certs_d)
        args = ["ctr", str(self.dir), "images", "pull", "--hosts-dir", hosts, image]
        result = subprocess.run([str(NODE_SH), *args], capture_output=True, text=True, timeout=60)
        return result.stdout + result.stderr

    def make_certs(self) -> str:
        """`make certs` over real SSH to the node's sshd. The node shares this machine's file
        system, so the role's paths point into the node's directory, not the machine's stores."""
        ssh = self.dir / "ansible"
        ssh.mkdir()
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", ssh / "id_ed25519")
        port = free_port()
        sh(NODE_SH, "sshd", self.dir, str(port), ssh / "id_ed25519.pub")
        scan = ""
        for _ in range(50):
            scan = subprocess.run(
                ["ssh-keyscan", "-p", str(port), "127.0.0.1"], capture_output=True, text=True
            ).stdout
            if scan.strip():
                break
            time.sleep(0.2)
        assert scan.strip(), f"the node's sshd does not answer on 127.0.0.1:{port}"
        (ssh / "known_hosts").write_text(scan)
        host = {
            "ansible_host": "127.0.0.1",
            "ansible_port": port,
            "ansible_user": "root",
            "ansible_become": False,
            "ansible_python_interpreter": "/usr/bin/python3",
            "ansible_ssh_private_key_file": str(ssh / "id_ed25519"),
            "ansible_ssh_common_args": f"-o UserKnownHostsFile={ssh / 'known_hosts'}"
            " -o StrictHostKeyChecking=yes",
        }
        inventory = {"all": {"children": {"k8s_nodes": {"hosts": {"test-node": host}}}}}
        (ssh / "inventory.json").write_text(json.dumps(inventory))
        paths = {
            "registry_ca_containerd_config": str(self.dir / "containerd" / "config.toml"),
            "registry_ca_containerd_certs_dir": str(self.certs_d),
            "registry_ca_trust_dir": str(self.dir / "ca-certificates"),
            "registry_ca_docker_certs_dir": str(self.dir / "docker-certs.d"),
        }
        (ssh / "paths.json").write_text(json.dumps(paths))
        (self.dir / "ca-certificates").mkdir()
        env = {
            **self.registry.env,
            "INVENTORY": str(ssh / "inventory.json"),
            "REGISTRY_CA": str(self.registry.ca),
            "ANSIBLE_ARGS": f"-e @{ssh / 'paths.json'}",
            "ANSIBLE_FORCE_COLOR": "0",
        }
        return make("certs", env=env)


@pytest.fixture(scope="module")
def node(cluster: Cluster) -> Iterator[Node]:
    with phase("build pause image and CoreDNS (cached after the first run)"):
        build = sh(NODE_DIR / "build.sh").splitlines()[-1]
    workdir = Path(tempfile.mkdtemp(prefix="crypto-rates-node-"))
    fake_archive = Path(tempfile.mkdtemp(prefix="crypto-rates-node-fake-")) / "fake.tar"
    env = {
        **os.environ,
        "CLUSTER_ENV": f"{cluster.env['CLUSTER_DIR']}/cluster.env",
        "NODE_BUILD": build,
    }
    with private_registry() as registry:
        try:
            with phase(f"make push: both images as {', '.join(TAGS)} to {registry.addr}"):
                push_images(registry, fake_archive)
            with phase("node up (namespace, containerd, kubelet, kube-proxy, CoreDNS) until Ready"):
                sh(NODE_SH, "up", workdir, env=env)
            node = Node(workdir, registry)
            port = registry.addr.rsplit(":", 1)[1]
            sh(NODE_SH, "reach", workdir, port)  # the registry at the same address inside the node
            sh(NODE_SH, "import", workdir, fake_archive)
            node.pull_before_certs = node.anonymous_pull()
            with phase("make certs (Ansible over SSH to the node)"):
                node.certs_output = node.make_certs()
            node.pull_after_certs = node.anonymous_pull()
            yield node
        finally:
            subprocess.run([str(NODE_SH), "down", str(workdir)], check=False, timeout=180)
            shutil.rmtree(fake_archive.parent, ignore_errors=True)


def own_values(node: Node) -> Path:
    """The test's values, after values-dev.yaml and the pinned digests: the fake upstream, two
    backend replicas (so one can go away) and the shortest refresh interval the backend accepts
    (its retries after a failed refresh back off up to the interval: 15, 30, 60 s)."""
    values = {
        "backend": {
            "replicaCount": 2,
            "config": {"baseUrl": UPSTREAM, "allowTestUpstream": True, "refreshInterval": 60},
        }
    }
    path = node.dir / "test-values.json"
    path.write_text(json.dumps(values))
    return path


def deploy_env(cluster: Cluster, node: Node, namespace: str) -> dict[str, str]:
    """The environment of `make deploy` against the test cluster."""
    return {
        **node.registry.env,
        "KUBECONFIG": cluster.env["KUBECONFIG"],
        "HELM": str(cluster.bin / "helm"),
        "KUBECTL": str(cluster.bin / "kubectl"),
        "HELM_CACHE_HOME": cluster.env["CLUSTER_DIR"] + "/helm/cache",
        "HELM_CONFIG_HOME": cluster.env["CLUSTER_DIR"] + "/helm/config",
        "HELM_DATA_HOME": cluster.env["CLUSTER_DIR"] + "/helm/data",
        "ENV": "dev",
        "NAMESPACE": namespace,
        "RELEASE": RELEASE,
        "PINNED_VALUES": str(node.registry.pinned("test")),
        "DEPLOY_VALUES": str(own_values(node)),
        "DEPLOY_TIMEOUT": "240s",
    }


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


def helm_install(
    cluster: Cluster, node: Node, namespace: str, *extra: str, timeout: str = "240s"
) -> None:
    """helm install --wait with make deploy's values and pull Secret (copied into NAMESPACE); on
    failure the error also names each pod that is not Ready and why."""
    secret = cluster.get("secret", PULL_SECRET, "-n", NAMESPACE)
    secret["metadata"] = {"name": PULL_SECRET, "namespace": namespace}
    cluster.kubectl("create", "-f", "-", stdin=json.dumps(secret))
    env = deploy_env(cluster, node, namespace)
    args = ["install", RELEASE, str(CHART), "-n", namespace, "-f", str(CHART / "values-dev.yaml")]
    args += ["-f", env["PINNED_VALUES"], "-f", env["DEPLOY_VALUES"]]
    args += ["--set", f"global.imagePullSecrets[0].name={PULL_SECRET}", *extra]
    result = cluster.helm(*args, "--wait", "--timeout", timeout, check=False)
    if result.returncode != 0:
        raise AssertionError(
            f"helm install failed: {result.stderr.strip()}\n"
            + "\n".join(not_ready_pods(cluster, namespace))
        )


def tag(*parts: str, value: str) -> list[str]:
    """helm --set arguments moving PARTS (backend, frontend) from the pinned digest to a tag."""
    args = []
    for part in parts:
        args += ["--set", f"{part}.image.digest=", "--set", f"{part}.image.tag={value}"]
    return args


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
    deploy_output: str  # what make deploy printed (helm upgrade --install, helm test)


@pytest.fixture(scope="module")
def release(cluster: Cluster, node: Node) -> Release:
    with phase("fake CoinGecko pod Ready"):
        create_namespace(cluster, NAMESPACE)
    with phase(
        "make deploy ENV=dev (pull Secret, helm upgrade --install --atomic --wait, helm test)"
    ):
        output = make("deploy", env=deploy_env(cluster, node, NAMESPACE))

    def service_url(name: str) -> str:
        spec = cluster.get("service", name, "-n", NAMESPACE)["spec"]
        return node.forward(f"{spec['clusterIP']}:{spec['ports'][0]['port']}")

    return Release(service_url(f"{RELEASE}-frontend"), service_url("fake-coingecko"), output)


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


def test_make_certs_made_the_node_trust_the_registry(node: Node, tmp_path: Path) -> None:
    """Before make certs containerd has no entry for the registry and speaks plain HTTP to a
    loopback registry, which the TLS-only registry refuses (400). After it, TLS holds and the
    registry asks for credentials (an anonymous pull gets 401); the same hosts.toml without its CA
    fails TLS. Ansible changed only certs.d and left containerd's config (config_path in place)
    alone."""
    assert "400 Bad Request" in node.pull_before_certs, node.pull_before_certs
    assert "401 Unauthorized" in node.pull_after_certs and "x509" not in node.pull_after_certs, (
        node.pull_after_certs
    )
    certs = node.certs_d / node.registry.addr
    assert (certs / "ca.crt").read_text() == node.registry.ca.read_text()
    hosts = (certs / "hosts.toml").read_text()
    assert f'ca = "{certs}/ca.crt"' in hosts, hosts
    without_ca = tmp_path / node.registry.addr
    without_ca.mkdir()
    (without_ca / "hosts.toml").write_text(hosts.replace(f'ca = "{certs}/ca.crt"', ""))
    assert "ca = " not in (without_ca / "hosts.toml").read_text()
    untrusted = node.anonymous_pull(tmp_path)
    assert "x509: certificate signed by unknown authority" in untrusted, untrusted
    recap = re.search(r"^test-node\s+:\s+(.*)$", node.certs_output, re.M)
    assert recap, node.certs_output
    counts = dict(pair.split("=") for pair in recap.group(1).split())
    assert counts["failed"] == "0" and counts["unreachable"] == "0", recap.group(0)
    assert int(counts["changed"]) >= 3, recap.group(0)  # trust store, ca.crt, hosts.toml
    assert "restart containerd" not in node.certs_output, node.certs_output


def test_pods_run_the_pinned_digests_from_the_private_registry(
    cluster: Cluster, node: Node, release: Release
) -> None:
    pinned = yaml.safe_load(node.registry.pinned("test").read_text())
    assert pinned["global"]["imageRegistry"] == node.registry.addr, pinned
    for part in ("backend", "frontend"):
        digest = pinned[part]["image"]["digest"]
        expected = f"{node.registry.addr}/crypto-rates-{part}@{digest}"
        for pod in pods(cluster, part):
            assert pod["spec"]["containers"][0]["image"] == expected
            assert pod["spec"]["imagePullSecrets"] == [{"name": PULL_SECRET}]
            image_id = pod["status"]["containerStatuses"][0]["imageID"]
            assert image_id.endswith(digest), image_id


def test_a_pod_without_the_pull_secret_is_refused_by_the_registry(
    cluster: Cluster, node: Node, release: Release
) -> None:
    namespace = "crypto-rates-no-secret"
    cluster.kubectl("create", "namespace", namespace)
    image = f"{node.registry.addr}/crypto-rates-frontend:test"
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "no-secret", "namespace": namespace},
        "spec": {
            "containers": [{"name": "c", "image": image, "imagePullPolicy": "Always"}],
            "securityContext": {"runAsNonRoot": True, "runAsUser": 10002},
        },
    }
    try:
        cluster.kubectl("apply", "-f", "-", stdin=json.dumps(pod))
        deadline, waiting = time.monotonic() + 90, {}
        while time.monotonic() < deadline:
            status = cluster.get("pod", "no-secret", "-n", namespace)["status"]
            waiting = status.get("containerStatuses", [{}])[0].get("state", {}).get("waiting", {})
            if waiting.get("reason") in ("ErrImagePull", "ImagePullBackOff"):
                break
            time.sleep(2)
        assert waiting.get("reason") in ("ErrImagePull", "ImagePullBackOff"), waiting
        events = cluster.get("events", "-n", namespace)["items"]
        messages = " ".join(e["message"] for e in events)
        assert "401 Unauthorized" in messages, messages
    finally:
        cluster.kubectl("delete", "namespace", namespace, "--wait=false")


def test_make_deploy_ran_helm_test_and_it_passed(release: Release) -> None:
    out = release.deploy_output
    suite = out.split("TEST SUITE:", 1)[-1]
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


def test_rolling_upgrade_to_a_new_tag_loses_no_request(cluster: Cluster, release: Release) -> None:
    with phase("rolling upgrade under load"), Load(release.url + "/api/v1/rates") as load:
        time.sleep(1)
        helm_upgrade(
            cluster, *tag("backend", "frontend", value="rollout"), "--wait", "--timeout", "240s"
        )
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


def test_upstream_outage_during_a_rollout(cluster: Cluster, release: Release) -> None:
    """The backend's snapshot lives in an emptyDir, so a new pod cannot become Ready while CoinGecko
    is down; the rollout (maxUnavailable 0) must wait and the old replicas keep serving. The test
    says which happened."""
    set_upstream(release, "500")
    try:
        with (
            phase("rollout during an upstream outage, under load"),
            Load(release.url + "/api/v1/rates") as load,
        ):
            helm_upgrade(cluster, *tag("backend", value="outage"))
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
    cluster: Cluster, node: Node, release: Release
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
                node,
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
