"""The crypto-rates Helm chart, rendered and checked offline.

Helm's own engine (helm-python-sdk binds Helm's Go SDK) renders, lints, validates the values
schemas and packages; kubernetes-validate checks every manifest against the Kubernetes API
schemas; checkov checks policy; promtool checks and unit-tests the alert rules. No cluster and no
helm binary are needed.
"""

from __future__ import annotations

import base64
import copy
import difflib
import functools
import ipaddress
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import VersionNotSupportedError
from testkit.environments import environments

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm" / "crypto-rates"
SUBCHARTS = {name: CHART / "charts" / name for name in ("backend", "frontend")}
ALERT_TESTS = REPO / "deploy" / "helm" / "tests" / "alerts.test.yaml"
DASHBOARD = CHART / "dashboards" / "crypto-rates.json"
CHECKOV = REPO / ".venv-checkov" / "bin" / "checkov"
GOLDEN = REPO / "deploy" / "tests" / "golden"
ENVIRONMENTS = environments()

RELEASE = "crypto-rates"
NAMESPACE = "crypto-rates"
OPTIONAL_APIS = ["monitoring.coreos.com/v1", "gateway.networking.k8s.io/v1"]
# Custom resources kubernetes-validate has no schema for; tests below check their content.
CRD_KINDS = {"ServiceMonitor", "PrometheusRule", "HTTPRoute"}
# Objects both parts have, written once in the workload library chart.
SHARED_KINDS = [
    "Deployment",
    "Service",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "ServiceAccount",
    "NetworkPolicy",
]
KUBERNETES_VERSIONS = ["1.29.0", kubernetes_validate.latest_version()]
API_KEY = "cg-test-key-8c1f0e"  # a fake key: must end up in a Secret and nowhere else

# checkov checks skipped for the whole chart, each with the reason (pod-specific exceptions are
# annotated on the helm test pod itself).
CHECKOV_SKIPS = {
    "CKV_K8S_15": "pullPolicy IfNotPresent is right for immutable tags and digests; Always makes "
    "every pod start depend on the registry",
    "CKV_K8S_35": "the backend's contract (docs/INTERFACES.md) reads DATABASE_URL from the "
    "environment, as the postgres image reads POSTGRES_PASSWORD; the values come from Secrets, "
    "never a ConfigMap, and are never logged (the API key is a mounted file)",
    "CKV_K8S_43": "tags serve dev and kind installs; releases deploy by digest (image.digest, "
    "guarded by test_image_digest_wins_over_tag)",
}


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def env_values(env: str) -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load((CHART / f"values-{env}.yaml").read_text())
    return values


# The backend's shared database: more than one replica needs one of them, and the schema says why.
SHARED_DATABASE_WHY = (
    "missing property 'a shared database (database.bundled.enabled or database.external."
    "existingSecret), because replicaCount > 1 or autoscaling runs several pods: with SQLite each "
    "pod would keep its own history and poll CoinGecko itself'"
)
BUNDLED_DB = {"database": {"bundled": {"enabled": True}}}
EXTERNAL_DB = {"database": {"external": {"existingSecret": "rates-db"}}}


WITH_APIS = {"global": {"capabilities": {"apiVersions": OPTIONAL_APIS}}}
ALL_ON = deep_merge(
    WITH_APIS,
    {
        "global": {"imagePullSecrets": [{"name": "ghcr"}], "commonLabels": {"team": "rates"}},
        "backend": {
            "config": {"apiPlan": "demo"},
            "apiKey": {"value": API_KEY},
            "autoscaling": {"enabled": True},
            **BUNDLED_DB,
        },
        "frontend": {"autoscaling": {"enabled": True}},
        "ingress": {
            "enabled": True,
            "className": "nginx",
            "clusterIssuer": "letsencrypt-prod",
            "hosts": ["rates.example.com"],
            "tls": [{"secretName": "rates-tls", "hosts": ["rates.example.com"]}],
        },
        "httpRoute": {
            "enabled": True,
            "parentRefs": [{"name": "public", "namespace": "gateway-system"}],
            "hostnames": ["rates.example.com"],
        },
        "monitoring": {
            "serviceMonitor": {"enabled": True},
            "prometheusRule": {"enabled": True},
            "dashboard": {"enabled": True},
        },
    },
)
_MINIMAL_PART = {
    "replicaCount": 1,
    "networkPolicy": {"enabled": False},
    "podDisruptionBudget": {"enabled": False},
    "serviceAccount": {"create": False},
    "topologySpread": {"enabled": False},
    "podAntiAffinity": {"enabled": False},
    "preStopSleepSeconds": 0,
}
ALL_OFF = {"backend": _MINIMAL_PART, "frontend": _MINIMAL_PART, "tests": {"enabled": False}}

SCENARIOS: dict[str, dict[str, Any]] = {
    "default": {},
    **{env: env_values(env) for env in ENVIRONMENTS},
    "staging+apis": deep_merge(env_values("staging"), WITH_APIS),
    "prod+apis": deep_merge(env_values("prod"), WITH_APIS),
    "all-on": ALL_ON,
    "all-off": ALL_OFF,
    "backend-only": {"frontend": {"enabled": False}},
    "frontend-only": {"backend": {"enabled": False}},
}


# ---------------------------------------------------------------------------------------------
# Rendering


def render_raw(values: dict[str, Any], *, name: str = RELEASE) -> dict[str, str]:
    # A fresh load per render: Helm drops disabled subcharts from the loaded chart in place, so a
    # shared Chart would lose the backend for good after one render with backend.enabled=false.
    with helm.Chart.load(CHART) as chart:
        rendered: dict[str, str] = chart.render(values, name=name, namespace=NAMESPACE)
    return rendered


# The bundled database's password, generated per render (a cluster keeps the first one); the
# comparisons below (golden files, packaged vs directory) see it as a placeholder.
GENERATED_PASSWORD = re.compile(r'^(  password: )"[A-Za-z0-9+/]{43}="$', re.M)
DATABASE_SECRET_TEMPLATE = "crypto-rates/charts/backend/templates/database/secret.yaml"


def without_generated_password(rendered: dict[str, str]) -> dict[str, str]:
    text = rendered.get(DATABASE_SECRET_TEMPLATE)
    if text:
        rendered = rendered | {
            DATABASE_SECRET_TEMPLATE: GENERATED_PASSWORD.sub(r'\1"<generated>"', text)
        }
    return rendered


@functools.cache
def _render_cached(values_json: str, name: str) -> tuple[tuple[str, str], ...]:
    rendered = render_raw(json.loads(values_json), name=name)
    return tuple(sorted(without_generated_password(rendered).items()))


def render(values: dict[str, Any] | None = None, *, name: str = RELEASE) -> dict[str, str]:
    """Template path -> rendered text, as `helm template` would produce."""
    key = json.dumps(values or {}, sort_keys=True)
    return dict(_render_cached(key, name))


def parse_documents(rendered: dict[str, str]) -> list[dict[str, Any]]:
    """Every non-empty YAML document; broken YAML in any template (subcharts too) fails loudly."""
    docs = []
    for template, text in rendered.items():
        if template.endswith("NOTES.txt"):
            continue
        try:
            parsed = list(yaml.safe_load_all(text))
        except yaml.YAMLError as error:
            raise AssertionError(f"{template} renders invalid YAML: {error}") from error
        for doc in parsed:
            if doc is None:
                continue
            assert isinstance(doc, dict), f"{template}: a document is not a mapping"
            assert {"apiVersion", "kind", "metadata"} <= doc.keys(), f"{template}: not a manifest"
            docs.append(doc)
    return docs


def manifests(values: dict[str, Any] | None = None, *, name: str = RELEASE) -> list[dict[str, Any]]:
    return parse_documents(render(values, name=name))


def find(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [
        d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)
    ]


def one(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = find(docs, kind, name)
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = doc["spec"] if doc["kind"] == "Pod" else doc["spec"]["template"]["spec"]
    return spec


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def interface_metrics() -> set[str]:
    """Metric names from the table in docs/INTERFACES.md, the contract the backend exposes."""
    text = (REPO / "docs" / "INTERFACES.md").read_text()
    section = text.split("## Metrics", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.M))


# ---------------------------------------------------------------------------------------------
# Chart structure, lint, packaging


