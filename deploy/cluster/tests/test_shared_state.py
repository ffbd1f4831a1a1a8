"""One deployment, one poller: the shared release (BACKEND_REPLICAS backends on the bundled
PostgreSQL, nodekit.own_values) against the fake CoinGecko, under steady client load through the
frontend Service. The backends elect their poller with a PostgreSQL advisory lock; the others read
the database once a second (backend/crypto_rates/poller.py). Each test prints its figures.

- the fake's call counter: one upstream call per refresh interval, not one per replica;
- every backend pod (reached at its own IP) serves the new snapshot's ETag within 2 s of the
  first one that serves it;
- deleting the pod that polls: another takes over within one interval, no request fails;
- a rolling upgrade of the backend keeps every history point, no request fails;
- deleting the PostgreSQL pod: the backends serve from memory, then converge again on the
  restarted database, whose rows (its volume) survived.
`helm test` with the database is test_node.py's test_make_deploy_ran_helm_test_and_it_passed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from clusterkit import Cluster
from nodekit import (
    BACKEND_REPLICAS,
    NAMESPACE,
    REFRESH_INTERVAL,
    RELEASE,
    TAGS,
    Node,
    Release,
    get,
    helm_upgrade,
    phase,
    pods,
    rates_load,
    ready,
    say,
    tag,
)
from testkit.processes import http_get, wait_until

BACKEND_PORT = 8000
# A follower adopts a new snapshot on its next look at the database (once a second, TICK).
CONVERGENCE_BOUND = 2.0
HISTORY_CODE = "usd"

_forwards: dict[str, str] = {}  # pod IP -> its URL on 127.0.0.1 (one forward per pod)


def backend_urls(cluster: Cluster, node: Node) -> dict[str, str]:
    """Each Ready backend pod that is not terminating, by name: a URL reaching its own IP."""
    urls = {}
    for pod in pods(cluster, "backend"):
        if "deletionTimestamp" in pod["metadata"] or not ready(pod):
            continue
        ip = pod["status"]["podIP"]
        if ip not in _forwards:
            _forwards[ip] = node.forward(f"{ip}:{BACKEND_PORT}")
        urls[pod["metadata"]["name"]] = _forwards[ip]
    return urls


def upstream_calls(release: Release) -> int:
    _, body = get(release.upstream + "/_control/calls")
    calls: int = json.loads(body)["calls"]
    return calls


def backfill_calls(release: Release) -> int:
    """The fake's count of market_chart and supported_vs_currencies calls (the one-time backfill,
    spaced by the plan's BACKFILL_CALLS_PER_MINUTE: 3 on plan public)."""
    _, body = get(release.upstream + "/_control/calls")
    calls: int = json.loads(body)["history_calls"]
    return calls


def etag(url: str) -> str:
    status, headers, _ = http_get(url + "/api/v1/rates", timeout=2)
    assert status == 200, f"{url}/api/v1/rates answered {status}"
    return headers["etag"]


def health(url: str) -> dict[str, str]:
    """The /health database block: engine, status (up/down), role (poller/follower/standalone)."""
    _, body = get(url + "/health")
    database: dict[str, str] = json.loads(body)["database"]
    return database


def fetched_at(url: str) -> datetime:
    _, body = get(url + "/api/v1/rates")
    return datetime.fromisoformat(json.loads(body)["fetched_at"])


def history(url: str) -> set[str]:
    """The times of the recorded points of HISTORY_CODE."""
    _, body = get(f"{url}/api/v1/rates/{HISTORY_CODE}/history")
    return {point["t"] for point in json.loads(body)["points"]}


def database_rows(cluster: Cluster) -> str:
    """What the bundled PostgreSQL itself holds: its snapshot rows and the oldest one, read over
    its local socket."""
    query = "SELECT count(*) || ' rows since ' || min(fetched_at) FROM snapshots"
    out = cluster.kubectl(
        "exec", "-n", NAMESPACE, f"{RELEASE}-database-0", "--",
        "psql", "--username=crypto_rates", "--dbname=crypto_rates", "-tAc", query,
    ).stdout  # fmt: skip
    return out.strip()


def pollers(urls: dict[str, str]) -> dict[str, str]:
    """Each pod's role."""
    return {name: health(url)["role"] for name, url in urls.items()}


