"""A pure ASGI fast path in front of the request middleware and FastAPI's request machinery.

FastAPI's routing, middleware stack and dependency solving cost several times what our routes do
(docs/PERFORMANCE.md). The fast path answers GET requests in two ways:

- the two hottest, the default /api/v1/rates and /api/rates (no query string), straight from the
  same renderings the routes use;
- every other route of the app directly (`DirectRoute`): the route's own path and query fields
  validated by FastAPI's own `request_params_to_args` (so the same values and the same 422s), its
  own dependencies and endpoint, and the app's own exception handlers for `ApiProblem` and
  validation errors. What it leaves out is the machinery around them: the router's scan with a
  child scope per route, Starlette's and FastAPI's middleware layers, the exit stacks, the
  thread pool.

It sets the request id with the request middleware's own `request_id_of`. Anything else goes on to
the request middleware and FastAPI, which validate, log and answer it: another method (HEAD
included), a path no route or a route of another kind matches, debug-level access logging on, an
answer of 500 or more (no snapshot yet, shutting down: the middleware logs those), an exception
without a handler here (FastAPI's route then reports the 500 problem).
"""

import inspect
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from fastapi.dependencies.utils import request_params_to_args
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from crypto_rates.api.responder import RateResponder
from crypto_rates.http_caching import Representation
from crypto_rates.middleware import log as access_log
from crypto_rates.middleware import request_id_of
from crypto_rates.snapshot import Snapshot

ExceptionHandler = Callable[[Request, Exception], Any]


class DirectRoute:
    """One APIRoute run without the framework around it: path and query parameters, dependencies
    that take only the request, an async endpoint that returns a `Response`."""

    def __init__(self, route: APIRoute) -> None:
        self.route = route
        self.dependant = route.dependant
        self.checks = [sub.call for sub in route.dependant.dependencies if sub.call is not None]

    @staticmethod
    def supports(route: BaseRoute) -> bool:
        if not isinstance(route, APIRoute) or "GET" not in (route.methods or ()):
            return False
        dependant = route.dependant
        checks_take_only_the_request = all(
            sub.request_param_name is not None
            and not sub.path_params
            and not sub.query_params
            and not sub.header_params
            and not sub.cookie_params
            and not sub.body_params
            and not sub.dependencies
            and inspect.iscoroutinefunction(sub.call)
            for sub in dependant.dependencies
        )
        return (
            checks_take_only_the_request
            and not dependant.header_params
            and not dependant.cookie_params
            and not dependant.body_params
            and not dependant.background_tasks_param_name
            and not dependant.response_param_name
            and inspect.iscoroutinefunction(route.endpoint)
        )

    async def answer(self, request: Request, path_params: Mapping[str, str]) -> object:
        """The endpoint's return value; raises what the checks, validation or endpoint raise."""
        for check in self.checks:
            await check(request)
        dependant = self.dependant
        values, errors = request_params_to_args(dependant.path_params, path_params)
        query, query_errors = request_params_to_args(dependant.query_params, request.query_params)
        if errors or query_errors:
            raise RequestValidationError([*errors, *query_errors])
        values.update(query)
        if dependant.request_param_name is not None:
            values[dependant.request_param_name] = request
        return await self.route.endpoint(**values)


class FastPath:
    def __init__(
        self,
        app: ASGIApp,
        responder: RateResponder,
        routes: Iterable[BaseRoute] = (),
        exception_handlers: Mapping[Any, ExceptionHandler] | None = None,
    ) -> None:
        self.app = app
        self._responder = responder
        self._paths: dict[str, Callable[[Snapshot], Representation]] = {
            "/api/v1/rates": responder.list,
            "/api/rates": responder.legacy,
        }
        # In the app's order, as its router matches them; None: a route this path leaves to it.
        self._routes = [
            (route, DirectRoute(route) if DirectRoute.supports(route) else None)
            for route in routes
            if isinstance(route, APIRoute)
        ]
        self._handlers = {
            kind: handler
            for kind, handler in (exception_handlers or {}).items()
            if isinstance(kind, type) and kind is not Exception  # not the last-resort handler
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or access_log.isEnabledFor(logging.DEBUG)
        ):
            await self.app(scope, receive, send)
            return
        render = None if scope["query_string"] else self._paths.get(scope["path"])
        snapshot = self._responder.current()
        if render is not None and snapshot is not None:
            await self._rendered(scope, receive, send, render, snapshot)
        else:
            await self._routed(scope, receive, send)

    async def _rendered(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        render: Callable[[Snapshot], Representation],
        snapshot: Snapshot,
    ) -> None:
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

    def _match(self, path: str) -> tuple[DirectRoute, dict[str, Any]] | None:
        """The route the app's router would pick for `path` and its path parameters, when this
        path runs that route."""
        for route, direct in self._routes:
            match = route.path_regex.match(path)
            if match is not None:
                if direct is None:
                    return None
                convertors = route.param_convertors
                params = {k: convertors[k].convert(v) for k, v in match.groupdict().items()}
                return direct, params
        return None

    async def _routed(self, scope: Scope, receive: Receive, send: Send) -> None:
        matched = self._match(scope["path"])
        if matched is None:
            await self.app(scope, receive, send)
            return
        direct, path_params = matched
        route = direct.route
        child = {**scope, "endpoint": route.endpoint, "path_params": path_params, "route": route}
        request = Request(child, receive)
        try:
            response = await direct.answer(request, path_params)
        except Exception as exc:
            response = await self._handled(request, exc)
        if not isinstance(response, Response) or response.status_code >= 500:
            await self.app(scope, receive, send)
            return
        response.raw_headers.append((b"x-request-id", request_id_of(scope).encode()))
        await response(child, receive, send)

    async def _handled(self, request: Request, exc: Exception) -> object:
        """The app's own answer to `exc`, or None when only its last-resort handler has one."""
        for kind in type(exc).__mro__:
            handler = self._handlers.get(kind)
            if handler is not None:
                return await handler(request, exc)
        return None
