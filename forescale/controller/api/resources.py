"""Versioned resources: ``/v1/policies[/{model}]`` and ``/v1/pools[/{name}]``.

Both are a hash of frozen pydantic specs in the ``Store`` with optimistic concurrency,
so one ``Resource`` serves both; ``Kind`` holds what differs (the spec model, its key
field, the extra checks, what blocks a delete, and the policy's dry run).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

from aiohttp import web
from pydantic import BaseModel, ValidationError

from forescale.controller.api import audit
from forescale.controller.api.auth import caller
from forescale.controller.api.deps import DEPS, SETTINGS
from forescale.controller.api.etags import PreconditionFailed, etag, expected_version, not_modified
from forescale.controller.api.jsondiff import merge_patch
from forescale.controller.api.problem import FieldError, invalid, problem, validation_problem
from forescale.controller.store import NotFound, Store, VersionConflict, Versioned
from forescale.web.limits import read_body
from forescale.web.problem import Problem, strict_json

MERGE_PATCH = "application/merge-patch+json"
Check = Callable[[Store, Any], Awaitable[list[FieldError]]]
Blocker = Callable[[Store, str], Awaitable[str | None]]
DryRun = Callable[[web.Request, "Versioned[Any] | None", Any], Awaitable[web.Response]]


@dataclass(frozen=True)
class Kind:
    kind: Literal["policy", "pool"]
    plural: str
    model: type[BaseModel]
    key: str  # the spec field that names an entry, and the path parameter
    check: Check  # cross-resource rules (e.g. the pools a policy names exist)
    blocker: Blocker  # why a delete is refused (409), or None
    dry_run: DryRun | None = None

    def get(self, store: Store, name: str) -> Awaitable[Versioned[Any] | None]:
        return store.of(self.kind).get(name)

    def all(self, store: Store) -> Awaitable[list[Versioned[Any]]]:
        return store.of(self.kind).list()

    def put(self, store: Store, spec: Any, expected: str) -> Awaitable[str]:
        return store.of(self.kind).put(spec, expected)

    async def invalid(self, store: Store) -> dict[str, str]:
        """Stored entries that do not parse, with the reason (the store's lists skip them)."""
        raw = await store.redis.hgetall(store.of(self.kind).key)
        out = {}
        for k, v in sorted(raw.items()):
            try:
                self.model.model_validate_json(v)
            except ValidationError as exc:
                name = k.decode() if isinstance(k, bytes) else k
                out[name] = "; ".join(
                    f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}" for e in exc.errors()
                )
        return out

    def delete(self, store: Store, name: str, expected: str | None) -> Awaitable[None]:
        return store.of(self.kind).delete(name, expected)


class BadBody(Exception):
    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


def _spec_response(spec: BaseModel, version: str, status: int = 200, **headers: str) -> web.Response:
    return web.Response(
        status=status, text=spec.model_dump_json(), content_type="application/json",
        headers={"ETag": etag(version), **headers},
    )  # fmt: skip


async def _json_body(request: web.Request, content_types: tuple[str, ...]) -> Any:
    if request.content_type not in content_types:
        detail = f"Content-Type must be {' or '.join(content_types)}"
        raise BadBody(problem(415, detail, headers={"Accept-Patch": MERGE_PATCH}))
    raw = await read_body(request)  # over client_max_size: aiohttp raises 413; too slow: 408
    try:
        return strict_json(raw)  # NaN, Infinity and 1e999 included: never stored as null
    except Problem as p:
        raise BadBody(problem(p.status, p.detail)) from None