@dataclass
class Watch:
    """Samples the fake's call counter and each pod's ETag about five times a second: when the
    counter moved, and when each pod first served each ETag."""

    release: Release
    urls: dict[str, str]
    calls: list[tuple[float, int]] = field(default_factory=list)  # (time, count) on each change
    first_served: dict[str, dict[str, float]] = field(default_factory=dict)  # ETag -> pod -> time

    def sample(self) -> None:
        now = time.monotonic()
        count = upstream_calls(self.release)
        if not self.calls or count != self.calls[-1][1]:
            self.calls.append((now, count))
        for name, url in self.urls.items():
            self.first_served.setdefault(etag(url), {}).setdefault(name, now)

    def until(self, what: str, done: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self.sample()
            if done():
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
            time.sleep(0.2)

    def spreads(self, since: float) -> dict[str, float | None]:
        """For each ETag first served after SINCE: seconds from the first pod serving it to the
        last; None while some pod has not served it."""
        result: dict[str, float | None] = {}
        for served_etag, served in self.first_served.items():
            if min(served.values()) < since:
                continue
            complete = set(served) == set(self.urls)
            result[served_etag] = max(served.values()) - min(served.values()) if complete else None
        return result

    def next_snapshot(self) -> tuple[float, int]:
        """Sample until the counter moves (an upstream call) and every pod serves the snapshot
        it brought; the call's (time, count)."""
        seen = len(self.calls) or 1
        self.until("an upstream call", lambda: len(self.calls) > seen, REFRESH_INTERVAL + 15)
        called, count = self.calls[-1]

        def everywhere() -> bool:
            return any(s is not None for s in self.spreads(since=called - 1).values())

        self.until("the new snapshot on every pod", everywhere, 10)
        return called, count


def test_one_upstream_call_per_interval_and_every_pod_serves_the_same_etag(
    cluster: Cluster, node: Node, release: Release
) -> None:
    """From just after one refresh to just after the second one after it, the fake counts the
    calls: 2 with one poller, 6 if each replica polled for itself."""
    urls = backend_urls(cluster, node)
    assert len(urls) == BACKEND_REPLICAS, urls
    watch = Watch(release, urls)
    with phase("two refresh intervals under load"), rates_load(release) as load:
        start, first = watch.next_snapshot()
        backfill_first = backfill_calls(release)
        watch.until(
            "two refresh intervals",
            lambda: time.monotonic() > start + 2 * REFRESH_INTERVAL + 10,
            2 * REFRESH_INTERVAL + 20,
        )
    made = watch.calls[-1][1] - first
    backfill_made = backfill_calls(release) - backfill_first
    report = load.report("two refresh intervals")
    say(
        f"upstream calls per refresh interval with {len(urls)} backend replicas: {made / 2:g} "
        f"({made} calls in 2 intervals of {REFRESH_INTERVAL} s); backfill calls meanwhile: "
        f"{backfill_made}"
    )
    spreads = watch.spreads(since=start - 1)
    shown = ", ".join("never on every pod" if s is None else f"{s:.1f} s" for s in spreads.values())
    say(f"new ETag from the first pod serving it to the last of {len(urls)}: {shown}")
    assert made == 2, f"{made} upstream calls in two refresh intervals, expected 2"
    assert len(spreads) >= 2, f"saw {len(spreads)} new snapshots in two intervals: {spreads}"
    assert all(s is not None and s <= CONVERGENCE_BOUND for s in spreads.values()), spreads
    assert not load.failures and load.ok > 0, report


def test_deleting_the_polling_pod_hands_polling_to_another_within_one_interval(
    cluster: Cluster, node: Node, release: Release
) -> None:
    urls = backend_urls(cluster, node)
    roles = pollers(urls)
    say(f"roles before: {sorted(roles.values())}")
    polling = [name for name, role in roles.items() if role == "poller"]
    assert len(polling) == 1 and set(roles.values()) == {"poller", "follower"}, roles
    victim = polling[0]
    others = {name: url for name, url in urls.items() if name != victim}
    watch = Watch(release, others)
    with phase("delete the polling pod under load"), rates_load(release) as load:
        _, count = watch.next_snapshot()  # just after a refresh: the next is due one interval on
        before = fetched_at(next(iter(others.values())))
        cluster.kubectl("delete", "pod", "-n", NAMESPACE, victim, "--wait", "--timeout", "120s")
        watch.next_snapshot()
        after = fetched_at(next(iter(others.values())))
        made = watch.calls[-1][1] - count
        # The successor may be the pod the ReplicaSet made in the victim's place: roles of all.
        cluster.kubectl(
            "rollout", "status", "-n", NAMESPACE, f"deployment/{RELEASE}-backend", "--timeout",
            "120s",
        )  # fmt: skip
        roles_after = pollers(backend_urls(cluster, node))
    report = load.report(f"polling pod {victim} deleted")
    gap = (after - before).total_seconds()
    successor = [name for name, role in roles_after.items() if role == "poller"]
    say(
        f"takeover: {gap:.1f} s between the last refresh of {victim} and the first of its "
        f"successor {successor} (interval {REFRESH_INTERVAL} s), {made} upstream call(s); "
        f"roles after: {sorted(roles_after.values())}"
    )
    assert len(roles_after) == BACKEND_REPLICAS and victim not in roles_after, roles_after
    assert len(successor) == 1, roles_after
    assert made == 1, f"{made} upstream calls for one refresh"
    assert gap <= REFRESH_INTERVAL + CONVERGENCE_BOUND, f"takeover after {gap:.1f} s"
    assert not load.failures and load.ok > 0, report


def test_rolling_upgrade_keeps_every_history_point(
    cluster: Cluster, node: Node, release: Release
) -> None:
    current = {p["spec"]["containers"][0]["image"] for p in pods(cluster, "backend")}
    new = next(t for t in TAGS if not any(image.endswith(f":{t}") for image in current))
    before = history(release.url)
    with phase(f"rolling upgrade of the backend to :{new} under load"), rates_load(release) as load:
        helm_upgrade(cluster, *tag("backend", value=new), "--wait", "--timeout", "240s")
        time.sleep(2)
    report = load.report("rolling upgrade of the backend")
    urls = backend_urls(cluster, node)
    lost = {name: len(before - history(url)) for name, url in urls.items()}
    say(
        f"rolling upgrade: {len(before)} history points of {HISTORY_CODE} before; "
        f"lost per new pod: {lost}"
    )
    images = {
        p["spec"]["containers"][0]["image"]
        for p in pods(cluster, "backend")
        if "deletionTimestamp" not in p["metadata"]
    }
    assert len(urls) == BACKEND_REPLICAS and all(i.endswith(f":{new}") for i in images), images
    assert len(before) >= 2, before
    assert not any(lost.values()), lost
    assert not load.failures and load.ok > 0, report


def test_deleting_the_database_pod_keeps_serving_and_converges_with_its_history(
    cluster: Cluster, node: Node, release: Release
) -> None:
    urls = backend_urls(cluster, node)
    before = history(release.url)
    rows_before = database_rows(cluster)
    saw_down: set[str] = set()

    def converged() -> bool:
        blocks = {name: health(url) for name, url in urls.items()}
        saw_down.update(name for name, block in blocks.items() if block["status"] == "down")
        roles = sorted(block["role"] for block in blocks.values())
        up = all(block["status"] == "up" for block in blocks.values())
        return up and roles.count("poller") == 1 and len({etag(u) for u in urls.values()}) == 1

    back: list[float] = []  # when the new database pod was Ready

    def back_and_converged() -> bool:
        if not back and all(ready(p) for p in pods(cluster, "database")):
            back.append(time.monotonic() - started)
        return converged() and bool(back)

    with phase("delete the PostgreSQL pod under load"), rates_load(release) as load:
        started = time.monotonic()
        cluster.kubectl(
            "delete", "pod", "-n", NAMESPACE, f"{RELEASE}-database-0", "--wait", "--timeout", "120s"
        )
        wait_until("the database back and the backends converged", back_and_converged, 180, 0.5)
        settled = time.monotonic() - started
    report = load.report("PostgreSQL pod deleted")
    rows_after = database_rows(cluster)
    lost = {name: len(before - history(url)) for name, url in urls.items()}
    say(
        f"database pod deleted: Ready again after {back[0]:.0f} s, backends converged after "
        f"{settled:.0f} s; {len(saw_down)} of {len(urls)} backends saw it down; history points "
        f"lost per pod: {lost}; database before: {rows_before}; after: {rows_after}"
    )
    assert not any(lost.values()), lost
    oldest = rows_before.split(" rows since ", 1)[1]
    assert rows_after.endswith(f" rows since {oldest}"), (rows_before, rows_after)
    assert int(rows_after.split()[0]) >= int(rows_before.split()[0]), (rows_before, rows_after)
    assert not load.failures and load.ok > 0, report