def test_umbrella_declares_local_subcharts_switched_by_enabled() -> None:
    metadata = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert metadata["apiVersion"] == "v2"
    deps = {d["name"]: d for d in metadata["dependencies"]}
    assert set(deps) == {"backend", "frontend", "workload"}
    for name, dep in deps.items():
        assert "repository" not in dep, f"{name} must be a local subchart"
        if name != "workload":
            assert dep["condition"] == f"{name}.enabled"
    statuses = {d["name"]: d["status"] for d in helm.dependency_list(CHART)}
    assert statuses == {"backend": "unpacked", "frontend": "unpacked", "workload": "unpacked"}


def test_workload_objects_are_written_once_in_the_library() -> None:
    library = CHART / "charts" / "workload"
    assert yaml.safe_load((library / "Chart.yaml").read_text())["type"] == "library"
    for name, path in SUBCHARTS.items():
        # Each part declares the library and carries it as a link, so it also lints alone.
        declared = yaml.safe_load((path / "Chart.yaml").read_text())["dependencies"]
        assert [d["name"] for d in declared] == ["workload"], name
        assert (path / "charts" / "workload").resolve() == library.resolve(), name
        assert {d["name"]: d["status"] for d in helm.dependency_list(path)} == {
            "workload": "unpacked"
        }
        assert not (path / "values.schema.json").exists(), "one schema: the umbrella's $defs"
        templates = "".join(p.read_text() for p in (path / "templates").rglob("*") if p.is_file())
        for kind in SHARED_KINDS:
            assert f"kind: {kind}\n" not in templates, f"{name} writes its own {kind}"
    library_text = "".join(p.read_text() for p in (library / "templates").iterdir())
    assert all(f"kind: {kind}\n" in library_text for kind in SHARED_KINDS)


@pytest.mark.parametrize(
    ("path", "values"),
    [(CHART, {}), (CHART, ALL_ON), *[(CHART, env_values(e)) for e in ENVIRONMENTS]]
    + [(path, {}) for path in SUBCHARTS.values()],
    ids=["umbrella", "umbrella-all-on", *(f"umbrella-{e}" for e in ENVIRONMENTS), *SUBCHARTS],
)
def test_lint_is_clean(path: Path, values: dict[str, Any]) -> None:
    # Umbrella lint does not look inside subchart output, so each subchart is linted too.
    report = helm.lint(path, values, strict=True, namespace=NAMESPACE)
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert not problems, problems
    assert not report["errors"], report["errors"]


def test_broken_subchart_yaml_is_caught_by_subchart_lint_and_by_parsing(tmp_path: Path) -> None:
    copy_dir = tmp_path / "crypto-rates"
    shutil.copytree(CHART, copy_dir)
    (copy_dir / "charts" / "backend" / "templates" / "broken.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata: [unclosed\n"
    )
    report = helm.lint(copy_dir / "charts" / "backend", {}, strict=True)
    assert any(m["severity"] == 3 for m in report["messages"]) or report["errors"]
    with helm.Chart.load(copy_dir) as chart:
        rendered = chart.render({}, name=RELEASE, namespace=NAMESPACE)
    with pytest.raises(AssertionError, match=r"broken\.yaml renders invalid YAML"):
        parse_documents(rendered)


def test_packaged_chart_renders_like_the_directory(tmp_path: Path) -> None:
    archive = helm.package(CHART, destination=tmp_path)
    assert Path(archive).name == "crypto-rates-0.1.0.tgz"
    with helm.Chart.load(archive) as packaged:
        assert {d["name"] for d in packaged.dependencies} == {"backend", "frontend", "workload"}
        assert "dashboards/crypto-rates.json" in {f["name"] for f in packaged.files}
        rendered = packaged.render(ALL_ON, name=RELEASE, namespace=NAMESPACE)
    assert parse_documents(without_generated_password(rendered)) == manifests(ALL_ON)


# ---------------------------------------------------------------------------------------------
# Golden renders: the chart's output, byte for byte


def as_helm_template(rendered: dict[str, str]) -> str:
    """The render as one stream, in the layout of `helm template` (empty templates left out)."""
    return "".join(
        f"---\n# Source: {path}\n{text}\n"
        for path, text in sorted(rendered.items())
        if text.strip()
    )


# A fixed sample, not every environment: a new environment needs no golden file (SCENARIOS holds
# every values file: lint, kubernetes-validate and the pod security checks cover it).
@pytest.mark.parametrize("scenario", ["default", "dev", "staging", "prod", "all-on", "all-off"])
def test_render_matches_its_golden_file(scenario: str) -> None:
    # A refactor of the templates must not change what reaches the cluster. After an intended
    # change: UPDATE_GOLDEN=1 make test-helm, then review `git diff deploy/tests/golden`.
    golden = GOLDEN / f"{scenario}.yaml"
    text = as_helm_template(render(SCENARIOS[scenario]))
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_text(text)
        pytest.skip(f"rewrote {golden.relative_to(REPO)}")
    assert golden.exists(), f"{golden} is missing: UPDATE_GOLDEN=1 make test-helm writes it"
    expected = golden.read_text()
    if text != expected:
        diff = difflib.unified_diff(
            expected.splitlines(keepends=True),
            text.splitlines(keepends=True),
            str(golden.relative_to(REPO)),
            "rendered",
        )
        pytest.fail("the render differs from its golden file:\n" + "".join(diff))


# ---------------------------------------------------------------------------------------------
# Kubernetes API schemas


def kube_validate(docs: list[dict[str, Any]], version: str) -> list[str]:
    """Problems found by kubernetes-validate in strict mode; an unsupported version is a problem."""
    problems = []
    wanted = ".".join(version.split(".")[:2])
    for doc in docs:
        what = f"{doc['kind']}/{doc['metadata']['name']}"
        try:
            used = kubernetes_validate.validate(doc, version, strict=True)
        except VersionNotSupportedError:
            return [f"kubernetes-validate does not support Kubernetes {version}"]
        except kubernetes_validate.SchemaNotFoundError:
            if doc["kind"] not in CRD_KINDS:
                problems.append(f"{what}: no schema for {doc['apiVersion']} in {version}")
            continue
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(p) for p in error.path)
            problems.append(f"{what}: {path}: {error.message}")
            continue
        if used != wanted:  # the tool falls back to older schemas silently
            problems.append(f"{what}: validated against {used}, not {wanted}")
    return problems


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_manifest_is_valid_kubernetes(scenario: str, version: str) -> None:
    docs = manifests(SCENARIOS[scenario])
    assert docs
    assert kube_validate(docs, version) == []


def test_kube_validation_catches_unknown_fields_and_unsupported_versions() -> None:
    deployment = copy.deepcopy(one(manifests(), "Deployment", "crypto-rates-backend"))
    pod_spec(deployment)["containers"][0]["readOnlyRootFileSystem"] = True  # misspelt
    assert any("readOnlyRootFileSystem" in p for p in kube_validate([deployment], "1.29.0"))
    assert kube_validate([deployment], "1.99.0") == [
        "kubernetes-validate does not support Kubernetes 1.99.0"
    ]


# ---------------------------------------------------------------------------------------------
# What gets rendered, feature by feature


def kinds(docs: list[dict[str, Any]]) -> list[str]:
    return sorted(f"{d['kind']}/{d['metadata']['name']}" for d in docs)


def test_default_render_is_the_secure_two_part_app() -> None:
    assert kinds(manifests()) == [
        "ConfigMap/crypto-rates-backend",
        "Deployment/crypto-rates-backend",
        "Deployment/crypto-rates-frontend",
        "NetworkPolicy/crypto-rates-backend",
        "NetworkPolicy/crypto-rates-frontend",
        "Pod/crypto-rates-test",
        "PodDisruptionBudget/crypto-rates-frontend",
        "Service/crypto-rates-backend",
        "Service/crypto-rates-frontend",
        "ServiceAccount/crypto-rates-backend",
        "ServiceAccount/crypto-rates-frontend",
    ]


