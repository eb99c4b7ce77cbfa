"""Build frozen core values from data the core itself computed, without re-validating it.

``decide()`` runs for every policy every tick (1000 policies x 30 pools within 100 ms,
bench/core_scale.py); pydantic validation, and even ``model_construct`` with its
per-field alias and default handling, cost more than the decision itself. Inputs are
validated once at the edge (STYLE.md #8); what the core derives from them is correct by
construction, so it is assembled here the way ``model_construct`` does in the end.
Every field must be given: there are no defaults on this path. Tests check that values
built so equal the validated ones and survive a JSON round trip.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)
_setattr = object.__setattr__
_FIELDS: dict[type, frozenset[str]] = {}


def build(cls: type[M], values: dict[str, Any]) -> M:
    """An instance of ``cls`` holding ``values`` (every field of ``cls``, already valid)."""
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = frozenset(cls.model_fields)
    m = cls.__new__(cls)
    _setattr(m, "__dict__", values)
    # a set of its own: model_copy(update=...) adds to it
    _setattr(m, "__pydantic_fields_set__", set(names))
    _setattr(m, "__pydantic_extra__", None)
    _setattr(m, "__pydantic_private__", None)
    return m
