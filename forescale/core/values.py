"""Per-tick core values as frozen, slotted dataclasses, with pydantic at the edges.

``Decision``, ``PolicyState``, ``PoolTarget``, ``Reason`` and ``PoolObservation`` are made or
read once per model (and pool) per tick (1000 policies x 30 pools within 100 ms,
bench/core_scale.py). Building them as pydantic models cost more than deciding; writing a
model's private attributes to skip validation (what ``core/trusted.py`` did) depended on
pydantic internals. They are defined in ``core/natives.py`` (native classes when the core
is compiled); here they get their pydantic side: the ``Mirrors`` that pydantic validates
and serialises them through where they cross an edge (Redis, the admin API, files), with
their field constraints (``Annotated[int, Field(ge=0)]``). ``JsonValue`` gives the plain
dataclasses of the core (``Observation``) the same ``model_*`` names the rest of forescale
uses, so the edge code did not change.
"""

from __future__ import annotations

import dataclasses
import types
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Self, TypeVar

from pydantic import ConfigDict, Field, GetCoreSchemaHandler, TypeAdapter
from pydantic_core import core_schema

from forescale.core.natives import CapacityType as CapacityType
from forescale.core.natives import Decision as Decision
from forescale.core.natives import PolicyState as PolicyState
from forescale.core.natives import PoolObservation as PoolObservation
from forescale.core.natives import PoolTarget as PoolTarget
from forescale.core.natives import Reason as Reason

# One adapter per class (built on first use; the classes are few and live forever).
_ADAPTERS: dict[type, TypeAdapter[Any]] = {}


class JsonValue:
    """Mixin for frozen dataclasses: pydantic validation and JSON at the edges."""

    __slots__ = ()
    __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(extra="forbid")

    @classmethod
    def _adapter(cls) -> TypeAdapter[Any]:
        return adapter(cls)

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


T = TypeVar("T")