def test_every_optional_feature_on() -> None:
    docs = manifests(ALL_ON)
    rendered = set(kinds(docs))
    assert {
        "Ingress/crypto-rates",
        "HTTPRoute/crypto-rates",
        "ServiceMonitor/crypto-rates-backend",
        "PrometheusRule/crypto-rates",
        "ConfigMap/crypto-rates-dashboard",
        "HorizontalPodAutoscaler/crypto-rates-backend",
        "HorizontalPodAutoscaler/crypto-rates-frontend",
        "Secret/crypto-rates-backend-api-key",
        "StatefulSet/crypto-rates-database",
        "Service/crypto-rates-database",
        "NetworkPolicy/crypto-rates-database",
        "Secret/crypto-rates-database",
    } <= rendered
    for doc in docs:
        assert doc["metadata"]["labels"]["team"] == "rates", (
            f"commonLabels missing on {doc['kind']}"
        )


def test_every_optional_feature_off() -> None:
    assert kinds(manifests(ALL_OFF)) == [
        "ConfigMap/crypto-rates-backend",
        "Deployment/crypto-rates-backend",
        "Deployment/crypto-rates-frontend",
        "Service/crypto-rates-backend",
        "Service/crypto-rates-frontend",
    ]
    for deployment in find(manifests(ALL_OFF), "Deployment"):
        spec = pod_spec(deployment)
        assert spec["serviceAccountName"] == "default"
        assert "topologySpreadConstraints" not in spec and "affinity" not in spec
        assert "lifecycle" not in spec["containers"][0]


@pytest.mark.parametrize("part", ["backend", "frontend"])
def test_a_subchart_can_be_switched_off(part: str) -> None:
    docs = manifests({part: {"enabled": False}})
    assert not [d for d in docs if d["metadata"]["name"] == f"crypto-rates-{part}"]
    assert find(docs, "Deployment"), "the other part still renders"
    assert not find(docs, "Pod"), "the helm test needs both parts"
    # Rendering with a part switched off leaves later renders whole.
    assert len(find(manifests(), "Deployment")) == 2


def test_routing_to_a_disabled_frontend_is_refused() -> None:
    with pytest.raises(helm.HelmRenderError, match=r"ingress\.enabled routes to the frontend"):
        render(
            {"frontend": {"enabled": False}, "ingress": {"enabled": True, "hosts": ["a.example"]}}
        )


@pytest.mark.parametrize(
    ("feature", "kind", "api"),
    [
        ({"monitoring": {"serviceMonitor": {"enabled": True}}}, "ServiceMonitor", OPTIONAL_APIS[0]),
        ({"monitoring": {"prometheusRule": {"enabled": True}}}, "PrometheusRule", OPTIONAL_APIS[0]),
        (
            {"httpRoute": {"enabled": True, "parentRefs": [{"name": "public"}]}},
            "HTTPRoute",
            OPTIONAL_APIS[1],
        ),
    ],
    ids=["ServiceMonitor", "PrometheusRule", "HTTPRoute"],
)
def test_custom_resources_need_both_the_flag_and_the_api(
    feature: dict[str, Any], kind: str, api: str
) -> None:
    def listed(apis: list[str]) -> dict[str, Any]:
        return {"global": {"capabilities": {"apiVersions": apis}}}

    assert not find(manifests(feature), kind), "flag alone: the cluster lacks the API"
    assert not find(manifests(listed([api])), kind), "API alone: the flag is off"
    assert len(find(manifests(deep_merge(feature, listed([api]))), kind)) == 1
    # The override also accepts group/version/Kind, as .Capabilities.APIVersions.Has does.
    assert len(find(manifests(deep_merge(feature, listed([f"{api}/{kind}"]))), kind)) == 1


def test_notes_warn_when_a_feature_is_asked_for_without_its_api() -> None:
    values = deep_merge(
        env_values("prod"), {"httpRoute": {"enabled": True, "parentRefs": [{"name": "gw"}]}}
    )
    notes = render(values)["crypto-rates/templates/NOTES.txt"]
    for flag, api in (
        ("monitoring.serviceMonitor", "monitoring.coreos.com/v1/ServiceMonitor"),
        ("monitoring.prometheusRule", "monitoring.coreos.com/v1/PrometheusRule"),
        ("httpRoute", "gateway.networking.k8s.io/v1/HTTPRoute"),
    ):
        assert f"WARNING: {flag}.enabled is set, but this cluster does not serve {api}" in notes
    notes = render(deep_merge(values, WITH_APIS))["crypto-rates/templates/NOTES.txt"]
    assert "WARNING" not in notes and "A ServiceMonitor scrapes them every 30s" in notes


@pytest.mark.parametrize("part", ["backend", "frontend"])
@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"replicaCount": 1}, False),
        ({"replicaCount": 2}, True),
        ({"replicaCount": 1, "autoscaling": {"enabled": True}}, True),
        (
            {
                "replicaCount": 1,
                "autoscaling": {"enabled": True, "minReplicas": 1, "maxReplicas": 1},
            },
            False,
        ),
        ({"replicaCount": 3, "podDisruptionBudget": {"enabled": False}}, False),
    ],
    ids=["1-replica", "2-replicas", "1-replica-autoscaled", "autoscaled-to-1", "disabled"],
)
def test_pdb_only_when_more_than_one_replica_is_possible(
    part: str, settings: dict[str, Any], expected: bool
) -> None:
    if part == "backend":
        settings = deep_merge(settings, BUNDLED_DB)
    pdbs = find(manifests({part: settings}), "PodDisruptionBudget", f"crypto-rates-{part}")
    assert bool(pdbs) == expected
    if pdbs:
        assert pdbs[0]["spec"]["maxUnavailable"] == 1  # never blocks a drain at one replica


@pytest.mark.parametrize("part", ["backend", "frontend"])
def test_autoscaler_defaults_to_2_to_10_on_cpu_and_memory(part: str) -> None:
    settings = {"autoscaling": {"enabled": True}} | (BUNDLED_DB if part == "backend" else {})
    docs = manifests({part: settings})
    hpa = one(docs, "HorizontalPodAutoscaler", f"crypto-rates-{part}")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 10)
    assert hpa["spec"]["scaleTargetRef"]["name"] == f"crypto-rates-{part}"
    targets = {m["resource"]["name"]: m["resource"]["target"] for m in hpa["spec"]["metrics"]}
    assert set(targets) == {"cpu", "memory"}
    deployment = one(docs, "Deployment", f"crypto-rates-{part}")
    assert "replicas" not in deployment["spec"], "the HPA owns the replica count"


@pytest.mark.parametrize(
    ("env", "replicas"), [("dev", (1, 1)), ("staging", (2, 4)), ("prod", (3, 10))]
)
def test_environment_sizes(env: str, replicas: tuple[int, int]) -> None:
    docs = manifests(env_values(env))
    for part in ("backend", "frontend"):
        hpas = find(docs, "HorizontalPodAutoscaler", f"crypto-rates-{part}")
        if hpas:
            got = (hpas[0]["spec"]["minReplicas"], hpas[0]["spec"]["maxReplicas"])
        else:
            count = one(docs, "Deployment", f"crypto-rates-{part}")["spec"]["replicas"]
            got = (count, count)
        assert got == replicas, part
    assert bool(find(docs, "PodDisruptionBudget")) == (replicas[1] > 1)
    ingress = one(docs, "Ingress", "crypto-rates")
    assert ingress["spec"]["rules"][0]["host"].endswith("example.com")
    assert bool(ingress["spec"].get("tls")) == (env != "dev")


