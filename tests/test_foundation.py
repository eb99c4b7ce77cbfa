"""The foundation itself: the CLI, the real Redis fixture, the clocks."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from forescale import cli
from forescale.core.clock import ManualClock


def test_cli_help_lists_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0
    assert "COMMAND" in capsys.readouterr().out


async def test_redis_fixture_is_a_real_server(aredis: aioredis.Redis) -> None:
    info = await aredis.info("persistence")
    assert info["aof_enabled"] == 1
    await aredis.set("k", "v")
    assert await aredis.get("k") == b"v"


async def test_manual_clock_wakes_sleepers_only_when_due() -> None:
    clock = ManualClock(start=100.0)
    woke: list[float] = []

    async def sleeper(d: float) -> None:
        await clock.sleep(d)
        woke.append(clock.now())

    tasks = [asyncio.create_task(sleeper(d)) for d in (5, 10)]
    while clock.sleepers < 2:
        await asyncio.sleep(0)
    clock.advance(6)
    await asyncio.sleep(0)
    assert woke == [106.0]
    clock.advance(4)
    await asyncio.gather(*tasks)
    assert woke == [106.0, 110.0]
