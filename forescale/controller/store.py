"""The controller's state in Redis (contracts.md): policies, pools, policy state, decisions.

- ``fs:policies`` hash model -> PolicySpec JSON; ``fs:pools`` hash name -> PoolSpec JSON.
- ``fs:state:{model}`` PolicyState JSON; ``fs:decisions:{model}`` bounded list, newest first.
- ``fs:forecast:{model}`` JSON list of Forecasts (written by the prescaler; read here).
- ``fs:controller:errors`` hash model -> ``ModelError`` JSON: why the last tick skipped it.

The loop reads every model's state and forecasts in one pipeline and persists every
decision in another (``load_inputs`` / ``save_tick``): a round trip per model and key cost
more than the decision core at a thousand models. Pipelines are not transactions, so the
keys of different models may live on different Redis Cluster shards.

Policies and pools are one generic ``Versions[T]`` each (``store.policies``,
``store.pools``, or ``store.of(kind)`` for code that serves either): optimistic concurrency,
where an entry's version is a hash of its stored JSON (a strong ETag, no extra key to keep
in step). A put or delete names the version it expects; the check and the write run in
one WATCH/MULTI transaction, so a concurrent writer makes it fail with
``VersionConflict`` instead of being silently overwritten.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar, cast

import redis.asyncio as aioredis
from pydantic import BaseModel, Field, TypeAdapter, ValidationError
from redis.exceptions import WatchError

from forescale import keys
from forescale.core.model import Decision, Forecast, PolicySpec, PolicyState, PoolSpec

log = logging.getLogger(__name__)

CREATE = ""  # expected_version meaning "must not exist yet"
_MAX_WATCH_RETRIES = 50  # other fields of the hash changing under us; bounded, never spins forever

T = TypeVar("T", bound=BaseModel)
_FORECASTS = TypeAdapter(list[Forecast])


def version_of(raw: bytes | str) -> str:
    data = raw.encode() if isinstance(raw, str) else raw
    return hashlib.sha256(data).hexdigest()[:16]


class ModelError(BaseModel):
    """Why the controller's last tick skipped a model (the error it counted), for /v1/status."""

    kind: str = Field(description="The `kind` label of forescale_controller_errors_total.")
    detail: str
    at: float = Field(description="The tick's time, epoch s.")


class NotFound(KeyError):
    """No entry of that name."""


class VersionConflict(Exception):
    """The entry's version is not the one expected (``current`` is None when it is absent)."""

    def __init__(self, name: str, expected: str | None, current: str | None) -> None:
        super().__init__(f"{name}: expected version {expected!r}, found {current!r}")
        self.name = name
        self.expected = expected
        self.current = current


@dataclass(frozen=True)
class Versioned(Generic[T]):
    value: T
    version: str


async def _await(x: Awaitable[Any] | Any) -> Any:
    """redis-py types its async commands as ``Awaitable[T] | T``; this narrows them."""
    return await cast(Awaitable[Any], x)


Kind = Literal["policy", "pool"]


