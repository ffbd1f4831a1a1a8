"""The chart against a real API server (deploy/cluster: kube-apiserver, controller-manager,
scheduler and etcd built from source), for each environment's values file:

- `helm template | kubectl apply --dry-run=server` is clean, warnings included;
- `helm install` into a namespace that enforces the restricted Pod Security level: every object is
  accepted, the CRD objects (ServiceMonitor, PrometheusRule, HTTPRoute) pass their CRD schemas, the
  controller-manager creates ReplicaSets and Pods and Pod Security admits the Pods;
- `helm upgrade` with a changed value and a new image tag, `helm rollback`, `helm uninstall` leaving
  nothing behind.
The last tests show the checks can fail: an unknown field in a CRD object and a root pod are
refused.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from clusterkit import REPO, Cluster
from testkit.environments import environments
from testkit.processes import wait_until

CHART = REPO / "deploy" / "helm" / "crypto-rates"
ENVS = tuple(environments())
RELEASE = "crypto-rates"
OPTIONAL_APIS = ["monitoring.coreos.com/v1", "gateway.networking.k8s.io/v1"]
RESTRICTED = {
    f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "warn", "audit")
}
INSTANCE = f"app.kubernetes.io/instance={RELEASE}"


def env_values(env: str) -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load((CHART / f"values-{env}.yaml").read_text())
    return values


def switched_on(env: str) -> dict[str, Any]:
    """What the environment's file leaves off but allows: monitoring, the dashboard and an HTTPRoute
    beside its Ingress (same hostnames)."""
    hosts = env_values(env).get("ingress", {}).get("hosts", [])
    return {
        "httpRoute": {
            "enabled": True,
            "parentRefs": [{"name": "public", "namespace": "gateway-system"}],
            "hostnames": hosts,
        },
        "monitoring": {
            "serviceMonitor": {"enabled": True},
            "prometheusRule": {"enabled": True},
            "dashboard": {"enabled": True},
        },
    }


def values_args(env: str, tmp: Path, extra: dict[str, Any] | None = None) -> list[str]:
    overrides = tmp / f"on-{env}.yaml"
    overrides.write_text(yaml.safe_dump(switched_on(env)))
    args = ["-f", str(CHART / f"values-{env}.yaml"), "-f", str(overrides)]
    if extra:
        more = tmp / f"extra-{env}.yaml"
        more.write_text(yaml.safe_dump(extra))
        args += ["-f", str(more)]
    return args


def make_namespace(cluster: Cluster, name: str, env: str) -> None:
    """A namespace enforcing the restricted level, holding what the environment expects to exist."""
    labels = [f"{k}={v}" for k, v in RESTRICTED.items()]
    cluster.kubectl("create", "namespace", name)
    cluster.kubectl("label", "namespace", name, *labels)
    key = env_values(env).get("backend", {}).get("apiKey", {})
    if key.get("existingSecret"):
        cluster.kubectl(
            "create",
            "secret",
            "generic",
            key["existingSecret"],
            "-n",
            name,
            f"--from-literal={key.get('existingSecretKey', 'api-key')}=cg-fake-key-for-tests",
        )
    managed = env_values(env).get("backend", {}).get("database", {}).get("external", {})
    if managed.get("existingSecret"):  # what Terraform's External Secrets writes in production
        cluster.kubectl(
            "create",
            "secret",
            "generic",
            managed["existingSecret"],
            "-n",
            name,
            f"--from-literal={managed.get('existingSecretKey', 'database-url')}="
            "postgresql://crypto_rates:test-only@database.invalid:5432/crypto_rates",
        )


def kept_on_uninstall(env: str) -> set[str]:
    """What `helm uninstall` leaves on purpose: the bundled database's password Secret
    (helm.sh/resource-policy: keep) and its volume claim (the data), as kubectl names them."""
    bundled = env_values(env).get("backend", {}).get("database", {}).get("bundled", {})
    if not bundled.get("enabled"):
        return set()
    return {
        f"secret/{RELEASE}-database",
        f"persistentvolumeclaim/data-{RELEASE}-database-0",
    }


def listable_kinds(cluster: Cluster) -> list[str]:
    out = cluster.kubectl(
        "api-resources", "--namespaced", "--verbs", "list", "-o", "name"
    ).stdout.split()
    return [r for r in out if r not in ("events", "events.events.k8s.io")]


def inventory(cluster: Cluster, namespace: str) -> set[str]:
    """Every object in the namespace (events aside) as kind/name."""
    out = cluster.kubectl(
        "get", ",".join(listable_kinds(cluster)), "-n", namespace, "-o", "name"
    ).stdout
    return set(out.split())


def pod_failures(cluster: Cluster, namespace: str, selector: str) -> list[str]:
    """Why ReplicaSets could not create pods (Pod Security refusals show up here), as messages."""
    sets = cluster.get("replicasets", "-n", namespace, "-l", selector)["items"]
    return [
        f"{rs['metadata']['name']}: {c.get('message')}"
        for rs in sets
        for c in rs.get("status", {}).get("conditions", [])
        if c["type"] == "ReplicaFailure" and c["status"] == "True"
    ]


def pods_created(
    cluster: Cluster, namespace: str, deployment: dict[str, Any]
) -> list[dict[str, Any]]:
    """Wait for the Deployment's pods to exist; fail with the ReplicaSet's reason if refused."""
    selector = ",".join(
        f"{k}={v}" for k, v in deployment["spec"]["selector"]["matchLabels"].items()
    )
    want = deployment["spec"].get("replicas", 1)

    def ready() -> list[dict[str, Any]]:
        failures = pod_failures(cluster, namespace, selector)
        if failures:
            raise AssertionError(f"{deployment['metadata']['name']}: pods refused: {failures}")
        pods: list[dict[str, Any]] = cluster.get("pods", "-n", namespace, "-l", selector)["items"]
        return pods if len(pods) >= want else []

    pods: list[dict[str, Any]] = wait_until(
        f"{want} pod(s) of {deployment['metadata']['name']}", ready, 90, interval_s=1
    )
    return pods


def render(cluster: Cluster, env: str, namespace: str, tmp: Path) -> str:
    """helm template with the environment's values, the CRD APIs listed as available."""
    return cluster.helm(
        "template",
        RELEASE,
        str(CHART),
        "-n",
        namespace,
        *values_args(env, tmp),
        "--set-json",
        f"global.capabilities.apiVersions={json.dumps(OPTIONAL_APIS)}",
    ).stdout


