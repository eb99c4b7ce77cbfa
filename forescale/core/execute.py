"""``execute(plan, ports)``: carry out a tick's commands, in order, through the ports.

The one place commands meet the world, for the controller (Kubernetes or local ports),
the local provider and the simulator (the simulated pool's ports). Errors:

- ``CapacityError`` (insufficient capacity, quota, reservation) from ``set_nodes`` is
  counted and the tick goes on: the provider records it and the *next observation*
  carries ``insufficient_capacity_at``, which moves the shortfall elsewhere. That is the
  one channel for insufficient capacity; nobody decides again within the tick (the
  simulator once did, and so described a better controller than the one that ships).
- Any other error of a port fails that model's remaining commands this tick (its state is
  then not persisted, so the next tick decides again from what is really there); other
  models go on. ``errors`` names which port errors count as such; the rest propagate.

Ports are async; ``drive()`` runs ``execute`` for ports that never suspend (the
simulator's), without an event loop.
"""

from __future__ import annotations

from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from forescale.core.errors import CapacityError
from forescale.core.model import PoolSpec
from forescale.core.ports import NodePoolProvider, ReplicaSetter
from forescale.core.tick import Command, SetNodes, TickPlan

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Ports:
    """Where commands go: nodes, replicas, and the pools by name (ports take a PoolSpec)."""

    nodes: NodePoolProvider
    replicas: ReplicaSetter
    pools: Mapping[str, PoolSpec]


@dataclass(frozen=True, slots=True)
class Executed:
    """What ``execute`` did: commands carried out, capacity refusals, failed models."""

    done: tuple[Command, ...]
    capacity: tuple[tuple[Command, CapacityError], ...]
    failed: Mapping[str, Exception]  # model -> the error that stopped its commands


async def execute(plan: TickPlan, ports: Ports, errors: tuple[type[Exception], ...] = ()) -> Executed:
    """Run ``plan.commands`` in order; see the module docstring for errors."""
    done: list[Command] = []
    refused: list[tuple[Command, CapacityError]] = []
    failed: dict[str, Exception] = {}
    for cmd in plan.commands:
        if cmd.model in failed:
            continue
        pool = ports.pools[cmd.pool]
        try:
            if isinstance(cmd, SetNodes):
                await ports.nodes.set_nodes(cmd.model, pool, cmd.nodes, cmd.replicas)
            else:
                await ports.replicas.set_replicas(cmd.model, pool, cmd.replicas)
        except CapacityError as exc:
            refused.append((cmd, exc))
            continue
        except errors as exc:
            failed[cmd.model] = exc
            continue
        done.append(cmd)
    return Executed(tuple(done), tuple(refused), failed)


class Suspended(RuntimeError):
    """``drive()`` was given a coroutine that waits on something: it needs an event loop."""


def drive(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends (synchronous ports) to its result."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    coro.close()
    raise Suspended("a port suspended; run this coroutine on an event loop")
