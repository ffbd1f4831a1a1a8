"""The release's monitoring against a real Prometheus on the test node (monitoringkit.py): it
scrapes the backend pods as the installed ServiceMonitor says and evaluates the installed
PrometheusRule. Every backend pod is an up target, the request and upstream counters advance
under load, the stale-data and upstream-failure alerts fire while the fake CoinGecko fails and
resolve when it is back, the call-budget alert fires while a small monthly allowance spaces the
refreshes out and resolves without it (every alert's timings printed), and every query of the
shipped Grafana dashboard parses and returns data.

The durations that make this quick (scrape and evaluation intervals, `for:`, windows) are chart
values set by nodekit.MONITORING; the rules are the ones the chart ships.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest
from clusterkit import Cluster
from monitoringkit import Prometheus, PrometheusError, running_prometheus, seconds
from nodekit import (
    NAMESPACE,
    Node,
    Release,
    helm_upgrade,
    pods,
    rates_load,
    ready,
    say,
    set_upstream,
)
from testkit.processes import wait_until

SELECTOR = f'namespace="{NAMESPACE}"'


@pytest.fixture(scope="module")
def prometheus(cluster: Cluster, node: Node, release: Release) -> Iterator[Prometheus]:
    with running_prometheus(cluster, node, NAMESPACE) as server:
        yield server


def scrape_interval(prometheus: Prometheus) -> float:
    return seconds(prometheus.config["scrape_configs"][0]["scrape_interval"])


def up_pods(prometheus: Prometheus) -> set[str]:
    return {s["metric"].get("pod", "?") for s in prometheus.query(f"up{{{SELECTOR}}} == 1")}


def describe_targets(prometheus: Prometheus) -> str:
    """What discovery found: each active target's health and error, how many were dropped."""
    targets = prometheus.targets()
    lines = [
        f"{t['labels'].get('pod')} {t['scrapeUrl']}: {t['health']} {t['lastError']}".strip()
        for t in targets["activeTargets"]
    ]
    lines.append(f"{len(targets['droppedTargets'])} discovered endpoint(s) dropped by relabelling")
    return "\n".join([*lines, prometheus.log()])


def test_every_backend_pod_is_an_up_target(cluster: Cluster, prometheus: Prometheus) -> None:
    backend = {p["metadata"]["name"] for p in pods(cluster, "backend") if ready(p)}
    assert backend
    try:
        _, took = timed(
            "every Ready backend pod up in Prometheus",
            lambda: up_pods(prometheus) == backend,
            timeout_s=max(60, 6 * scrape_interval(prometheus)),
        )
    except TimeoutError:
        pytest.fail(
            f"backend pods {sorted(backend)}, up targets {sorted(up_pods(prometheus))}\n"
            + describe_targets(prometheus)
        )
    say(f"Prometheus scrapes all {len(backend)} backend pods ({took:.0f} s)")


def test_request_and_upstream_counters_advance_under_load(
    prometheus: Prometheus, release: Release
) -> None:
    counters = (
        f'sum(crypto_app_requests_total{{{SELECTOR}, handler=~"/api/.*"}})',
        f"sum(coingecko_api_calls_total{{{SELECTOR}}})",
    )
    wait_until("the counters scraped", lambda: all(prometheus.query(c) for c in counters), 60)
    before = {c: prometheus.value(c) or 0 for c in counters}
    # The upstream is called once a refresh interval per backend (60 s in the test release).
    with rates_load(release) as load:
        try:
            timed(
                "both counters advancing",
                lambda: all((prometheus.value(c) or 0) > before[c] for c in counters),
                timeout_s=150,
            )
        except TimeoutError:
            now = {c: prometheus.value(c) for c in counters}
            pytest.fail(f"counters did not advance under load: before {before}, now {now}")
    assert not load.failures, load.report("load while the counters were watched")
    load.report("load while the counters advanced")


# ---- alerts ------------------------------------------------------------------------------------


def active_alerts(prometheus: Prometheus, names: tuple[str, ...]) -> dict[str, str]:
    return {name: alert["state"] for name, alert in prometheus.alerts().items() if name in names}