class Versions(Generic[T]):
    """One Redis hash of name -> JSON of a frozen pydantic model, with versioned writes.

    ``expected`` on put/delete: None = unconditional, ``CREATE`` = must not exist yet,
    else the version the caller read (``VersionConflict`` when it changed meanwhile)."""

    def __init__(self, redis: aioredis.Redis, key: str, model: type[T], name_of: Callable[[T], str]) -> None:
        self.redis = redis
        self.key = key
        self.model = model
        self.name_of = name_of  # the spec field that names an entry
        # Parsed entries by name, reused while the stored JSON's version (its content hash)
        # is unchanged: the controller lists every policy every tick, and parses one only
        # when it changes.
        self._parsed: dict[str, Versioned[T]] = {}

    def _parse(self, name: str, raw: bytes) -> Versioned[T] | None:
        version = version_of(raw)
        hit = self._parsed.get(name)
        if hit is not None and hit.version == version:
            return hit
        try:
            value = self._parsed[name] = Versioned(self.model.model_validate_json(raw), version)
            return value
        except ValidationError as exc:  # written by hand or by an older version: skip, say so
            log.warning("%s[%s] is not a valid %s: %s", self.key, name, self.model.__name__, exc)
            return None

    async def get(self, name: str) -> Versioned[T] | None:
        raw = await _await(self.redis.hget(self.key, name))
        return None if raw is None else self._parse(name, raw)

    async def list(self) -> list[Versioned[T]]:
        raw = await _await(self.redis.hgetall(self.key))
        for gone in self._parsed.keys() - {k.decode() for k in raw}:
            del self._parsed[gone]
        parsed = (self._parse(k.decode(), v) for k, v in sorted(raw.items()))
        return [p for p in parsed if p is not None]

    async def put(self, value: T, expected: str | None = None) -> str:
        body = value.model_dump_json()
        await self._transact(self.name_of(value), expected, body)
        return version_of(body)

    async def delete(self, name: str, expected: str | None = None) -> None:
        await self._transact(name, expected, None)

    async def _transact(self, name: str, expected: str | None, body: str | None) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            for _ in range(_MAX_WATCH_RETRIES):
                try:
                    await pipe.watch(self.key)
                    raw = await _await(pipe.hget(self.key, name))
                    self._check(name, expected, raw, deleting=body is None)
                    pipe.multi()
                    if body is None:
                        pipe.hdel(self.key, name)
                    else:
                        pipe.hset(self.key, name, body)
                    await pipe.execute()
                    return
                except WatchError:
                    continue  # the hash changed (maybe another entry): check again
        raise VersionConflict(name, expected, None)

    @staticmethod
    def _check(name: str, expected: str | None, raw: bytes | None, *, deleting: bool) -> None:
        current = None if raw is None else version_of(raw)
        if deleting and current is None:
            raise NotFound(name)
        if expected is None:
            return
        if current != (expected or None):
            raise VersionConflict(name, expected, current)


class States:
    """Parsed policy states by model, reused while the stored JSON's version is unchanged.

    The controller holds the lease, so it is the one writer of every state: what it reads
    next tick is, byte for byte, the JSON it wrote (``dump``), whose parse it already has.
    Parsing is done only when the stored JSON changed (its version, ``version_of``, differs
    from the one written or read last), e.g. written by someone else, which the next read
    sees. Keyed by content, not identity: the same bytes parse to an equal, immutable value.
    At a thousand models parsing every state every tick was ~10 ms of a 100 ms budget
    (bench/core_scale.py uses this class as the controller does).
    """

    def __init__(self) -> None:
        self._parsed: dict[str, tuple[str, PolicyState]] = {}

    def read(self, model: str, raw: bytes | str | None) -> PolicyState:
        """The state stored as ``raw`` (``None``: none yet, or unreadable: a fresh state)."""
        if raw is None:
            self._parsed.pop(model, None)
            return PolicyState()
        version = version_of(raw)
        hit = self._parsed.get(model)
        if hit is not None and hit[0] == version:
            return hit[1]
        try:
            state = PolicyState.model_validate_json(raw)
        except ValidationError as exc:  # e.g. the core changed its fields: start afresh
            log.warning("state of %s unreadable, starting afresh: %s", model, exc)
            return PolicyState()
        self._parsed[model] = (version, state)
        return state

    def dump(self, model: str, state: PolicyState) -> str:
        """The JSON to store for ``state``; remembered, so reading it back parses nothing."""
        body = state.model_dump_json()
        self._parsed[model] = (version_of(body), state)
        return body

    def keep(self, models: Collection[str]) -> None:
        """Forget the models not in ``models`` (deleted policies)."""
        for gone in self._parsed.keys() - set(models):
            del self._parsed[gone]


