"""The /api page for integrators: each REST route with a curl example and a PHP snippet."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import dcc, html

from components.links import API_PREFIX, openapi_url

BASE = "http://127.0.0.1:5000"
_BODY = '{"data": [{"id": 1, "first_name": "Amina", "form_status": 3}], "template": "standard"}'
ROUTES: list[tuple[str, str, str, str | None]] = [
    ("GET", "/health", "Is the service up?", None),
    (
        "POST",
        f"{API_PREFIX}/export/participants",
        "Create an export (also /payments, /ambassadors). Body: data, template, "
        "format (excel|csv), "
        'filename, sheet_name; add "async": true to get 202 and poll the status.',
        _BODY,
    ),
    ("GET", f"{API_PREFIX}/export/{{export_id}}/status", "State, progress and expiry.", None),
    (
        "GET",
        f"{API_PREFIX}/export/{{export_id}}/download",
        "The file, or the ZIP of a multi-file export.",
        None,
    ),
    ("GET", f"{API_PREFIX}/export/{{export_id}}/download/zip", "The ZIP of all files.", None),
    ("GET", f"{API_PREFIX}/export/{{export_id}}/download/batch/{{n}}", "One batch file.", None),
    ("DELETE", f"{API_PREFIX}/export/{{export_id}}", "Remove an export and its files.", None),
    ("GET", f"{API_PREFIX}/exports", "Recent exports, paginated.", None),
    ("GET", f"{API_PREFIX}/templates", "Every type's templates (also /templates/{type}).", None),
    ("GET", f"{API_PREFIX}/status-mappings", "Code -> label tables.", None),
    ("GET", f"{API_PREFIX}/system-config", "The limits in force.", None),
    ("GET", openapi_url(), "The OpenAPI 3.1 document.", None),
]


def curl_example(method: str, path: str, body: str | None) -> str:
    """A copy-paste curl command for one route."""
    download = "/download" in path
    parts = [f"curl -sS{' -OJ' if download else ''}"]
    if method != "GET":
        parts.append(f"-X {method}")
    if body:
        parts.append("-H 'Content-Type: application/json'")
        parts.append(f"-d '{body}'")
    parts.append(f"'{BASE}{path}'")
    return " \\\n  ".join(parts)


def php_example(method: str, path: str, body: str | None) -> str:
    """A PHP (cURL extension) snippet for one route, as CodeIgniter code would call it."""
    lines = [f"$ch = curl_init('{BASE}{path}');", "curl_setopt($ch, CURLOPT_RETURNTRANSFER, true);"]
    if method not in ("GET", "POST"):
        lines.append(f"curl_setopt($ch, CURLOPT_CUSTOMREQUEST, '{method}');")
    if body:
        lines += [
            "curl_setopt($ch, CURLOPT_POST, true);",
            "curl_setopt($ch, CURLOPT_HTTPHEADER, ['Content-Type: application/json']);",
            f"curl_setopt($ch, CURLOPT_POSTFIELDS, json_encode({_php_array()}));",
        ]
    if "/download" in path:
        lines += ["$bytes = curl_exec($ch);", "file_put_contents('export.bin', $bytes);"]
    else:
        lines.append("$response = json_decode(curl_exec($ch), true);")
    lines += ["$status = curl_getinfo($ch, CURLINFO_HTTP_CODE);", "curl_close($ch);"]
    return "\n".join(lines)


def _php_array() -> str:
    return (
        "['data' => [['id' => 1, 'first_name' => 'Amina', 'form_status' => 3]], "
        "'template' => 'standard']"
    )


def _route(method: str, path: str, text: str, body: str | None) -> dbc.Card:
    color = {"GET": "success", "POST": "primary", "DELETE": "danger"}[method]
    return dbc.Card(
        [
            dbc.CardHeader(
                [
                    dbc.Badge(method, color=color, className="me-2"),
                    html.Code(path, className="route-path"),
                ]
            ),
            dbc.CardBody(
                [
                    html.P(text, className="small"),
                    dbc.Row(
                        [
                            dbc.Col(
                                [
                                    html.H3("curl", className="h6 small"),
                                    html.Pre(
                                        curl_example(method, path, body), className="code-block"
                                    ),
                                ],
                                lg=6,
                            ),
                            dbc.Col(
                                [
                                    html.H3("PHP", className="h6 small"),
                                    html.Pre(
                                        php_example(method, path, body), className="code-block"
                                    ),
                                ],
                                lg=6,
                            ),
                        ]
                    ),
                ]
            ),
        ],
        className="mb-3 api-route",
    )


def layout() -> html.Div:
    """The integrator page."""
    intro = dcc.Markdown(
        f"The CodeIgniter platform calls the same engine as this UI. Errors always come as "
        f'`{{"status": "error", "message": ...}}`. The full contract is the '
        f"[OpenAPI document]({openapi_url()}); a ready PHP client is in `examples/php/`. "
        "When the server sets `YBB_API_KEY`, send it as `X-API-Key` or "
        "`Authorization: Bearer`.",
        className="small",
    )
    return html.Div(
        [
            html.H1("REST API", className="h4"),
            intro,
            html.A(
                "Open the OpenAPI document",
                href=openapi_url(),
                id="openapi-link",
                className="btn btn-outline-primary btn-sm mb-3",
            ),
            *[_route(*route) for route in ROUTES],
        ]
    )
