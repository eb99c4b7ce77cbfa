"""Policy states are parsed only when their stored JSON changed (store.States; real redis-server).

The controller is the one writer of states while it holds the lease, so what it reads next
tick is what it wrote; a state anyone else wrote (an operator, a previous leader, a
restore) is different JSON and is read as written.
"""

from __future__ import annotations

import redis.asyncio as aioredis

from forescale import keys
from forescale.controller.store import States, Store
from forescale.core.model import Decision, PolicyState

MINE = PolicyState(last_at=30.0, last_desired=4, up_history=((30.0, 4),), lead_time_s={"spot-a": 250.0})


def _decision(model: str) -> Decision:
    return Decision(model=model, at=30.0, desired_replicas=4, winner="reactive")


async def test_the_state_the_controller_wrote_is_not_parsed_again(store: Store) -> None:
    await store.save_tick([(_decision("m1"), MINE)])
    (state, _), = (await store.load_inputs(["m1"])).values()  # fmt: skip
    assert state is MINE  # the value it wrote: nothing parsed
    assert PolicyState.model_validate_json(MINE.model_dump_json()) == state  # what a parse gives


async def test_a_state_written_by_someone_else_is_read(store: Store, aredis: aioredis.Redis) -> None:
    await store.save_tick([(_decision("m1"), MINE)])
    theirs = PolicyState(last_at=45.0, last_desired=9, panic_at=40.0, panic_max=9)
    await aredis.set(keys.policy_state("m1"), theirs.model_dump_json())
    state, _ = (await store.load_inputs(["m1"]))["m1"]
    assert state == theirs and state is not MINE
    # and by another store (a second controller process after a failover)
    await Store(aredis).save_state("m1", MINE)
    assert await store.load_state("m1") == MINE


async def test_a_deleted_or_unreadable_state_starts_afresh(store: Store, aredis: aioredis.Redis) -> None:
    await store.save_state("m1", MINE)
    await aredis.delete(keys.policy_state("m1"))
    assert await store.load_state("m1") == PolicyState()
    await store.save_state("m1", MINE)
    await aredis.set(keys.policy_state("m1"), "not json")
    assert await store.load_state("m1") == PolicyState()
    await aredis.set(keys.policy_state("m1"), MINE.model_dump_json())  # the same JSON again: read
    assert await store.load_state("m1") == MINE


def test_states_forget_models_no_longer_listed() -> None:
    states = States()
    raw = {m: states.dump(m, MINE) for m in ("a", "b")}
    states.keep(["a"])
    assert states.read("a", raw["a"]) is MINE
    again = states.read("b", raw["b"])  # forgotten: parsed from its JSON
    assert again == MINE and again is not MINE
