"""The ASGI entry point: ``uvicorn server.node.main:app`` (settings from the environment)."""

from __future__ import annotations

from server.http.app import create_app

app = create_app()
