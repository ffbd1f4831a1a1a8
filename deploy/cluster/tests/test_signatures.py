"""Only signed images reach the test node: make push signed each pushed digest with a key made for
this run (COSIGN_KEY), and make deploy verifies both pinned digests against its public half
(COSIGN_PUBLIC_KEY, deploy/registry/verify-signatures.sh) before it touches the cluster.

The release fixture is that signed deploy. The refusals each pin the backend to an image in the same
private registry that the key did not sign — what a registry compromise or a stolen push login
could put there: the signed image's manifest changed (a new digest, nothing signed it), the same
with the signed image's signature copied next to it, and the same signed by another key. Each
`make deploy` must stop naming the image, and nothing may reach the cluster: not even the
namespace it would apply first.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from clusterkit import Cluster
from nodekit import RELEASE, Node, Release, SigningKey, deploy_env, say, signing_key
from testkit.deploy import make, run

REFUSED_NAMESPACE = "crypto-rates-unsigned"  # where a refused deploy would have gone
BACKEND = "crypto-rates-backend"
MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.docker.distribution.manifest.v2+json"
)


class Repository:
    """The backend's repository in the node's registry, spoken to over the registry API the way
    anyone holding the push login could."""

    def __init__(self, node: Node) -> None:
        self.registry = node.registry
        self.auth = f"{self.registry.env['REGISTRY_USER']}:{self.registry.env['REGISTRY_PASSWORD']}"

    def manifest(self, reference: str) -> tuple[str, bytes]:
        """(media type, raw bytes) of the manifest REFERENCE (a tag or digest) points to."""
        status, headers, body = self.registry.request(
            "GET",
            f"/v2/{BACKEND}/manifests/{reference}",
            auth=self.auth,
            headers={"Accept": MANIFEST_TYPES},
        )
        assert status == 200, f"GET manifest {reference}: {status} {body[:200]!r}"
        return headers["content-type"], body

    def put(self, reference: str, media_type: str, body: bytes) -> str:
        """PUT a manifest under REFERENCE; the digest the registry computed."""
        status, headers, answer = self.registry.request(
            "PUT",
            f"/v2/{BACKEND}/manifests/{reference}",
            auth=self.auth,
            headers={"Content-Type": media_type},
            body=body,
        )
        assert status == 201, f"PUT manifest {reference}: {status} {answer[:200]!r}"
        return headers["docker-content-digest"]


def pinned_digests(node: Node) -> dict[str, str]:
    """image name -> the digest make push pinned (and signed) for the release."""
    values = yaml.safe_load(node.registry.pinned("test").read_text())
    return {
        values[part]["image"]["repository"]: values[part]["image"]["digest"]
        for part in ("backend", "frontend")
    }


def other_image(node: Node, name: str) -> str:
    """A backend image the key did not sign: the signed manifest with one annotation more (same
    layers and config, so it would run; a different digest), pushed under the tag NAME."""
    repository = Repository(node)
    media_type, body = repository.manifest(pinned_digests(node)[BACKEND])
    manifest = json.loads(body)
    manifest.setdefault("annotations", {})["org.opencontainers.image.description"] = name
    return repository.put(name, media_type, json.dumps(manifest, indent=3).encode())


def signature_tag(digest: str) -> str:
    """Where cosign keeps the signatures of DIGEST in the image's repository."""
    return digest.replace(":", "-") + ".sig"


def cosign_as_pusher(node: Node, key: SigningKey, image: str, work: Path) -> None:
    """`cosign sign` of IMAGE with KEY and the registry's push login: an attacker's signature."""
    config = work / "docker-config"
    config.mkdir()
    shutil.copy(node.registry.ca, config / "registry-ca.pem")
    env = {
        **os.environ,
        "DOCKER_CONFIG": str(config),
        "SSL_CERT_DIR": f"{config}:/etc/ssl/certs",
        "COSIGN_PASSWORD": key.password,
    }
    user, password = node.registry.env["REGISTRY_USER"], node.registry.env["REGISTRY_PASSWORD"]
    login = ["login", node.registry.addr, "--username", user, "--password-stdin"]
    run(key.cosign, *login, env=env, input=password)
    sign = ["sign", "--yes", "--key", str(key.private), "--tlog-upload=false", image]
    run(key.cosign, *sign, env=env)