class Store:
    """Async access to everything the controller keeps in Redis."""

    def __init__(self, redis: aioredis.Redis, decision_history: int = 1000) -> None:
        self.redis = redis
        self.decision_history = decision_history
        self.policies: Versions[PolicySpec] = Versions(redis, keys.POLICIES, PolicySpec, lambda s: s.model)
        self.pools: Versions[PoolSpec] = Versions(redis, keys.POOLS, PoolSpec, lambda p: p.name)
        self.states = States()

    def of(self, kind: Kind) -> Versions[Any]:
        """The versioned specs of one kind (the admin API serves both through this)."""
        return self.policies if kind == "policy" else self.pools

    # state, decisions, forecasts ----------------------------------------------
    @staticmethod
    def _forecasts(model: str, raw: bytes | None) -> tuple[Forecast, ...]:
        if raw is None:
            return ()
        try:
            return tuple(_FORECASTS.validate_json(raw))
        except ValidationError as exc:
            log.warning("forecasts of %s unreadable, ignored: %s", model, exc)
            return ()

    async def load_state(self, model: str) -> PolicyState:
        return self.states.read(model, await _await(self.redis.get(keys.policy_state(model))))

    async def load_forecasts(self, model: str) -> tuple[Forecast, ...]:
        return self._forecasts(model, await _await(self.redis.get(keys.forecast(model))))

    async def load_inputs(self, models: Sequence[str]) -> dict[str, tuple[PolicyState, tuple[Forecast, ...]]]:
        """Every model's state and forecasts in one round trip (a pipeline of GETs)."""
        if not models:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for m in models:
                pipe.get(keys.policy_state(m))
                pipe.get(keys.forecast(m))
            raw = await pipe.execute()
        self.states.keep(models)
        read = self.states.read
        return {m: (read(m, raw[2 * i]), self._forecasts(m, raw[2 * i + 1])) for i, m in enumerate(models)}

    async def save_state(self, model: str, state: PolicyState) -> None:
        await _await(self.redis.set(keys.policy_state(model), self.states.dump(model, state)))

    async def append_decision(self, decision: Decision) -> None:
        await self.save_tick([(decision, None)])

    async def save_tick(
        self,
        done: Sequence[tuple[Decision, PolicyState | None]],
        errors: Mapping[str, ModelError] | None = None,
    ) -> None:
        """Persist a tick in one round trip: each decision (bounded history) with its new
        state, and, when ``errors`` is given, the models it skipped and why (replacing the
        last tick's: a model that decided again has no error)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for decision, state in done:
                if state is not None:
                    pipe.set(keys.policy_state(decision.model), self.states.dump(decision.model, state))
                key = keys.decisions(decision.model)
                pipe.lpush(key, decision.model_dump_json())
                pipe.ltrim(key, 0, self.decision_history - 1)
            if errors is not None:  # a reader between the two sees no errors for a moment: harmless
                pipe.delete(keys.CONTROLLER_ERRORS)
                if errors:
                    pipe.hset(
                        keys.CONTROLLER_ERRORS, mapping={m: e.model_dump_json() for m, e in errors.items()}
                    )
            await pipe.execute()

    async def model_errors(self) -> dict[str, ModelError]:
        """The models the last tick skipped, and why (empty before the first tick)."""
        raw = await _await(self.redis.hgetall(keys.CONTROLLER_ERRORS))
        out = {}
        for k, v in raw.items():
            try:
                out[k.decode()] = ModelError.model_validate_json(v)
            except ValidationError:  # written by another version: not worth failing status for
                continue
        return out

    async def list_decisions(
        self, model: str, since: float | None = None, limit: int = 100
    ) -> list[Decision]:
        """Up to ``limit`` most recent decisions with ``at > since``, oldest first."""
        raw = await _await(self.redis.lrange(keys.decisions(model), 0, -1))
        out: list[Decision] = []
        for item in raw:  # newest first
            d = Decision.model_validate_json(item)
            if (since is not None and d.at <= since) or len(out) >= limit:
                break
            out.append(d)
        return out[::-1]
