"""The REST API (`/api/ybb/...`): a thin Flask blueprint over export_core."""

from __future__ import annotations

import flask

from export_core.settings import Settings


def register_api(server: flask.Flask, settings: Settings) -> None:
    """Attach the API blueprint, error handlers and request hooks to `server`."""
