"""The values the compiled core makes or reads most, as native classes.

Per tick at 1000 models x 30 pools the core reads ~30,000 ``PoolObservation``s (each at
least twice) and makes ~10,000 ``PoolTarget``s, ~6,000 ``Reason``s and a ``Decision`` and
a ``PolicyState`` per model. This module is
compiled by mypyc (``scripts/build_core.py``), which makes these classes native: compiled
code reads an attribute as a struct field (~20x cheaper than a slotted dataclass's
descriptor) and builds one without a Python-level ``__init__``. Without the build they are
plain frozen slotted dataclasses: the same fields and behaviour.

Each writes its own ``__init__`` (``init=False``): the one ``@dataclass`` generates is
Python code even in a compiled class (~600 ns for three fields), while mypyc compiles
``object.__setattr__(self, "name", value)`` in an ``__init__`` to a struct write (~50 ns
for the same three), and the class stays frozen to everyone else. The signatures repeat
the fields' defaults; ``tests/core/test_native.py`` checks they agree.

Pydantic cannot read a native class's annotations (mypyc replaces them with runtime
types), so each has a mirror in ``core/values.py`` (``MIRRORS``): the same fields with
their constraints as a plain dataclass, through which pydantic validates and serialises it
at the edges. ``tests/core/test_native.py`` keeps each pair's fields identical.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
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

    @classmethod
    def model_json_schema(cls, **kw: Any) -> dict[str, Any]:
        from forescale.core.values import adapter

        schema: dict[str, Any] = adapter(cls).json_schema(**kw)
        return schema

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


@dataclass(frozen=True, slots=True, kw_only=True, init=False)
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

    def __init__(
        self,
        *,
        name: str,
        ready_nodes: int = 0,
        starting_nodes: int = 0,
        draining_nodes: int = 0,
        ready_replicas: int = 0,
        replicas: int = 0,
        insufficient_capacity_at: float | None = None,
        interruptions: int = 0,
        lead_times_s: tuple[float, ...] = (),
    ) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "ready_nodes", ready_nodes)
        object.__setattr__(self, "starting_nodes", starting_nodes)
        object.__setattr__(self, "draining_nodes", draining_nodes)
        object.__setattr__(self, "ready_replicas", ready_replicas)
        object.__setattr__(self, "replicas", replicas)
        object.__setattr__(self, "insufficient_capacity_at", insufficient_capacity_at)
        object.__setattr__(self, "interruptions", interruptions)
        object.__setattr__(self, "lead_times_s", lead_times_s)


@dataclass(frozen=True, slots=True, init=False)
class Reason(Native):
    """One term of a decision: its value in replicas and a sentence a person reads."""

    term: str
    replicas: int | None
    detail: str

    def __init__(self, term: str, replicas: int | None, detail: str) -> None:
        object.__setattr__(self, "term", term)
        object.__setattr__(self, "replicas", replicas)
        object.__setattr__(self, "detail", detail)


@dataclass(frozen=True, slots=True, init=False)
class PoolTarget(Native):
    """Desired nodes and replicas of a model in one pool."""

    pool: str
    capacity_type: CapacityType
    nodes: int
    replicas: int

    def __init__(self, pool: str, capacity_type: CapacityType, nodes: int, replicas: int) -> None:
        object.__setattr__(self, "pool", pool)
        object.__setattr__(self, "capacity_type", capacity_type)
        object.__setattr__(self, "nodes", nodes)
        object.__setattr__(self, "replicas", replicas)


@dataclass(frozen=True, slots=True, kw_only=True, init=False)
class Decision(Native):
    """The output of one tick; carried out by an actuator unless ``dry_run``."""

    model: str
    at: float
    desired_replicas: int
    pools: tuple[PoolTarget, ...] = ()
    winner: str  # the term that set desired_replicas
    reasons: tuple[Reason, ...] = ()
    panic: bool = False
    dry_run: bool = False

    def __init__(
        self,
        *,
        model: str,
        at: float,
        desired_replicas: int,
        pools: tuple[PoolTarget, ...] = (),
        winner: str,
        reasons: tuple[Reason, ...] = (),
        panic: bool = False,
        dry_run: bool = False,
    ) -> None:
        object.__setattr__(self, "model", model)
        object.__setattr__(self, "at", at)
        object.__setattr__(self, "desired_replicas", desired_replicas)
        object.__setattr__(self, "pools", pools)
        object.__setattr__(self, "winner", winner)
        object.__setattr__(self, "reasons", reasons)
        object.__setattr__(self, "panic", panic)
        object.__setattr__(self, "dry_run", dry_run)

    def summary(self) -> str:
        """One line for logs and the terminal view."""
        placed = ", ".join(f"{p.pool}={p.nodes}n/{p.replicas}r" for p in self.pools)
        return f"{self.model}: {self.desired_replicas} replicas ({self.winner}) [{placed}]"


@dataclass(frozen=True, slots=True, kw_only=True, init=False)
class PolicyState(Native):
    """What a policy carries from one tick to the next; persisted by the controller.

    Default-constructible: ``PolicyState()`` is the state of a policy never run before.
    The decision core (``core/policy.py``) owns its fields; nothing else interprets them.
    """

    last_at: float | None = None
    last_desired: int | None = None
    # HPA stabilization: (t, raw recommendation) pairs kept as monotone queues, so the max
    # over the scale-down window is the first entry of ``down_history`` and the min over the
    # scale-up window the first of ``up_history`` (entries that can never win are dropped).
    up_history: tuple[tuple[float, int], ...] = ()
    down_history: tuple[tuple[float, int], ...] = ()
    # HPA behavior rules: (t, signed replica change) of recent scale events.
    scale_events: tuple[tuple[float, int], ...] = ()
    # KPA panic mode: last time demand was over the threshold (None: not panicking), and the
    # highest replica count decided while panicking.
    panic_at: float | None = None
    panic_max: int = 0
    # Per pool: recent launch-to-ready samples and the lead time estimated from them.
    lead_samples: dict[str, tuple[float, ...]] = field(default_factory=dict)
    lead_time_s: dict[str, float] = field(default_factory=dict)
    # Per pool: interruptions per node-second (exponentially weighted).
    interruption_rate: dict[str, float] = field(default_factory=dict)
    # Per pool: since when nodes have been starting (for the spot fallback timeout).
    starting_since: dict[str, float] = field(default_factory=dict)
    # Per pool: last insufficient-capacity error seen (the pool is skipped for a TTL after it).
    unavailable_at: dict[str, float] = field(default_factory=dict)
    # Forecast floor coverage (core/coverage.py), kept only with prescale.scale_down_window_s:
    # (due time, planned req/s) of floors not yet checked, the exponentially weighted fraction
    # of checks where realised demand stayed under the plan, the last miss, and the request
    # rate samples over the latency SLO (their mean is what is checked).
    floor_pending: tuple[tuple[float, float], ...] = ()
    floor_coverage: float = 0.0
    floor_checked_at: float | None = None
    floor_missed_at: float | None = None
    floor_rates: tuple[tuple[float, float], ...] = ()
    floor_scale: float = 1.0  # the floor's online recalibration (core/coverage.py, calibrate)

    def __init__(
        self,
        *,
        last_at: float | None = None,
        last_desired: int | None = None,
        up_history: tuple[tuple[float, int], ...] = (),
        down_history: tuple[tuple[float, int], ...] = (),
        scale_events: tuple[tuple[float, int], ...] = (),
        panic_at: float | None = None,
        panic_max: int = 0,
        lead_samples: dict[str, tuple[float, ...]] | None = None,
        lead_time_s: dict[str, float] | None = None,
        interruption_rate: dict[str, float] | None = None,
        starting_since: dict[str, float] | None = None,
        unavailable_at: dict[str, float] | None = None,
        floor_pending: tuple[tuple[float, float], ...] = (),
        floor_coverage: float = 0.0,
        floor_checked_at: float | None = None,
        floor_missed_at: float | None = None,
        floor_rates: tuple[tuple[float, float], ...] = (),
        floor_scale: float = 1.0,
    ) -> None:
        object.__setattr__(self, "last_at", last_at)
        object.__setattr__(self, "last_desired", last_desired)
        object.__setattr__(self, "up_history", up_history)
        object.__setattr__(self, "down_history", down_history)
        object.__setattr__(self, "scale_events", scale_events)
        object.__setattr__(self, "panic_at", panic_at)
        object.__setattr__(self, "panic_max", panic_max)
        object.__setattr__(self, "lead_samples", {} if lead_samples is None else lead_samples)
        object.__setattr__(self, "lead_time_s", {} if lead_time_s is None else lead_time_s)
        object.__setattr__(self, "interruption_rate", {} if interruption_rate is None else interruption_rate)
        object.__setattr__(self, "starting_since", {} if starting_since is None else starting_since)
        object.__setattr__(self, "unavailable_at", {} if unavailable_at is None else unavailable_at)
        object.__setattr__(self, "floor_pending", floor_pending)
        object.__setattr__(self, "floor_coverage", floor_coverage)
        object.__setattr__(self, "floor_checked_at", floor_checked_at)
        object.__setattr__(self, "floor_missed_at", floor_missed_at)
        object.__setattr__(self, "floor_rates", floor_rates)
        object.__setattr__(self, "floor_scale", floor_scale)
