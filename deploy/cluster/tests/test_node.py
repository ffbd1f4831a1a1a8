"""The chart on a real node (localcluster.KubeNode): containerd + runc + CNI bridge,
kubelet, kube-proxy and CoreDNS in a network namespace of their own, joined to the control plane of
the `cluster` fixture. The backend and frontend images are built here by deploy/images/provision.sh
(from its cache after make test-images); the fake CoinGecko runs as a pod and Service from a test
image of its own.

The tests share one release and run in any order: what the install did (its pods, make deploy's
output) is recorded by the fixture, and every test that changes the release (a rolling upgrade under
load, a deleted backend pod, an upstream outage during a rollout) leaves it rolled out and Ready.
A release whose readiness probe is broken gets its own namespace. Each phase prints its duration.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from clusterkit import CLUSTER_DIR, REPO, Cluster
from localcluster import KubeNode
from testkit.deploy import Load, Registry, ansible_inventory, make, private_registry, run, ssh_key
from testkit.processes import free_port, wait_until

NODE_DIR = CLUSTER_DIR / "node"
CHART = REPO / "deploy" / "helm" / "crypto-rates"
NAMESPACE = "crypto-rates"
RELEASE = "crypto-rates"
UPSTREAM = "http://fake-coingecko:9900/api/v3"
BACKEND_REPLICAS = 2  # so one can go away
DB_SECRET = "crypto-rates-database-unreachable"

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


# ---- the delivery flow: registry -> push -> certs -> deploy ------------------------------------
# Every step is the project's own make target, run as a user would (docs/DEPLOYMENT-GUIDE.md).

ENGINE = "unix:///run/crypto-rates-images/docker.sock"  # deploy/images/provision.sh's dockerd
PROVISION = REPO / "deploy" / "images" / "provision.sh"
PULL_SECRET = "crypto-rates-registry"
TAGS = ("test", "rollout", "outage")  # pushed up front: the install, then two upgrades to new tags


@contextmanager
def node_registry() -> Iterator[Registry]:
    """The private registry of `make registry`, its state in a temporary directory."""
    work = Path(tempfile.mkdtemp(prefix="crypto-rates-node-registry-"))
    try:
        with private_registry(work, "node-test", secrets.token_urlsafe(18)) as registry:
            registry.env["REGISTRY"] = registry.addr  # where make push and make deploy go
            yield registry
    finally:
        shutil.rmtree(work, ignore_errors=True)


def push_images(registry: Registry, fake_archive: Path) -> None:
    """`make push` of the :test images (provision.sh builds them, from its cache if nothing
    changed) under each of TAGS, and the fake CoinGecko (a test image, not part of the delivery)
    saved for the node's `ctr images import`."""
    run(PROVISION, "start")
    try:
        run(PROVISION, "build")
        env = {**registry.env, "DOCKER_HOST": ENGINE}
        for tag in TAGS:
            for image in ("crypto-rates-backend", "crypto-rates-frontend"):
                run("docker", "tag", f"{image}:test", f"{image}:{tag}", env=env)
            make("push", env={**env, "IMAGE_TAG": tag, "PINNED_VALUES": str(registry.pinned(tag))})
        run("docker", "save", "-o", fake_archive, "crypto-rates-fake-coingecko:test", env=env)
    finally:
        run(PROVISION, "stop")


