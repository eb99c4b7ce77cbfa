"""The router's bearer token, checked before routing.

With ``FORESCALE_ROUTER_AUTH_TOKEN`` set, every path needs ``Authorization: Bearer
<token>`` (scheme in any case) except the ones public on purpose: liveness and readiness,
which kubelets probe without credentials and which say nothing about models. Checking
before routing means an unknown model and a known one answer the same 401, so model
names cannot be enumerated; model metadata, model readiness, the server metadata and
``/metrics`` (whose labels name every model) need the token too. A scraper sends it with
Prometheus' ``authorization: {credentials_file: ...}``.
"""

from __future__ import annotations

import hmac

from aiohttp import web
from aiohttp.typedefs import Middleware

from forescale.web.problem import Handler, Problem
from forescale.web.tokens import bearer

PUBLIC_PATHS = frozenset({"/v2/health/live", "/v2/health/ready", "/healthz", "/readyz"})
# OpenAI-compatible routes answer in the OpenAI error object, so the official client raises
# its AuthenticationError; every other route answers problem+json.
OPENAI_PREFIX = "/v1/"


def _openai_401() -> web.Response:
    body = {"error": {"message": "missing or wrong bearer token", "type": "authentication_error",
                      "param": None, "code": "invalid_api_key"}}  # fmt: skip
    return web.json_response(body, status=401, headers={"WWW-Authenticate": "Bearer"})


def middleware(token: str | None) -> Middleware | None:
    """The auth middleware for ``token``; None when no token is configured (open router)."""
    if token is None:
        return None
    expected = token.encode()

    @web.middleware
    async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path not in PUBLIC_PATHS:
            given = bearer(request.headers.get("Authorization", "")) or ""
            if not hmac.compare_digest(given.encode(), expected):
                if request.path.startswith(OPENAI_PREFIX):
                    return _openai_401()
                raise Problem(401, "missing or wrong bearer token", {"WWW-Authenticate": "Bearer"})
        return await handler(request)

    return auth
