"""The test node's kit: the delivery flow (registry -> push -> certs -> deploy) run with the
project's own make targets on localcluster.KubeNode, the release the node tests share, and helpers
to look at it (pods, load through the frontend Service, the fake CoinGecko's controls). The
fixtures `node` and `release` are in conftest.py, one per session, for every test module.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
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
from localcluster import NODE_IP, KubeNode, built_binaries
from testkit.deploy import Load, Registry, ansible_inventory, make, private_registry, run, ssh_key
from testkit.processes import free_port

NODE_DIR = CLUSTER_DIR / "node"
CHART = REPO / "deploy" / "helm" / "crypto-rates"
NAMESPACE = "crypto-rates"
RELEASE = "crypto-rates"
UPSTREAM = "http://fake-coingecko:9900/api/v3"
BACKEND_REPLICAS = 3  # one polls for all; one can go away
REFRESH_INTERVAL = 60  # seconds: the shortest the backend accepts
# The bundled PostgreSQL's claim binds to a volume the test makes (the node has no provisioner).
STORAGE_CLASS = "node-local"
DATABASE_IMAGE = "crypto-rates-postgres"
VPC_CIDR = "172.31.0.0/16"  # the release's vpcCIDR, a stand-in for an EKS VPC


_capture = None  # pytest's capture manager: the timings are printed past it, so CI's log shows them


def print_past_capture(config: pytest.Config) -> None:
    """Print the phases' timings past pytest's capture, so CI's log shows them (conftest)."""
    global _capture
    _capture = config.pluginmanager.getplugin("capturemanager")


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


@dataclass
class SigningKey:
    """A cosign key pair made for one test run (`cosign generate-key-pair`): what make push signs
    with (COSIGN_KEY) and make deploy verifies with (COSIGN_PUBLIC_KEY)."""

    cosign: Path
    private: Path
    public: Path
    password: str  # COSIGN_PASSWORD: only ever in an environment, never in argv or output

    @property
    def sign_env(self) -> dict[str, str]:
        """make push's settings that sign each pushed digest with this key."""
        return {
            "COSIGN": str(self.cosign),
            "COSIGN_KEY": str(self.private),
            "COSIGN_PASSWORD": self.password,
        }

    @property
    def verify_env(self) -> dict[str, str]:
        """make deploy's settings that refuse images this key did not sign."""
        return {"COSIGN": str(self.cosign), "COSIGN_PUBLIC_KEY": str(self.public)}


def signing_key(cosign: Path, dir: Path, name: str) -> SigningKey:
    """A new password-protected cosign key pair DIR/NAME.key and DIR/NAME.pub."""
    dir.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(18)
    prefix = dir / name
    env = {**os.environ, "COSIGN_PASSWORD": password}
    run(cosign, "generate-key-pair", "--output-key-prefix", prefix, env=env)
    return SigningKey(cosign, prefix.with_suffix(".key"), prefix.with_suffix(".pub"), password)


def push_images(registry: Registry, fake_archive: Path, key: SigningKey) -> None:
    """`make push` of the :test images (provision.sh builds them, from its cache if nothing
    changed) under each of TAGS, each digest signed with KEY, the PostgreSQL stand-in pushed
    beside them, and the fake CoinGecko (a test image, not part of the delivery) saved for the
    node's `ctr images import`."""
    run(PROVISION, "start")
    try:
        run(PROVISION, "build")
        env = {**registry.env, **key.sign_env, "DOCKER_HOST": ENGINE}
        for tag in TAGS:
            for image in ("crypto-rates-backend", "crypto-rates-frontend"):
                run("docker", "tag", f"{image}:test", f"{image}:{tag}", env=env)
            make("push", env={**env, "IMAGE_TAG": tag, "PINNED_VALUES": str(registry.pinned(tag))})
        push_database_image(registry, env)
        run("docker", "save", "-o", fake_archive, "crypto-rates-fake-coingecko:test", env=env)
    finally:
        run(PROVISION, "stop")


