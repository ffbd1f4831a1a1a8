"""Rate routes: /api/rates (the old service's contract) and /api/v1/{rates,convert}."""

import math
import time
from functools import partial
from typing import Annotated, Any, Literal, get_origin

from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.routing import APIRoute
from starlette.responses import Response

from crypto_rates.api.history_range import (
    DEFAULT_RANGE,
    MOMENT_HELP,
    RangeName,
    requested_window,
)
from crypto_rates.api.responder import RateResponder
from crypto_rates.api.schemas import Conversion, History, LegacyRates, RateDetail, RatesList
from crypto_rates.http_caching import Representation
from crypto_rates.problems import ApiProblem, problem_responses
from crypto_rates.rate import RateType
from crypto_rates.snapshot import Snapshot

MAX_AMOUNT = 1e15
NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not Modified (the `If-None-Match` ETag is current)"}
}


def example(value: object) -> dict[str, Any]:
    """One example for a parameter, where Swagger's "Try it out" and schema-driven tools look."""
    return {"examples": [value], "openapi_examples": {"example": {"value": value}}}


BaseQuery = Annotated[
    str,
    Query(
        min_length=1,
        max_length=16,
        description="Any known code; values become units of each currency per 1 `base`.",
        **example("usd"),
    ),
]
TypeQuery = Annotated[
    tuple[RateType, ...],
    Query(description="Keep only these types (repeatable).", **example(["crypto", "fiat"])),
]
SearchQuery = Annotated[
    str | None,
    Query(
        max_length=64, description="Case-insensitive search in code and name.", **example("dollar")
    ),
]
CodePath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=16,
        description="A currency code as listed by /api/v1/rates.",
        **example("eth"),
    ),
]


RangeQuery = Query(
    alias="range",
    description=f"How far back from now (default {DEFAULT_RANGE}); `max`: all that is held. "
    "Not together with `from`/`to`.",
    **example("7d"),
)
FormatQuery = Annotated[
    Literal["json", "csv"] | None,
    Query(description="`csv` answers CSV (as `Accept: text/csv` does).", **example("csv")),
]


def moment_query(name: str, value: str) -> Any:
    return Query(
        alias=name,
        max_length=40,
        description=f"UTC unless an offset is given: {MOMENT_HELP}."
        + (" Defaults to now; a date means its end." if name == "to" else ""),
        **example(value),
    )


def code_query(name: str, value: str) -> Any:
    return Query(
        alias=name, min_length=1, max_length=16, description="A known code.", **example(value)
    )


# Both checks are coroutines: a plain `def` dependency runs in the thread pool, a hop per request.
async def refuse_encoded_slash(request: Request) -> None:
    """`/api/v1/rates/eth%2Fhistory` is an unknown code, not the history route."""
    raw_path: bytes = request.scope.get("raw_path") or b""
    if b"%2f" in raw_path.partition(b"?")[0].lower():
        raise ApiProblem(
            404,
            "an encoded slash (%2F) is not part of any code or path here; see /docs for the API",
        )


async def refuse_repeated_parameters(request: Request) -> None:
    """`?base=usd&base=eur` is a mistake to report, not a choice of the last value."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):  # pragma: no cover - these routes are APIRoutes
        return
    query = request.query_params
    if len(query.multi_items()) == len(query):  # each name once: the common case
        return
    single = [
        p.alias
        for p in route.dependant.query_params
        if get_origin(p.field_info.annotation) not in (list, tuple)
    ]
    for name in single:
        values = query.getlist(name)
        if len(values) > 1:
            given = ", ".join(repr(_short(v)) for v in values[:5])
            raise ApiProblem(
                422,
                f"parameter {name!r} takes one value but was given {len(values)} ({given}); "
                "send it once",
            )


async def refuse_unknown_parameters(request: Request) -> None:
    """`?junk=1` is a mistake to report, and refusing it keeps cache-busters (`?_=<time>`) from
    making one micro-cache entry each in front of us (422s are never cached)."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):  # pragma: no cover - these routes are APIRoutes
        return
    known = {p.alias for p in route.dependant.query_params}
    unknown = [name for name in request.query_params if name not in known]
    if unknown:
        valid = ", ".join(sorted(known)) or "none"
        raise ApiProblem(
            422,
            f"unknown parameter {_short(unknown[0])!r}; this endpoint reads: {valid}",
        )


def _short(code: str) -> str:
    return code if len(code) <= 20 else code[:17] + "..."


