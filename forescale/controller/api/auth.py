"""Bearer-token auth of the admin API: ``read`` for GET, ``write`` for every change.

The tokens, their parsing and the check are shared with the prescaler
(``forescale/web/tokens.py``); this module is the admin API's middleware around them.
"""

from __future__ import annotations

from aiohttp import web

from forescale.web.problem import Handler, Problem, from_problem
from forescale.web.tokens import (
    REALM,
    SCOPES,
    Token,
    TokenError,
    digest,
    load_tokens,
    match,
    parse_tokens,
    required_scope,
)
from forescale.web.tokens import authenticate as _authenticate

__all__ = [
    "REALM",
    "SCOPES",
    "Handler",
    "Token",
    "TokenError",
    "auth_middleware",
    "authenticate",
    "caller",
    "digest",
    "load_tokens",
    "match",
    "parse_tokens",
    "required_scope",
]  # fmt: skip

PUBLIC_PATHS = frozenset({"/openapi.json", "/healthz", "/readyz"})  # probes carry no token
TOKEN_KEY = web.AppKey("tokens", list[Token])
CALLER_KEY = web.RequestKey("caller", Token)  # the authenticated token of a request


def authenticate(tokens: list[Token], request: web.Request) -> Token | web.Response:
    """The caller's token, or the 401/403 problem to answer with."""
    try:
        return _authenticate(tokens, request.headers.get("Authorization", ""), required_scope(request.method))
    except Problem as p:
        return from_problem(p)


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path in PUBLIC_PATHS:
        return await handler(request)
    result = authenticate(request.app[TOKEN_KEY], request)
    if isinstance(result, web.Response):
        return result
    request[CALLER_KEY] = result
    return await handler(request)


def caller(request: web.Request) -> str:
    token = request.get(CALLER_KEY)
    return token.id if isinstance(token, Token) else "anonymous"
