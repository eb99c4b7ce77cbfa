"""The Lua scripts and stream operations of the queue protocol, on a real Redis and on a
real 3-shard Redis Cluster (where the ack and dead-letter paths are split by slot: the
results must be the same). The model name is free text with the characters that could
break a hash tag."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from forescale import keys
from forescale.queue.client import connect
from forescale.queue.protocol import Queue, error_reply, ok_reply

M = "org/Model-{v1}.2"  # a "}" would end an unescaped hash tag early


@pytest.fixture(params=["redis", "cluster"])
async def aredis(request: pytest.FixtureRequest) -> AsyncIterator[aioredis.Redis]:
    """Shadows the shared fixture: one Redis, or the queue's own cluster client."""
    url = request.getfixturevalue("redis_url" if request.param == "redis" else "cluster_url")
    client = connect(url, timeout_s=5.0)
    yield client
    await client.aclose()


async def _admit(q: Queue, n: int, limit: int = 100, model: str = M) -> list[str | None]:
    return [await q.admit(model, limit, f"r{i}", keys.reply_stream("rt"), 10**13, b"{}") for i in range(n)]


async def test_admission_stops_at_the_limit(aredis: aioredis.Redis) -> None:
    q = Queue(aredis)
    await q.ensure_group(M)
    ids = await _admit(q, 5, limit=3)
    assert [i is not None for i in ids] == [True, True, True, False, False]
    assert await aredis.xlen(keys.request_stream(M)) == 3


async def test_ensure_group_is_idempotent(aredis: aioredis.Redis) -> None:
    q = Queue(aredis)
    await q.ensure_group(M)
    await q.ensure_group(M)
    groups = await aredis.xinfo_groups(keys.request_stream(M))
    assert [g["name"] for g in groups] == [keys.GROUP.encode()]


async def test_fenced_ack_publishes_only_for_the_owner(aredis: aioredis.Redis) -> None:
    q = Queue(aredis)
    await q.ensure_group(M)
    await _admit(q, 2)
    a = await q.read(M, "A", 1, None)
    b = await q.read(M, "B", 1, None)
    # B tries to ack A's entry: fenced off; A acks its own: published, acked, deleted.
    assert await q.ack(M, "B", [(a[0], ok_reply([]))]) == [False]
    assert await q.ack(M, "A", [(a[0], ok_reply([])), (b[0], ok_reply([]))]) == [True, False]
    replies = await aredis.xrange(keys.reply_stream("rt"))
    assert [f[b"req_id"] for _, f in replies] == [a[0].req_id.encode()]
    assert await aredis.xlen(keys.request_stream(M)) == 1  # only B's entry is left
    assert await aredis.ttl(keys.reply_stream("rt")) > 0
    # A second ack of the same entry (a duplicate run) publishes nothing.
    assert await q.ack(M, "A", [(a[0], error_reply(500, "x"))]) == [False]
    assert await aredis.xlen(keys.reply_stream("rt")) == 1


async def test_renew_keeps_own_entries_and_never_steals(aredis: aioredis.Redis) -> None:
    q = Queue(aredis)
    await q.ensure_group(M)
    await _admit(q, 3)
    e, *rest = await q.read(M, "A", 3, None)
    ids = [e.entry_id] + [x.entry_id for x in rest]
    assert await q.renew(M, "A", ids) == ids
    await q.ack(M, "A", [(x, ok_reply([])) for x in rest])
    # Another worker reclaims it (min idle 0); A's renewal must not take it back.
    [c] = await q.autoclaim(M, "B", 0, 10)
    assert c.entry_id == e.entry_id and c.deliveries == 2
    assert await q.renew(M, "A", [e.entry_id]) == []
    [p] = await aredis.xpending_range(keys.request_stream(M), keys.GROUP, "-", "+", 10)
    assert p["consumer"] == b"B" and p["times_delivered"] == 2  # JUSTID did not count


async def test_autoclaim_respects_min_idle(aredis: aioredis.Redis) -> None:
    q = Queue(aredis)
    await q.ensure_group(M)
    await _admit(q, 1)
    await q.read(M, "A", 1, None)
    assert await q.autoclaim(M, "B", 60_000, 10) == []


async def test_dead_letter_moves_entry_and_answers_once(aredis: aioredis.Redis) -> None:
    q = Queue(aredis)
    await q.ensure_group(M)
    await _admit(q, 1)
    await q.read(M, "A", 1, None)
    [e] = await q.autoclaim(M, "B", 0, 10)
    assert not await q.dead_letter(M, "A", e, error_reply(500, "x"), "poison")  # not A's any more
    assert await q.dead_letter(M, "B", e, error_reply(500, "boom"), "poison")
    [(_, dl)] = await aredis.xrange(keys.dead_letters(M))
    assert dl[b"req_id"] == e.req_id.encode() and dl[b"deliveries"] == b"2" and dl[b"reason"] == b"poison"
    [(_, reply)] = await aredis.xrange(keys.reply_stream("rt"))
    assert json.loads(reply[b"reply"]) == {"status": 500, "error": "boom"}
    assert await aredis.xlen(keys.request_stream(M)) == 0
    assert await aredis.xpending(keys.request_stream(M), keys.GROUP) == {
        "pending": 0, "min": None, "max": None, "consumers": []
    }  # fmt: skip
