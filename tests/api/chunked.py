"""A request without Content-Length through Flask's test client."""

from __future__ import annotations

import io

from flask.testing import FlaskClient
from werkzeug.test import TestResponse


def post_chunked(client: FlaskClient, path: str, raw: bytes) -> TestResponse:
    """POST `raw` as a chunked JSON body (the server ends the stream, as gunicorn does with
    wsgi.input_terminated)."""
    return client.post(
        path,
        input_stream=io.BytesIO(raw),
        content_type="application/json",
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
