"""A real Prometheus on the test node, configured from the release's own monitoring objects.

The scrape configuration is generated from the installed ServiceMonitor the way the
prometheus-operator generates it (service discovery of role `endpoints` in the monitor's
namespaces, kept by the Service's selector labels and the endpoint's port name; the monitor's
path, interval, timeout and relabelings; `job` is the Service's name), so a wrong ServiceMonitor
scrapes nothing. The rules are the installed PrometheusRule's `spec.groups`, unchanged.

Prometheus is the version prometheus-operator deploys, built with its Kubernetes discovery
(node/build-prometheus.sh; Debian's package lacks it). It runs inside the node's network
namespace (it reaches pod IPs there, and the API server through the node's bridge, as the
kubelet does) with a ServiceAccount token allowed to list what discovery needs, like a
Prometheus in the cluster. A scrape from there comes from the node itself, which NetworkPolicy
admits anyway; the backend's policy admits backend.networkPolicy.monitoringNamespace (NAMESPACE)
for a Prometheus running as a pod.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import yaml
from clusterkit import CLUSTER_DIR, Cluster
from nodekit import Node
from testkit.deploy import run
from testkit.processes import http_get

BUILD = CLUSTER_DIR / "node" / "build-prometheus.sh"  # Prometheus with Kubernetes discovery
# The namespace of the monitoring stack: the backend's NetworkPolicy admits scrapes from it
# (backend.networkPolicy.monitoringNamespace, default `monitoring`).
NAMESPACE = "monitoring"
ACCOUNT = "prometheus"
LISTEN = "127.0.0.1:9090"  # inside the node's namespace
DEFAULT_INTERVAL = "30s"  # the operator's default when a ServiceMonitor endpoint names none

# The namespace and RBAC of a Prometheus that discovers endpoints (as kube-prometheus grants).
RBAC = f"""
apiVersion: v1
kind: Namespace
metadata: {{name: {NAMESPACE}}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {{name: {ACCOUNT}, namespace: {NAMESPACE}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: crypto-rates-test-prometheus}}
rules:
  - apiGroups: [""]
    resources: [services, endpoints, pods]
    verbs: [get, list, watch]
  - apiGroups: [discovery.k8s.io]
    resources: [endpointslices]
    verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: crypto-rates-test-prometheus}}
roleRef:
  {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: crypto-rates-test-prometheus}}
subjects: [{{kind: ServiceAccount, name: {ACCOUNT}, namespace: {NAMESPACE}}}]
"""

_RELABEL_KEYS = {
    "sourceLabels": "source_labels",
    "separator": "separator",
    "targetLabel": "target_label",
    "regex": "regex",
    "modulus": "modulus",
    "replacement": "replacement",
    "action": "action",
}
_ENDPOINT_KEYS = {
    "port", "path", "scheme", "interval", "scrapeTimeout", "honorLabels", "relabelings",
    "metricRelabelings",
}  # fmt: skip


def seconds(duration: str) -> float:
    """A Prometheus duration (30s, 2m, 1h30m, 500ms) in seconds."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    parts = re.findall(r"(\d+)(ms|s|m|h|d)", duration)
    if not parts or "".join(n + u for n, u in parts) != duration:
        raise ValueError(f"{duration!r} is not a Prometheus duration (e.g. 30s, 2m, 1h30m)")
    return sum(int(n) * units[u] for n, u in parts)


