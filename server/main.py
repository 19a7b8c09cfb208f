"""The ASGI entry point: ``uvicorn server.main:app`` (settings from the environment)."""

from __future__ import annotations

from server.app import create_app

app = create_app()
