"""Bearer tokens with ``read`` and ``write`` scopes.

Tokens come from ``FORESCALE_API_TOKENS`` (``SCOPE:TOKEN,SCOPE:TOKEN``) and/or the file
named by ``FORESCALE_API_TOKENS_FILE`` (same entries, one per line or comma-separated,
``#`` comments). Only their SHA-256 digests are kept in memory; a presented token is
hashed and compared against every digest with ``hmac.compare_digest`` (no early exit), so
neither the comparison nor which entry matched leaks through timing. ``write`` implies
``read``. A token is named in audit records by ``tok-`` + the first 12 hex digits of its
digest: enough to tell tokens apart, useless to an attacker.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from forescale.controller.api.problem import problem

SCOPES = ("read", "write")
REALM = 'Bearer realm="forescale"'
PUBLIC_PATHS = frozenset({"/openapi.json", "/healthz", "/readyz"})  # probes carry no token
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class TokenError(ValueError):
    """A malformed token entry (the message names where)."""


@dataclass(frozen=True)
class Token:
    id: str
    scope: str
    digest: bytes


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def parse_tokens(text: str, source: str = "FORESCALE_API_TOKENS") -> list[Token]:
    out = []
    lines = text.splitlines() or [text]
    for lineno, line in enumerate(lines, 1):
        line = line.split("#", 1)[0]
        for entry in filter(None, (e.strip() for e in line.split(","))):
            scope, sep, secret = entry.partition(":")
            if not sep or scope not in SCOPES or not secret:
                raise TokenError(f"{source}: line {lineno}: expected SCOPE:TOKEN with SCOPE read or write")
            d = digest(secret)
            out.append(Token(id="tok-" + d.hex()[:12], scope=scope, digest=d))
    return out


def load_tokens(inline: str, file: str) -> list[Token]:
    tokens = parse_tokens(inline) if inline else []
    if file:
        try:
            text = Path(file).read_text()
        except OSError as exc:
            raise TokenError(f"{file}: {exc.strerror or exc}") from None
        tokens += parse_tokens(text, file)
    return tokens


def match(tokens: list[Token], presented: str) -> Token | None:
    """The token whose digest equals ``presented``'s; every entry is compared."""
    d = digest(presented)
    found = None
    for t in tokens:
        if hmac.compare_digest(t.digest, d):
            found = t
    return found


def required_scope(method: str) -> str:
    return "read" if method in ("GET", "HEAD", "OPTIONS") else "write"


def _challenge(error: str, description: str, scope: str | None = None) -> dict[str, str]:
    value = f'{REALM}, error="{error}", error_description="{description}"'
    if scope:
        value += f', scope="{scope}"'
    return {"WWW-Authenticate": value}


def authenticate(tokens: list[Token], request: web.Request) -> Token | web.Response:
    """The caller's token, or the 401/403 problem to answer with."""
    header = request.headers.get("Authorization", "")
    kind, _, presented = header.partition(" ")
    if kind.lower() != "bearer" or not presented.strip():
        return problem(401, "a bearer token is required", headers={"WWW-Authenticate": REALM})
    token = match(tokens, presented.strip())
    if token is None:
        return problem(401, "the token is not valid", headers=_challenge("invalid_token", "unknown token"))
    need = required_scope(request.method)
    if need == "write" and token.scope != "write":
        headers = _challenge("insufficient_scope", "write scope required", "write")
        return problem(403, "this token has read scope; the operation needs write", headers=headers)
    return token


TOKEN_KEY = web.AppKey("tokens", list[Token])
CALLER_KEY = web.RequestKey("caller", Token)  # the authenticated token of a request


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
