"""A pure ASGI fast path in front of the request middleware and FastAPI's request machinery.

FastAPI's routing, middleware stack and dependency solving cost several times what our routes do
(docs/PERFORMANCE.md). The fast path answers GET requests in two ways:

- the two hottest, the default /api/v1/rates and /api/rates (no query string), straight from the
  same renderings the routes use;
- every other route of the app directly (`DirectRoute`): the route's own path and query fields
  validated by their own validators (`Parameter`: the same values and the same 422s), its own
  dependencies and endpoint, and the app's own exception handlers for `ApiProblem` and validation
  errors. What it leaves out is the machinery around them: the router's scan with a
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
from copy import deepcopy
from dataclasses import dataclass
from typing import Any

from fastapi._compat import ModelField, field_annotation_is_sequence, get_missing_field_error
from fastapi.dependencies.utils import _get_param_model, get_validation_alias
from fastapi.exceptions import RequestValidationError
from fastapi.params import Param, ParamTypes
from fastapi.routing import APIRoute
from pydantic import Json
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from crypto_rates.api.responder import RateResponder
from crypto_rates.http_caching import Representation
from crypto_rates.middleware import log as access_log
from crypto_rates.middleware import request_id_of
from crypto_rates.snapshot import Snapshot

ExceptionHandler = Callable[[Request, Exception], Any]


@dataclass(frozen=True, slots=True)
class Parameter:
    """One path or query parameter, with what FastAPI looks up per request worked out once.

    `read` is FastAPI's `_get_multidict_value` and `_validate_value_with_model_field` for a plain
    parameter (one name, no parameter model, no JSON), and the validation itself is the field's
    own (`ModelField.validate`): the same values, the same errors, so the same 422 messages. What
    it saves is FastAPI's per-request inspection of the field (~20 us of CPU time for three
    parameters, against ~2 us here).
    """

    field: ModelField
    name: str
    alias: str
    loc: tuple[str, str]
    sequence: bool

    @classmethod
    def of(cls, field: ModelField) -> "Parameter | None":
        info = field.field_info
        plain = (
            isinstance(info, Param)
            and info.validation_alias in (None, field.alias)
            and not any(type(item) is Json for item in info.metadata)
            and _get_param_model(field) is None
        )
        if not plain:
            return None
        assert isinstance(info, Param)  # for mypy: `plain` says so
        sequence = field_annotation_is_sequence(info.annotation)
        if sequence and info.in_ is not ParamTypes.query:
            return None
        alias = get_validation_alias(field)
        return cls(field, field.name, alias, (info.in_.value, alias), sequence)

    def read(self, received: Mapping[str, Any], values: dict[str, Any], errors: list[Any]) -> None:
        """Put the parameter's value into `values`, or its errors into `errors`."""
        if self.sequence:
            value: Any = received.getlist(self.alias)  # type: ignore[attr-defined]
            if not value:
                value = None
        else:
            value = received.get(self.alias)
        if value is None:
            info = self.field.field_info
            if info.is_required():
                errors.append(get_missing_field_error(loc=self.loc))
                return
            value = deepcopy(self.field.default)
            if not info.validate_default:
                values[self.name] = value
                return
        value, problems = self.field.validate(value, values, loc=self.loc)
        if problems:
            errors.extend(problems)
        else:
            values[self.name] = value


def _parameters(fields: Iterable[ModelField]) -> list[Parameter] | None:
    parameters = [Parameter.of(field) for field in fields]
    return None if None in parameters else parameters  # type: ignore[return-value]


class DirectRoute:
    """One APIRoute run without the framework around it: path and query parameters, dependencies
    that take only the request, an async endpoint that returns a `Response`."""

    def __init__(self, route: APIRoute) -> None:
        self.route = route
        self.dependant = route.dependant
        self.checks = [sub.call for sub in route.dependant.dependencies if sub.call is not None]
        self.path_params = _parameters(route.dependant.path_params) or []
        self.query_params = _parameters(route.dependant.query_params) or []

    @staticmethod
    def supports(route: APIRoute) -> bool:
        if "GET" not in (route.methods or ()):
            return False
        dependant = route.dependant
        if (
            _parameters(dependant.path_params) is None
            or _parameters(dependant.query_params) is None
        ):
            return False
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
        values: dict[str, Any] = {}
        errors: list[Any] = []
        for parameter in self.path_params:
            parameter.read(path_params, values, errors)
        query = request.query_params
        for parameter in self.query_params:
            parameter.read(query, values, errors)
        if errors:
            raise RequestValidationError(errors)
        if self.dependant.request_param_name is not None:
            values[self.dependant.request_param_name] = request
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
            (
                route,
                DirectRoute(route)
                if isinstance(route, APIRoute) and DirectRoute.supports(route)
                else None,
            )
            for route in routes
            if isinstance(route, Route | Mount)
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
        if render is None or snapshot is None:
            await self._routed(scope, receive, send)
            return
        # The two hottest requests, inline: no call more than before issue 28.
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
