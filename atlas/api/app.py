"""The API application: `create_app(config)` wires routers, errors, CORS and the web page."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, AsyncIterator, Callable

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from atlas.api import routes_features, routes_graph, routes_meta
from atlas.api.errors import ERROR_RESPONSES, install_error_handlers
from atlas.api.state import Resources
from atlas.config import AtlasConfig

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
"""The committed static page (plain HTML, JS modules, CSS; no build step)."""


def cors_origins(config: AtlasConfig) -> list[str]:
    return [o.strip() for o in config.api_cors_origins.split(",") if o.strip()]


def _openapi(app: FastAPI) -> dict:
    """FastAPI's document without its 422 responses: request validation errors are 400 here."""
    if app.openapi_schema is None:
        from fastapi.openapi.utils import get_openapi

        doc = get_openapi(title=app.title, version=app.version, description=app.description,
                          routes=app.routes)
        for ops in doc["paths"].values():
            for op in ops.values():
                op["responses"].pop("422", None)
        for name in ("HTTPValidationError", "ValidationError"):
            doc.get("components", {}).get("schemas", {}).pop(name, None)
        app.openapi_schema = doc
    return app.openapi_schema


def create_app(config: AtlasConfig, embedder_factory: Callable[[], Any] | None = None,
               web: bool = True) -> FastAPI:
    """The HTTP API over the atlas of `config` (read-only unless api_token is set).

    `embedder_factory` overrides the sentence-transformers model of semantic search (tests).
    """
    res = Resources(config, embedder_factory)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            res.close()

    app = FastAPI(title="Feature Atlas API", version="1", lifespan=lifespan,
                  openapi_url="/api/openapi.json", docs_url=None, redoc_url=None,
                  description="Read-only JSON over the atlas: feature cards, search, recurring "
                              "circuits, prompt graphs, runs and the named queries. Errors are "
                              '{"error": message}.')
    app.state.resources = res
    install_error_handlers(app)
    for module in (routes_features, routes_graph, routes_meta):
        app.include_router(module.router, responses=ERROR_RESPONSES)
    app.openapi = lambda: _openapi(app)
    origins = cors_origins(config)
    if origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_credentials=False,
                           allow_methods=["GET", "POST", "PUT"],
                           allow_headers=["Authorization", "Content-Type"])
    if web:
        app.mount("/", StaticFiles(directory=WEB_DIR, html=True), name="web")
    return app
