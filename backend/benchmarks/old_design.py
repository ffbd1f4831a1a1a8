"""The design crypto-rates replaces, re-created so the comparison is measured, not remembered.

A Flask app that fetches CoinGecko *inside the request* when its in-process cache (5 minutes by
default, `CACHE_DURATION`) is empty or expired, then serialises the whole table on every request.
It was deployed under gunicorn with sync workers, one per core, each worker with its own cache:

    gunicorn --workers 2 --worker-class sync --bind 127.0.0.1:8102 benchmarks.old_design:app
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from typing import Any

import requests
from flask import Flask, Response, g, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

UPSTREAM = os.environ.get("COINGECKO_BASE_URL", "https://api.coingecko.com/api/v3")
CACHE_DURATION = float(os.environ.get("CACHE_DURATION", "300"))
API_TIMEOUT = float(os.environ.get("API_TIMEOUT", "10"))

REQUESTS = Counter("crypto_app_requests_total", "HTTP requests", ["method", "endpoint", "status"])
LATENCY = Histogram(
    "crypto_app_request_duration_seconds", "HTTP request latency", ["method", "endpoint"]
)
API_CALLS = Counter("coingecko_api_calls_total", "Calls to CoinGecko", ["status"])

app = Flask(__name__)
_cache: dict[str, Any] = {"rates": None, "fetched_at": 0.0}


@app.before_request
def _start_timer() -> None:
    g.started = time.perf_counter()


@app.after_request
def _count(response: Response) -> Response:
    endpoint = request.url_rule.rule if request.url_rule else "unknown"
    LATENCY.labels(request.method, endpoint).observe(time.perf_counter() - g.started)
    REQUESTS.labels(request.method, endpoint, str(response.status_code)).inc()
    return response


def _rates() -> tuple[dict[str, Any], str]:
    age = time.time() - _cache["fetched_at"]
    if _cache["rates"] is not None and age < CACHE_DURATION:
        return _cache["rates"], "cached"
    try:
        upstream = requests.get(f"{UPSTREAM}/exchange_rates", timeout=API_TIMEOUT)
        upstream.raise_for_status()
        rates = upstream.json()["rates"]
    except (requests.RequestException, ValueError, KeyError):
        API_CALLS.labels("error").inc()
        if _cache["rates"] is None:
            raise
        return _cache["rates"], "stale"
    API_CALLS.labels("success").inc()
    _cache.update(rates=rates, fetched_at=time.time())
    return rates, "fresh"


@app.route("/api/rates")
def rates() -> Response:
    table, status = _rates()
    return jsonify(
        {
            "last_updated": datetime.fromtimestamp(_cache["fetched_at"], UTC).isoformat(),
            "rates": table,
            "total_currencies": len(table),
            "data_source": "CoinGecko API",
            "cache_status": status,
        }
    )


@app.route("/health")
def health() -> Response:
    return jsonify({"status": "healthy", "timestamp": datetime.now(UTC).isoformat()})


@app.route("/metrics")
def metrics() -> Response:
    return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST)
