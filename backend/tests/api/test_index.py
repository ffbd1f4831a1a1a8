"""The index and the OpenAPI document the frontend generates its types from."""

import httpx
import pytest
from crypto_rates.main import create_app

OPERATIONS = {
    ("/", "get"): "index",
    ("/api/rates", "get"): "rates-legacy",
    ("/api/v1/rates", "get"): "rates-list",
    ("/api/v1/rates/{code}", "get"): "rates-get",
    ("/api/v1/rates/{code}/history", "get"): "rates-history",
    ("/api/v1/convert", "get"): "convert",
    ("/health", "get"): "health",
    ("/health/live", "get"): "health-live",
    ("/health/ready", "get"): "health-ready",
}


async def test_index_links_to_docs_and_data(client: httpx.AsyncClient) -> None:
    body = (await client.get("/")).json()
    assert body["name"] == "crypto-rates"
    assert body["version"]
    assert "CoinGecko" in body["data_source"]
    assert body["links"] == {"docs": "/docs", "openapi": "/openapi.json", "rates": "/api/v1/rates"}


async def test_swagger_ui_is_served_from_this_process_without_a_cdn(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/docs")
    assert response.status_code == 200 and "swagger" in response.text.lower()
    assert "http" not in response.text  # every asset is ours: works offline and under a strict CSP
    assert "<script>" not in response.text  # no inline script: the bootstrap is /docs/init.js
    for path, kind in [
        ("/docs/assets/swagger-ui-bundle.js", "javascript"),
        ("/docs/assets/swagger-ui.css", "text/css"),
        ("/docs/init.js", "javascript"),
    ]:
        asset = await client.get(path)
        assert asset.status_code == 200 and kind in asset.headers["content-type"], path
    assert "/openapi.json" in (await client.get("/docs/init.js")).text


async def test_unknown_docs_asset_is_a_problem_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs/assets/nope.js")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")


def test_openapi_is_built_without_environment_or_network(no_network: None) -> None:
    schema = create_app().openapi()
    found = {
        (path, method): op["operationId"]
        for path, methods in schema["paths"].items()
        for method, op in methods.items()
    }
    assert found == OPERATIONS


def test_openapi_documents_the_response_shapes() -> None:
    schema = create_app().openapi()
    components = schema["components"]["schemas"]
    assert set(components["RatesList"]["required"]) == {
        "base",
        "fetched_at",
        "age_seconds",
        "stale",
        "source",
        "count",
        "rates",
    }
    freshness = {"fetched_at", "age_seconds", "stale", "source"}
    assert set(components["Conversion"]["properties"]) == {
        "from",
        "to",
        "amount",
        "rate",
        "result",
        *freshness,
    }
    assert freshness <= set(components["History"]["required"])
    assert components["LegacyRates"]["properties"]["cache_status"]["enum"] == [
        "fresh",
        "cached",
        "stale",
    ]
    listing = schema["paths"]["/api/v1/rates"]["get"]
    assert {"200", "304", "404", "422", "503"} <= set(listing["responses"])
    assert set(components["Problem"]["required"]) >= {"title", "status", "detail"}
    params = {p["name"]: p for p in listing["parameters"]}
    assert params["type"]["schema"]["items"] == {"$ref": "#/components/schemas/RateType"}
    assert components["RateType"]["enum"] == ["crypto", "fiat", "commodity"]
    assert components["Source"]["enum"] == ["coingecko", "sample"]
    convert = {p["name"] for p in schema["paths"]["/api/v1/convert"]["get"]["parameters"]}
    assert convert == {"from", "to", "amount"}


def test_every_error_response_refers_to_the_one_problem_schema() -> None:
    schema = create_app().openapi()
    errors = [
        (path, status, response)
        for path, methods in schema["paths"].items()
        for op in methods.values()
        for status, response in op["responses"].items()
        if int(status) >= 400 and path != "/health"  # /health's 503 is its own Health body
    ]
    assert len(errors) >= 14
    for path, status, response in errors:
        assert response["content"] == {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        }, (path, status)


def test_every_parameter_has_an_example() -> None:
    schema = create_app().openapi()
    for path, methods in schema["paths"].items():
        for op in methods.values():
            for param in op.get("parameters", []):
                assert param["schema"]["examples"], (path, param["name"])
                assert param["examples"], (path, param["name"])


@pytest.mark.parametrize("path", ["/metrics", "/docs", "/openapi.json"])
def test_infrastructure_paths_are_not_operations(path: str) -> None:
    assert path not in create_app().openapi()["paths"]
