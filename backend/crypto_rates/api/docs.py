"""GET /openapi.json, and GET /docs: Swagger UI served from this process, not a CDN.

Clusters without internet access, strict Content-Security-Policies and offline laptops all get a
working API explorer: the UI's files are Swagger UI 5 (OpenAPI 3.1, which FastAPI emits) as
bundled by the `fastapi-offline` package, of which we use only its static folder, and the page has
no inline script (its bootstrap is /docs/init.js).
"""

from importlib.resources import files

from fastapi import FastAPI
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.staticfiles import StaticFiles

DOCS_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>crypto-rates - Swagger UI</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
<link rel="icon" type="image/png" href="/docs/assets/favicon.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
"""

INIT_JS = """window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
"""


def install_docs(app: FastAPI) -> None:
    """Serve the OpenAPI document and Swagger UI (create the app with openapi_url=None)."""

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    swagger_ui = str(files("fastapi_offline") / "static")
    app.mount("/docs/assets", StaticFiles(directory=swagger_ui), name="swagger-ui")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(DOCS_HTML)

    @app.get("/docs/init.js", include_in_schema=False)
    async def docs_init() -> Response:
        return Response(INIT_JS, media_type="text/javascript")