def dry_run(cluster: Cluster, namespace: str, manifests: str) -> tuple[int, str]:
    """kubectl apply --dry-run=server (strict field validation); exit code and everything it said
    on stderr (errors and warnings)."""
    result = cluster.kubectl(
        "apply", "--dry-run=server", "-n", namespace, "-f", "-", stdin=manifests, check=False
    )
    return result.returncode, result.stderr


# --- per environment ---------------------------------------------------------------------------


@pytest.mark.parametrize("env", ENVS)
def test_server_dry_run_is_clean(
    cluster: Cluster, crds: list[str], env: str, tmp_path: Path
) -> None:
    namespace = f"dry-run-{env}"
    make_namespace(cluster, namespace, env)
    manifests = render(cluster, env, namespace, tmp_path)
    kinds = {d["kind"] for d in yaml.safe_load_all(manifests) if d}
    assert {"ServiceMonitor", "PrometheusRule", "HTTPRoute", "Deployment", "Ingress"} <= kinds
    code, stderr = dry_run(cluster, namespace, manifests)
    assert code == 0 and not stderr.strip(), f"{env}: the server refused or warned:\n{stderr}"


@pytest.fixture(scope="module", params=ENVS)
def release(
    request: pytest.FixtureRequest,
    cluster: Cluster,
    crds: list[str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, Any]]:
    """The chart installed into its own restricted namespace; what was there before the install."""
    env: str = request.param
    namespace = f"release-{env}"
    tmp = tmp_path_factory.mktemp(env)
    make_namespace(cluster, namespace, env)
    before = inventory(cluster, namespace)
    install = cluster.helm("install", RELEASE, str(CHART), "-n", namespace, *values_args(env, tmp))
    yield {"env": env, "namespace": namespace, "tmp": tmp, "before": before, "install": install}
    cluster.helm("uninstall", RELEASE, "-n", namespace, "--ignore-not-found", "--wait")
    cluster.kubectl("delete", "namespace", namespace, "--wait=false")


