"""Health (the old service's shape), liveness, readiness and the Prometheus endpoint."""

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from crypto_rates import __version__
from crypto_rates.api.schemas import Health, Probe
from crypto_rates.json_encoding import dumps, iso
from crypto_rates.problems import problem_response, problem_responses
from crypto_rates.runtime import Runtime

NO_STORE = {"cache-control": "no-store"}


def coordination(runtime: Runtime, engine: str, now: float) -> dict[str, object]:
    """The database and the call budget as /health shows them (never the URL: it has secrets)."""
    poller = runtime.poller
    up = poller.database_up if poller is not None else None
    interval = runtime.settings.refresh_interval
    in_force = runtime.budget.interval(interval, now)
    return {
        "database": {
            "engine": engine,
            "status": "unknown" if up is None else ("up" if up else "down"),
            "role": poller.role if poller is not None else None,
        },
        "upstream_budget": {
            "calls_this_month": runtime.budget.used_in(now),
            "monthly_calls": runtime.budget.allowance,
            "refresh_interval_seconds": round(in_force, 3),
            "stretched": in_force > interval,
        },
    }


@dataclass
class LastAnswer:
    """The last /health answer and what it was made from."""

    key: tuple[object, ...] = ()
    body: bytes = b""
    status: int = 200


def install_health_routes(app: FastAPI, runtime: Runtime) -> None:
    get = partial(app.get, tags=["health"])
    interval = runtime.settings.refresh_interval
    stale_after = runtime.settings.effective_stale_after
    engine = runtime.settings.database.engine  # parsed from the settings once, not per request
    last = LastAnswer()

    def health_body(now: float) -> tuple[bytes, int]:
        snapshot = runtime.store.current
        outcome = runtime.poller.last_outcome if runtime.poller is not None else None
        api_status = "unknown" if outcome is None else ("ok" if outcome.ok else "failing")
        age = None
        if snapshot is None:
            status = "unhealthy"
        else:
            fresh = snapshot.freshness(now, interval, stale_after)
            age = fresh.age
            database_down = runtime.poller is not None and runtime.poller.database_up is False
            degraded = fresh.stale or api_status == "failing" or database_down
            status = "degraded" if degraded else "healthy"
        body = {
            "status": status,
            "timestamp": iso(datetime.fromtimestamp(now, UTC)),
            "version": __version__,
            "uptime": round(now - runtime.started_at, 3),
            "api_status": api_status,
            "snapshot_age_seconds": None if age is None else round(age, 3),
        }
        body |= coordination(runtime, engine, now)
        return dumps(body), 503 if status == "unhealthy" else 200

    @get(
        "/health",
        operation_id="health",
        summary="Service health with data age (503 when there is nothing to serve)",
        response_model=Health,
        responses={503: {"description": "Unhealthy", "model": Health}},
    )
    async def health() -> Response:
        # Probes and monitors call it constantly: its body is made once a second (its times as of
        # the first request in that second), and again as soon as anything else it shows changes.
        now = time.time()
        poller = runtime.poller
        key = (
            int(now),
            runtime.store.current,
            poller and (poller.last_outcome, poller.database_up, poller.role),
            (runtime.budget.month, runtime.budget.used),
        )
        if last.key != key:
            last.key = key
            last.body, last.status = health_body(now)
        return Response(last.body, last.status, NO_STORE, media_type="application/json")

    @get(
        "/health/live",
        operation_id="health-live",
        summary="Liveness: 200 while the process serves",
        response_model=Probe,
    )
    async def live() -> Response:
        return Response(b'{"status":"alive"}', 200, NO_STORE, media_type="application/json")

    @get(
        "/health/ready",
        operation_id="health-ready",
        summary="Readiness: 200 while a snapshot exists and no shutdown has begun",
        response_model=Probe,
        responses=problem_responses(503),
    )
    async def ready() -> Response:
        if runtime.shutting_down:
            return problem_response(503, "shutting down", {"retry-after": "5"})
        if runtime.store.current is None:
            return problem_response(
                503,
                "no exchange-rate data yet; waiting for the first refresh",
                {"retry-after": "5"},
            )
        return Response(b'{"status":"ready"}', 200, NO_STORE, media_type="application/json")

    @get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(
            generate_latest(runtime.metrics.registry),
            headers=NO_STORE,
            media_type=CONTENT_TYPE_LATEST,
        )
