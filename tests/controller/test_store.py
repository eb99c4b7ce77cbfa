"""The Redis store: versioned writes, bounded history, tolerant reads (real redis-server)."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from forescale import keys
from forescale.controller.store import CREATE, NotFound, Store, VersionConflict
from forescale.core.model import Decision, Forecast, PolicyState
from tests.controller.conftest import SPEC, SPOT


async def test_put_get_list_delete_policy(store: Store) -> None:
    v1 = await store.policies.put(SPEC, CREATE)
    got = await store.policies.get("m1")
    assert got is not None and got.value == SPEC and got.version == v1
    assert [p.value.model for p in await store.policies.list()] == ["m1"]
    await store.policies.delete("m1", v1)
    assert await store.policies.get("m1") is None
    with pytest.raises(NotFound):
        await store.policies.delete("m1")


async def test_stale_version_is_rejected_and_nothing_written(store: Store) -> None:
    v1 = await store.policies.put(SPEC)
    changed = SPEC.model_copy(update={"max_replicas": 9})
    v2 = await store.policies.put(changed, v1)
    assert v2 != v1
    with pytest.raises(VersionConflict) as info:
        await store.policies.put(SPEC.model_copy(update={"max_replicas": 3}), v1)
    assert info.value.current == v2
    got = await store.policies.get("m1")
    assert got is not None and got.value.max_replicas == 9
    with pytest.raises(VersionConflict):
        await store.policies.put(SPEC, CREATE)  # exists already
    with pytest.raises(VersionConflict):
        await store.policies.delete("m1", v1)


async def test_concurrent_writers_exactly_one_wins(store: Store) -> None:
    v1 = await store.policies.put(SPEC)
    updates = [SPEC.model_copy(update={"max_replicas": n}) for n in range(2, 10)]
    results = await asyncio.gather(*(store.policies.put(u, v1) for u in updates), return_exceptions=True)
    winners = [r for r in results if isinstance(r, str)]
    assert len(winners) == 1
    assert all(isinstance(r, VersionConflict) for r in results if not isinstance(r, str))


async def test_writes_to_other_entries_do_not_conflict(store: Store) -> None:
    v1 = await store.policies.put(SPEC)
    other = [SPEC.model_copy(update={"model": f"other-{i}"}) for i in range(5)]
    results = await asyncio.gather(
        store.policies.put(SPEC.model_copy(update={"max_replicas": 4}), v1),
        *(store.policies.put(o) for o in other),
    )
    assert all(isinstance(r, str) for r in results)
    got = await store.policies.get("m1")
    assert got is not None and got.value.max_replicas == 4


async def test_pools_round_trip(store: Store) -> None:
    v = await store.pools.put(SPOT, CREATE)
    got = await store.pools.get("spot-a")
    assert got is not None and got.value == SPOT and got.version == v
    await store.pools.delete("spot-a", v)
    assert await store.pools.list() == []


async def test_invalid_entries_are_skipped(store: Store, aredis: aioredis.Redis) -> None:
    await store.policies.put(SPEC)
    await aredis.hset("fs:policies", "broken", '{"model": "broken"}')  # missing fields
    assert [p.value.model for p in await store.policies.list()] == ["m1"]


async def test_state_round_trip_and_default(store: Store, aredis: aioredis.Redis) -> None:
    assert await store.load_state("m1") == PolicyState()
    await store.save_state("m1", PolicyState(last_at=5.0, last_desired=3))
    assert await store.load_state("m1") == PolicyState(last_at=5.0, last_desired=3)
    await aredis.set(keys.policy_state("m1"), "not json")
    assert await store.load_state("m1") == PolicyState()


async def test_decisions_are_bounded_and_filtered(store: Store) -> None:
    for i in range(30):
        await store.append_decision(Decision(model="m1", at=float(i), desired_replicas=i, winner="reactive"))
    all_kept = await store.list_decisions("m1", limit=100)
    assert [d.at for d in all_kept] == [float(i) for i in range(10, 30)]  # history = 20
    recent = await store.list_decisions("m1", since=25.0)
    assert [d.desired_replicas for d in recent] == [26, 27, 28, 29]
    assert [d.at for d in await store.list_decisions("m1", limit=2)] == [28.0, 29.0]


async def test_forecasts_read(store: Store, aredis: aioredis.Redis) -> None:
    assert await store.load_forecasts("m1") == ()
    f = Forecast(issued_at=1.0, step_s=60, quantiles=(0.5, 0.9))
    await aredis.set(keys.forecast("m1"), f"[{f.model_dump_json()}]")
    assert await store.load_forecasts("m1") == (f,)
    await aredis.set(keys.forecast("m1"), "garbage")
    assert await store.load_forecasts("m1") == ()


async def test_one_generic_store_per_kind_with_free_text_names(store: Store) -> None:
    """The admin API reaches both kinds through ``of``; model names are free text."""
    assert store.of("policy") is store.policies and store.of("pool") is store.pools
    name = "meta-llama/Llama-3.1-8B-Instruct{v2}"
    spec = SPEC.model_copy(update={"model": name})
    v = await store.of("policy").put(spec, CREATE)
    got = await store.policies.get(name)
    assert got is not None and got.value == spec and got.version == v
    await store.save_state(name, PolicyState(last_desired=5))
    assert (await store.load_state(name)).last_desired == 5
