"""RFC 9457 problem details: the one error type of the router, the admin API and the
prescaler, and the one middleware that turns every error into ``application/problem+json``.

Handlers raise ``Problem(status, detail)`` (or return ``response(...)``); the middleware
also converts aiohttp's own 4xx (unknown route, 405, 413), a Redis outage (503) and any
other exception (a logged 500, the process keeps serving). Each body carries ``error``
(the message) too: that is where Open Inference Protocol v2 clients such as tritonclient
look for it.

``strict_json`` is the one JSON parser for request bodies: RFC 8259 only, so ``NaN``,
``Infinity`` and numbers that overflow a double (``1e999``) are 400s instead of values
that later serialise as ``null``; nesting deeper than 1024 is a 400, not a recursion error.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

import orjson
from aiohttp import web
from redis.exceptions import RedisError

PROBLEM_JSON = "application/problem+json"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
log = logging.getLogger(__name__)


class Problem(Exception):
    """An error answer: raised anywhere below a handler, turned into a problem response."""

    def __init__(self, status: int, detail: str, headers: Mapping[str, str] | None = None, *,
                 errors: Sequence[Any] | None = None) -> None:  # fmt: skip
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = dict(headers or {})
        self.errors = list(errors) if errors else None


def title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def body(status: int, detail: str | None, *, errors: Sequence[Any] | None = None,
         instance: str | None = None) -> dict[str, Any]:  # fmt: skip
    out: dict[str, Any] = {"type": "about:blank", "title": title(status), "status": status}
    if detail is not None:
        out["detail"] = detail
        out["error"] = detail
    if instance is not None:
        out["instance"] = instance
    if errors:
        out["errors"] = [e.model_dump() if hasattr(e, "model_dump") else e for e in errors]
    return out


def response(status: int, detail: str | None = None, headers: Mapping[str, str] | None = None, *,
             errors: Sequence[Any] | None = None, instance: str | None = None) -> web.Response:  # fmt: skip
    return web.Response(
        status=status,
        body=orjson.dumps(body(status, detail, errors=errors, instance=instance)),
        content_type=PROBLEM_JSON,
        headers=dict(headers or {}),
    )


def from_problem(p: Problem) -> web.Response:
    return response(p.status, p.detail, p.headers, errors=p.errors)


def strict_json(raw: bytes | str) -> Any:
    """Parse a request body; ``Problem(400)`` for anything RFC 8259 does not allow."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Problem(400, f"malformed JSON: {exc}") from None


REDIS_DOWN = (RedisError, ConnectionError, TimeoutError)


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outermost middleware of every service: no error leaves without a problem body."""
    try:
        return await handler(request)
    except Problem as p:
        return from_problem(p)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {k: v for k, v in exc.headers.items() if k in ("Allow", "Retry-After", "WWW-Authenticate")}
        return response(exc.status, f"{request.method} {request.path}: {exc.reason}", headers)
    except REDIS_DOWN as exc:
        log.warning("%s %s: redis unavailable: %s", request.method, request.path, exc)
        return response(503, "the store is unavailable", {"Retry-After": "5"})
    except Exception:  # the outermost handler of a request: log it, answer 500, keep serving
        log.exception("%s %s failed", request.method, request.path)
        return response(500, "internal error (logged by the service)")