def label_name(name: str) -> str:
    """A Kubernetes label as Prometheus' discovery names it (app.kubernetes.io/name ->
    app_kubernetes_io_name)."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


def relabelings(items: list[dict[str, Any]], where: str) -> list[dict[str, Any]]:
    """The operator's RelabelConfig (camelCase) as Prometheus' relabel_config."""
    out = []
    for item in items:
        unknown = set(item) - set(_RELABEL_KEYS)
        if unknown:
            raise ValueError(f"{where}: unknown relabeling keys {sorted(unknown)}")
        config = {_RELABEL_KEYS[key]: value for key, value in item.items()}
        if "action" in config:
            config["action"] = config["action"].lower()
        out.append(config)
    return out


def scrape_configs(monitor: dict[str, Any], discovery: dict[str, Any]) -> list[dict[str, Any]]:
    """Prometheus scrape configs for a ServiceMonitor, one per endpoint, as the operator
    generates them; DISCOVERY is the kubernetes_sd_config's API access (api_server, tls_config,
    authorization). What this does not translate is refused by name, not ignored."""
    meta, spec = monitor["metadata"], monitor["spec"]
    where = f"ServiceMonitor {meta['namespace']}/{meta['name']}"
    selector = spec.get("selector", {})
    if set(selector) - {"matchLabels"} or not selector.get("matchLabels"):
        raise ValueError(f"{where}: selector {selector} (only matchLabels is translated)")
    namespaces = spec.get("namespaceSelector", {"matchNames": [meta["namespace"]]})
    if set(namespaces) != {"matchNames"}:
        raise ValueError(f"{where}: namespaceSelector {namespaces} (only matchNames)")
    configs = []
    for index, endpoint in enumerate(spec["endpoints"]):
        unknown = set(endpoint) - _ENDPOINT_KEYS
        if unknown or "port" not in endpoint:
            raise ValueError(f"{where}: endpoint {endpoint} (needs port; untranslated {unknown})")
        keep = [
            {
                "action": "keep",
                "source_labels": [
                    f"__meta_kubernetes_service_label_{label_name(key)}",
                    f"__meta_kubernetes_service_labelpresent_{label_name(key)}",
                ],
                "regex": f"({re.escape(value)});true",
            }
            for key, value in sorted(selector["matchLabels"].items())
        ]
        keep.append(
            {
                "action": "keep",
                "source_labels": ["__meta_kubernetes_endpoint_port_name"],
                "regex": re.escape(endpoint["port"]),
            }
        )
        targets = [
            {
                "action": "drop",
                "source_labels": ["__meta_kubernetes_pod_phase"],
                "regex": "(Failed|Succeeded)",
            },
            *(
                {"source_labels": [f"__meta_kubernetes_{source}"], "target_label": target}
                for source, target in (
                    ("namespace", "namespace"),
                    ("service_name", "service"),
                    ("pod_name", "pod"),
                    ("pod_container_name", "container"),
                    ("service_name", "job"),
                )
            ),
            {"target_label": "endpoint", "replacement": endpoint["port"]},
        ]
        interval = endpoint.get("interval", DEFAULT_INTERVAL)
        configs.append(
            {
                "job_name": f"serviceMonitor/{meta['namespace']}/{meta['name']}/{index}",
                "honor_labels": endpoint.get("honorLabels", False),
                "kubernetes_sd_configs": [
                    {
                        "role": "endpoints",
                        "namespaces": {"names": namespaces["matchNames"]},
                        **discovery,
                    }
                ],
                "scheme": endpoint.get("scheme", "http"),
                "metrics_path": endpoint.get("path", "/metrics"),
                "scrape_interval": interval,
                "scrape_timeout": endpoint.get("scrapeTimeout", interval),
                "relabel_configs": [
                    *keep,
                    *targets,
                    *relabelings(endpoint.get("relabelings", []), where),
                ],
                "metric_relabel_configs": relabelings(endpoint.get("metricRelabelings", []), where),
            }
        )
    return configs


class PrometheusError(AssertionError):
    pass


@dataclass
class Prometheus:
    url: str  # its HTTP API, through the node: http://127.0.0.1:PORT
    config: dict[str, Any]  # prometheus.yml as it runs
    rules: list[dict[str, Any]]  # the rule groups it loaded (the PrometheusRules' spec.groups)
    log: Callable[[], str]  # the tail of its log

    def api(self, path: str, **params: str) -> Any:
        """GET /api/v1/PATH; its `data`, or PrometheusError with Prometheus' own message."""
        url = f"{self.url}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        status, _, raw = http_get(url, timeout=10)
        body = json.loads(raw or b"{}")
        if status != 200:
            raise PrometheusError(
                f"{path} {params}: {status} {body.get('errorType')}: {body.get('error')}"
            )
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result (a vector's samples, or [] when nothing matched)."""
        data = self.api("query", query=expr)
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": data["result"]}]
        result: list[dict[str, Any]] = data["result"]
        return result

    def value(self, expr: str) -> float | None:
        """The single value EXPR yields now, None when it yields nothing."""
        result = self.query(expr)
        if len(result) > 1:
            raise PrometheusError(f"{expr} yields {len(result)} series, not one")
        return float(result[0]["value"][1]) if result else None

    def alerts(self) -> dict[str, dict[str, Any]]:
        """The active alerts (pending or firing) by name."""
        return {alert["labels"]["alertname"]: alert for alert in self.api("alerts")["alerts"]}

    def alert_rule(self, name: str) -> dict[str, Any]:
        """An alerting rule as loaded from the PrometheusRule, with its group's interval."""
        for group in self.rules:
            for rule in group["rules"]:
                if rule.get("alert") == name:
                    return {**rule, "interval": group.get("interval")}
        raise PrometheusError(f"no alerting rule {name} in the loaded groups")

    def targets(self) -> dict[str, Any]:
        found: dict[str, Any] = self.api("targets")
        return found


def credentials(cluster: Cluster, directory: Path) -> dict[str, Any]:
    """The kubernetes_sd_config API access of a ServiceAccount in NAMESPACE: the API server,
    its CA, a token (an hour: longer than the suite)."""
    cluster.kubectl("apply", "-f", "-", stdin=RBAC)
    token = cluster.kubectl(
        "create", "token", ACCOUNT, "-n", NAMESPACE, "--duration", "1h"
    ).stdout.strip()
    path = directory / "token"
    path.write_text(token)
    path.chmod(0o600)
    return {
        "api_server": cluster.env["API_SERVER"],
        "tls_config": {"ca_file": cluster.env["CA_CERT"]},
        "authorization": {"credentials_file": str(path)},
    }


@contextmanager
def running_prometheus(cluster: Cluster, node: Node, namespace: str) -> Iterator[Prometheus]:
    """Prometheus for the ServiceMonitors and PrometheusRules installed in NAMESPACE, up and
    ready inside the node's namespace; stopped when the block ends."""
    binary = Path(run(BUILD, timeout=3600).stdout.splitlines()[-1]) / "prometheus"
    directory = node.dir / "prometheus"
    directory.mkdir()
    monitors = cluster.get("servicemonitors", "-n", namespace)["items"]
    rules = cluster.get("prometheusrules", "-n", namespace)["items"]
    if not monitors or not rules:
        raise PrometheusError(
            f"{namespace} has {len(monitors)} ServiceMonitor(s) and {len(rules)} "
            "PrometheusRule(s): the release must enable both (nodekit.MONITORING)"
        )
    groups = [group for rule in rules for group in rule["spec"]["groups"]]
    (directory / "rules.yaml").write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    discovery = credentials(cluster, directory)
    config = {
        "global": {"scrape_interval": DEFAULT_INTERVAL, "evaluation_interval": "30s"},
        "rule_files": [str(directory / "rules.yaml")],
        "scrape_configs": [c for m in monitors for c in scrape_configs(m, discovery)],
    }
    path = directory / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    machine = node.machine
    machine.daemons.start(
        "prometheus",
        *machine.in_ns(
            binary, "--config.file", path, "--storage.tsdb.path", directory / "data",
            "--web.listen-address", LISTEN, "--log.level", "warn",
        ),
    )  # fmt: skip
    try:
        log = partial(machine.daemons.log, "prometheus")
        prometheus = Prometheus(node.forward(LISTEN), config, groups, log)
        ready = prometheus.url + "/-/ready"
        machine.daemons.wait("Prometheus ready", lambda: http_get(ready, timeout=2)[0] == 200, 60)
        yield prometheus
    finally:
        machine.daemons.stop(["prometheus"])
