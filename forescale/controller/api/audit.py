"""Audit records, one per change through the API, in the Redis stream ``fs:audit``.

A record says who (the token's id), when (the controller's clock), what (kind, name,
action, versions before and after) and what changed (``jsondiff.diff`` of the stored
JSON). The stream is trimmed to about ``audit_max`` entries. The record is appended
right after the store's write succeeds; a crash between the two loses the record, not
the change (the store's transaction is the source of truth).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable
from typing import Any, Literal, cast

import redis.asyncio as aioredis
from pydantic import BaseModel, Field

from forescale import keys
from forescale.controller.api.jsondiff import diff

AUDIT_KEY = keys.AUDIT


class Change(BaseModel):
    op: Literal["add", "remove", "replace"]
    path: str
    old: Any = None
    value: Any = None


class AuditRecord(BaseModel):
    id: str = Field(default="", description="Stream entry id (assigned by Redis).")
    at: float = Field(description="Epoch seconds.")
    who: str = Field(description="Id of the token that made the change.")
    action: Literal["create", "update", "delete"]
    kind: Literal["policy", "pool", "model"]
    name: str
    version_before: str | None = None
    version_after: str | None = None
    changes: list[Change] = Field(default_factory=list)


def record(
    *, at: float, who: str, kind: Literal["policy", "pool", "model"], name: str,
    before: tuple[dict[str, Any], str] | None, after: tuple[dict[str, Any], str] | None,
) -> AuditRecord:  # fmt: skip
    action: Literal["create", "update", "delete"] = (
        "create" if before is None else "delete" if after is None else "update"
    )
    changes = diff(before[0] if before else None, after[0] if after else None)
    return AuditRecord(
        at=at, who=who, action=action, kind=kind, name=name,
        version_before=before[1] if before else None, version_after=after[1] if after else None,
        changes=[Change.model_validate(c) for c in changes],
    )  # fmt: skip


async def append(redis: aioredis.Redis, rec: AuditRecord, maxlen: int) -> str:
    entry = rec.model_dump_json(exclude={"id"})
    rid = await cast(
        Awaitable[bytes], redis.xadd(AUDIT_KEY, {"record": entry}, maxlen=maxlen, approximate=True)
    )
    return rid.decode() if isinstance(rid, bytes) else str(rid)


async def recent(
    redis: aioredis.Redis, limit: int, kind: str | None = None, name: str | None = None
) -> list[AuditRecord]:
    """Newest first; filtered by kind and name when given (scans at most 10x ``limit``)."""
    rows = await cast(Awaitable[list[Any]], redis.xrevrange(AUDIT_KEY, count=limit * 10))
    out = []
    for rid, fields in rows:
        rec = AuditRecord.model_validate({**json.loads(fields[b"record"]), "id": rid.decode()})
        if (kind is None or rec.kind == kind) and (name is None or rec.name == name):
            out.append(rec)
            if len(out) >= limit:
                break
    return out
