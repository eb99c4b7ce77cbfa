"""A small JSON diff (what an audit record and ``forescale policy diff`` show) and the
RFC 7396 merge patch that PATCH applies. Plain data in, plain data out; no HTTP here, so
the CLI imports it without aiohttp."""

from __future__ import annotations

from typing import Any

from forescale.controller.api.problem import pointer


def diff(before: Any, after: Any, path: tuple[str | int, ...] = ()) -> list[dict[str, Any]]:
    """Changes from ``before`` to ``after`` as JSON-Patch-like ops with the old value kept:
    ``{"op": "add"|"remove"|"replace", "path": "/a/b", "old": ..., "value": ...}``.
    Objects are compared key by key; lists and scalars as whole values."""
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[dict[str, Any]] = []
        for key in sorted(set(before) | set(after)):
            p = (*path, key)
            if key not in after:
                out.append({"op": "remove", "path": pointer(p), "old": before[key]})
            elif key not in before:
                out.append({"op": "add", "path": pointer(p), "value": after[key]})
            else:
                out += diff(before[key], after[key], p)
        return out
    if before == after:
        return []
    if before is None and not path:
        return [{"op": "add", "path": "/", "value": after}]
    if after is None and not path:
        return [{"op": "remove", "path": "/", "old": before}]
    return [{"op": "replace", "path": pointer(path), "old": before, "value": after}]


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396: objects merge recursively, ``null`` removes a member, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out
