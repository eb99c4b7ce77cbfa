"""Credentials never reach output: ``redact_url`` for every URL a message may show.

``rediss://user:PASSWORD@host:6380/0`` becomes ``rediss://user:***@host:6380/0``; a
``password=`` query parameter is masked too. Messages name the server, never the secret.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_SECRET_PARAMS = frozenset({"password", "pass", "pwd", "token", "secret"})


def redact_url(url: str) -> str:
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:  # not parseable: show nothing of it rather than a secret
        return "<unparseable url>"
    netloc = parts.netloc
    if "@" in netloc:
        user = parts.username or ""
        cred = f"{user}:***" if parts.password is not None else (user or "***")
        hostport = f"[{host}]" if ":" in host else host
        if port is not None:
            hostport += f":{port}"
        netloc = f"{cred}@{hostport}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, "***" if k.lower() in _SECRET_PARAMS else v) for k, v in pairs])
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
