"""Fixtures: a running fake API server and a real kubernetes_asyncio client pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from kubernetes_asyncio import client

from tests.fakekube.server import FakeKube


@pytest.fixture
async def fake_kube() -> AsyncIterator[FakeKube]:
    fake = FakeKube()
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
async def kube_api(fake_kube: FakeKube) -> AsyncIterator[client.ApiClient]:
    config = client.Configuration(host=fake_kube.url)
    async with client.ApiClient(config) as api:
        yield api