def first_timestamp(prometheus: Prometheus, expr: str, start: float) -> float | None:
    """The earliest sample time of EXPR since START (Prometheus' own evaluation timestamps)."""
    now = time.time()
    data = prometheus.api(
        "query_range", query=f"timestamp({expr})", start=f"{start:.3f}", end=f"{now:.3f}", step="1"
    )
    times = [float(v) for series in data["result"] for _, v in series["values"]]
    return min(times) if times else None


def prove_alerts(
    prometheus: Prometheus,
    names: tuple[str, ...],
    cause: str,
    begin: Callable[[], None],
    end: Callable[[], None],
    timeout_s: float = 360,
) -> None:
    """NAMES inactive; BEGIN the CAUSE; each alert goes pending, then firing `for:` to `for:` +
    one evaluation interval later (Prometheus' own ALERTS samples); END it; each resolves. Prints
    each alert's timings."""
    rules = {name: prometheus.alert_rule(name) for name in names}
    for name, rule in rules.items():
        assert rule.get("for") and rule.get("interval"), f"{name}: {rule} (nodekit.MONITORING)"
    # Inactive first (an earlier test's outage may still be inside a rule's window).
    timed(f"none of {names} active", lambda: not active_alerts(prometheus, names), 240)

    pending: dict[str, float] = {}  # when Prometheus made each alert pending (activeAt)
    fired: dict[str, float] = {}  # seconds after the cause began that each was seen firing
    resolved: dict[str, float] = {}
    started = time.time()
    try:
        begin()

        def all_firing() -> bool:
            for name, alert in prometheus.alerts().items():
                if name in names and name not in fired:
                    pending[name] = datetime.fromisoformat(alert["activeAt"]).timestamp()
                    if alert["state"] == "firing":
                        fired[name] = time.time() - started
            return len(fired) == len(names)

        try:
            timed(f"{names} firing", all_firing, timeout_s, interval_s=2)
        except TimeoutError:
            pytest.fail(f"{cause}: {active_alerts(prometheus, names)}, fired {fired}")
    finally:
        end()
    ended = time.time()

    def all_resolved() -> bool:
        active = active_alerts(prometheus, names)
        for name in names:
            if name not in active:
                resolved.setdefault(name, time.time() - ended)
        return not active

    try:
        timed(f"{names} resolved", all_resolved, timeout_s, interval_s=2)
    except TimeoutError:
        pytest.fail(f"{cause} ended, still active: {active_alerts(prometheus, names)}")

    # activeAt keeps the evaluation time in full, the ALERTS samples truncate it to whole
    # milliseconds: 1 ms of slack below `for:`.
    checks = []
    for name, rule in rules.items():
        labels = f'alertname="{name}"'
        first_pending = first_timestamp(
            prometheus, f'ALERTS{{{labels}, alertstate="pending"}}', started
        )
        first_firing = first_timestamp(
            prometheus, f'ALERTS{{{labels}, alertstate="firing"}}', started
        )
        assert first_pending is not None and first_firing is not None, name
        active_at = pending[name]
        say(
            f"{name}: pending {active_at - started:.0f} s after {cause} began, firing "
            f"{first_firing - active_at:.3f} s later (for: {rule['for']}, every "
            f"{rule['interval']}; seen firing at {fired[name]:.0f} s), resolved "
            f"{resolved[name]:.0f} s after it ended"
        )
        checks.append((name, rule, first_pending, first_firing, active_at))
    for name, rule, first_pending, first_firing, active_at in checks:
        hold, interval = seconds(rule["for"]), seconds(rule["interval"])
        assert first_pending < first_firing, name
        assert hold - 0.001 <= first_firing - active_at <= hold + interval, (
            f"{name}: pending at {active_at:.6f}, firing at {first_firing:.3f}; "
            f"for: {rule['for']}, evaluated every {rule['interval']}"
        )


def test_outage_alerts_go_pending_then_fire_and_resolve(
    prometheus: Prometheus, release: Release
) -> None:
    prove_alerts(
        prometheus,
        ("CryptoRatesDataStale", "CryptoRatesUpstreamFailing"),
        "the CoinGecko outage",
        lambda: set_upstream(release, "500"),
        lambda: set_upstream(release, "ok"),
    )


