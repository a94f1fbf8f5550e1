"""The API tests' app fixture, for the deployment tests that scrape the app."""

from tests.api.conftest import make_app

__all__ = ["make_app"]
