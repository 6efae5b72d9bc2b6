"""Swagger UI at /docs served from the files of the installed fastapi-offline package (MIT;
Swagger UI 5, which reads OpenAPI 3.1 as FastAPI writes it), so it works without internet.
The page is ours: it loads only same-origin files and has no inline script."""
from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

INIT_JS = Path(__file__).resolve().parent / "static" / "docs" / "init.js"
# Nothing external: scripts, styles, images and API calls all come from this server.
DOCS_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
            "form-action 'self'")
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} - API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
<link rel="icon" type="image/png" href="/docs/assets/favicon.png">
</head><body><div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body></html>"""


def swagger_assets() -> Path:
    try:
        import fastapi_offline
    except ImportError as err:
        raise RuntimeError("/docs needs the package fastapi-offline (pip install fastapi-offline==1.7.7)") from err
    return Path(fastapi_offline.__file__).resolve().parent / "static"


def install_docs(app: FastAPI) -> None:
    """Serve /docs from local assets. The app must be created with docs_url=None, redoc_url=None."""
    router = APIRouter(include_in_schema=False)

    @router.get("/docs")
    def docs() -> HTMLResponse:
        return HTMLResponse(PAGE.format(title=app.title))

    @router.get("/docs/init.js")
    def init() -> FileResponse:
        return FileResponse(INIT_JS, media_type="text/javascript")

    app.include_router(router)
    app.mount("/docs/assets", StaticFiles(directory=swagger_assets()), name="swagger-assets")