def manifest_objects(cluster: Cluster, namespace: str) -> list[dict[str, Any]]:
    out = cluster.helm("get", "manifest", RELEASE, "-n", namespace).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def dropped(sent: Any, stored: Any, path: str = "") -> list[str]:
    """Paths of keys the client sent that the server did not store (pruned unknown fields: helm
    does not ask for strict field validation, so the server drops them with only a warning)."""
    if isinstance(sent, dict) and isinstance(stored, dict):
        return [
            p
            for key, value in sent.items()
            for p in (
                [f"{path}.{key}"]
                if key not in stored
                else dropped(value, stored[key], f"{path}.{key}")
            )
        ]
    if isinstance(sent, list) and isinstance(stored, list) and len(sent) == len(stored):
        return [
            p
            for i, (a, b) in enumerate(zip(sent, stored, strict=True))
            for p in dropped(a, b, f"{path}[{i}]")
        ]
    return []


def test_install_every_object_exists(cluster: Cluster, release: dict[str, Any]) -> None:
    ns = release["namespace"]
    assert "STATUS: deployed" in release["install"].stdout
    objects = manifest_objects(cluster, ns)
    kinds = {o["kind"] for o in objects}
    # the CRD objects are rendered because the cluster serves their APIs, and the server took them
    assert {
        "ServiceMonitor",
        "PrometheusRule",
        "HTTPRoute",
        "Deployment",
        "Service",
        "Ingress",
    } <= kinds
    for obj in objects:
        got = cluster.get(
            obj["kind"], obj["metadata"]["name"], "-n", obj["metadata"].get("namespace", ns)
        )
        assert got["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm", obj["kind"]
        lost = dropped(obj, got)
        assert not lost, f"{obj['kind']} {obj['metadata']['name']}: the server dropped {lost}"


def test_install_pods_created_and_admitted(cluster: Cluster, release: dict[str, Any]) -> None:
    ns = release["namespace"]
    deployments = cluster.get("deployments", "-n", ns, "-l", INSTANCE)["items"]
    assert len(deployments) == 2, [d["metadata"]["name"] for d in deployments]
    nodes = cluster.get("nodes")["items"]
    for deployment in deployments:
        pods = pods_created(cluster, ns, deployment)
        for pod in pods:
            spec = pod["spec"]
            assert spec["securityContext"]["runAsNonRoot"] is True
            assert all(c["securityContext"]["readOnlyRootFilesystem"] for c in spec["containers"])
            if not nodes:  # no node yet: scheduled nowhere, so Pending
                assert pod["status"]["phase"] == "Pending", pod["status"]


def test_upgrade_rollback_uninstall(cluster: Cluster, release: dict[str, Any]) -> None:
    ns, env, tmp = release["namespace"], release["env"], release["tmp"]
    backend = next(
        d
        for d in cluster.get("deployments", "-n", ns, "-l", INSTANCE)["items"]
        if "backend" in d["metadata"]["name"]
    )
    name = backend["metadata"]["name"]
    old_image = backend["spec"]["template"]["spec"]["containers"][0]["image"]
    old_sets = {
        rs["metadata"]["name"]
        for rs in cluster.get("replicasets", "-n", ns, "-l", INSTANCE)["items"]
    }

    # upgrade: a new image tag and a changed setting
    change = {"backend": {"image": {"tag": "9.9.9-upgrade"}, "config": {"logLevel": "warning"}}}
    cluster.helm("upgrade", RELEASE, str(CHART), "-n", ns, *values_args(env, tmp, change))
    upgraded = cluster.get("deployment", name, "-n", ns)
    assert upgraded["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":9.9.9-upgrade")
    env_vars = {
        e["name"]: e for e in upgraded["spec"]["template"]["spec"]["containers"][0].get("env", [])
    }
    config = json.dumps([env_vars, cluster.get("configmaps", "-n", ns, "-l", INSTANCE)["items"]])
    assert "warning" in config, "logLevel=warning reached neither the env nor a ConfigMap"

    # the controller-manager rolls out: a new ReplicaSet with the new image, its pods admitted
    def new_set() -> list[str]:
        sets = cluster.get("replicasets", "-n", ns, "-l", INSTANCE)["items"]
        return [
            rs["metadata"]["name"]
            for rs in sets
            if rs["metadata"]["name"] not in old_sets
            and rs["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":9.9.9-upgrade")
        ]

    wait_until("a ReplicaSet with the new image", new_set, 90, interval_s=1)
    pods_created(cluster, ns, upgraded)

    # rollback restores revision 1
    cluster.helm("rollback", RELEASE, "1", "-n", ns)
    rolled = cluster.get("deployment", name, "-n", ns)
    assert rolled["spec"]["template"]["spec"]["containers"][0]["image"] == old_image
    history = json.loads(cluster.helm("history", RELEASE, "-n", ns, "-o", "json").stdout)
    assert [h["revision"] for h in history] == [1, 2, 3]
    assert history[-1]["status"] == "deployed" and "Rollback to 1" in history[-1]["description"]

    # uninstall: nothing of the release is left, not even the pods its ReplicaSets created
    cluster.helm("uninstall", RELEASE, "-n", ns, "--wait")

    before: set[str] = release["before"]

    kept = kept_on_uninstall(env)

    def left_behind() -> set[str]:
        return inventory(cluster, ns) - before

    try:
        wait_until(
            "the namespace to hold only what was there before the install (and the kept data)",
            lambda: left_behind() == kept,
            120,
            interval_s=1,
        )
    except TimeoutError:
        raise AssertionError(
            f"helm uninstall left behind {sorted(left_behind())}, expected only {sorted(kept)}"
        ) from None


# --- the checks can fail -----------------------------------------------------------------------


# Chart values the API server refuses (the HTTPRoute CRD's schema) that values.schema.json once
# accepted; it now refuses them itself, before anything reaches a cluster.
SERVER_REFUSED: dict[str, dict[str, Any]] = {
    "hostname-with-port": {"httpRoute": {"hostnames": ["crypto-rates.example.com:443"]}},
    "upper-case-hostname": {"httpRoute": {"hostnames": ["Crypto-Rates.example.com"]}},
    "misspelt-parentref-field": {
        "httpRoute": {"parentRefs": [{"name": "public", "namepsace": "gateway-system"}]}
    },
    "parentref-namespace-not-a-label": {
        "httpRoute": {"parentRefs": [{"name": "public", "namespace": "Gateway_System"}]}
    },
}


@pytest.mark.parametrize("case", SERVER_REFUSED)
def test_values_the_server_refuses_fail_the_schema(
    cluster: Cluster, crds: list[str], case: str, tmp_path: Path
) -> None:
    namespace = f"gap-{case}"
    make_namespace(cluster, namespace, "prod")
    args = ["template", RELEASE, str(CHART), "-n", namespace]
    args += values_args("prod", tmp_path, SERVER_REFUSED[case])
    args += ["--set-json", f"global.capabilities.apiVersions={json.dumps(OPTIONAL_APIS)}"]
    # without the schema the chart renders it, and the server refuses the result
    code, stderr = dry_run(
        cluster, namespace, cluster.helm(*args, "--skip-schema-validation").stdout
    )
    assert code != 0 and "HTTPRoute" in stderr, f"{case}: the server accepted it:\n{stderr}"
    # with it, helm stops first
    result = cluster.helm(*args, check=False)
    assert result.returncode != 0 and "httpRoute" in result.stderr, result.stderr


def rendered(cluster: Cluster, env: str, namespace: str, tmp: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(render(cluster, env, namespace, tmp)) if d]


def test_server_refuses_unknown_field_in_crd_object(
    cluster: Cluster, crds: list[str], tmp_path: Path
) -> None:
    namespace = "broken-crd"
    make_namespace(cluster, namespace, "prod")
    docs = rendered(cluster, "prod", namespace, tmp_path)
    for kind, path in (
        ("ServiceMonitor", ("endpoints", 0)),
        ("PrometheusRule", ("groups", 0)),
        ("HTTPRoute", ("rules", 0)),
    ):
        broken = copy.deepcopy(next(d for d in docs if d["kind"] == kind))
        broken["spec"][path[0]][path[1]]["notAField"] = "30s"
        code, stderr = dry_run(cluster, namespace, yaml.safe_dump(broken))
        assert code != 0 and 'unknown field "spec.' in stderr and "notAField" in stderr, (
            kind,
            code,
            stderr,
        )


def test_pod_security_refuses_root_pods(cluster: Cluster, tmp_path: Path) -> None:
    namespace = "broken-root"
    make_namespace(cluster, namespace, "dev")
    docs = rendered(cluster, "dev", namespace, tmp_path)
    deployment = next(
        d for d in docs if d["kind"] == "Deployment" and "backend" in d["metadata"]["name"]
    )
    account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    service_account = next(
        d for d in docs if d["kind"] == "ServiceAccount" and d["metadata"]["name"] == account
    )
    deployment["spec"]["template"]["spec"]["securityContext"]["runAsUser"] = 0
    for container in deployment["spec"]["template"]["spec"]["containers"]:
        container["securityContext"].pop("runAsUser", None)
    manifest = yaml.safe_dump(deployment)
    # the dry run warns (the Deployment itself is accepted; its pods would not be)
    code, stderr = dry_run(cluster, namespace, manifest)
    assert code == 0 and "violate PodSecurity" in stderr and "runAsUser=0" in stderr, stderr
    # applied for real, the ReplicaSet's pods are refused, and pods_created says so
    cluster.kubectl("apply", "-n", namespace, "-f", "-", stdin=yaml.safe_dump(service_account))
    cluster.kubectl("apply", "-n", namespace, "-f", "-", stdin=manifest)
    with pytest.raises(AssertionError, match=r"pods refused: .*violates PodSecurity"):
        pods_created(cluster, namespace, deployment)


def test_release_package_defaults_every_image_to_the_app_version(
    cluster: Cluster, tmp_path: Path
) -> None:
    """release.yml's package step (deploy/helm/package.sh) with the built helm: the packaged
    chart, installed without overrides, runs the images of its own commit (each image's default
    tag is its subchart's appVersion, which `helm package --app-version` alone leaves alone)."""
    app_version = "sha-" + "0123456789abcdef" * 2 + "01234567"
    result = subprocess.run(
        [str(REPO / "deploy/helm/package.sh"), "0.1.0-main.7.g0123456", app_version, str(tmp_path)],
        env={**os.environ, "HELM": str(cluster.bin / "helm")},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    package = tmp_path / "crypto-rates-0.1.0-main.7.g0123456.tgz"
    rendered = cluster.helm("template", "crypto-rates", str(package)).stdout
    images = {
        container["image"]
        for doc in yaml.safe_load_all(rendered)
        if doc and doc["kind"] == "Deployment"
        for container in doc["spec"]["template"]["spec"]["containers"]
    }
    assert images == {
        f"crypto-rates-backend:{app_version}",
        f"crypto-rates-frontend:{app_version}",
    }, images
    chart = cluster.helm("show", "chart", str(package)).stdout
    assert f"appVersion: {app_version}" in chart, chart
