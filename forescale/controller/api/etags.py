"""Strong ETags from the store's versions, and the preconditions every update must meet.

Writes to an existing resource need ``If-Match`` (428 without it, 412 when it names
another version): a client can only change what it has seen. The version the client
named is handed to the store, whose WATCH/MULTI transaction re-checks it at write time,
so two writers holding the same ETag race to exactly one success and one 412.
``If-None-Match: *`` asks for a create that must not overwrite (412 if it exists).
"""

from __future__ import annotations

from aiohttp import web

from forescale.controller.api.problem import problem
from forescale.controller.store import CREATE


def etag(version: str) -> str:
    return f'"{version}"'


def _tags(header: str) -> list[str] | None:
    """Entity tags of an If-Match / If-None-Match header; None for ``*``. Weak tags never
    match a strong comparison, so they are dropped."""
    if header.strip() == "*":
        return None
    out = []
    for part in header.split(","):
        part = part.strip()
        if part.startswith('"') and part.endswith('"') and len(part) >= 2:
            out.append(part[1:-1])
    return out


class PreconditionFailed(Exception):
    """Carries the response to send (412, 428 or 404)."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


def expected_version(request: web.Request, current: str | None, *, create_ok: bool) -> str:
    """The version a write must find (``CREATE``: none), or raise ``PreconditionFailed``."""
    if_match = request.headers.get("If-Match")
    if_none = request.headers.get("If-None-Match")
    name = request.path
    if if_none is not None:
        tags = _tags(if_none)
        if current is not None and (tags is None or current in tags):
            raise PreconditionFailed(problem(412, f"{name} exists (If-None-Match)", instance=name))
    if current is None:
        if not create_ok:
            raise PreconditionFailed(problem(404, f"{name} does not exist", instance=name))
        if if_match is not None:
            raise PreconditionFailed(problem(412, f"{name} does not exist (If-Match)", instance=name))
        return CREATE
    if if_match is None:
        if if_none is not None:  # If-None-Match with other tags and the entry exists: no lost update
            raise PreconditionFailed(problem(412, f"{name} exists", instance=name))
        detail = f"{name} exists: send If-Match with its ETag to change it"
        raise PreconditionFailed(problem(428, detail, instance=name))
    tags = _tags(if_match)
    if tags is not None and current not in tags:
        detail = f"{name} has changed: its ETag is now {etag(current)}"
        raise PreconditionFailed(problem(412, detail, instance=name, headers={"ETag": etag(current)}))
    return current


def not_modified(request: web.Request, version: str) -> bool:
    """GET with ``If-None-Match`` naming the current version (or ``*``): answer 304."""
    header = request.headers.get("If-None-Match")
    if header is None:
        return False
    tags = _tags(header)
    return tags is None or version in tags