def push_database_image(registry: Registry, env: dict[str, str]) -> None:
    """The bundled PostgreSQL's image (deploy/images/postgres.Dockerfile) into the registry, its
    digest in registry.digests. Not make push's job: the chart defaults to the official image, and
    this stand-in is only for where Docker Hub is out of reach, like here. A docker login into a
    throw-away client config, as make push does."""
    config = Path(tempfile.mkdtemp(prefix="crypto-rates-node-docker-"))
    env = {**env, "DOCKER_CONFIG": str(config)}
    target = f"{registry.addr}/{DATABASE_IMAGE}:test"
    try:
        login = ["docker", "login", "--username", env["REGISTRY_USER"], "--password-stdin"]
        run(*login, registry.addr, input=env["REGISTRY_PASSWORD"], env=env)
        run("docker", "tag", f"{DATABASE_IMAGE}:test", target, env=env)
        run("docker", "push", "--quiet", target, env=env)
        digests = run(
            "docker", "image", "inspect", "--format", "{{json .RepoDigests}}", target, env=env
        ).stdout
    finally:
        shutil.rmtree(config, ignore_errors=True)
    prefix = f"{registry.addr}/{DATABASE_IMAGE}@"
    found = [d.removeprefix(prefix) for d in json.loads(digests) if d.startswith(prefix)]
    assert found, f"no digest for {target} after the push: {digests}"
    registry.digests[DATABASE_IMAGE] = found[0]


@dataclass
class Node:
    machine: KubeNode
    registry: Registry
    key: SigningKey  # what make push signed the images with
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
        image = f"{self.registry.pull_addr}/crypto-rates-frontend:test"
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


@contextmanager
def running_node(cluster: Cluster) -> Iterator[Node]:
    """The node, the private registry with the pushed images and make certs done (conftest's
    `node` fixture, one per session)."""
    with phase("build pause image and CoreDNS (cached after the first run)"):
        build = run(NODE_DIR / "build.sh").stdout.splitlines()[-1]
    with phase("build cosign (cached after the first run)"):
        cosign = built_binaries("cosign") / "cosign"
    machine = KubeNode(Path(tempfile.mkdtemp(prefix="crypto-rates-node-")))
    fake_archive = Path(tempfile.mkdtemp(prefix="crypto-rates-node-fake-")) / "fake.tar"
    with node_registry() as registry:
        try:
            key = signing_key(cosign, registry.dir.parent / "keys", "release")
            with phase(f"make push: both images as {', '.join(TAGS)} to {registry.addr}, signed"):
                push_images(registry, fake_archive, key)
            with phase("node up (namespace, containerd, kubelet, kube-proxy, CoreDNS) until Ready"):
                machine.up(cluster.control_plane, Path(build))
            node = Node(machine, registry, key)
            machine.reach(registry.pull_port)  # the read-only registry at its address in the node
            machine.import_images(fake_archive)
            node.pull_before_certs = node.anonymous_pull()
            with phase("make certs (Ansible over SSH to the node)"):
                node.certs_output = node.make_certs()
            node.pull_after_certs = node.anonymous_pull()
            yield node
        finally:
            machine.down()
            shutil.rmtree(fake_archive.parent, ignore_errors=True)


# Monitoring on, with the durations test_monitoring.py's Prometheus needs to see alerts fire in
# minutes: the same rules, shorter windows. Stale: older than 2 refresh intervals (120 s), 30 s
# long; the upstream-failure window holds two refresh intervals (a failing backend retries at
# most one interval apart).
MONITORING = {
    "serviceMonitor": {"enabled": True, "interval": "5s", "scrapeTimeout": "4s"},
    "prometheusRule": {
        "enabled": True,
        "interval": "5s",
        "staleAfterIntervals": 2,
        "dataStaleFor": "30s",
        "upstreamFailing": {"window": "2m", "for": "30s"},
        "callBudget": {"for": "30s"},
    },
    "dashboard": {"enabled": True},
}


