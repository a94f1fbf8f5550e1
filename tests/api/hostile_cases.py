"""The hostile-request matrix: malformed, oversized and malicious requests, each with the answer
the API must give (a 4xx envelope, or a safe, sanitised 200). Shared by the Flask test-client
run and the live-gunicorn run in test_hostile_matrix.py.

The app under test runs with YBB_MAX_BODY_MB=1 and YBB_MAX_RECORDS=100 (LIMITS), so the size
cases stay small."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

EXPORT = "/api/ybb/export/participants"
NO_SUCH = "00000000-0000-4000-8000-000000000000"
JSON_CT = "application/json"
LIMITS = {"YBB_MAX_BODY_MB": "1", "YBB_MAX_RECORDS": "100"}
ONE = [{"id": 1, "first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"}]


@dataclass(frozen=True)
class Case:
    """One request and its expected answer. `status` >= 400: the error envelope with that status
    (and `code` / `message` when given); 200: `check` inspects the sanitised success."""

    id: str
    status: int
    method: str = "POST"
    path: str = EXPORT
    body: bytes | None = None
    content_type: str | None = JSON_CT
    headers: dict[str, str] = field(default_factory=dict)
    code: str | None = None
    message: str | None = None
    check: str | None = None  # name of a check in test_hostile_matrix.CHECKS
    live: bool = False  # also run against the live gunicorn


def _j(value: Any) -> bytes:
    return json.dumps(value).encode()


def _body(**fields: Any) -> bytes:
    return _j({"data": ONE, **fields})


def _nest(depth: int, leaf: bytes = b"1") -> bytes:
    return b"[" * depth + leaf + b"]" * depth


BAD_BODIES = [
    Case("empty-body", 400, body=b"", code="VALIDATION_ERROR", live=True),
    Case("absent-body-no-content-type", 400, body=None, content_type=None),
    Case("whitespace-body", 400, body=b" \n\t "),
    Case("not-json", 400, body=b"hello, world", code="INVALID_INPUT", live=True),
    Case("truncated-json", 400, body=b'{"data": [{"id": 1}', code="INVALID_INPUT"),
    Case("json-array", 400, body=_j(ONE), code="VALIDATION_ERROR", live=True),
    Case("json-string", 400, body=b'"data"'),
    Case("json-number", 400, body=b"42"),
    Case("json-null", 400, body=b"null"),
    Case("json-true", 400, body=b"true"),
    Case("invalid-utf8", 400, body=b'{"data":[{"first_name":"\xff\xfe"}]}', live=True),
    Case("lone-surrogate", 400, body=b'{"data":[{"first_name":"\\ud800"}]}'),
    Case("utf8-bom", 400, body=b"\xef\xbb\xbf" + _body()),
    Case("duplicate-keys-last-wins", 200, body=b'{"data":[{"id":1,"id":2}]}', check="ok"),
]

CONTENT_TYPES = [
    Case("text-plain", 415, body=_body(), content_type="text/plain", live=True),
    Case("form-urlencoded", 415, body=b"data=1", content_type="application/x-www-form-urlencoded"),
    Case("multipart", 415, body=b"--x--", content_type="multipart/form-data; boundary=x"),
    Case("xml", 415, body=b"<data/>", content_type="application/xml"),
    Case(
        "json-with-charset",
        200,
        body=_body(),
        content_type="application/json; charset=utf-8",
        check="ok",
    ),
    Case("vendor-json", 200, body=_body(), content_type="application/vnd.ybb+json", check="ok"),
]

SHAPES = [
    Case("data-missing", 400, body=b"{}", code="NO_DATA", message="No data provided for export"),
    Case("data-null", 400, body=b'{"data": null}', code="NO_DATA"),
    Case("data-empty", 400, body=b'{"data": []}', code="NO_DATA", live=True),
    Case("data-object", 400, body=b'{"data": {"id": 1}}', code="VALIDATION_ERROR"),
    Case("data-string", 400, body=b'{"data": "id,name"}', code="VALIDATION_ERROR"),
    Case("data-number", 400, body=b'{"data": 7}', code="VALIDATION_ERROR"),
    Case("record-string", 400, body=b'{"data": ["ada"]}', code="INVALID_INPUT", live=True),
    Case("record-null", 400, body=b'{"data": [null]}', code="INVALID_INPUT"),
    Case("record-list", 400, body=b'{"data": [[1, 2]]}', code="INVALID_INPUT"),
    Case("record-empty", 400, body=b'{"data": [{}]}', code="INVALID_INPUT"),
    Case("records-mixed", 400, body=b'{"data": [{"id": 1}, 2]}', code="INVALID_INPUT"),
    Case(
        "too-many-records",
        400,
        body=_j({"data": [{"id": i} for i in range(101)]}),
        code="LIMIT_EXCEEDED",
        message="Data exceeds maximum limit of 100 records",
        live=True,
    ),
    Case(
        "nested-values-in-fields",
        200,
        check="ok",
        live=True,
        body=_j(
            {
                "data": [
                    {
                        "id": 1,
                        "first_name": {"given": ["Ada", {"x": None}]},
                        "email": [1, [2.5, "x"]],
                    }
                ]
            }
        ),
    ),
    Case(
        "wrong-types-per-field",
        200,
        check="ok",
        body=_j(
            {
                "data": [
                    {
                        "id": "abc",
                        "form_status": "zzz",
                        "birthdate": 12345,
                        "is_active": "maybe",
                        "email": True,
                        "created_at": [1],
                        "phone": 1.5e300,
                    }
                ]
            }
        ),
    ),
]

NUMBERS_AND_NESTING = [
    Case("nan-literal", 400, body=b'{"data":[{"id":NaN}]}', code="INVALID_INPUT", live=True),
    Case("infinity-literal", 400, body=b'{"data":[{"id":Infinity}]}', code="INVALID_INPUT"),
    Case("minus-infinity", 400, body=b'{"data":[{"id":-Infinity}]}', code="INVALID_INPUT"),
    Case("5000-digit-integer", 400, body=b'{"data":[{"id":' + b"9" * 5000 + b"}]}", live=True),
    Case("5000-digit-float", 400, body=b'{"data":[{"id":0.' + b"1" * 5000 + b"e999}]}"),
    Case("exponent-overflow", 400, body=b'{"data":[{"id":1e999}]}'),
    Case("nested-100k-body", 400, body=b'{"data":' + _nest(100_000) + b"}", live=True),
    Case("nested-100k-in-field", 400, body=b'{"data":[{"id":' + _nest(100_000) + b"}]}"),
    Case(
        "nested-500-in-field",
        400,
        body=b'{"data":[{"id":' + _nest(500) + b"}]}",
        code="INVALID_INPUT",
        live=True,
    ),
    Case(
        "nested-33-in-field",
        400,
        body=b'{"data":[{"id":' + _nest(33) + b"}]}",
        code="INVALID_INPUT",
    ),
    Case("nested-32-in-field", 200, body=b'{"data":[{"id":' + _nest(32) + b"}]}", check="ok"),
]

OPTIONS = [
    Case(
        "unknown-type",
        404,
        path="/api/ybb/export/widgets",
        body=_body(),
        code="UNKNOWN_EXPORT_TYPE",
        live=True,
    ),
    Case(
        "unknown-template",
        400,
        body=_body(template="nope"),
        code="UNKNOWN_TEMPLATE",
        message="Template 'nope' not found for participants",
    ),
    Case("unknown-format", 400, body=_body(format="pdf"), code="UNKNOWN_FORMAT", live=True),
    Case("template-number", 400, body=_body(template=3), code="VALIDATION_ERROR"),
    Case("format-object", 400, body=_body(format={"x": 1}), code="VALIDATION_ERROR"),
    Case("filename-number", 400, body=_body(filename=12), code="VALIDATION_ERROR"),
    Case("filename-too-long", 400, body=_body(filename="a" * 300), code="VALIDATION_ERROR"),
    Case("async-string", 400, body=_body(**{"async": "yes"}), code="VALIDATION_ERROR"),
    Case("chunking-unknown", 400, body=_body(chunking="always"), code="VALIDATION_ERROR"),
    Case("bad-idempotency-key", 400, body=_body(), headers={"Idempotency-Key": "a b/c"}),
    Case("long-idempotency-key", 400, body=_body(), headers={"Idempotency-Key": "k" * 201}),
]

SIZES = [
    Case(
        "cell-over-32767-xlsx",
        200,
        check="long_cell_xlsx",
        live=True,
        body=_j({"data": [{"id": 1, "first_name": "x" * 40_000}]}),
    ),
    Case(
        "cell-over-32767-csv",
        200,
        check="ok",
        body=_j({"data": [{"id": 1, "first_name": "y" * 40_000}], "format": "csv"}),
    ),
    Case(
        "20000-fields",
        400,
        code="LIMIT_EXCEEDED",
        live=True,
        body=_j({"data": [{f"k{i}": i for i in range(20_000)}]}),
    ),
    Case(
        "body-over-limit",
        413,
        code="PAYLOAD_TOO_LARGE",
        live=True,
        body=b'{"data":[{"first_name":"' + b"z" * (1024 * 1024) + b'"}]}',
    ),
]

NAMES = [
    Case(
        "sheet-name-specials",
        200,
        check="safe_names",
        live=True,
        body=_body(sheet_name="a[b]:c*d?e/f\\g'h", filename="report.xlsx"),
    ),
    Case(
        "filename-traversal",
        200,
        check="safe_names",
        live=True,
        body=_body(filename="../../etc/passwd.xlsx", sheet_name="../.."),
    ),
    Case(
        "filename-crlf-quotes",
        200,
        check="safe_names",
        live=True,
        body=_body(filename='x"\r\nSet-Cookie: a=b;\r\n\r\n.xlsx', sheet_name='q"\r\nx'),
    ),
    Case("filename-only-dots", 200, check="safe_names", body=_body(filename="../..", format="csv")),
    Case(
        "filename-backslashes",
        200,
        check="safe_names",
        body=_body(filename="..\\..\\windows\\win.ini", format="csv"),
    ),
    Case(
        "filename-nul-bidi",
        200,
        check="safe_names",
        body=_body(filename="a\u0000b\u202egnp.xlsx", sheet_name="\u0000\u202e"),
    ),
]

IDS = [
    Case(
        "id-not-uuid",
        404,
        "GET",
        "/api/ybb/export/not-a-uuid/status",
        live=True,
        code="NOT_FOUND",
        message="Export not found or expired",
    ),
    Case("id-traversal", 404, "GET", "/api/ybb/export/..%2f..%2fetc%2fpasswd/download"),
    Case("id-dotdot", 404, "GET", "/api/ybb/export/../download", live=True),
    Case("id-nul", 404, "GET", "/api/ybb/export/%00/download"),
    Case("id-crlf", 404, "GET", "/api/ybb/export/%0d%0aX-Injected:%201/status", live=True),
    Case("id-very-long", 404, "GET", "/api/ybb/export/" + "a" * 3000 + "/status"),
    Case("id-uppercase-uuid", 404, "GET", f"/api/ybb/export/{NO_SUCH.upper()}/status"),
    Case("id-unknown-uuid", 404, "GET", f"/api/ybb/export/{NO_SUCH}/download", code="NOT_FOUND"),
    Case("id-alias-not-uuid", 404, "GET", "/api/export/abc/download/zip"),
    Case("id-delete-not-uuid", 404, "DELETE", "/api/ybb/export/not-a-uuid", live=True),
    Case("id-signed-links-not-uuid", 404, "POST", "/api/ybb/export/x/signed-links"),
    Case("batch-negative", 404, "GET", f"/api/ybb/export/{NO_SUCH}/download/batch/-1", live=True),
    Case("batch-fraction", 404, "GET", f"/api/ybb/export/{NO_SUCH}/download/batch/1.5"),
    Case("batch-zero", 404, "GET", f"/api/ybb/export/{NO_SUCH}/download/batch/0"),
    Case("batch-huge", 404, "GET", f"/api/ybb/export/{NO_SUCH}/download/batch/{10**20}", live=True),
    Case("batch-5000-digits", 404, "GET", f"/api/ybb/export/{NO_SUCH}/download/batch/{'9' * 5000}"),
    Case("batch-not-number", 404, "GET", f"/api/ybb/export/{NO_SUCH}/download/batch/one"),
]

ROUTES = [
    Case("list-limit-negative", 400, "GET", "/api/ybb/exports?limit=-1"),
    Case("list-limit-superscript", 400, "GET", "/api/ybb/exports?limit=%C2%B2", live=True),
    Case("list-offset-5000-digits", 400, "GET", "/api/ybb/exports?offset=" + "1" * 5000),
    Case("put-on-export", 405, "PUT", EXPORT, body=_body(), code="METHOD_NOT_ALLOWED"),
    Case("unknown-api-route", 404, "GET", "/api/ybb/../../etc/passwd"),
    Case("no-directory-listing", 404, "GET", "/api/ybb/export/", live=True),
    Case("templates-unknown-type", 404, "GET", "/api/ybb/templates/%3Cscript%3E"),
]

CASES: list[Case] = [
    *BAD_BODIES,
    *CONTENT_TYPES,
    *SHAPES,
    *NUMBERS_AND_NESTING,
    *OPTIONS,
    *SIZES,
    *NAMES,
    *IDS,
    *ROUTES,
]
LIVE_CASES = [c for c in CASES if c.live]

Fetch = Callable[[str], Any]