class PreparedResponse(Response):
    """A response whose raw headers are already built (by RateResponder.respond)."""

    def __init__(self, status: int, raw_headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self.status_code = status
        self.body = body
        self.background = None
        self.raw_headers = raw_headers


def install_rate_routes(app: FastAPI, responder: RateResponder) -> None:
    get = partial(
        app.get,
        tags=["rates"],
        dependencies=[
            Depends(refuse_encoded_slash),
            Depends(refuse_repeated_parameters),
            Depends(refuse_unknown_parameters),
        ],
    )
    runtime = responder.runtime

    def current() -> Snapshot:
        snapshot = responder.current()
        if snapshot is None:
            retry = max(2, math.ceil(runtime.seconds_to_next_refresh(time.time())))
            raise ApiProblem(
                503,
                "no exchange-rate data yet: the first refresh from CoinGecko has not succeeded; "
                "retry later",
                {"retry-after": str(retry)},
            )
        return snapshot

    def known(snapshot: Snapshot, code: str, role: str) -> str:
        normalised = code.strip().lower()
        if normalised not in snapshot.rates:
            raise ApiProblem(
                404,
                f"unknown {role} {_short(code)!r}; known codes: {', '.join(snapshot.rates)}",
            )
        return normalised

    def respond(request: Request, representation: Representation) -> Response:
        headers = request.headers
        return PreparedResponse(
            *responder.respond(
                representation, headers.get("if-none-match"), headers.get("accept-encoding")
            )
        )

    @get(
        "/api/v1/rates",
        operation_id="rates-list",
        summary="All rates in a base currency, optionally filtered",
        response_model=RatesList,
        responses={**NOT_MODIFIED, **problem_responses(404, 422, 503)},
    )
    async def list_rates(
        request: Request, base: BaseQuery = "btc", type: TypeQuery = (), q: SearchQuery = None
    ) -> Response:
        snapshot = current()
        base = known(snapshot, base, "base")
        types = tuple(sorted(set(type)))
        search = q.strip().lower() if q else None
        return respond(request, responder.list(snapshot, base, types, search))

    @get(
        "/api/rates",
        operation_id="rates-legacy",
        summary="All rates per 1 BTC (the old service's shape)",
        response_model=LegacyRates,
        responses={**NOT_MODIFIED, **problem_responses(503)},
        # The old service ignored any query (jQuery's ?_=<time>, say): so does this route.
        dependencies=[],
    )
    async def legacy_rates(request: Request) -> Response:
        return respond(request, responder.legacy(current()))

    @get(
        "/api/v1/rates/{code}",
        operation_id="rates-get",
        summary="One rate in a base currency",
        response_model=RateDetail,
        responses={**NOT_MODIFIED, **problem_responses(404, 422, 503)},
    )
    async def get_rate(request: Request, code: CodePath, base: BaseQuery = "btc") -> Response:
        snapshot = current()
        code = known(snapshot, code, "code")
        base = known(snapshot, base, "base")
        return respond(request, responder.detail(snapshot, code, base))

    @get(
        "/api/v1/rates/{code}/history",
        operation_id="rates-history",
        summary="The series of one rate over a range, at most 500 points",
        description="Every refresh of the last 48 h, hourly points for 90 days, daily ones for "
        "at least 5 years; thinned to the finest resolution that keeps 500 points at most "
        "(`resolution_seconds`). `Accept: text/csv` or `format=csv` answers the same points as "
        "CSV (`t,value` header row).",
        response_model=History,
        responses={
            **NOT_MODIFIED,
            **problem_responses(404, 422, 503),
            200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
        },
    )
    async def rate_history(
        request: Request,
        code: CodePath,
        base: BaseQuery = "btc",
        range_: Annotated[RangeName | None, RangeQuery] = None,
        from_: Annotated[str | None, moment_query("from", "2026-11-01")] = None,
        to: Annotated[str | None, moment_query("to", "2026-11-30T12:00:00Z")] = None,
        format: FormatQuery = None,
    ) -> Response:
        snapshot = current()
        code = known(snapshot, code, "code")
        base = known(snapshot, base, "base")
        earliest = responder.earliest(code) if range_ == "max" else None  # max's start only
        window = requested_window(range_, from_, to, time.time(), earliest)
        csv = format == "csv" if format else "text/csv" in request.headers.get("accept", "")
        return respond(request, responder.history(snapshot, code, base, window, csv))

    @get(
        "/api/v1/convert",
        operation_id="convert",
        summary="Convert an amount from one currency to another",
        response_model=Conversion,
        responses={**NOT_MODIFIED, **problem_responses(404, 422, 503)},
    )
    async def convert_amount(
        request: Request,
        from_: Annotated[str, code_query("from", "eth")],
        to: Annotated[str, code_query("to", "usd")],
        amount: Annotated[
            float,
            Query(
                gt=0,
                le=MAX_AMOUNT,
                allow_inf_nan=False,
                description=f"A finite number greater than 0 and at most {MAX_AMOUNT:g}. "
                "Every such amount is answered (a result too small for a normal double is 0).",
                **example(2.5),
            ),
        ] = 1.0,
    ) -> Response:
        snapshot = current()
        source = known(snapshot, from_, "from")
        target = known(snapshot, to, "to")
        return respond(request, responder.conversion(snapshot, source, target, amount))
