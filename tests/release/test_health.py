"""Every service answers ``--version``, and ``/healthz`` and ``/readyz`` without auth and
without data; ``/readyz`` turns 503 when the service's Redis does not answer."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from forescale.cli import main
from forescale.controller.api.app import create_app as api_app
from forescale.controller.api.deps import ApiDeps
from forescale.controller.api.settings import ApiSettings
from forescale.controller.store import Store
from forescale.core.clock import ManualClock
from forescale.devstack.ports import free_port
from forescale.prescaler.service import create_app as prescaler_app
from forescale.prescaler.settings import PrescalerSettings
from forescale.router.app import create_app as router_app
from forescale.router.settings import RouterSettings

TOKENS = "read:" + "r" * 32 + ",write:" + "w" * 32


@pytest.mark.parametrize("command", ["router", "worker", "controller", "prescaler", "simulate", "demo"])
def test_every_service_answers_version(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main([command, "--version"])
    assert exc.value.code == 0 and capsys.readouterr().out.startswith("forescale ")


def _admin(redis: aioredis.Redis) -> web.Application:
    return api_app(ApiSettings(tokens=TOKENS), ApiDeps(store=Store(redis), clock=ManualClock(0.0)))


def _prescaler(redis: aioredis.Redis) -> web.Application:
    return prescaler_app(PrescalerSettings(), redis=redis, run_loop=False)


APPS: dict[str, Callable[[aioredis.Redis], web.Application]] = {"admin API": _admin, "prescaler": _prescaler}


@pytest.mark.parametrize("name", list(APPS))
async def test_health_needs_no_token_and_tells_nothing(name: str, aredis: aioredis.Redis) -> None:
    async with TestClient(TestServer(APPS[name](aredis))) as client:
        for path, body in (("/healthz", "ok\n"), ("/readyz", "ready\n")):
            resp = await client.get(path)
            assert resp.status == 200 and await resp.text() == body, path
        if name == "admin API":  # everything else still wants a token
            assert (await client.get("/v1/status")).status == 401


@pytest.mark.parametrize("name", list(APPS))
async def test_readyz_is_503_while_redis_is_down(name: str) -> None:
    down = aioredis.Redis(port=free_port(), socket_connect_timeout=0.5)
    async with TestClient(TestServer(APPS[name](down))) as client:
        assert (await client.get("/healthz")).status == 200  # alive: do not restart it
        resp = await client.get("/readyz")
        assert resp.status == 503 and await resp.text() == "not ready\n"
    await down.aclose()


async def test_router_health_aliases(redis_url: str) -> None:
    app = router_app(RouterSettings(redis_url=redis_url))
    async with TestClient(TestServer(app)) as client:
        assert (await client.get("/healthz")).status == 200
        assert (await client.get("/readyz")).status == 200
