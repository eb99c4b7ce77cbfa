"""``/v1/models[/{name}]``: the model registry (``fs:models``) through the admin API.

Registering a model decides what code and files a worker loads, so it takes a ``write``
token like any other change (the auth middleware decides by method) and is audited.
The body is a ``ModelConfig``; its engine and options get the same check the worker
runs before it builds its engine (``queue/engines.py``), so a registration a worker
could not serve is a 422 here rather than a worker that never becomes ready.

A stored entry that no longer validates (written by hand or by an older version) is
listed under ``invalid`` with the reason and can be replaced or deleted; it is never
skipped silently.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, Field, ValidationError

from forescale import keys
from forescale.controller.api import audit
from forescale.controller.api.auth import caller
from forescale.controller.api.deps import DEPS, SETTINGS
from forescale.controller.api.problem import FieldError, invalid, problem, validation_problem
from forescale.controller.api.resources import BadBody, _json_body
from forescale.queue import registry
from forescale.queue.config import ModelConfig


class InvalidEntry(BaseModel):
    name: str
    error: str = Field(description="Why the stored registration does not validate.")


class ModelList(BaseModel):
    items: list[ModelConfig]
    invalid: list[InvalidEntry] = Field(default_factory=list)


async def list_models(request: web.Request) -> web.Response:
    good, bad = await registry.scan(request.app[DEPS].store.redis)
    body = ModelList(
        items=list(good.values()), invalid=[InvalidEntry(name=k, error=e.reason) for k, e in bad.items()]
    )
    return web.json_response(text=body.model_dump_json())


async def get_model(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    try:
        cfg = await registry.get(request.app[DEPS].store.redis, name)
    except registry.InvalidModel as exc:
        return problem(409, f"{exc}; PUT a valid registration or DELETE it", instance=request.path)
    if cfg is None:
        return problem(404, f"no model named {name!r}", instance=request.path)
    return web.json_response(text=cfg.model_dump_json())


async def put_model(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    try:
        body = await _json_body(request, ("application/json",))
    except BadBody as exc:
        return exc.response
    if not isinstance(body, dict):
        return invalid([FieldError(pointer="", field="(root)", detail="must be an object")])
    if body.setdefault("name", name) != name:
        err = FieldError(pointer="/name", field="name", detail=f"must equal the name in the path ({name!r})")
        return invalid([err])
    try:
        cfg = ModelConfig.model_validate(body)
    except ValidationError as exc:
        return validation_problem(exc, ModelConfig)
    r = request.app[DEPS].store.redis
    before = await r.hget(keys.MODELS, name)
    await registry.add(r, cfg)
    await _audit(request, name, before, cfg.model_dump(mode="json"))
    status = 201 if before is None else 200
    headers = {"Location": f"/v1/models/{name}"} if before is None else {}
    return web.json_response(text=cfg.model_dump_json(), status=status, headers=headers)


async def delete_model(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    r = request.app[DEPS].store.redis
    before = await r.hget(keys.MODELS, name)
    if before is None or not await registry.remove(r, name):
        return problem(404, f"no model named {name!r}", instance=request.path)
    await _audit(request, name, before, None)
    return web.Response(status=204)


async def _audit(
    request: web.Request, name: str, before: bytes | str | None, after: dict[str, Any] | None
) -> None:
    import json

    from forescale.controller.store import version_of

    deps, settings = request.app[DEPS], request.app[SETTINGS]
    try:
        old = json.loads(before) if before is not None else {}
    except ValueError:
        old = {"unparseable": True}
    if not isinstance(old, dict):
        old = {"unparseable": True}
    rec = audit.record(
        at=deps.clock.now(), who=caller(request), kind="model", name=name,
        before=(old, version_of(before)) if before is not None else None,
        after=(after, version_of(json.dumps(after, sort_keys=True))) if after is not None else None,
    )  # fmt: skip
    await audit.append(deps.store.redis, rec, settings.audit_max)


ROUTES = [
    web.get("/v1/models", list_models),
    web.get("/v1/models/{name}", get_model),
    web.put("/v1/models/{name}", put_model),
    web.delete("/v1/models/{name}", delete_model),
]
