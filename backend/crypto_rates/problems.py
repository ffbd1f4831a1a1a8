"""One error shape everywhere: application/problem+json (RFC 9457), never cached, never a trace."""

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from crypto_rates.json_encoding import dumps

PROBLEM_JSON = "application/problem+json"
INTERNAL_ERROR = "internal error; it has been logged"


class Problem(BaseModel):
    type: str = "about:blank"
    title: str
    status: int
    detail: str


class ApiProblem(Exception):
    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}


def problem_response(status: int, detail: str, headers: dict[str, str] | None = None) -> Response:
    body = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    return Response(
        dumps(body),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers={**(headers or {}), "cache-control": "no-store"},
    )


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries for the problems a route can answer."""
    return {
        status: {
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_JSON: {"schema": Problem.model_json_schema()}},
        }
        for status in statuses
    }


def _shorten(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe_validation_error(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = error.get("loc", ())
        loc = [
            str(p) for p in where if p not in ("query", "path", "body") and not isinstance(p, int)
        ]
        name = ".".join(loc) or "request"
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        if error.get("type") == "missing":
            parts.append(f"parameter {name!r} is required")
        else:
            parts.append(f"parameter {name!r}: {message} (got {_shorten(error.get('input'))})")
    return "; ".join(parts)


async def _api_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiProblem)
    return problem_response(exc.status, exc.detail, exc.headers)


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        detail = f"no resource at {request.url.path[:100]}; see /docs for the API"
    elif exc.status_code == 405:
        detail = f"{request.method} is not allowed here; this API answers GET"
    else:
        detail = str(exc.detail)
    return problem_response(exc.status_code, detail, dict(exc.headers or {}))


async def _validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return problem_response(422, describe_validation_error(exc))


async def _unexpected(request: Request, exc: Exception) -> Response:
    # Starlette re-raises after sending this; the request middleware logs it with the request id.
    return problem_response(500, INTERNAL_ERROR)


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiProblem, _api_problem)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(Exception, _unexpected)