@dataclass
class Node:
    machine: KubeNode
    registry: Registry
    pull_before_certs: str = ""  # what containerd said to an anonymous pull before make certs
    pull_after_certs: str = ""  # ... and after it
    certs_output: str = ""  # make certs' output (Ansible's)

    @property
    def dir(self) -> Path:
        return self.machine.dir

    @property
    def certs_d(self) -> Path:
        return self.dir / "certs.d"  # KubeNode's default config_path

    def forward(self, target: str) -> str:
        """A URL on 127.0.0.1 that reaches TARGET (ip:port) inside the node's network namespace."""
        port = free_port()
        self.machine.forward(port, target)
        return f"http://127.0.0.1:{port}"

    def anonymous_pull(self, hosts_dir: Path | None = None) -> str:
        """What containerd says to a pull through the node's certs.d, without credentials."""
        image = f"{self.registry.addr}/crypto-rates-frontend:test"
        hosts = str(hosts_dir or self.certs_d)
        result = self.machine.ctr("images", "pull", "--hosts-dir", hosts, image, timeout=60)
        return result.stdout + result.stderr

    def make_certs(self) -> str:
        """`make certs` over real SSH to the node's sshd. The node shares this machine's file
        system, so the role's paths point into the node's directory, not the machine's stores."""
        ssh = self.dir / "ansible"
        key = ssh_key(ssh)
        port = free_port()
        self.machine.sshd(port, key.with_suffix(".pub"))
        inventory = ansible_inventory(ssh, {"test-node": port}, key)
        paths = {
            "registry_ca_containerd_config": str(self.dir / "containerd" / "config.toml"),
            "registry_ca_containerd_certs_dir": str(self.certs_d),
            "registry_ca_trust_dir": str(self.dir / "ca-certificates"),
            "registry_ca_docker_certs_dir": str(self.dir / "docker-certs.d"),
            "registry_ca_containers_certs_dir": str(self.dir / "containers-certs.d"),
        }
        (ssh / "paths.json").write_text(json.dumps(paths))
        (self.dir / "ca-certificates").mkdir()
        env = {
            **self.registry.env,
            "INVENTORY": str(inventory),
            "REGISTRY_CA": str(self.registry.ca),
            "ANSIBLE_ARGS": f"-e @{ssh / 'paths.json'}",
            "ANSIBLE_FORCE_COLOR": "0",
        }
        return make("certs", env=env).stdout


@pytest.fixture(scope="module")
def node(cluster: Cluster) -> Iterator[Node]:
    with phase("build pause image and CoreDNS (cached after the first run)"):
        build = run(NODE_DIR / "build.sh").stdout.splitlines()[-1]
    machine = KubeNode(Path(tempfile.mkdtemp(prefix="crypto-rates-node-")))
    fake_archive = Path(tempfile.mkdtemp(prefix="crypto-rates-node-fake-")) / "fake.tar"
    with node_registry() as registry:
        try:
            with phase(f"make push: both images as {', '.join(TAGS)} to {registry.addr}"):
                push_images(registry, fake_archive)
            with phase("node up (namespace, containerd, kubelet, kube-proxy, CoreDNS) until Ready"):
                machine.up(cluster.control_plane, Path(build))
            node = Node(machine, registry)
            port = int(registry.addr.rsplit(":", 1)[1])
            machine.reach(port)  # the registry at the same address inside the node
            machine.import_images(fake_archive)
            node.pull_before_certs = node.anonymous_pull()
            with phase("make certs (Ansible over SSH to the node)"):
                node.certs_output = node.make_certs()
            node.pull_after_certs = node.anonymous_pull()
            yield node
        finally:
            machine.down()
            shutil.rmtree(fake_archive.parent, ignore_errors=True)


def own_values(node: Node) -> Path:
    """The test's values, after values-dev.yaml and the pinned digests: the fake upstream, two
    backend replicas (so one can go away) and the shortest refresh interval the backend accepts
    (its retries after a failed refresh back off up to the interval: 15, 30, 60 s)."""
    values = {
        "backend": {
            "replicaCount": BACKEND_REPLICAS,
            "config": {"baseUrl": UPSTREAM, "allowTestUpstream": True, "refreshInterval": 60},
            # Not yet the bundled PostgreSQL of values-dev.yaml: the node has no volume provisioner
            # and no PostgreSQL image (issue 32, item 4, open). A managed database that refuses
            # connections instead: each replica then polls alone, as the backend does whenever
            # its database is unreachable.
            "database": {"bundled": {"enabled": False}, "external": {"existingSecret": DB_SECRET}},
        }
    }
    path = node.dir / "test-values.json"
    path.write_text(json.dumps(values))
    return path


