"""A request body of known length read straight from gunicorn's socket.

Read through `wsgi.input`, a 21 MB export body passed three buffers on its way in: werkzeug's
LimitedStream (a fresh bytearray per read), gunicorn's Body and its unreader (each a BytesIO
that keeps what was read past the size asked for and copies it again on the next read). For a
50,000-row body that cost the request thread ~27 ms of CPU and ~3,000-6,000 page faults before
decoding could start; recv() straight from the socket, ~11 ms (docs/PERFORMANCE.md, sixteenth
round).

`body_blocks` does that only where it can see exactly what gunicorn would do: a gunicorn
`Body` over a `LengthReader` (a Content-Length body; chunked bodies keep the generic path) with
nothing read from it yet. Bytes gunicorn already received with the headers come first, bytes
past the body (a pipelined request) go back to gunicorn for the next request, and the reader's
remaining length is kept up to date so that gunicorn's drain after the response finds the
body consumed. A socket error marks the body failed, as gunicorn's own reader does (the
connection is then not reused), and becomes werkzeug's ClientDisconnected, as the generic
path's does; a client that closes early just ends the blocks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from gunicorn.http.body import Body, LengthReader
from gunicorn.http.unreader import SocketUnreader
from werkzeug.exceptions import ClientDisconnected


def body_blocks(environ: dict[str, Any], size: int, block_size: int) -> Iterator[bytes] | None:
    """The body's bytes in blocks of at most `block_size`, read from the socket, when
    `environ` is gunicorn's and its body is a fresh Content-Length body of `size` bytes; None
    otherwise (the caller reads `wsgi.input` as usual)."""
    body = environ.get("wsgi.input")
    if type(body) is not Body or body.buf.tell():
        return None
    reader = body.reader
    if type(reader) is not LengthReader or type(reader.unreader) is not SocketUnreader:
        return None
    if reader.length != size:
        return None
    return _blocks(body, reader, block_size)


def _blocks(body: Body, reader: LengthReader, block_size: int) -> Iterator[bytes]:
    unreader = reader.unreader
    held = unreader.take_buffered()
    if held:
        if len(held) > reader.length:  # the next request's first bytes: gunicorn's again
            unreader.unread(held[reader.length :])
            held = held[: reader.length]
        reader.length -= len(held)
        yield held
    recv = unreader.sock.recv
    while reader.length > 0:
        try:
            block = recv(min(block_size, reader.length))
        except OSError as exc:
            body.failed = True
            raise ClientDisconnected() from exc
        if not block:  # the client closed its side: what arrived is the body
            return
        reader.length -= len(block)
        yield block
