"""The OpenAPI 3.1 document served at ``/openapi.json``.

Schemas come from the pydantic models the handlers validate with and answer from
(``PolicySpec``, ``PoolSpec``, ``schemas.py``, ``Problem``), so the document cannot
drift from the implementation; the paths below list every route ``app.py`` mounts, with
every status code its handlers can answer. A test fuzzes the running API against it.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from forescale.controller.api.models import ModelList
from forescale.controller.api.problem import PROBLEM_JSON, Problem
from forescale.controller.api.schemas import (
    AuditList,
    DecisionList,
    DryRun,
    PolicyList,
    PoolList,
    Status,
)
from forescale.core.model import MODEL_NAME_PATTERN, NAME_PATTERN, PolicySpec, PoolSpec
from forescale.queue.config import NAME_RE, ModelConfig

MERGE_PATCH = "application/merge-patch+json"
ERRORS = {
    "400": "Malformed JSON.",
    "401": "No or unknown bearer token.",
    "403": "The token lacks write scope.",
    "404": "No such resource.",
    "409": "Conflicts with another resource.",
    "412": "If-Match names another version, or If-None-Match an existing one.",
    "413": "Body too large.",
    "415": "Wrong Content-Type.",
    "422": "Invalid fields, each named.",
    "428": "If-Match is required to change an existing resource.",
}
READ_ERRORS = ("401", "403", "422")
WRITE_ERRORS = ("400", "401", "403", "404", "409", "412", "413", "415", "422", "428")


def _components() -> dict[str, Any]:
    models: list[tuple[type[BaseModel], Any]] = [
        (PolicySpec, "validation"),
        (PoolSpec, "validation"),
        (PolicySpec, "serialization"),
        (PoolSpec, "serialization"),
        (PolicyList, "serialization"),
        (PoolList, "serialization"),
        (DryRun, "serialization"),
        (Status, "serialization"),
        (DecisionList, "serialization"),
        (AuditList, "serialization"),
        (Problem, "serialization"),
        (ModelConfig, "validation"),
        (ModelConfig, "serialization"),
        (ModelList, "serialization"),
    ]
    refs, defs = models_json_schema(models, ref_template="#/components/schemas/{model}")
    names = {f"{m.__name__}:{mode}": refs[(m, mode)]["$ref"] for m, mode in models}
    return {"schemas": defs.get("$defs", {}), "refs": names}


def _ref(comp: dict[str, Any], model: type[BaseModel], mode: str = "serialization") -> dict[str, str]:
    return {"$ref": comp["refs"][f"{model.__name__}:{mode}"]}


def _json(schema: dict[str, Any], media: str = "application/json") -> dict[str, Any]:
    return {"content": {media: {"schema": schema}}}


def _responses(comp: dict[str, Any], ok: dict[str, Any], errors: tuple[str, ...]) -> dict[str, Any]:
    problem = _json(_ref(comp, Problem), PROBLEM_JSON)
    return {**ok, **{code: {"description": ERRORS[code], **problem} for code in errors}}


def _etag_header() -> dict[str, Any]:
    return {"ETag": {"description": "Strong ETag of the stored version.", "schema": {"type": "string"}}}


def _header(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": False,
        "description": description,
        "schema": {"type": "string"},
    }


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def _collection(
    comp: dict[str, Any], spec: type[BaseModel], lst: type[BaseModel], kind: str
) -> dict[str, Any]:
    created = {
        "201": {"description": f"{kind} created.", "headers": _etag_header(), **_json(_ref(comp, spec))}
    }
    post: dict[str, Any] = {
        "summary": f"Create a {kind}",
        "requestBody": {"required": True, **_json(_ref(comp, spec, "validation"))},
        "responses": _responses(comp, created, ("400", "401", "403", "409", "413", "415", "422")),
    }
    if spec is PolicySpec:
        post["parameters"] = [_dry_run()]
        post["responses"]["200"] = {"description": "Dry run: nothing stored.", **_json(_ref(comp, DryRun))}
    return {
        "get": {
            "summary": f"List {kind}s",
            "responses": _responses(
                comp,
                {"200": {"description": f"Every {kind} with its ETag.", **_json(_ref(comp, lst))}},
                READ_ERRORS[:2],
            ),
        },
        "post": post,
    }


def _dry_run() -> dict[str, Any]:
    return _query(
        "dry_run",
        {"type": "string", "enum": ["true", "false"]},
        "`true`: store nothing; answer with the diff and a replay of recorded demand "
        "under the current and the proposed policy (cost, SLO attainment, peak replicas).",
    )


def _item(comp: dict[str, Any], spec: type[BaseModel], kind: str, key: str) -> dict[str, Any]:
    param = {
        "name": key,
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": MODEL_NAME_PATTERN if kind == "policy" else NAME_PATTERN},
    }
    stored = {"description": f"The stored {kind}.", "headers": _etag_header(), **_json(_ref(comp, spec))}
    if_match = _header("If-Match", "ETag of the version being changed; required when it exists.")
    if_none = _header("If-None-Match", "`*`: create only, never overwrite.")
    write_ok: dict[str, Any] = {"200": stored, "201": {**stored, "description": f"{kind} created."}}
    params: list[dict[str, Any]] = [if_match, if_none]
    if spec is PolicySpec:
        params.append(_dry_run())
        write_ok["200"] = {
            "description": f"The stored {kind}, or (dry run) the predicted effect.",
            "headers": _etag_header(),
            "content": {"application/json": {"schema": {"oneOf": [_ref(comp, spec), _ref(comp, DryRun)]}}},
        }
    body = {"required": True, **_json(_ref(comp, spec, "validation"))}
    patch_body = {"required": True, **_json({"type": "object"}, MERGE_PATCH)}
    patch_ok = {"200": write_ok["200"]}
    return {
        "parameters": [param],
        "get": {
            "summary": f"Read a {kind}",
            "parameters": [_header("If-None-Match", "ETag held: 304 if unchanged.")],
            "responses": _responses(
                comp, {"200": stored, "304": {"description": "Not modified."}}, ("401", "403", "404")
            ),
        },
        "put": {
            "summary": f"Create or replace a {kind}",
            "parameters": params,
            "requestBody": body,
            "responses": _responses(comp, write_ok, WRITE_ERRORS),
        },
        "patch": {
            "summary": f"Change a {kind} (RFC 7396 merge patch)",
            "parameters": params,
            "requestBody": patch_body,
            "responses": _responses(comp, patch_ok, WRITE_ERRORS),
        },
        "delete": {
            "summary": f"Delete a {kind}",
            "parameters": [if_match],
            "responses": _responses(
                comp, {"204": {"description": "Deleted."}}, ("401", "403", "404", "409", "412", "428")
            ),
        },
    }


def _reads(comp: dict[str, Any]) -> dict[str, Any]:
    limit = _query(
        "limit", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}, "Most items returned."
    )
    model = _query(
        "model", {"type": "string", "pattern": MODEL_NAME_PATTERN}, "One model (default: every model)."
    )
    since = _query(
        "since", {"type": "number", "minimum": 0, "maximum": 1e11}, "Only decisions after this epoch second."
    )
    kind = _query("kind", {"type": "string", "enum": ["policy", "pool"]}, "Only records of this kind.")
    name = _query("name", {"type": "string"}, "Only records of this policy or pool.")
    ok = lambda model_, text: {"200": {"description": text, **_json(_ref(comp, model_))}}  # noqa: E731
    return {
        "/v1/status": {
            "get": {
                "summary": "Per model: replicas, signals, forecasts, pools, last decision",
                "responses": _responses(comp, ok(Status, "Status of every model."), READ_ERRORS[:2]),
            }
        },
        "/v1/decisions": {
            "get": {
                "summary": "Decision history",
                "parameters": [model, since, limit],
                "responses": _responses(comp, ok(DecisionList, "Oldest first."), READ_ERRORS),
            }
        },
        "/v1/audit": {
            "get": {
                "summary": "Audit records of changes",
                "parameters": [kind, name, limit],
                "responses": _responses(comp, ok(AuditList, "Newest first."), READ_ERRORS),
            }
        },
    }


def _models(comp: dict[str, Any]) -> dict[str, Any]:
    param = {"name": "name", "in": "path", "required": True,
             "schema": {"type": "string", "pattern": NAME_RE.pattern}}  # fmt: skip
    cfg = _json(_ref(comp, ModelConfig))
    return {
        "/v1/models": {
            "get": {
                "summary": "Registered models, and stored entries that do not validate",
                "responses": _responses(
                    comp,
                    {"200": {"description": "Every model.", **_json(_ref(comp, ModelList))}},
                    READ_ERRORS[:2],
                ),
            }
        },
        "/v1/models/{name}": {
            "parameters": [param],
            "get": {
                "summary": "Read a model's registration",
                "responses": _responses(
                    comp, {"200": {"description": "The registration.", **cfg}}, ("401", "403", "404", "409")
                ),
            },
            "put": {
                "summary": "Register or replace a model (engine and options validated as the worker does)",
                "requestBody": {"required": True, **_json(_ref(comp, ModelConfig, "validation"))},
                "responses": _responses(
                    comp,
                    {
                        "200": {"description": "Replaced.", **cfg},
                        "201": {"description": "Registered.", **cfg},
                    },
                    ("400", "401", "403", "413", "415", "422"),
                ),
            },
            "delete": {
                "summary": "Unregister a model (its queue is kept)",
                "responses": _responses(comp, {"204": {"description": "Removed."}}, ("401", "403", "404")),
            },
        },
    }


@cache
def document() -> dict[str, Any]:
    comp = _components()
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "forescale admin API",
            "version": "1",
            "description": "Scaling policies, node pools, status and decisions of the forescale controller.",
        },
        "security": [{"bearer": []}],
        "paths": {
            "/v1/policies": _collection(comp, PolicySpec, PolicyList, "policy"),
            "/v1/policies/{model}": _item(comp, PolicySpec, "policy", "model"),
            "/v1/pools": _collection(comp, PoolSpec, PoolList, "pool"),
            "/v1/pools/{name}": _item(comp, PoolSpec, "pool", "name"),
            **_models(comp),
            **_reads(comp),
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "security": [],
                    "responses": {"200": {"description": "OpenAPI 3.1.", **_json({"type": "object"})}},
                }
            },
        },
        "components": {
            "schemas": comp["schemas"],
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "FORESCALE_API_TOKENS: read or write scope.",
                }
            },
        },
    }
