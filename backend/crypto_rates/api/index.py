"""GET /: a small JSON index pointing at the docs and the data."""

from fastapi import FastAPI
from starlette.responses import Response

from crypto_rates import __version__
from crypto_rates.api.schemas import Index
from crypto_rates.json_encoding import dumps
from crypto_rates.runtime import Runtime


def install_index(app: FastAPI, runtime: Runtime) -> None:
    body = dumps(
        {
            "name": "crypto-rates",
            "version": __version__,
            "data_source": f"CoinGecko {runtime.settings.base_url}/exchange_rates",
            "links": {"docs": "/docs", "openapi": "/openapi.json", "rates": "/api/v1/rates"},
        }
    )

    @app.get(
        "/",
        tags=["meta"],
        operation_id="index",
        summary="What this service is",
        response_model=Index,
    )
    async def index() -> Response:
        return Response(body, media_type="application/json")