def refused_deploy(cluster: Cluster, node: Node, backend_digest: str, work: Path) -> str:
    """`make deploy` of the signed release with the backend pinned to BACKEND_DIGEST instead, into
    a namespace of its own; it must fail. Its stderr."""
    signed = node.registry.pinned("test").read_text()
    pinned = work / "pinned.yaml"
    pinned.write_text(signed.replace(pinned_digests(node)[BACKEND], backend_digest))
    env = {
        **deploy_env(cluster, node, REFUSED_NAMESPACE),
        "PINNED_VALUES": str(pinned),
        "DEPLOY_TIMEOUT": "60s",  # bounds the run should verification ever let it through
    }
    result = make("deploy", env=env, check=False)
    assert result.returncode != 0, f"make deploy of an unsigned backend succeeded:\n{result.stdout}"
    refusals = [line for line in result.stderr.splitlines() if "valid signature" in line]
    say(f"make deploy refused: {refusals[0] if refusals else result.stderr.strip()}")
    return result.stderr


def assert_cluster_untouched(cluster: Cluster) -> None:
    """make deploy applies the namespace first: none means nothing reached the cluster."""
    found = cluster.kubectl("get", "namespace", REFUSED_NAMESPACE, check=False)
    assert "NotFound" in found.stderr, f"{REFUSED_NAMESPACE} exists: {found.stdout}"
    releases = json.loads(cluster.helm("list", "-A", "-o", "json").stdout)
    assert [r["namespace"] for r in releases if r["name"] == RELEASE] == ["crypto-rates"]


@pytest.fixture
def work() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="crypto-rates-signatures-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# ---- the tests ---------------------------------------------------------------------------------


def test_the_signed_release_deploys_after_both_signatures_verify(
    node: Node, release: Release
) -> None:
    for name, digest in pinned_digests(node).items():
        image = f"{node.registry.pull_addr}/{name}@{digest}"  # as pinned: the read-only address
        assert f"signature verified: {image} (the key {node.key.public})" in release.deploy_output


def test_an_unsigned_image_is_refused_before_the_cluster(
    cluster: Cluster, node: Node, release: Release, work: Path
) -> None:
    digest = other_image(node, "unsigned")
    image = f"{node.registry.pull_addr}/{BACKEND}@{digest}"
    stderr = refused_deploy(cluster, node, digest, work)
    refusal = f"{image} has no valid signature by the key {node.key.public}: "
    assert refusal + "Error: no signatures found" in stderr, stderr
    assert_cluster_untouched(cluster)


def test_the_signed_images_signature_copied_onto_another_image_is_refused(
    cluster: Cluster, node: Node, release: Release, work: Path
) -> None:
    repository = Repository(node)
    digest = other_image(node, "copied-signature")
    media_type, signature = repository.manifest(signature_tag(pinned_digests(node)[BACKEND]))
    repository.put(signature_tag(digest), media_type, signature)
    image = f"{node.registry.pull_addr}/{BACKEND}@{digest}"
    stderr = refused_deploy(cluster, node, digest, work)
    refusal = f"{image} has no valid signature by the key {node.key.public}: "
    # the signature is the key's own, but its payload names the signed image's digest
    reason = "Error: no matching signatures: invalid or missing digest in claim"
    assert refusal + reason in stderr, stderr
    assert_cluster_untouched(cluster)


def test_an_image_signed_by_another_key_is_refused(
    cluster: Cluster, node: Node, release: Release, work: Path
) -> None:
    digest = other_image(node, "other-key")
    other = signing_key(node.key.cosign, work / "keys", "attacker")
    cosign_as_pusher(node, other, f"{node.registry.addr}/{BACKEND}@{digest}", work)  # push side
    image = f"{node.registry.pull_addr}/{BACKEND}@{digest}"  # as make deploy names it
    stderr = refused_deploy(cluster, node, digest, work)
    refusal = f"{image} has no valid signature by the key {node.key.public}: "
    assert refusal + "Error: no matching signatures" in stderr, stderr
    assert_cluster_untouched(cluster)