# ---------------------------------------------------------------------------------------------
# Values schemas and template guards


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"replicas": 2}, "additional properties 'replicas' not allowed"),
        ({"backend": {"replicas": 2}}, "additional properties 'replicas' not allowed"),
        (
            {"frontend": {"backendURL": "http://x"}},
            "additional properties 'backendURL' not allowed",
        ),
        ({"backend": {"replicaCount": "2"}}, "/replicaCount"),
        ({"backend": {"replicaCount": 0}}, "minimum: got 0, want 1"),
        ({"frontend": {"replicaCount": 101}}, "maximum: got 101, want 100"),
        ({"backend": {"autoscaling": {"maxReplicas": 1000}}}, "/autoscaling/maxReplicas"),
        ({"backend": {"service": {"port": 0}}}, "/service/port"),
        ({"frontend": {"service": {"port": 70000}}}, "/service/port"),
        ({"frontend": {"backendPort": "8000"}}, "/backendPort"),
        ({"frontend": {"microCacheTtlSeconds": -1}}, "/microCacheTtlSeconds"),
        ({"frontend": {"microCacheTtlSeconds": "1s"}}, "/microCacheTtlSeconds"),
        ({"backend": {"config": {"refreshInterval": 59}}}, "/config/refreshInterval"),
        ({"backend": {"config": {"refreshInterval": "300"}}}, "/config/refreshInterval"),
        ({"backend": {"config": {"staleAfter": 30}}}, "/config/staleAfter"),
        ({"backend": {"config": {"monthlyCalls": -1}}}, "/config/monthlyCalls"),
        ({"backend": {"config": {"apiPlan": "enterprise"}}}, "/config/apiPlan"),
        ({"backend": {"config": {"logFormat": "xml"}}}, "/config/logFormat"),
        ({"backend": {"config": {"sampleFallback": "yes"}}}, "/config/sampleFallback"),
        ({"backend": {"image": {"digest": "latest"}}}, "/image/digest"),
        (
            {"backend": {"securityContext": {"allowPrivilegeEscalation": True}}},
            "allowPrivilegeEscalation",
        ),
        ({"frontend": {"podSecurityContext": {"runAsNonRoot": False}}}, "runAsNonRoot"),
        ({"monitoring": {"prometheusRule": {"staleAfterIntervals": 1}}}, "staleAfterIntervals"),
        (
            {"monitoring": {"serviceMonitor": {"interval": 30}}},
            "/monitoring/serviceMonitor/interval",
        ),
        ({"monitoring": {"prometheusRule": {"availabilityObjective": 1}}}, "availabilityObjective"),
        ({"monitoring": {"prometheusRule": {"dataStaleFor": "5 min"}}}, "/dataStaleFor"),
        (
            {"monitoring": {"prometheusRule": {"upstreamFailing": {"window": 900}}}},
            "/upstreamFailing/window",
        ),
        ({"monitoring": {"prometheusRule": {"interval": "often"}}}, "/prometheusRule/interval"),
        ({"ingress": {"enabled": True}}, "/ingress/hosts"),
        ({"ingress": {"enabled": "yes"}}, "/ingress/enabled"),
        ({"httpRoute": {"enabled": True}}, "/httpRoute/parentRefs"),
        ({"global": {"imagePullSecrets": ["ghcr"]}}, "/global/imagePullSecrets/0"),
        ({"backend": {"replicaCount": 2}}, SHARED_DATABASE_WHY),
        ({"backend": {"autoscaling": {"enabled": True}}}, SHARED_DATABASE_WHY),
        (
            {"backend": deep_merge(BUNDLED_DB, EXTERNAL_DB)},
            "one database, not two: database.bundled.enabled or database.external.existingSecret",
        ),
        ({"backend": {"database": {"bundled": {"username": "Rates"}}}}, "/username"),
        ({"backend": {"database": {"bundled": {"database": "a-b"}}}}, "/database/bundled/database"),
        ({"backend": {"database": {"bundled": {"image": {"tag": ""}}}}}, "/image/tag"),
        ({"backend": {"database": {"bundled": {"persistence": {"size": "2GB"}}}}}, "/size"),
        (
            {"backend": {"database": {"bundled": {"securityContext": {"privileged": True}}}}},
            "/database/bundled/securityContext/privileged",
        ),
        ({"backend": {"database": {"external": {"port": 0}}}}, "/database/external/port"),
        ({"backend": {"networkPolicy": {"databaseCIDR": "vpc"}}}, "/networkPolicy/databaseCIDR"),
    ],
)
def test_schema_rejects_bad_values(values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm.HelmValuesError, match=re.escape(message)):
        render(values)


def test_schema_accepts_the_boundaries() -> None:
    docs = manifests(
        {
            "backend": {
                "replicaCount": 100,
                "config": {"refreshInterval": 60, "staleAfter": 60},
                "service": {"port": 65535},
                **EXTERNAL_DB,
            },
            "frontend": {"replicaCount": 1, "backendPort": 65535, "service": {"port": 1}},
            "monitoring": {"prometheusRule": {"staleAfterIntervals": 2}},
        }
    )
    assert one(docs, "Deployment", "crypto-rates-backend")["spec"]["replicas"] == 100


def test_paid_plan_without_a_key_is_refused_with_a_clear_message() -> None:
    with pytest.raises(helm.HelmRenderError, match=r'apiPlan "pro" needs a CoinGecko API key'):
        render({"backend": {"config": {"apiPlan": "pro"}}})


def test_autoscaling_minimum_above_maximum_is_refused() -> None:
    with pytest.raises(
        helm.HelmRenderError, match=r"minReplicas \(5\) must not exceed maxReplicas \(3\)"
    ):
        render({"frontend": {"autoscaling": {"enabled": True, "minReplicas": 5, "maxReplicas": 3}}})


# ---------------------------------------------------------------------------------------------
# Wiring between the parts


@pytest.mark.parametrize("release", ["crypto-rates", "rates", "backend", "pr-1234"])
def test_frontend_reaches_this_releases_backend_service(release: str) -> None:
    docs = manifests(name=release)
    backend_service = one(docs, "Service", f"{release}-backend")
    frontend = one(docs, "Deployment", f"{release}-frontend")
    port = backend_service["spec"]["ports"][0]["port"]
    env = env_of(pod_spec(frontend)["containers"][0])
    assert env["BACKEND_URL"] == f"http://{release}-backend:{port}"
    assert env["LISTEN_PORT"] == "8080"


def test_backend_url_follows_a_changed_service_port_and_an_explicit_override() -> None:
    docs = manifests({"backend": {"service": {"port": 80}}, "frontend": {"backendPort": 80}})
    env = env_of(pod_spec(one(docs, "Deployment", "crypto-rates-frontend"))["containers"][0])
    assert env["BACKEND_URL"] == "http://crypto-rates-backend:80"
    docs = manifests({"frontend": {"backendUrl": "http://api.internal:9000"}})
    env = env_of(pod_spec(one(docs, "Deployment", "crypto-rates-frontend"))["containers"][0])
    assert env["BACKEND_URL"] == "http://api.internal:9000"


def test_micro_cache_ttl_reaches_nginx_and_zero_turns_it_off() -> None:
    for values, expected in (({}, "1"), ({"frontend": {"microCacheTtlSeconds": 0}}, "0")):
        docs = manifests(values)
        env = env_of(pod_spec(one(docs, "Deployment", "crypto-rates-frontend"))["containers"][0])
        assert env["MICRO_CACHE_TTL"] == expected
        assert "RESOLVER" not in env  # the backend Service's address is stable


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


CLUSTER_DNS_PEER = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
}


def egress_allows(policy: dict[str, Any], address: str, port: int) -> bool:
    """NetworkPolicy semantics for an ipBlock destination: a rule allows the address when one of
    its ipBlock peers contains it outside every except (or the rule has no `to`) and one of its
    ports is this one."""
    for rule in policy["spec"]["egress"]:
        if not any(p["port"] == port for p in rule.get("ports", [])):
            continue
        if "to" not in rule:
            return True
        for peer in rule["to"]:
            block = peer.get("ipBlock")
            if block and ipaddress.ip_address(address) in ipaddress.ip_network(block["cidr"]):
                excluded = block.get("except", [])
                if not any(
                    ipaddress.ip_address(address) in ipaddress.ip_network(e) for e in excluded
                ):
                    return True
    return False


@pytest.mark.parametrize("scenario", ["default", *ENVIRONMENTS])
def test_backend_egress_reaches_the_internet_on_443_but_nothing_inside(scenario: str) -> None:
    values = SCENARIOS[scenario]
    docs = manifests(values)
    policy = one(docs, "NetworkPolicy", "crypto-rates-backend")
    inside = [
        "169.254.169.254",  # instance metadata (credentials of the node role)
        "10.100.0.1",  # the kubernetes Service (EKS's service ranges) and the API's endpoints
        "172.20.0.1",
        "192.168.1.10",
        "100.64.3.4",  # shared address space (custom pod networking)
    ]
    vpc = values.get("backend", {}).get("networkPolicy", {}).get("vpcCIDR")
    if vpc:
        inside.append(str(ipaddress.ip_network(vpc)[10]))
    for address in inside:
        assert not egress_allows(policy, address, 443), f"{scenario}: backend reaches {address}"
    assert egress_allows(policy, "104.16.1.1", 443), f"{scenario}: no HTTPS to the internet"
    assert not egress_allows(policy, "104.16.1.1", 80)
    assert not egress_allows(policy, "104.16.1.1", 53), "DNS only to the cluster DNS"


