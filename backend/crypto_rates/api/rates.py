"""Rate routes: /api/rates (the old service's contract) and /api/v1/{rates,convert}."""

import math
import time
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from crypto_rates.api.responder import RateResponder
from crypto_rates.api.schemas import Conversion, History, LegacyRates, RateDetail, RatesList
from crypto_rates.conversion import ConversionError, convert, cross_rate
from crypto_rates.http_caching import Representation
from crypto_rates.problems import ApiProblem, problem_responses
from crypto_rates.rate import RateType
from crypto_rates.snapshot import Snapshot

MAX_AMOUNT = 1e15
NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not Modified (the `If-None-Match` ETag is current)"}
}

BaseQuery = Annotated[
    str,
    Query(
        min_length=1,
        max_length=16,
        description="Any known code; values become units of each currency per 1 `base`.",
    ),
]
TypeQuery = Annotated[
    list[RateType] | None, Query(description="Keep only these types (repeatable).")
]
SearchQuery = Annotated[
    str | None, Query(max_length=64, description="Case-insensitive search in code and name.")
]
CodePath = Annotated[str, Path(description="A currency code as listed by /api/v1/rates.")]


def _short(code: str) -> str:
    return code if len(code) <= 20 else code[:17] + "..."


class PreparedResponse(Response):
    """A response whose raw headers are already built (by RateResponder.respond)."""

    def __init__(self, status: int, raw_headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self.status_code = status
        self.body = body
        self.background = None
        self.raw_headers = raw_headers


def rates_router(responder: RateResponder) -> APIRouter:
    router = APIRouter(tags=["rates"])
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

    @router.get(
        "/api/rates",
        operation_id="rates-legacy",
        summary="All rates per 1 BTC (the old service's shape)",
        response_model=LegacyRates,
        responses={**NOT_MODIFIED, **problem_responses(503)},
    )
    async def legacy_rates(request: Request) -> Response:
        return respond(request, responder.legacy(current()))

    @router.get(
        "/api/v1/rates",
        operation_id="rates-list",
        summary="All rates in a base currency, optionally filtered",
        response_model=RatesList,
        responses={**NOT_MODIFIED, **problem_responses(404, 422, 503)},
    )
    async def list_rates(
        request: Request, base: BaseQuery = "btc", type: TypeQuery = None, q: SearchQuery = None
    ) -> Response:
        snapshot = current()
        base = known(snapshot, base, "base")
        types = tuple(sorted(set(type or ())))
        search = q.strip().lower() if q else None
        return respond(request, responder.list(snapshot, base, types, search))

    @router.get(
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

    @router.get(
        "/api/v1/rates/{code}/history",
        operation_id="rates-history",
        summary="The recorded series of one rate (up to 24 h at the default interval)",
        response_model=History,
        responses={**NOT_MODIFIED, **problem_responses(404, 422, 503)},
    )
    async def rate_history(request: Request, code: CodePath, base: BaseQuery = "btc") -> Response:
        snapshot = current()
        code = known(snapshot, code, "code")
        base = known(snapshot, base, "base")
        return respond(request, responder.history(snapshot, code, base))

    @router.get(
        "/api/v1/convert",
        operation_id="convert",
        summary="Convert an amount from one currency to another",
        response_model=Conversion,
        responses={**NOT_MODIFIED, **problem_responses(404, 422, 503)},
    )
    async def convert_amount(
        request: Request,
        from_: Annotated[
            str, Query(alias="from", min_length=1, max_length=16, description="A known code.")
        ],
        to: Annotated[str, Query(min_length=1, max_length=16, description="A known code.")],
        amount: Annotated[
            float,
            Query(
                gt=0,
                le=MAX_AMOUNT,
                allow_inf_nan=False,
                description=f"A finite number greater than 0 and at most {MAX_AMOUNT:g}.",
            ),
        ] = 1.0,
    ) -> Response:
        snapshot = current()
        source = known(snapshot, from_, "from")
        target = known(snapshot, to, "to")
        value_from, value_to = snapshot.rates[source].value, snapshot.rates[target].value
        try:
            result = convert(amount, value_from, value_to)
        except ConversionError as exc:
            raise ApiProblem(422, f"parameter 'amount': {exc}") from None
        rate = cross_rate(value_to, value_from)
        return respond(
            request, responder.conversion(snapshot, source, target, amount, rate, result)
        )

    return router
