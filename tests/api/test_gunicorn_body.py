"""app/api/gunicorn_body against gunicorn's own HTTP parser on a real socket pair: the body it
reads from the socket is what gunicorn's reader gives, a pipelined request behind it is left to
gunicorn intact, and an early close, a socket error and bodies it does not handle behave as
gunicorn's reader does. The live server's side of this is in test_gunicorn_live."""

from __future__ import annotations

import io
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import flask
import orjson
import pytest
from gunicorn.config import Config
from gunicorn.http import wsgi
from gunicorn.http.parser import RequestParser
from werkzeug.exceptions import ClientDisconnected

from app.api.body import read_body
from app.api.gunicorn_body import body_blocks
from export_core.spool import ArrivingBody

from .conftest import participants


def _head(length: int, path: str = "/api/ybb/export/participants") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


@contextmanager
def _connection(parts: list[bytes], *, close: bool = True) -> Iterator[RequestParser]:
    """gunicorn's parser over one end of a socket pair; a thread sends `parts` into the other
    (then closes it when `close`)."""
    server, client = socket.socketpair()
    server.settimeout(10)

    def send() -> None:
        for part in parts:
            client.sendall(part)
        if close:
            client.shutdown(socket.SHUT_WR)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    try:
        yield RequestParser(Config(), server, ("127.0.0.1", 0))
    finally:
        sender.join(10)
        server.close()
        client.close()


def _environ(parser: RequestParser) -> tuple[Any, dict[str, Any]]:
    request = next(parser)
    return request, {"wsgi.input": request.body}


@pytest.mark.parametrize("header_bytes", [0, 1000])
def test_the_body_read_from_the_socket_is_gunicorns_and_a_pipelined_request_stays_intact(
    header_bytes: int,
) -> None:
    body = os.urandom(3_000_000)
    second = b'{"n": 2}'
    parts = [_head(len(body)) + body[:header_bytes]]
    parts += [body[at : at + 70_001] for at in range(header_bytes, len(body), 70_001)]
    parts[-1] += _head(len(second), "/second") + second  # pipelined behind the body
    with _connection(parts) as parser:
        request, environ = _environ(parser)
        blocks = body_blocks(environ, len(body), 256 * 1024)
        assert blocks is not None
        got = list(blocks)
        assert b"".join(got) == body
        assert max(map(len, got)) <= 256 * 1024
        assert request.body.reader.length == 0  # gunicorn's drain finds nothing left
        following = next(parser)
        assert following.path == "/second"
        assert following.body.read() == second
    # gunicorn's own reader, on the same bytes: the same body
    with _connection(parts) as parser:
        request, _ = _environ(parser)
        assert request.body.read() == body
        assert next(parser).body.read() == second


def test_a_body_that_arrived_whole_with_its_headers_and_the_next_request() -> None:
    body, second = b'{"data": [{"id": 1}]}', b"[2]"
    with _connection([_head(len(body)) + body + _head(len(second), "/second") + second]) as parser:
        _, environ = _environ(parser)
        blocks = body_blocks(environ, len(body), 4)
        assert blocks is not None and list(blocks) == [body]
        following = next(parser)
        assert following.path == "/second"
        assert following.body.read() == second


def test_a_client_closing_early_ends_the_blocks_with_what_arrived() -> None:
    body = os.urandom(500_000)
    with _connection([_head(len(body) + 10), body]) as parser:
        request, environ = _environ(parser)
        blocks = body_blocks(environ, len(body) + 10, 65536)
        assert blocks is not None
        assert b"".join(blocks) == body
        assert request.body.failed is False


def test_a_socket_error_is_a_client_disconnect_and_the_connection_is_not_reused() -> None:
    body = os.urandom(100_000)
    # the client sends half and then nothing: the server's read times out
    with _connection([_head(len(body)), body[:50_000]], close=False) as parser:
        request, environ = _environ(parser)
        parser.unreader.sock.settimeout(0.3)
        blocks = body_blocks(environ, len(body), 65536)
        assert blocks is not None
        got = b""
        with pytest.raises(ClientDisconnected):
            for block in blocks:
                got += block
        assert got == body[:50_000]
        assert request.body.failed is True
        with pytest.raises(StopIteration):  # gunicorn gives up on the connection
            next(parser)


def test_bodies_it_does_not_handle_are_left_to_wsgi_input() -> None:
    assert body_blocks({"wsgi.input": io.BytesIO(b"{}")}, 2, 1024) is None
    assert body_blocks({}, 2, 1024) is None
    chunked = (
        b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
    )
    with _connection([chunked]) as parser:
        request, environ = _environ(parser)
        assert body_blocks(environ, 2, 1024) is None
        assert request.body.read() == b"{}"
    body = b'{"data": []}'
    with _connection([_head(len(body)) + body]) as parser:
        request, environ = _environ(parser)
        assert body_blocks(environ, len(body) + 1, 1024) is None  # not the declared length
        assert request.body.read(3) == body[:3]
        assert body_blocks(environ, len(body), 1024) is None  # partly read already
        assert request.body.read() == body[3:]


def test_the_app_reads_a_body_under_gunicorns_environ_from_the_socket(server: Any) -> None:
    """The environ gunicorn builds, through Flask's request: `read_body` takes the socket path
    (werkzeug wraps wsgi.input for its size limit; the environ keeps gunicorn's) and gives the
    body, spooled by a thread, byte for byte."""
    body = orjson.dumps({"data": participants(4000), "template": "complete"})
    assert len(body) > 1 << 20
    with _connection([_head(len(body)), body]) as parser:
        request = next(parser)
        sock, config = parser.unreader.sock, Config()
        _, environ = wsgi.create(request, sock, ("127.0.0.1", 1), ("127.0.0.1", 2), config)
        with server.request_context(environ):
            assert body_blocks(flask.request.environ, len(body), 1024) is not None
            arriving = read_body(len(body), spool=True)
            assert isinstance(arriving, ArrivingBody)  # spooled by a thread while decoded
            assert arriving.finish()[:] == body
            assert request.body.reader.length == 0
