"""The admin API's side of the shared problem details (``forescale/web/problem.py``):
the body's schema for the OpenAPI document, and field errors from pydantic.

Validation errors carry an ``errors`` list, one entry per invalid field, each with a JSON
pointer into the request (``/min_replicas``, ``/schedules/0/cron``, ``query/limit``), as in
the RFC's own example. Cross-field rules fail at the model's root in pydantic; the fields
such a message names are reported instead, so "min_replicas must be <= max_replicas"
points at both fields and not at the document.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, get_args

from aiohttp import web
from pydantic import BaseModel, ValidationError

from forescale.web.problem import PROBLEM_JSON, response

__all__ = ["PROBLEM_JSON", "FieldError", "Problem", "field_errors", "invalid", "problem",
           "validation_problem"]  # fmt: skip
_WORD = re.compile(r"[a-z_][a-z0-9_]*")


class FieldError(BaseModel):
    pointer: str
    field: str
    detail: str


class Problem(BaseModel):
    """The body of every error response."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    error: str | None = None  # = detail, where Open Inference Protocol v2 clients look
    instance: str | None = None
    errors: list[FieldError] | None = None


def problem(
    status: int,
    detail: str | None = None,
    *,
    errors: Sequence[FieldError] | None = None,
    headers: Mapping[str, str] | None = None,
    instance: str | None = None,
) -> web.Response:
    return response(status, detail, headers, errors=errors, instance=instance)


def field_errors(
    exc: ValidationError, model: type[BaseModel] | None = None, prefix: Sequence[str | int] = ()
) -> list[FieldError]:
    out: list[FieldError] = []
    for err in exc.errors():
        loc = list(err["loc"])
        msg = str(err["msg"])
        owner = _model_at(model, loc)  # a model-level (cross-field) rule failed at ``loc``
        named = [[*loc, f] for f in _fields_named(msg, owner)] if owner is not None else []
        for path in named or [loc]:
            full = [*prefix, *path]
            out.append(FieldError(pointer=pointer(full), field=dotted(full), detail=msg))
    return out


def _model_at(model: type[BaseModel] | None, loc: Sequence[str | int]) -> type[BaseModel] | None:
    """The pydantic model whose value sits at ``loc`` inside ``model`` (None if not a model)."""
    current: Any = model
    for key in loc:
        if isinstance(key, int):
            args = [a for a in get_args(current) if a is not Ellipsis]
            current = args[0] if args else None
        elif isinstance(current, type) and issubclass(current, BaseModel) and key in current.model_fields:
            current = current.model_fields[key].annotation
        else:
            return None
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _fields_named(msg: str, model: type[BaseModel]) -> list[str]:
    """Fields of ``model`` that a model-level (cross-field) error message mentions, in order."""
    words = dict.fromkeys(_WORD.findall(msg.replace("`", " ")))
    return [w for w in words if w in model.model_fields]


def pointer(path: Iterable[str | int]) -> str:
    return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in path)


def dotted(path: Sequence[str | int]) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(root)"


def invalid(errors: Sequence[FieldError], detail: str = "the request has invalid fields") -> web.Response:
    return problem(422, detail, errors=errors)


def validation_problem(
    exc: ValidationError, model: type[BaseModel] | None = None, prefix: Sequence[str | int] = ()
) -> web.Response:
    errs = field_errors(exc, model, prefix)
    names = ", ".join(dict.fromkeys(e.field for e in errs))
    return invalid(errs, f"invalid fields: {names}")
