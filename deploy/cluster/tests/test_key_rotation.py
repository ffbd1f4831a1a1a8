"""A rotated CoinGecko API key takes effect without a restart, on the real node: the chart mounts
the key's Secret as a file (COINGECKO_API_KEY_FILE), the kubelet updates that file when the Secret
changes, and the backend reads it again when CoinGecko refuses the old key (401).

A release of its own (one backend on SQLite, plan demo) in its own namespace, beside the fake
CoinGecko, which refuses every call without the key it is told to require.
"""

from __future__ import annotations

import json
import urllib.request
from datetime import UTC, datetime

from clusterkit import Cluster
from nodekit import RELEASE, Node, Release, create_namespace, get, helm_install, phase, pods, say
from testkit.processes import wait_until

NAMESPACE = "crypto-rates-key-rotation"
KEY_SECRET = "crypto-rates-coingecko"


def require_key(upstream: str, key: str) -> None:
    request = urllib.request.Request(
        upstream + "/_control/key",
        data=json.dumps({"key": key}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200


def key_secret(key: str) -> str:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": KEY_SECRET, "namespace": NAMESPACE},
        "stringData": {"api-key": key},
    }
    return json.dumps(secret)


def test_a_rotated_api_key_takes_effect_without_a_restart(
    cluster: Cluster, node: Node, release: Release
) -> None:
    with phase("fake CoinGecko for the key rotation release"):
        create_namespace(cluster, NAMESPACE)

    def service(name: str) -> str:
        spec = cluster.get("service", name, "-n", NAMESPACE)["spec"]
        return node.forward(f"{spec['clusterIP']}:{spec['ports'][0]['port']}")

    try:
        upstream = service("fake-coingecko")
        require_key(upstream, "first-key")
        cluster.kubectl("apply", "-f", "-", stdin=key_secret("first-key"))
        with phase("helm install: one backend, plan demo, the key from a Secret"):
            helm_install(
                cluster,
                node,
                NAMESPACE,
                *("--set", "backend.replicaCount=1", "--set", "backend.config.apiPlan=demo"),
                # the Demo allowance would space refreshes ~4 min apart for the rest of the month
                *("--set", "backend.config.monthlyCalls=1000000"),
                *("--set", f"backend.apiKey.existingSecret={KEY_SECRET}"),
                *("--set", "backend.database.bundled.enabled=false"),
                *("--set", "backend.database.external.existingSecret="),
            )
        (before,) = pods(cluster, "backend", NAMESPACE)
        backend = service(f"{RELEASE}-backend")

        # Rotation as an operator does it: the new key into the Secret, then the old one revoked.
        cluster.kubectl("apply", "-f", "-", stdin=key_secret("second-key"))
        require_key(upstream, "second-key")
        revoked = datetime.now(UTC)

        def fetched_with_the_new_key() -> bool:
            status, body = get(backend + "/api/v1/rates")
            fetched = datetime.fromisoformat(json.loads(body)["fetched_at"])
            return status == 200 and fetched > revoked

        with phase("the backend fetches with the rotated key"):
            wait_until("a refresh with the new key", fetched_with_the_new_key, 300, interval_s=5)
        took = (datetime.now(UTC) - revoked).total_seconds()
        say(f"key rotation: the new key was used {took:.0f} s after the old one was revoked")

        (after,) = pods(cluster, "backend", NAMESPACE)
        assert after["metadata"]["uid"] == before["metadata"]["uid"], "the backend pod was replaced"
        restarts = after["status"]["containerStatuses"][0]["restartCount"]
        assert restarts == 0, f"the backend restarted {restarts} times"
        logs = cluster.kubectl("logs", "-n", NAMESPACE, after["metadata"]["name"]).stdout
        assert "COINGECKO_API_KEY_FILE holds a new one" in logs, logs[-2000:]
        assert "first-key" not in logs and "second-key" not in logs, "a key was logged"
    finally:
        cluster.kubectl("delete", "namespace", NAMESPACE, "--wait=false")