@pytest.mark.parametrize("part", ["backend", "frontend"])
def test_dns_egress_goes_to_the_cluster_dns_only(part: str) -> None:
    policy = one(manifests(), "NetworkPolicy", f"crypto-rates-{part}")["spec"]
    dns = [r for r in policy["egress"] if any(p["port"] == 53 for p in r["ports"])]
    assert dns == [
        {
            "to": [CLUSTER_DNS_PEER],
            "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
        }
    ]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_backend_egress_excludes_the_vpc_terraform_creates(env: str) -> None:
    tfvars = (REPO / "deploy/terraform/environments" / env / "environment.tfvars").read_text()
    vpc = re.search(r'^vpc_cidr\s*=\s*"([^"]+)"', tfvars, re.M)
    assert vpc, f"no vpc_cidr in {env}'s environment.tfvars"
    assert env_values(env)["backend"]["networkPolicy"]["vpcCIDR"] == vpc.group(1)


def test_services_network_policies_and_routes_select_the_right_pods() -> None:
    docs = manifests(ALL_ON)
    backend = one(docs, "Deployment", "crypto-rates-backend")["spec"]["template"]["metadata"]
    frontend = one(docs, "Deployment", "crypto-rates-frontend")["spec"]["template"]["metadata"]
    test_pod = one(docs, "Pod", "crypto-rates-test")["metadata"]
    for part, pod in (("backend", backend), ("frontend", frontend)):
        service = one(docs, "Service", f"crypto-rates-{part}")
        assert matches(service["spec"]["selector"], pod["labels"])
        assert not matches(service["spec"]["selector"], test_pod["labels"])
        assert service["spec"]["ports"][0]["targetPort"] == "http"

    backend_np = one(docs, "NetworkPolicy", "crypto-rates-backend")["spec"]
    assert matches(backend_np["podSelector"]["matchLabels"], backend["labels"])
    sources = backend_np["ingress"][0]["from"]
    clients = [s["podSelector"]["matchLabels"] for s in sources if "podSelector" in s]
    assert any(matches(c, frontend["labels"]) for c in clients)
    assert any(matches(c, test_pod["labels"]) for c in clients)
    assert not any(matches(c, backend["labels"]) for c in clients)
    namespaces = [
        s["namespaceSelector"]["matchLabels"] for s in sources if "namespaceSelector" in s
    ]
    assert namespaces == [{"kubernetes.io/metadata.name": "monitoring"}]
    egress_ports = sorted(p["port"] for rule in backend_np["egress"] for p in rule["ports"])
    assert egress_ports == [53, 53, 443, 5432], "backend egress: DNS, HTTPS, its database only"

    frontend_np = one(docs, "NetworkPolicy", "crypto-rates-frontend")["spec"]
    assert frontend_np["ingress"] == [{"ports": [{"port": "http", "protocol": "TCP"}]}]
    to_backend = next(r for r in frontend_np["egress"] if r["ports"][0]["port"] != 53)
    assert matches(to_backend["to"][0]["podSelector"]["matchLabels"], backend["labels"])
    assert to_backend["ports"][0]["port"] == 8000

    ingress_backend = one(docs, "Ingress", "crypto-rates")["spec"]["rules"][0]["http"]["paths"][0]
    assert ingress_backend["path"] == "/"
    assert ingress_backend["backend"]["service"] == {
        "name": "crypto-rates-frontend",
        "port": {"name": "http"},
    }
    route = one(docs, "HTTPRoute", "crypto-rates")["spec"]
    assert route["rules"][0]["backendRefs"] == [{"name": "crypto-rates-frontend", "port": 8080}]
    assert route["parentRefs"] == [{"name": "public", "namespace": "gateway-system"}]

    monitor = one(docs, "ServiceMonitor", "crypto-rates-backend")["spec"]
    backend_service = one(docs, "Service", "crypto-rates-backend")
    assert matches(monitor["selector"]["matchLabels"], backend_service["metadata"]["labels"])
    assert monitor["endpoints"][0]["port"] == backend_service["spec"]["ports"][0]["name"]
    assert monitor["endpoints"][0]["path"] == "/metrics"


def test_helm_test_pod_checks_frontend_api_through_frontend_and_backend_readiness() -> None:
    pod = one(manifests(), "Pod", "crypto-rates-test")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    script = " ".join(pod_spec(pod)["containers"][0]["args"])
    for url in (
        "http://crypto-rates-frontend:8080/healthz",
        "http://crypto-rates-frontend:8080/api/v1/rates",
        "http://crypto-rates-backend:8000/health/ready",
    ):
        assert url in script
    compile(pod_spec(pod)["containers"][0]["args"][0], "helm-test", "exec")  # valid Python


def test_helm_test_pod_pulls_the_backend_image_with_the_backends_pull_secrets() -> None:
    values = {
        "global": {"imagePullSecrets": [{"name": "shared"}]},
        "backend": {"imagePullSecrets": [{"name": "backend-only"}]},
    }
    docs = manifests(values)
    pod = one(docs, "Pod", "crypto-rates-test")
    deployment = one(docs, "Deployment", "crypto-rates-backend")
    expected = [{"name": "shared"}, {"name": "backend-only"}]
    assert pod_spec(pod)["imagePullSecrets"] == pod_spec(deployment)["imagePullSecrets"] == expected


def test_ingress_uses_class_tls_and_cert_manager_issuer() -> None:
    ingress = one(manifests(ALL_ON), "Ingress", "crypto-rates")
    assert (
        ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "letsencrypt-prod"
    )
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [{"secretName": "rates-tls", "hosts": ["rates.example.com"]}]


# ---------------------------------------------------------------------------------------------
# Backend settings and secrets