def deploy_env(cluster: Cluster, node: Node, namespace: str) -> dict[str, str]:
    """The environment of `make deploy` against the test cluster."""
    return {
        **node.registry.env,
        **cluster.kube_env,
        "HELM": str(cluster.bin / "helm"),
        "KUBECTL": str(cluster.bin / "kubectl"),
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
    cluster.kubectl(
        "create",
        "secret",
        "generic",
        DB_SECRET,
        "-n",
        namespace,
        "--from-literal=database-url=postgresql://crypto_rates:unused@127.0.0.1:9/crypto_rates",
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
    installed: dict[str, list[dict[str, Any]]]  # the pods of each part right after make deploy


@pytest.fixture(scope="module")
def release(cluster: Cluster, node: Node) -> Release:
    with phase("fake CoinGecko pod Ready"):
        create_namespace(cluster, NAMESPACE)
    with phase(
        "make deploy ENV=dev (pull Secret, helm upgrade --install --atomic --wait, helm test)"
    ):
        output = make("deploy", env=deploy_env(cluster, node, NAMESPACE)).stdout

    installed = {part: pods(cluster, part) for part in ("backend", "frontend")}

    def service_url(name: str) -> str:
        spec = cluster.get("service", name, "-n", NAMESPACE)["spec"]
        return node.forward(f"{spec['clusterIP']}:{spec['ports'][0]['port']}")

    frontend, upstream = service_url(f"{RELEASE}-frontend"), service_url("fake-coingecko")
    return Release(frontend, upstream, output, installed)


def get(url: str, timeout: float = 5) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status, response.read()


def rates_answered(status: int, body: bytes) -> bool:
    return status == 200 and json.loads(body)["count"] > 0


def rates_load(release: Release) -> Load:
    """Requests to /api/v1/rates through the frontend Service on a thread, counted."""
    return Load(release.url + "/api/v1/rates", rates_answered, say=say)


def deployment(cluster: Cluster, part: str) -> dict[str, Any]:
    found: dict[str, Any] = cluster.get("deployment", f"{RELEASE}-{part}", "-n", NAMESPACE)
    return found


def pods(cluster: Cluster, part: str, namespace: str = NAMESPACE) -> list[dict[str, Any]]:
    selector = f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/name={part}"
    found: list[dict[str, Any]] = cluster.get("pods", "-n", namespace, "-l", selector)["items"]
    return found


def ready(pod: dict[str, Any]) -> bool:
    return any(
        c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", [])
    )


# ---- the tests ---------------------------------------------------------------------------------


def test_install_pods_ready_with_real_probes(cluster: Cluster, release: Release) -> None:
    for part, replicas in (("backend", BACKEND_REPLICAS), ("frontend", 1)):
        status = deployment(cluster, part)["status"]
        assert status.get("readyReplicas") == replicas, f"{part}: {status}"
        for pod in release.installed[part]:
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
        assert release.installed[part], f"no {part} pod after make deploy"
        for pod in release.installed[part]:
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

        def pull_refused() -> bool:
            status = cluster.get("pod", "no-secret", "-n", namespace)["status"]
            waiting = status.get("containerStatuses", [{}])[0].get("state", {}).get("waiting", {})
            return waiting.get("reason") in ("ErrImagePull", "ImagePullBackOff")

        wait_until("the pull without a Secret to be refused", pull_refused, 90, interval_s=2)
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
    with phase("rolling upgrade under load"), rates_load(release) as load:
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
    with phase("delete a backend pod under load"), rates_load(release) as load:
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
            rates_load(release) as load,
        ):
            helm_upgrade(cluster, *tag("backend", value="outage"))

            def new_pod_ready() -> bool:
                return any(
                    ready(p)
                    for p in pods(cluster, "backend")
                    if p["spec"]["containers"][0]["image"].endswith(":outage")
                )

            try:
                new_ready = wait_until("a new backend pod Ready", new_pod_ready, 45, 3)
            except TimeoutError:
                new_ready = False
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
        if not new_ready:  # maxUnavailable 0: the rollout waits and every old replica serves
            assert old_serving == BACKEND_REPLICAS, verdict
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