def own_values(node: Node) -> Path:
    """The test's values, after values-dev.yaml and the pinned digests: the fake upstream, three
    backend replicas sharing values-dev.yaml's bundled PostgreSQL (its image pinned from the
    private registry, its claim for the volume of database_volume), the shortest refresh
    interval the backend accepts (its retries after a failed refresh back off up to the interval:
    15, 30, 60 s) and MONITORING."""
    image = {"repository": DATABASE_IMAGE, "digest": node.registry.digests[DATABASE_IMAGE]}
    values = {
        "monitoring": MONITORING,
        "backend": {
            "replicaCount": BACKEND_REPLICAS,
            "config": {
                "baseUrl": UPSTREAM,
                "allowTestUpstream": True,
                "refreshInterval": REFRESH_INTERVAL,
            },
            "database": {
                "bundled": {"image": image, "persistence": {"storageClass": STORAGE_CLASS}}
            },
            # HTTPS egress as on EKS: 0.0.0.0/0 minus the VPC (where test_policies puts the API
            # server) and link-local. The other private ranges stay open: the fake CoinGecko is a
            # pod on 443, so the pods' 10.244.0.0/24 stands in for the internet.
            "networkPolicy": {"vpcCIDR": VPC_CIDR, "egressExcept": ["169.254.0.0/16"]},
        },
    }
    path = node.dir / "test-values.json"
    path.write_text(json.dumps(values))
    return path


def deploy_env(cluster: Cluster, node: Node, namespace: str) -> dict[str, str]:
    """The environment of `make deploy` against the test cluster: only images signed with the
    node's key are deployed."""
    return {
        **node.registry.env,
        **node.key.verify_env,
        "REGISTRY_CA": str(node.registry.ca),  # cosign's trust in the registry
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


def allow_node_dns(cluster: Cluster, namespace: str) -> None:
    """The chart lets its pods resolve names at the cluster DNS pods (kube-system,
    k8s-app=kube-dns); the node's CoreDNS is a daemon at NODE_IP instead, so the namespace gets what
    a cluster with node-local DNS adds: DNS egress to that address for the chart's pods
    (NetworkPolicies add up)."""
    dns = [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]
    parts = {"key": "app.kubernetes.io/name", "operator": "In", "values": ["backend", "frontend"]}
    policy = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "node-dns", "namespace": namespace},
        "spec": {
            "podSelector": {"matchExpressions": [parts]},
            "policyTypes": ["Egress"],
            "egress": [{"to": [{"ipBlock": {"cidr": f"{NODE_IP}/32"}}], "ports": dns}],
        },
    }
    cluster.kubectl("apply", "-f", "-", stdin=json.dumps(policy))


def create_namespace(cluster: Cluster, namespace: str) -> None:
    cluster.kubectl("create", "namespace", namespace)
    cluster.kubectl(
        "label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted"
    )
    allow_node_dns(cluster, namespace)
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


def database_volume(cluster: Cluster, node: Node) -> None:
    """A hostPath PersistentVolume in the node's directory for the bundled PostgreSQL's claim
    (STORAGE_CLASS; no provisioner: the claim binds to it). A hostPath volume gets no fsGroup, so
    its directory belongs to the database's user (the chart's runAsUser) from the start."""
    bundled = yaml.safe_load((CHART / "charts" / "backend" / "values.yaml").read_text())[
        "database"
    ]["bundled"]
    path = node.dir / "volumes" / "database"
    path.mkdir(parents=True)
    user = bundled["podSecurityContext"]
    os.chown(path, user["runAsUser"], user["runAsGroup"])
    path.chmod(0o700)
    volume = {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": f"{RELEASE}-database-node"},
        "spec": {
            "capacity": {"storage": bundled["persistence"]["size"]},
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": STORAGE_CLASS,
            "persistentVolumeReclaimPolicy": "Retain",
            "hostPath": {"path": str(path), "type": "Directory"},
        },
    }
    cluster.kubectl("apply", "-f", "-", stdin=json.dumps(volume))


def deploy_release(cluster: Cluster, node: Node) -> Release:
    """`make deploy` of the test release with the fake CoinGecko and the database's volume beside
    it (conftest's `release` fixture, one per session; the tests that change it leave it rolled
    out and Ready)."""
    with phase("fake CoinGecko pod Ready"):
        create_namespace(cluster, NAMESPACE)
    database_volume(cluster, node)
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


def set_upstream(release: Release, mode: str) -> None:
    request = urllib.request.Request(
        release.upstream + "/_control/mode",
        data=json.dumps({"mode": mode}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200