def test_backend_settings_follow_the_interface_contract() -> None:
    docs = manifests(
        {"backend": {"config": {"refreshInterval": 600, "corsOrigins": "https://a.example"}}}
    )
    config = one(docs, "ConfigMap", "crypto-rates-backend")["data"]
    assert config == {
        "HOST": "0.0.0.0",
        "PORT": "8000",
        "COINGECKO_API_PLAN": "public",
        "REFRESH_INTERVAL": "600",
        "API_TIMEOUT": "10",
        "SNAPSHOT_PATH": "/var/lib/crypto-rates/snapshot.json",
        "SAMPLE_FALLBACK": "false",
        "LOG_LEVEL": "info",
        "LOG_FORMAT": "json",
        "CORS_ORIGINS": "https://a.example",
    }
    container = pod_spec(one(docs, "Deployment", "crypto-rates-backend"))["containers"][0]
    assert container["envFrom"] == [{"configMapRef": {"name": "crypto-rates-backend"}}]
    assert container["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert container["startupProbe"]["httpGet"]["path"] == "/health/live"
    assert "env" not in container, "no API key configured, so no secret reference"
    stale = manifests({"backend": {"config": {"staleAfter": 1200}}})
    assert one(stale, "ConfigMap", "crypto-rates-backend")["data"]["STALE_AFTER"] == "1200"


def test_refresh_interval_is_passed_only_when_set() -> None:
    # The service owns the default (config.py); the chart does not repeat it.
    for scenario in ("default", *ENVIRONMENTS):
        config = one(manifests(SCENARIOS[scenario]), "ConfigMap", "crypto-rates-backend")["data"]
        assert "REFRESH_INTERVAL" not in config, scenario
    set_ = manifests({"backend": {"config": {"refreshInterval": 120}}})
    assert one(set_, "ConfigMap", "crypto-rates-backend")["data"]["REFRESH_INTERVAL"] == "120"


def test_monthly_call_allowance_is_passed_only_when_set() -> None:
    # 0: the backend's allowance of the plan (config.py's PLAN_MONTHLY_CALLS), not repeated here.
    config = one(manifests(SCENARIOS["prod"]), "ConfigMap", "crypto-rates-backend")["data"]
    assert "COINGECKO_MONTHLY_CALLS" not in config
    set_ = manifests({"backend": {"config": {"monthlyCalls": 500000}}})
    data = one(set_, "ConfigMap", "crypto-rates-backend")["data"]
    assert data["COINGECKO_MONTHLY_CALLS"] == "500000"


def test_stale_alert_threshold_is_a_multiple_of_the_interval_the_backend_reports() -> None:
    rules = [r for group in rules_spec()["groups"] for r in group["rules"]]
    stale = next(r for r in rules if r.get("alert") == "CryptoRatesDataStale")
    selector = '{namespace="crypto-rates", job="crypto-rates-backend"}'
    assert stale["expr"] == (
        f"max(crypto_rates_snapshot_age_seconds{selector})"
        f" > 3 * max(crypto_rates_refresh_interval_seconds{selector})"
    )


def test_api_key_lives_only_in_a_secret() -> None:
    docs = manifests(ALL_ON)
    secret = one(docs, "Secret", "crypto-rates-backend-api-key")
    assert base64.b64decode(secret["data"]["api-key"]).decode() == API_KEY
    encoded = base64.b64encode(API_KEY.encode()).decode()
    for doc in docs:
        if doc["kind"] == "Secret":
            continue
        text = yaml.safe_dump(doc)
        assert API_KEY not in text and encoded not in text, f"key leaked into {doc['kind']}"
    for config_map in find(docs, "ConfigMap"):
        assert not [k for k in config_map.get("data", {}) if re.search("KEY|TOKEN|PASSWORD", k)]
    assert_key_mounted_from(docs, "crypto-rates-backend-api-key", "api-key")


def test_existing_secret_is_referenced_and_not_created() -> None:
    docs = manifests(env_values("prod"))
    assert not find(docs, "Secret")
    assert_key_mounted_from(docs, "crypto-rates-coingecko", "api-key")


def assert_key_mounted_from(docs: list[dict[str, Any]], secret: str, key: str) -> None:
    """The key reaches the backend as a file from a Secret volume, not an env var: the kubelet
    updates a mounted Secret (without subPath) in place, so a rotated key needs no restart (the
    backend re-reads the file when CoinGecko refuses the old key)."""
    spec = pod_spec(one(docs, "Deployment", "crypto-rates-backend"))
    container = spec["containers"][0]
    env = env_of(container)
    assert "COINGECKO_API_KEY" not in env
    path = env["COINGECKO_API_KEY_FILE"]
    (volume,) = [v for v in spec["volumes"] if "secret" in v]
    assert volume["secret"]["secretName"] == secret
    assert volume["secret"]["items"] == [{"key": key, "path": key}]
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == volume["name"]]
    assert mount["readOnly"] is True and "subPath" not in mount
    assert path == f"{mount['mountPath']}/{key}"


# ---------------------------------------------------------------------------------------------
# The backend's database: none (SQLite, one replica), bundled PostgreSQL or an external one


def backend_container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    container: dict[str, Any] = pod_spec(one(docs, "Deployment", "crypto-rates-backend"))[
        "containers"
    ][0]
    return container


def test_without_a_database_one_replica_keeps_sqlite_on_its_volume() -> None:
    docs = manifests()
    assert one(docs, "Deployment", "crypto-rates-backend")["spec"]["replicas"] == 1
    assert not find(docs, "StatefulSet") and not find(docs, "Secret")
    env = env_of(backend_container(docs))
    assert "DATABASE_URL" not in env, "the backend's own default: SQLite under its data dir"
    assert "/var/lib/crypto-rates" in {
        m["mountPath"] for m in backend_container(docs)["volumeMounts"]
    }


def test_bundled_database_url_is_composed_from_the_password_secret() -> None:
    docs = manifests({"backend": BUNDLED_DB})
    env = backend_container(docs)["env"]
    names = [e["name"] for e in env]
    # Kubernetes expands $(DATABASE_PASSWORD) only from a variable defined before it.
    assert names.index("DATABASE_PASSWORD") < names.index("DATABASE_URL")
    by_name = env_of(backend_container(docs))
    assert by_name["DATABASE_PASSWORD"] == {
        "secretKeyRef": {"name": "crypto-rates-database", "key": "password"}
    }
    service = one(docs, "Service", "crypto-rates-database")
    port = service["spec"]["ports"][0]["port"]
    assert by_name["DATABASE_URL"] == (
        f"postgresql://crypto_rates:$(DATABASE_PASSWORD)@crypto-rates-database:{port}/crypto_rates"
    )
    postgres = pod_spec(one(docs, "StatefulSet", "crypto-rates-database"))["containers"][0]
    assert env_of(postgres)["POSTGRES_PASSWORD"] == by_name["DATABASE_PASSWORD"]
    assert (env_of(postgres)["POSTGRES_USER"], env_of(postgres)["POSTGRES_DB"]) == (
        "crypto_rates",
        "crypto_rates",
    )


