"""The web process: one Flask server carrying the Dash UI and the REST API."""

from .factory import create_app

__all__ = ["create_app"]