class Resource:
    def __init__(self, kind: Kind) -> None:
        self.k = kind

    def routes(self) -> list[web.RouteDef]:
        base = f"/v1/{self.k.plural}"
        item = f"{base}/{{{self.k.key}:[^/]+}}"  # free-text names: "/" arrives as %2F, braces too
        return [
            web.get(base, self.list), web.post(base, self.create), web.get(item, self.get),
            web.put(item, self.put), web.patch(item, self.patch), web.delete(item, self.delete),
        ]  # fmt: skip

    def _store(self, request: web.Request) -> Store:
        return request.app[DEPS].store

    async def list(self, request: web.Request) -> web.Response:
        store = self._store(request)
        items = [{"etag": etag(v.version), "spec": v.value.model_dump(mode="json")}
                 for v in await self.k.all(store)]  # fmt: skip
        bad = [{"name": k, "error": why} for k, why in (await self.k.invalid(store)).items()]
        return web.json_response({"items": items, "invalid": bad})

    async def get(self, request: web.Request) -> web.Response:
        name = request.match_info[self.k.key]
        current = await self.k.get(self._store(request), name)
        if current is None:
            why = (await self.k.invalid(self._store(request))).get(name)
            if why is not None:
                detail = f"the stored {self.k.kind} {name!r} is invalid ({why}): PUT a valid one or DELETE it"
                return problem(409, detail, instance=request.path)
            return problem(404, f"no {self.k.kind} named {name!r}", instance=request.path)
        if not_modified(request, current.version):
            return web.Response(status=304, headers={"ETag": etag(current.version)})
        return _spec_response(current.value, current.version)

    async def create(self, request: web.Request) -> web.Response:
        try:
            body = await _json_body(request, ("application/json",))
            spec = await self._validate(request, body, None)
        except BadBody as exc:
            return exc.response
        name = getattr(spec, self.k.key)
        current = await self.k.get(self._store(request), name)
        if current is not None:
            return problem(409, f"{self.k.kind} {name!r} exists: PUT it with If-Match to change it")
        return await self._write(request, None, spec, "")

    async def put(self, request: web.Request) -> web.Response:
        return await self._update(request, patch=False)

    async def patch(self, request: web.Request) -> web.Response:
        return await self._update(request, patch=True)

    async def _update(self, request: web.Request, *, patch: bool) -> web.Response:
        name = request.match_info[self.k.key]
        current = await self.k.get(self._store(request), name)
        try:
            expected = expected_version(request, current.version if current else None, create_ok=not patch)
            body = await _json_body(request, (MERGE_PATCH,) if patch else ("application/json",))
            if patch:
                assert current is not None  # expected_version answered 404 otherwise
                body = merge_patch(current.value.model_dump(mode="json"), body)
            spec = await self._validate(request, body, name)
        except (PreconditionFailed, BadBody) as exc:
            return exc.response
        return await self._write(request, current, spec, expected)

    async def _validate(self, request: web.Request, body: Any, name: str | None) -> Any:
        if isinstance(body, dict) and name is not None:
            given = body.setdefault(self.k.key, name)
            if given != name:
                err = FieldError(pointer=f"/{self.k.key}", field=self.k.key,
                                 detail=f"must equal the name in the path ({name!r})")  # fmt: skip
                raise BadBody(invalid([err]))
        try:
            spec = self.k.model.model_validate(body)
        except ValidationError as exc:
            raise BadBody(validation_problem(exc, self.k.model)) from None
        errors = await self.k.check(self._store(request), spec)
        if errors:
            raise BadBody(invalid(errors))
        return spec

    async def _write(
        self, request: web.Request, current: Versioned[Any] | None, spec: Any, expected: str
    ) -> web.Response:
        if "dry_run" in request.query and self.k.dry_run is None:  # never write what was meant as a trial
            err = FieldError(
                pointer="query/dry_run", field="dry_run", detail=f"no dry run for {self.k.plural}"
            )
            return invalid([err])
        if self.k.dry_run is not None:
            try:
                dry = _flag(request, "dry_run")
            except BadBody as exc:
                return exc.response
            if dry:
                return await self.k.dry_run(request, current, spec)
        store = self._store(request)
        try:
            version = await self.k.put(store, spec, expected)
        except VersionConflict as exc:
            return problem(412, f"{request.path} changed meanwhile: {exc}", instance=request.path)
        await self._audit(request, getattr(spec, self.k.key), current, (spec, version))
        name = getattr(spec, self.k.key)
        if current is None:
            loc = f"/v1/{self.k.plural}/{quote(name, safe='')}"
            return _spec_response(spec, version, 201, Location=loc)
        return _spec_response(spec, version)

    async def delete(self, request: web.Request) -> web.Response:
        name = request.match_info[self.k.key]
        store = self._store(request)
        current = await self.k.get(store, name)
        if current is None and name in await self.k.invalid(store):
            return await self._delete_invalid(request, store, name)
        try:
            expected = expected_version(request, current.version if current else None, create_ok=False)
        except PreconditionFailed as exc:
            return exc.response
        reason = await self.k.blocker(store, name)
        if reason:
            return problem(409, reason, instance=request.path)
        try:
            await self.k.delete(store, name, expected)
        except VersionConflict as exc:
            return problem(412, f"{request.path} changed meanwhile: {exc}", instance=request.path)
        except NotFound:
            return problem(404, f"no {self.k.kind} named {name!r}", instance=request.path)
        await self._audit(request, name, current, None)
        return web.Response(status=204)

    async def _delete_invalid(self, request: web.Request, store: Store, name: str) -> web.Response:
        """An entry that does not parse has no ETag a client could know: delete it as it is."""
        try:
            await self.k.delete(store, name, None)
        except NotFound:
            return problem(404, f"no {self.k.kind} named {name!r}", instance=request.path)
        deps, settings = request.app[DEPS], request.app[SETTINGS]
        rec = audit.record(at=deps.clock.now(), who=caller(request), kind=self.k.kind, name=name,
                           before=({"invalid": True}, "invalid"), after=None)  # fmt: skip
        await audit.append(deps.store.redis, rec, settings.audit_max)
        return web.Response(status=204)

    async def _audit(
        self, request: web.Request, name: str, before: Versioned[Any] | None, after: tuple[Any, str] | None
    ) -> None:
        deps, settings = request.app[DEPS], request.app[SETTINGS]
        rec = audit.record(
            at=deps.clock.now(), who=caller(request), kind=self.k.kind, name=name,
            before=(before.value.model_dump(mode="json"), before.version) if before else None,
            after=(after[0].model_dump(mode="json"), after[1]) if after else None,
        )  # fmt: skip
        await audit.append(deps.store.redis, rec, settings.audit_max)


def _flag(request: web.Request, name: str) -> bool:
    """A boolean query parameter: ``true`` or ``false`` (absent: false); else 422."""
    value = request.query.get(name, "false")
    if value not in ("true", "false"):
        err = FieldError(pointer=f"query/{name}", field=name, detail="must be true or false")
        raise BadBody(invalid([err]))
    return value == "true"