def test_call_budget_alert_fires_while_the_allowance_spaces_refreshes_out(
    cluster: Cluster, prometheus: Prometheus
) -> None:
    # An allowance of 1000 calls a month leaves less than one call per REFRESH_INTERVAL for the
    # rest of any month (and the node has made ~150 already: backfill and refreshes), so the
    # backends space refreshes out; back to the plan's own (none on the public plan) ends it.
    def allowance(calls: int) -> Callable[[], None]:
        return lambda: helm_upgrade(
            cluster,
            *("--set", f"backend.config.monthlyCalls={calls}", "--wait", "--timeout", "240s"),
        )

    prove_alerts(
        prometheus,
        ("CryptoRatesCallBudgetLimiting",),
        "a monthly allowance of 1000 calls",
        allowance(1000),
        allowance(0),
    )


# ---- the dashboard -----------------------------------------------------------------------------


def shipped_dashboard(cluster: Cluster) -> dict[str, Any]:
    """The dashboard as the release installed it (the ConfigMap for Grafana's sidecar)."""
    found = cluster.get("configmaps", "-n", NAMESPACE, "-l", "grafana_dashboard=1")["items"]
    assert len(found) == 1, f"{len(found)} dashboard ConfigMaps (nodekit.MONITORING enables one)"
    dashboard: dict[str, Any] = json.loads(next(iter(found[0]["data"].values())))
    return dashboard


def label_values(prometheus: Prometheus, query: str) -> list[str]:
    """Grafana's label_values(metric, label) against this Prometheus."""
    match = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", query)
    assert match, f"variable query {query!r} is not label_values(metric, label)"
    metric, label = match.groups()
    return sorted({s["metric"][label] for s in prometheus.query(metric) if label in s["metric"]})


def variables(
    prometheus: Prometheus, dashboard: dict[str, Any], problems: list[str]
) -> dict[str, str]:
    """Each query variable's current value as Grafana writes it into a Prometheus query (a
    multi-value one as a regex alternation); a variable whose query finds nothing is a problem."""
    found = {}
    for variable in dashboard["templating"]["list"]:
        if variable["type"] != "query":
            continue
        values = label_values(prometheus, variable["query"]["query"])
        if not values:
            name, query = variable["name"], variable["query"]
            problems.append(f"dashboard variable {name}: {query} finds nothing")
            continue
        current = variable["current"]["value"]
        if current == "$__all":
            found[variable["name"]] = variable.get("allValue") or f"({'|'.join(values)})"
        elif isinstance(current, list):
            found[variable["name"]] = f"({'|'.join(re.escape(v) for v in current)})"
        else:
            found[variable["name"]] = re.escape(current)
    return found


def panel_queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            yield f"{panel['title']} ({target.get('refId', '?')})", target["expr"]


def test_every_dashboard_query_returns_data(
    cluster: Cluster, prometheus: Prometheus, release: Release
) -> None:
    dashboard = shipped_dashboard(cluster)
    scrape = scrape_interval(prometheus)
    # Grafana's $__rate_interval with the data source's scrape interval as the step: 4 scrapes.
    builtins = {"__rate_interval": f"{4 * scrape:g}s", "__interval": f"{scrape:g}s"}
    problems: list[str] = []

    def all_answer() -> bool:
        problems.clear()
        values = {**variables(prometheus, dashboard, problems), **builtins}
        if problems:  # not scraped yet (this test may run first)
            return False
        for title, expr in panel_queries(dashboard):
            query = re.sub(r"\$\{?(\w+)\}?", lambda m: values.get(m.group(1), m.group(0)), expr)
            try:
                if not prometheus.query(query):
                    problems.append(f"panel {title!r} shows no data: {query}")
            except PrometheusError as error:
                problems.append(f"panel {title!r}: {error}")
        return not problems

    with rates_load(release) as load:
        try:
            timed("every dashboard query answering", all_answer, 90, interval_s=3)
        except TimeoutError:
            pytest.fail("\n".join(problems))
    assert not load.failures, load.report("load while the dashboard was queried")
    say(f"all {len(list(panel_queries(dashboard)))} dashboard queries return data")


def timed(what: str, check: Any, timeout_s: float, interval_s: float = 1) -> tuple[Any, float]:
    """wait_until's result and how long it took."""
    start = time.monotonic()
    return wait_until(what, check, timeout_s, interval_s=interval_s), time.monotonic() - start
