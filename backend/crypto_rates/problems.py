"""One error shape everywhere: application/problem+json (RFC 9457), never cached, never a trace."""

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from crypto_rates.json_encoding import dumps

PROBLEM_JSON = "application/problem+json"
INTERNAL_ERROR = "internal error; it has been logged"
# Every route is a GET; the request middleware answers HEAD like GET without the body.
ALLOWED_METHODS = "GET, HEAD"


class Problem(BaseModel):
    """An error (RFC 9457 problem details): every 4xx and 5xx answer of this API has this shape."""

    type: str = Field(
        default="about:blank", description="A URI naming the problem type; always about:blank."
    )
    title: str = Field(description="The HTTP status phrase.", examples=["Not Found"])
    status: int = Field(ge=100, le=599, description="The HTTP status code.", examples=[404])
    detail: str = Field(
        description="What was wrong and what would work.",
        examples=["unknown code 'xyz'; known codes: btc, eth, ..."],
    )


PROBLEM_SCHEMA_REF = {"$ref": "#/components/schemas/Problem"}


class ApiProblem(Exception):
    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}


def problem_body(status: int, detail: str) -> bytes:
    return dumps(
        {
            "type": "about:blank",
            "title": HTTPStatus(status).phrase,
            "status": status,
            "detail": detail,
        }
    )


def problem_response(status: int, detail: str, headers: dict[str, str] | None = None) -> Response:
    return Response(
        problem_body(status, detail),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers={**(headers or {}), "cache-control": "no-store"},
    )


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries for the problems a route can answer."""
    return {
        status: {
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA_REF}},
        }
        for status in statuses
    }


def add_problem_schema(openapi: dict[str, Any]) -> dict[str, Any]:
    """Put `Problem` into the document's components, where every `problem_responses` entry
    refers to it: generated clients then have one error type."""
    openapi.setdefault("components", {}).setdefault("schemas", {})["Problem"] = (
        Problem.model_json_schema()
    )
    return openapi


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
        detail = f"{request.method} is not allowed here; this API answers GET and HEAD"
        return problem_response(405, detail, {"allow": ALLOWED_METHODS})
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
