"""Bearer tokens with ``read`` and ``write`` scopes, shared by the admin API and the prescaler.

Tokens come from ``SCOPE:TOKEN,SCOPE:TOKEN`` text and/or a file of the same entries (one
per line or comma-separated, ``#`` comments). Only their SHA-256 digests are kept in
memory; a presented token is hashed and compared against every digest with
``hmac.compare_digest`` (no early exit), so neither the comparison nor which entry
matched leaks through timing. ``write`` implies ``read``. A token is named in audit
records by ``tok-`` + the first 12 hex digits of its digest.

The scheme name is case-insensitive (RFC 9110 section 11.1) in every service.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path

from forescale.web.problem import Problem

SCOPES = ("read", "write")
REALM = 'Bearer realm="forescale"'


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


def load_tokens(inline: str, file: str, source: str = "FORESCALE_API_TOKENS") -> list[Token]:
    tokens = parse_tokens(inline, source) if inline else []
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


def bearer(header: str) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (scheme in any case)."""
    kind, _, presented = header.strip().partition(" ")
    presented = presented.strip()
    return presented if kind.lower() == "bearer" and presented else None


def required_scope(method: str) -> str:
    return "read" if method in ("GET", "HEAD", "OPTIONS") else "write"


def challenge(error: str, description: str, scope: str | None = None) -> dict[str, str]:
    value = f'{REALM}, error="{error}", error_description="{description}"'
    if scope:
        value += f', scope="{scope}"'
    return {"WWW-Authenticate": value}


def authenticate(tokens: list[Token], header: str, need: str) -> Token:
    """The caller's token with scope ``need``; ``Problem`` 401/403 otherwise."""
    presented = bearer(header)
    if presented is None:
        raise Problem(401, "a bearer token is required", {"WWW-Authenticate": REALM})
    token = match(tokens, presented)
    if token is None:
        raise Problem(401, "the token is not valid", challenge("invalid_token", "unknown token"))
    if need == "write" and token.scope != "write":
        headers = challenge("insufficient_scope", "write scope required", "write")
        raise Problem(403, "this token has read scope; the operation needs write", headers)
    return token
