"""A pure ASGI fast path for the two hottest requests: the default /api/v1/rates and /api/rates.

FastAPI's routing and parameter solving cost several times the rest of the stack per request;
these two views take no parameters, so they are answered here from the same renderings the routes
use. It sits in front of the request middleware too (one layer less per request) and sets the
request id with the middleware's own `request_id_of`. What each of these saves is measured in
docs/PERFORMANCE.md, not here: numbers in a docstring go stale.

Anything else (a query string, another method, HEAD included, no snapshot yet, debug-level access
logging on) goes on to the request middleware and FastAPI, which validate, log and answer it; so
does a request whose rendering raises, which FastAPI's route then reports as the 500 problem.
"""

import logging
from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from crypto_rates.api.responder import RateResponder
from crypto_rates.http_caching import Representation
from crypto_rates.middleware import log as access_log
from crypto_rates.middleware import request_id_of
from crypto_rates.snapshot import Snapshot


class FastPath:
    def __init__(self, app: ASGIApp, responder: RateResponder) -> None:
        self.app = app
        self._responder = responder
        self._paths: dict[str, Callable[[Snapshot], Representation]] = {
            "/api/v1/rates": responder.list,
            "/api/rates": responder.legacy,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        render = self._paths.get(scope["path"]) if scope["type"] == "http" else None
        snapshot = self._responder.current()
        if (
            render is None
            or scope["query_string"]
            or scope["method"] != "GET"
            or snapshot is None
            or access_log.isEnabledFor(logging.DEBUG)
        ):
            await self.app(scope, receive, send)
            return
        if_none_match = accept_encoding = None
        for name, value in scope["headers"]:
            if name == b"if-none-match":
                if_none_match = value.decode("latin-1")
            elif name == b"accept-encoding":
                accept_encoding = value.decode("latin-1")
        try:
            status, headers, body = self._responder.respond(
                render(snapshot), if_none_match, accept_encoding
            )
        except Exception:  # the route renders the same way, and reports it
            await self.app(scope, receive, send)
            return
        headers.append((b"x-request-id", request_id_of(scope).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
