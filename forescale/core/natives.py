"""The values the compiled core makes or reads most, as native classes.

Per tick at 1000 models x 30 pools the core reads ~30,000 ``PoolObservation``s (each at
least twice) and makes ~10,000 ``PoolTarget``s and ~6,000 ``Reason``s. This module is
compiled by mypyc (``scripts/build_core.py``), which makes these classes native: compiled
code reads an attribute as a struct field (~20x cheaper than a slotted dataclass's
descriptor) and builds one without a Python-level ``__init__``. Without the build they are
plain frozen slotted dataclasses: the same fields and behaviour.

Pydantic cannot read a native class's annotations (mypyc replaces them with runtime
types), so each has a mirror in ``core/values.py`` (``MIRRORS``): the same fields with
their constraints as a plain dataclass, through which pydantic validates and serialises it
at the edges. ``tests/core/test_native.py`` keeps each pair's fields identical.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal, Self

CapacityType = Literal["reserved", "spot", "on-demand"]


class Native:
    """The ``model_*`` methods the rest of forescale uses, through pydantic at the edges
    (``core/values.py``; imported when called: values.py imports this module)."""

    __slots__ = ()

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        from forescale.core.values import native_schema

        return native_schema(cls, handler)

    @classmethod
    def model_validate(cls, obj: Any) -> Self:
        from forescale.core.values import adapter

        value: Self = adapter(cls).validate_python(obj)
        return value

    @classmethod
    def model_validate_json(cls, data: str | bytes) -> Self:
        from forescale.core.values import adapter

        value: Self = adapter(cls).validate_json(data)
        return value

    def model_dump(self, **kw: Any) -> dict[str, Any]:
        from forescale.core.values import adapter

        out: dict[str, Any] = adapter(type(self)).dump_python(self, **kw)
        return out

    def model_dump_json(self, **kw: Any) -> str:
        from forescale.core.values import adapter

        return adapter(type(self)).dump_json(self, **kw).decode()

    def model_copy(self, *, update: dict[str, Any] | None = None) -> Self:
        """A copy with ``update`` applied (not validated, like pydantic's)."""
        return dataclasses.replace(self, **(update or {}))  # type: ignore[type-var]


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolObservation(Native):
    """What is seen of one pool for one model at ``Observation.now`` (fields documented on
    ``values.Mirrors.PoolObservation``)."""

    name: str
    ready_nodes: int = 0
    starting_nodes: int = 0
    draining_nodes: int = 0
    ready_replicas: int = 0
    replicas: int = 0
    insufficient_capacity_at: float | None = None
    interruptions: int = 0
    lead_times_s: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class Reason(Native):
    """One term of a decision: its value in replicas and a sentence a person reads."""

    term: str
    replicas: int | None
    detail: str


@dataclass(frozen=True, slots=True)
class PoolTarget(Native):
    """Desired nodes and replicas of a model in one pool."""

    pool: str
    capacity_type: CapacityType
    nodes: int
    replicas: int
