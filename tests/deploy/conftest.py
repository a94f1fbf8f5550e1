"""The API tests' app fixture (on the embedded store), for the deployment tests that scrape
the app."""

from tests.api.conftest import backend_env, make_app

__all__ = ["backend_env", "make_app"]
