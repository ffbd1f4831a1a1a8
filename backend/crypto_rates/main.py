"""Build the FastAPI app. `create_app()` has no side effects: data and polling start in lifespan."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.telemetry import TelemetryConfig
from starlette.types import ASGIApp, Receive, Scope, Send

from crypto_rates import __version__
from crypto_rates.api.docs import install_docs
from crypto_rates.api.fast_path import FastPath
from crypto_rates.api.health import install_health_routes
from crypto_rates.api.index import install_index
from crypto_rates.api.rates import install_rate_routes
from crypto_rates.api.responder import RateResponder
from crypto_rates.config import Settings, load_settings
from crypto_rates.middleware import RequestMiddleware
from crypto_rates.problems import add_problem_schema, install_problem_handlers
from crypto_rates.runtime import Runtime

DESCRIPTION = """Live crypto, fiat and commodity exchange rates from CoinGecko's `/exchange_rates`,
served from an in-memory snapshot that a background poller keeps fresh. Every response says where
its data came from (`source`) and how old it is (`fetched_at`, `age_seconds`, `stale`)."""


NO_TELEMETRY: TelemetryConfig = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "operation_spans": False,
    "auto_configure": False,
}


class CryptoRatesApp(FastAPI):
    """FastAPI behind a front door of pure ASGI layers: request metrics, CORS, the fast path, the
    request middleware (request ids, access log, HEAD, last-resort errors).

    They run before FastAPI's own stack, so the two hottest requests never enter it, and the
    request metrics (outermost) see every response, errors included.
    """

    front: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.front is None:
            await super().__call__(scope, receive, send)
        else:
            scope["app"] = self  # as Starlette does: the metrics resolve route templates from it
            await self.front(scope, receive, send)

    async def framework(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(scope, receive, send)

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            self.openapi_schema = add_problem_schema(super().openapi())
        return self.openapi_schema


def create_app(settings: Settings | None = None) -> FastAPI:
    runtime = Runtime(settings if settings is not None else load_settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = CryptoRatesApp(
        title="crypto-rates",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        # install_docs serves Swagger UI without a CDN, and /openapi.json after the API's routes
        # (FastAPI would add it first; see the routes' order below).
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        # No 307 to the other spelling of a path (its Location echoed any Host header): the old
        # service answered 404 too, and the instrumentator would label such a redirect with the
        # raw path (a series per scanned URL).
        redirect_slashes=False,
        # Prometheus metrics and our logs cover this; FastAPI's OpenTelemetry hooks cost time on
        # every request even when no provider is configured (docs/PERFORMANCE.md).
        telemetry=NO_TELEMETRY,
    )
    app.state.runtime = runtime
    install_problem_handlers(app)
    # Routes are the app's own (no include_router) and the hottest come first: the request
    # metrics resolve every request's route template by matching the app's routes in order, and
    # an included router is re-flattened for that on every request (docs/PERFORMANCE.md).
    responder = RateResponder(runtime)
    install_rate_routes(app, responder)
    install_health_routes(app, runtime)
    install_index(app, runtime)
    install_docs(app)
    front: ASGIApp = FastPath(
        RequestMiddleware(app.framework),
        responder=responder,
        routes=app.routes,
        exception_handlers=app.exception_handlers,
    )
    if runtime.settings.cors_origins:
        front = CORSMiddleware(
            front,
            allow_origins=runtime.settings.cors_origins,
            allow_methods=["GET"],
            expose_headers=["ETag", "X-Request-ID"],
        )
    app.front = runtime.metrics.instrument(front)
    return app
