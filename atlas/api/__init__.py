"""The HTTP API of the atlas (FastAPI): `create_app(config)` and its routers."""

from atlas.api.app import create_app

__all__ = ["create_app"]