def test_generated_password_lives_only_in_its_secret_and_survives_uninstall() -> None:
    rendered = render_raw({"backend": BUNDLED_DB})
    docs = parse_documents(rendered)
    secret = one(docs, "Secret", "crypto-rates-database")
    assert secret["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
    password = base64.b64decode(secret["data"]["password"]).decode()
    assert re.fullmatch(r"[A-Za-z0-9]{32}", password), "URL-safe, 32 characters"
    for doc in docs:
        if doc is not secret:
            assert password not in yaml.safe_dump(doc), f"password in {doc['kind']}"
    again = one(
        parse_documents(render_raw({"backend": BUNDLED_DB})), "Secret", secret["metadata"]["name"]
    )
    assert again["data"]["password"] != secret["data"]["password"], "generated, not a constant"


def test_an_existing_password_secret_is_used_and_none_is_generated() -> None:
    values = {
        "backend": {
            "database": {
                "bundled": {"enabled": True, "existingSecret": "pg", "existingSecretKey": "pw"}
            }
        }
    }
    docs = manifests(values)
    assert not find(docs, "Secret")
    reference = {"secretKeyRef": {"name": "pg", "key": "pw"}}
    postgres = pod_spec(one(docs, "StatefulSet", "crypto-rates-database"))["containers"][0]
    assert env_of(postgres)["POSTGRES_PASSWORD"] == reference
    assert env_of(backend_container(docs))["DATABASE_PASSWORD"] == reference


def test_bundled_database_is_one_persistent_pod_reachable_only_from_the_backend() -> None:
    docs = manifests(ALL_ON)
    statefulset = one(docs, "StatefulSet", "crypto-rates-database")
    assert statefulset["spec"]["replicas"] == 1
    claim = statefulset["spec"]["volumeClaimTemplates"][0]
    assert claim["metadata"]["name"] == "data"
    assert claim["spec"]["resources"]["requests"]["storage"] == "2Gi"
    database = statefulset["spec"]["template"]["metadata"]
    container = pod_spec(statefulset)["containers"][0]
    assert {m["name"]: m["mountPath"] for m in container["volumeMounts"]}["data"] == (
        "/var/lib/postgresql/data"
    )
    assert env_of(container)["PGDATA"].startswith("/var/lib/postgresql/data/")
    probe = container["readinessProbe"]["exec"]["command"]
    assert probe[0] == "pg_isready" and "--host=127.0.0.1" in probe
    assert "pg_ctl" in container["lifecycle"]["preStop"]["exec"]["command"]

    backend = one(docs, "Deployment", "crypto-rates-backend")["spec"]["template"]["metadata"]
    frontend = one(docs, "Deployment", "crypto-rates-frontend")["spec"]["template"]["metadata"]
    test_pod = one(docs, "Pod", "crypto-rates-test")["metadata"]
    service = one(docs, "Service", "crypto-rates-database")["spec"]
    assert matches(service["selector"], database["labels"])
    assert service["ports"][0]["targetPort"] == "postgres"
    for other in (backend, frontend, test_pod):
        assert not matches(service["selector"], other["labels"])
    for part in ("backend", "frontend"):
        selector = one(docs, "Service", f"crypto-rates-{part}")["spec"]["selector"]
        assert not matches(selector, database["labels"]), f"the {part} Service takes the database"

    policy = one(docs, "NetworkPolicy", "crypto-rates-database")["spec"]
    assert matches(policy["podSelector"]["matchLabels"], database["labels"])
    # Egress without rules: none allowed (the API server drops an empty list, so none is rendered)
    assert policy["policyTypes"] == ["Ingress", "Egress"] and "egress" not in policy
    [rule] = policy["ingress"]
    assert rule["ports"] == [{"port": "postgres", "protocol": "TCP"}]
    admitted = [source["podSelector"]["matchLabels"] for source in rule["from"]]
    assert [matches(a, backend["labels"]) for a in admitted] == [True]
    assert not any(matches(a, other["labels"]) for a in admitted for other in (frontend, test_pod))
    egress = one(docs, "NetworkPolicy", "crypto-rates-backend")["spec"]["egress"]
    to_database = next(r for r in egress if r["ports"][0]["port"] == 5432)
    assert matches(to_database["to"][0]["podSelector"]["matchLabels"], database["labels"])


def test_external_database_url_comes_from_its_secret_and_egress_opens_its_port() -> None:
    values = deep_merge(
        EXTERNAL_DB, {"replicaCount": 3, "networkPolicy": {"databaseCIDR": "10.30.0.0/16"}}
    )
    docs = manifests({"backend": values})
    assert not find(docs, "StatefulSet") and not find(docs, "Secret")
    env = env_of(backend_container(docs))
    assert env["DATABASE_URL"] == {"secretKeyRef": {"name": "rates-db", "key": "database-url"}}
    assert "DATABASE_PASSWORD" not in env
    egress = one(docs, "NetworkPolicy", "crypto-rates-backend")["spec"]["egress"]
    assert {
        "to": [{"ipBlock": {"cidr": "10.30.0.0/16"}}],
        "ports": [{"port": 5432, "protocol": "TCP"}],
    } in egress
    moved = manifests({"backend": deep_merge(values, {"database": {"external": {"port": 6432}}})})
    egress = one(moved, "NetworkPolicy", "crypto-rates-backend")["spec"]["egress"]
    assert sorted(p["port"] for rule in egress for p in rule["ports"]) == [53, 53, 443, 6432]


@pytest.mark.parametrize(
    ("env", "database"), [("dev", "bundled"), ("staging", "external"), ("prod", "external")]
)
def test_environments_use_their_database(env: str, database: str) -> None:
    docs = manifests(env_values(env))
    url = env_of(backend_container(docs))["DATABASE_URL"]
    if database == "bundled":
        assert len(find(docs, "StatefulSet", "crypto-rates-database")) == 1
        assert "$(DATABASE_PASSWORD)@crypto-rates-database:5432" in url
    else:
        assert not find(docs, "StatefulSet")
        assert url == {"secretKeyRef": {"name": "crypto-rates-database", "key": "database-url"}}


def test_bundled_database_image_is_overridable_and_pulled_like_the_backend() -> None:
    values = {
        "global": {"imagePullSecrets": [{"name": "shared"}]},
        "backend": deep_merge(
            BUNDLED_DB,
            {
                "imagePullSecrets": [{"name": "backend-only"}],
                "database": {
                    "bundled": {"image": {"repository": "crypto-rates-postgres", "tag": "test"}}
                },
            },
        ),
    }
    spec = pod_spec(one(manifests(values), "StatefulSet", "crypto-rates-database"))
    assert spec["containers"][0]["image"] == "crypto-rates-postgres:test"
    assert spec["imagePullSecrets"] == [{"name": "shared"}, {"name": "backend-only"}]
    default = pod_spec(
        one(manifests({"backend": BUNDLED_DB}), "StatefulSet", "crypto-rates-database")
    )
    assert default["containers"][0]["image"].startswith("postgres:")  # the official image


def test_config_and_key_changes_roll_the_backend_pods() -> None:
    def checksums(values: dict[str, Any]) -> dict[str, str]:
        deployment = one(manifests(values), "Deployment", "crypto-rates-backend")
        annotations: dict[str, str] = deployment["spec"]["template"]["metadata"]["annotations"]
        return annotations

    base = checksums({"backend": {"apiKey": {"value": "one"}}})
    new_interval = checksums(
        {"backend": {"apiKey": {"value": "one"}, "config": {"refreshInterval": 600}}}
    )
    new_key = checksums({"backend": {"apiKey": {"value": "two"}}})
    assert base["checksum/config"] != new_interval["checksum/config"]
    assert base["checksum/secret"] == new_interval["checksum/secret"]
    assert base["checksum/secret"] != new_key["checksum/secret"]


def test_image_digest_wins_over_tag_and_registry_is_prefixed() -> None:
    digest = "sha256:" + "a" * 64
    docs = manifests(
        {
            "global": {"imageRegistry": "ghcr.io/acme"},
            "backend": {"image": {"digest": digest, "tag": "9.9.9"}},
            "frontend": {"image": {"tag": "1.2.3"}},
        }
    )
    images = {
        part: pod_spec(one(docs, "Deployment", f"crypto-rates-{part}"))["containers"][0]["image"]
        for part in ("backend", "frontend")
    }
    assert images == {
        "backend": f"ghcr.io/acme/crypto-rates-backend@{digest}",
        "frontend": "ghcr.io/acme/crypto-rates-frontend:1.2.3",
    }
    test_image = pod_spec(one(docs, "Pod", "crypto-rates-test"))["containers"][0]["image"]
    assert test_image == images["backend"]
    default = pod_spec(one(manifests(), "Deployment", "crypto-rates-backend"))["containers"][0]
    assert default["image"] == "crypto-rates-backend:0.1.0"  # the chart's appVersion


# ---------------------------------------------------------------------------------------------
# Pod security and availability


POD_UIDS = {
    "crypto-rates-backend": 10001,
    "crypto-rates-frontend": 10002,
    "crypto-rates-test": 10001,
    "crypto-rates-database": 10004,
}
WRITABLE = {
    "crypto-rates-backend": {"/tmp", "/var/lib/crypto-rates"},
    "crypto-rates-frontend": {"/tmp"},
    "crypto-rates-test": {"/tmp"},
    # The data volume is the StatefulSet's claim; the others are emptyDirs.
    "crypto-rates-database": {"/tmp", "/run/postgresql", "/var/lib/postgresql/data"},
}
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Pod")


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_pod_runs_restricted(scenario: str) -> None:
    pods = [d for d in manifests(SCENARIOS[scenario]) if d["kind"] in WORKLOAD_KINDS]
    assert pods
    for doc in pods:
        name, spec = doc["metadata"]["name"], pod_spec(doc)
        uid = POD_UIDS[name]
        assert spec["automountServiceAccountToken"] is False, name
        pod_context = spec["securityContext"]
        assert pod_context["runAsNonRoot"] is True and pod_context["runAsUser"] == uid, name
        assert pod_context["seccompProfile"] == {"type": "RuntimeDefault"}, name
        volumes = {v["name"]: v for v in spec["volumes"]}
        # emptyDirs, and at most the API key's Secret, mounted read-only.
        secret_volumes = {n for n, v in volumes.items() if set(v) == {"name", "secret"}}
        assert all(
            set(v) == {"name", "emptyDir"} for n, v in volumes.items() if n not in secret_volumes
        ), name
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["runAsNonRoot"] is True and context["runAsUser"] == uid, name
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["privileged"] is False, name
            assert context["capabilities"] == {"drop": ["ALL"]}, name
            assert context["seccompProfile"] == {"type": "RuntimeDefault"}, name
            assert {"cpu", "memory"} <= container["resources"]["requests"].keys(), name
            assert {"cpu", "memory"} <= container["resources"]["limits"].keys(), name
            mounts = {
                m["mountPath"] for m in container["volumeMounts"] if m["name"] not in secret_volumes
            }
            assert mounts == WRITABLE[name], name
            assert all(
                m.get("readOnly") for m in container["volumeMounts"] if m["name"] in secret_volumes
            ), name
            if doc["kind"] != "Pod":
                assert {"startupProbe", "livenessProbe", "readinessProbe"} <= container.keys()


def test_pods_spread_and_drain_before_stopping() -> None:
    for part in ("backend", "frontend"):
        spec = pod_spec(one(manifests(), "Deployment", f"crypto-rates-{part}"))
        keys = [c["topologyKey"] for c in spec["topologySpreadConstraints"]]
        assert keys == ["topology.kubernetes.io/zone", "kubernetes.io/hostname"]
        assert all(
            c["whenUnsatisfiable"] == "ScheduleAnyway" for c in spec["topologySpreadConstraints"]
        )
        anti = spec["affinity"]["podAntiAffinity"]
        assert "requiredDuringSchedulingIgnoredDuringExecution" not in anti  # soft only
        assert anti["preferredDuringSchedulingIgnoredDuringExecution"][0]["weight"] == 100
        pause = spec["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"]
        # The pause, then the backend's own shutdown bound (10 s), fit in the grace period.
        assert pause > 0 and pause + 10 < spec["terminationGracePeriodSeconds"]


# ---------------------------------------------------------------------------------------------
# Policy (checkov)


INSECURE_CANARY = """\
apiVersion: v1
kind: Pod
metadata:
  name: canary
  namespace: crypto-rates
spec:
  containers:
    - name: canary
      image: busybox
      securityContext:
        privileged: true
"""


def test_checkov_finds_nothing_beyond_the_documented_skips(tmp_path: Path) -> None:
    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV} is missing: `make test-helm` creates it")
    scanned = {"default": {}, "dev": SCENARIOS["dev"], "staging": SCENARIOS["staging+apis"]}
    scanned |= {"prod": SCENARIOS["prod+apis"], "all-on": ALL_ON}
    for scenario, values in scanned.items():
        (tmp_path / f"{scenario}.yaml").write_text(yaml.safe_dump_all(manifests(values)))
    # A deliberately insecure pod proves the scan is live despite the skips.
    (tmp_path / "canary.yaml").write_text(INSECURE_CANARY)
    result = subprocess.run(
        [
            str(CHECKOV),
            "-d",
            str(tmp_path),
            "--framework",
            "kubernetes",
            "--skip-download",
            "--skip-check",
            ",".join(CHECKOV_SKIPS),
            "--output",
            "json",
            "--compact",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    report = json.loads(result.stdout)
    results = report["results"]
    failed = [
        (Path(f["file_path"]).name, f["check_id"], f["resource"]) for f in results["failed_checks"]
    ]
    assert [f for f in failed if f[0] != "canary.yaml"] == []
    assert {"CKV_K8S_16", "CKV_K8S_20"} <= {
        check for file, check, _ in failed if file == "canary.yaml"
    }
    scanned_files = {Path(p["file_path"]).name for p in results["passed_checks"]}
    assert {f"{s}.yaml" for s in scanned} <= scanned_files
    skipped = {s["check_id"] for s in results["skipped_checks"]}
    assert {"CKV_K8S_8", "CKV_K8S_9", "CKV2_K8S_6"} <= skipped  # annotated on the test pod only
    assert all(len(reason) > 40 for reason in CHECKOV_SKIPS.values())


# ---------------------------------------------------------------------------------------------
# Alerts (promtool) and dashboard


def rules_spec() -> dict[str, Any]:
    docs = manifests(deep_merge(WITH_APIS, {"monitoring": {"prometheusRule": {"enabled": True}}}))
    spec: dict[str, Any] = one(docs, "PrometheusRule", "crypto-rates")["spec"]
    return spec


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is missing: apt-get install prometheus")
    return path


def test_alert_rules_pass_promtool_check_and_unit_tests(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rules_spec(), sort_keys=False))
    shutil.copy(ALERT_TESTS, tmp_path / ALERT_TESTS.name)
    for command in (["check", "rules", "rules.yaml"], ["test", "rules", ALERT_TESTS.name]):
        result = subprocess.run(
            [promtool(), *command],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_alert_durations_and_evaluation_interval_come_from_values() -> None:
    # What the cluster test sets to see alerts fire within minutes: the same rules otherwise.
    quick = {
        "enabled": True,
        "interval": "5s",
        "dataStaleFor": "30s",
        "upstreamFailing": {"window": "2m", "for": "45s"},
        "callBudget": {"for": "20s"},
    }
    docs = manifests(deep_merge(WITH_APIS, {"monitoring": {"prometheusRule": quick}}))
    spec = one(docs, "PrometheusRule", "crypto-rates")["spec"]
    assert [g.get("interval") for g in spec["groups"]] == ["5s", "5s"]
    alerts = {r["alert"]: r for g in spec["groups"] for r in g["rules"] if "alert" in r}
    assert alerts["CryptoRatesDataStale"]["for"] == "30s"
    failing = alerts["CryptoRatesUpstreamFailing"]
    assert failing["for"] == "45s" and failing["expr"].count("[2m]") == 2
    assert "over 2m" in failing["annotations"]["description"]
    assert alerts["CryptoRatesCallBudgetLimiting"]["for"] == "20s"
    defaults = rules_spec()
    assert all("interval" not in g for g in defaults["groups"])  # the Prometheus' own
    alerts = {r["alert"]: r for g in defaults["groups"] for r in g["rules"] if "alert" in r}
    assert alerts["CryptoRatesDataStale"]["for"] == "5m"
    assert alerts["CryptoRatesUpstreamFailing"]["for"] == "15m"
    assert alerts["CryptoRatesUpstreamFailing"]["expr"].count("[15m]") == 2
    assert alerts["CryptoRatesCallBudgetLimiting"]["for"] == "1h"


def test_every_alert_has_a_unit_test_and_uses_known_metrics() -> None:
    spec = rules_spec()
    rules = [r for group in spec["groups"] for r in group["rules"]]
    alerts = {r["alert"] for r in rules if "alert" in r}
    assert alerts == {
        "CryptoRatesBackendDown",
        "CryptoRatesUpstreamFailing",
        "CryptoRatesDataStale",
        "CryptoRatesNoSnapshot",
        "CryptoRatesCallBudgetLimiting",
        "CryptoRatesErrorBudgetBurnFast",
        "CryptoRatesErrorBudgetBurnSlow",
        "CryptoRatesLatencyBudgetBurnFast",
        "CryptoRatesLatencyBudgetBurnSlow",
        "CryptoRatesPodsNotReady",
    }
    tested = {
        case["alertname"]
        for test in yaml.safe_load(ALERT_TESTS.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert alerts == tested, f"alerts without a firing unit test: {alerts - tested}"
    known = interface_metrics() | {"up"} | {r["record"] for r in rules if "record" in r}
    for rule in rules:
        for metric in re.findall(r"\b((?:crypto|coingecko)_[a-z_:0-9]+)", rule["expr"]):
            base = re.sub(r"_(bucket|count|sum)$", "", metric)
            assert metric in known or base in known, f"{metric} is not in docs/INTERFACES.md"
        assert "severity" in rule.get("labels", {"severity": "recording"})


def test_dashboard_is_a_plain_grafana_dashboard_on_the_interface_metrics() -> None:
    text = DASHBOARD.read_text()
    dashboard = json.loads(text)
    assert "DS_PROMETHEUS" not in text and "__inputs" not in dashboard
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    exprs = []
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}"
            exprs.append(target["expr"])
    used = {
        re.sub(r"_(bucket|count|sum)$", "", m)
        for e in exprs
        for m in re.findall(r"\b((?:crypto|coingecko)_[a-z_]+)", e)
    }
    assert used <= interface_metrics()
    assert {
        "crypto_app_requests_total",
        "crypto_app_request_duration_seconds",
        "coingecko_api_calls_total",
        "crypto_rates_snapshot_age_seconds",
        "crypto_rates_rate",
    } <= used
    for quantile in ("0.5", "0.95", "0.99"):
        assert any(f"histogram_quantile({quantile}," in e for e in exprs)
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])


def test_dashboard_configmap_ships_the_file_for_the_grafana_sidecar() -> None:
    docs = manifests({"monitoring": {"dashboard": {"enabled": True, "namespace": "grafana"}}})
    config_map = one(docs, "ConfigMap", "crypto-rates-dashboard")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert config_map["metadata"]["namespace"] == "grafana"
    assert json.loads(config_map["data"]["crypto-rates.json"]) == json.loads(DASHBOARD.read_text())


def test_notes_tell_how_to_reach_the_app_docs_and_metrics() -> None:
    notes = render()["crypto-rates/templates/NOTES.txt"]
    assert "port-forward service/crypto-rates-frontend 8080:8080" in notes
    assert "/docs" in notes and "/api/v1/rates" in notes
    assert "port-forward service/crypto-rates-backend 8000:8000" in notes and "/metrics" in notes
    notes = render(env_values("prod"))["crypto-rates/templates/NOTES.txt"]
    assert "https://crypto-rates.example.com/" in notes
