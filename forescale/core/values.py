"""Per-tick core values as frozen, slotted dataclasses, with pydantic at the edges.

``Decision``, ``PolicyState``, ``PoolTarget`` and ``Reason`` are made once per model per
tick (1000 policies x 30 pools within 100 ms, bench/core_scale.py). Building them as
pydantic models cost more than deciding; writing a model's private attributes to skip
validation (what ``core/trusted.py`` did) depended on pydantic internals. A plain
dataclass costs a constructor call. Where the values cross an edge (Redis, the admin API,
files) they are validated and serialised by pydantic through a ``TypeAdapter``: the
methods below give them the same ``model_*`` names the rest of forescale uses, so the edge
code did not change. Field constraints (``Annotated[int, Field(ge=0)]``) apply there.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Self

from pydantic import ConfigDict, TypeAdapter

# One adapter per class (built on first use; the classes are few and live forever).
_ADAPTERS: dict[type, TypeAdapter[Any]] = {}


class JsonValue:
    """Mixin for frozen dataclasses: pydantic validation and JSON at the edges."""

    __slots__ = ()
    __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(extra="forbid")

    @classmethod
    def _adapter(cls) -> TypeAdapter[Any]:
        adapter = _ADAPTERS.get(cls)
        if adapter is None:
            adapter = _ADAPTERS[cls] = TypeAdapter(cls)
        return adapter

    @classmethod
    def model_validate(cls, obj: Any) -> Self:
        value: Self = cls._adapter().validate_python(obj)
        return value

    @classmethod
    def model_validate_json(cls, data: str | bytes) -> Self:
        value: Self = cls._adapter().validate_json(data)
        return value

    @classmethod
    def model_json_schema(cls, **kw: Any) -> dict[str, Any]:
        schema: dict[str, Any] = cls._adapter().json_schema(**kw)
        return schema

    def model_dump(self, **kw: Any) -> dict[str, Any]:
        out: dict[str, Any] = self._adapter().dump_python(self, **kw)
        return out

    def model_dump_json(self, **kw: Any) -> str:
        return self._adapter().dump_json(self, **kw).decode()

    def model_copy(self, *, update: dict[str, Any] | None = None) -> Self:
        """A copy with ``update`` applied (not validated, like pydantic's)."""
        return dataclasses.replace(self, **(update or {}))  # type: ignore[type-var]
