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

import base64
import json
import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from clusterkit import Cluster
from nodekit import (
    BACKEND_REPLICAS,
    NAMESPACE,
    PULL_SECRET,
    RELEASE,
    Node,
    Release,
    create_namespace,
    deployment,
    get,
    helm_install,
    helm_upgrade,
    phase,
    pods,
    rates_load,
    ready,
    say,
    set_upstream,
    tag,
)
from testkit.processes import wait_until

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
    certs = node.certs_d / node.registry.pull_addr
    assert (certs / "ca.crt").read_text() == node.registry.ca.read_text()
    hosts = (certs / "hosts.toml").read_text()
    assert f'ca = "{certs}/ca.crt"' in hosts, hosts
    without_ca = tmp_path / node.registry.pull_addr
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
    assert pinned["global"]["imageRegistry"] == node.registry.pull_addr, pinned
    for part in ("backend", "frontend"):
        digest = pinned[part]["image"]["digest"]
        expected = f"{node.registry.pull_addr}/crypto-rates-{part}@{digest}"
        assert release.installed[part], f"no {part} pod after make deploy"
        for pod in release.installed[part]:
            assert pod["spec"]["containers"][0]["image"] == expected
            assert pod["spec"]["imagePullSecrets"] == [{"name": PULL_SECRET}]
            image_id = pod["status"]["containerStatuses"][0]["imageID"]
            assert image_id.endswith(digest), image_id


def test_the_pull_secret_holds_the_read_only_pull_account(
    cluster: Cluster, node: Node, release: Release
) -> None:
    """make deploy's Secret logs in to the read-only instance with the pull account, not with the
    push account that was in its environment too; the pods pulled with it (above)."""
    secret = cluster.get("secret", PULL_SECRET, "-n", NAMESPACE)
    config = json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))
    assert list(config["auths"]) == [node.registry.pull_addr], config["auths"].keys()
    entry = config["auths"][node.registry.pull_addr]
    assert f"{entry['username']}:{entry['password']}" == node.registry.pull_auth
    assert node.registry.env["REGISTRY_PASSWORD"] not in json.dumps(config)


def test_a_pod_without_the_pull_secret_is_refused_by_the_registry(
    cluster: Cluster, node: Node, release: Release
) -> None:
    namespace = "crypto-rates-no-secret"
    cluster.kubectl("create", "namespace", namespace)
    image = f"{node.registry.pull_addr}/crypto-rates-frontend:test"
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


def test_upstream_outage_during_a_rollout(cluster: Cluster, release: Release) -> None:
    """A new pod becomes Ready on the snapshot the database holds while CoinGecko is down; without
    one it could not, the rollout (maxUnavailable 0) would wait and the old replicas keep serving.
    The test says which happened."""
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
                "--set",
                "backend.database.bundled.enabled=false",  # SQLite: one replica needs no database
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