def slot_init(cls: type[T]) -> type[T]:
    """Give a frozen slotted dataclass an ``__init__`` that sets each slot through its
    descriptor: the same signature, defaults and default factories as the one
    ``@dataclass`` writes, about twice as fast.

    The ``__init__`` of a frozen dataclass calls ``object.__setattr__`` once per field; a
    tick makes a ``Decision``, a ``PolicyState`` and ~20 ``Reason``s and ``PoolTarget``s for
    every model (and the controller ~30 ``PoolObservation``s). The code is generated from
    ``dataclasses.fields``, as ``@dataclass`` generates its own, so the fields stay written
    once. Apply it above ``@dataclass``.
    """
    names: dict[str, Any] = {"_FACTORY": object()}
    params: list[str] = []
    keywords: list[str] = []
    body: list[str] = []
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        name = f.name
        out = keywords if f.kw_only else params
        names[f"_set_{name}"] = vars(cls)[name].__set__
        if f.default is not dataclasses.MISSING:
            names[f"_default_{name}"] = f.default
            out.append(f"{name}=_default_{name}")
        elif f.default_factory is not dataclasses.MISSING:
            names[f"_factory_{name}"] = f.default_factory
            out.append(f"{name}=_FACTORY")
            body.append(f"if {name} is _FACTORY: {name} = _factory_{name}()")
        else:
            out.append(name)
        body.append(f"_set_{name}(self, {name})")
    signature = ", ".join(["self", *params, *(["*", *keywords] if keywords else [])])
    exec(f"def __init__({signature}):\n    " + "\n    ".join(body), names)
    init = names["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    cls.__init__ = init  # type: ignore[method-assign]
    return cls


# The native values (core/natives.py) and the mirrors pydantic sees them through: the same
# fields with their constraints and descriptions (mypyc replaces a native class's
# annotations with runtime types, which pydantic cannot read).


_Count = Annotated[int, Field(ge=0)]


class Mirrors:
    """The mirrors, under the native classes' own names (what JSON schemas call them)."""

    @dataclass(frozen=True, slots=True)
    class Reason:
        """``Reason`` as pydantic validates and serialises it."""

        __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(extra="forbid")

        term: str
        replicas: int | None
        detail: str

    @dataclass(frozen=True, slots=True)
    class PoolTarget:
        """``PoolTarget`` as pydantic validates and serialises it."""

        __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(extra="forbid")

        pool: str
        capacity_type: CapacityType
        nodes: Annotated[int, Field(ge=0)]
        replicas: Annotated[int, Field(ge=0)]

    @dataclass(frozen=True, slots=True, kw_only=True)
    class PoolObservation:
        """``PoolObservation``: what is seen of one pool for one model at ``Observation.now``."""

        __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(extra="forbid", allow_inf_nan=False)

        name: str
        ready_nodes: _Count = 0
        starting_nodes: Annotated[int, Field(ge=0, description="Requested, not yet ready.")] = 0
        draining_nodes: Annotated[int, Field(ge=0, description="Interruption notice received.")] = 0
        ready_replicas: _Count = 0
        replicas: Annotated[
            int, Field(ge=0, description="Replicas of the model requested in this pool now (ready or not).")
        ] = 0
        insufficient_capacity_at: Annotated[
            float | None, Field(description="Last insufficient-capacity error, epoch s.")
        ] = None
        interruptions: Annotated[int, Field(ge=0, description="Interruption notices since last tick.")] = 0
        lead_times_s: Annotated[
            tuple[float, ...], Field(description="Launch-to-ready durations completed since last tick.")
        ] = ()

    @dataclass(frozen=True, slots=True, kw_only=True)
    class Decision:
        """``Decision`` as pydantic validates and serialises it."""

        __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(extra="forbid")

        model: str
        at: float
        desired_replicas: Annotated[int, Field(ge=0)]
        pools: tuple[PoolTarget, ...] = ()
        winner: Annotated[str, Field(description="The term that set desired_replicas.")]
        reasons: tuple[Reason, ...] = ()
        panic: bool = False
        dry_run: bool = False

    @dataclass(frozen=True, slots=True, kw_only=True)
    class PolicyState:
        """``PolicyState`` as pydantic validates and serialises it (fields documented there)."""

        __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(extra="forbid")

        last_at: float | None = None
        last_desired: int | None = None
        up_history: tuple[tuple[float, int], ...] = ()
        down_history: tuple[tuple[float, int], ...] = ()
        scale_events: tuple[tuple[float, int], ...] = ()
        panic_at: float | None = None
        panic_max: int = 0
        lead_samples: dict[str, tuple[float, ...]] = field(default_factory=dict)
        lead_time_s: dict[str, float] = field(default_factory=dict)
        interruption_rate: dict[str, float] = field(default_factory=dict)
        starting_since: dict[str, float] = field(default_factory=dict)
        unavailable_at: dict[str, float] = field(default_factory=dict)
        floor_pending: tuple[tuple[float, float], ...] = ()
        floor_coverage: float = 0.0
        floor_checked_at: float | None = None
        floor_missed_at: float | None = None
        floor_rates: tuple[tuple[float, float], ...] = ()
        floor_scale: float = 1.0  # the floor's online recalibration (core/coverage.py, calibrate)


MIRRORS: dict[type, type] = {
    Reason: Mirrors.Reason,
    PoolTarget: Mirrors.PoolTarget,
    PoolObservation: Mirrors.PoolObservation,
    Decision: Mirrors.Decision,
    PolicyState: Mirrors.PolicyState,
}

# Uncompiled (no build, or FORESCALE_PURE_CORE=1), natives.py's own __init__s are Python
# calling object.__setattr__ per field; slot_init's set slots through their descriptors,
# about twice as fast: the pure core keeps the speed it had. Compiled, their __init__ is
# native (not a Python function) and stays.
for _cls in MIRRORS:
    if isinstance(vars(_cls)["__init__"], types.FunctionType):
        slot_init(_cls)


def native_schema(cls: type, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
    """The pydantic schema of native class ``cls``: validated as its mirror and then made a
    ``cls``; serialised the other way round."""
    mirror_cls = MIRRORS[cls]
    names = tuple(f.name for f in dataclasses.fields(mirror_cls))
    mirror = handler.generate_schema(mirror_cls)

    def native(m: Any) -> Any:
        return cls(**{name: getattr(m, name) for name in names})

    def as_mirror(v: Any) -> Any:
        return mirror_cls(**{name: getattr(v, name) for name in names})

    serializer = core_schema.plain_serializer_function_ser_schema(as_mirror, return_schema=mirror)
    validated = core_schema.no_info_after_validator_function(native, mirror)

    def given(value: Any, validate: core_schema.ValidatorFunctionWrapHandler) -> Any:
        # a value that already is one passes as is (as a stdlib dataclass field's does);
        # anything else is validated as the mirror, and its errors say so
        return value if isinstance(value, cls) else validate(value)

    return core_schema.no_info_wrap_validator_function(given, validated, serialization=serializer)


def adapter(cls: type) -> TypeAdapter[Any]:
    """The ``TypeAdapter`` of ``cls``, one per class (the classes are few and live forever)."""
    found = _ADAPTERS.get(cls)
    if found is None:
        found = _ADAPTERS[cls] = TypeAdapter(cls)
    return found
