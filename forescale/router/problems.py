"""RFC 9457 problem details (``application/problem+json``) for every router error.

Each body also carries ``error`` (the message), which is where Open Inference Protocol
v2 clients such as tritonclient look for it.
"""

from __future__ import annotations

import json
from http import HTTPStatus

from aiohttp import web

PROBLEM_TYPE = "application/problem+json"


class Problem(Exception):
    """Raised by validation and handlers; turned into a problem response."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}


def response(status: int, detail: str, headers: dict[str, str] | None = None) -> web.Response:
    body = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "error": detail,
    }
    return web.Response(
        status=status, text=json.dumps(body), content_type=PROBLEM_TYPE, headers=headers or {}
    )


def from_problem(p: Problem) -> web.Response:
    return response(p.status, p.detail, p.headers)
