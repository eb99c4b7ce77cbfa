"""Schemathesis over the whole OpenAPI document, against the API on a real port with a
real Redis: no 5xx, and every response (status, content type, headers, body) conforms
to the document."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from forescale import keys
from forescale.controller.api.openapi import document
from forescale.devstack.redis_server import RedisServer
from tests.api.conftest import W
from tests.api.conftest import settings as api_settings
from tests.api.live import live_api

schema = schemathesis.openapi.from_dict(document())
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]  # fmt: skip


@pytest.fixture(scope="module")
def base_url(redis_server: RedisServer) -> Iterator[str]:
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    # Something to find: a pool, a policy using it, a decision and a forecast.
    client.hset("fs:pools", "od-a", '{"name":"od-a","capacity_type":"on-demand","price_per_node_hour":4,'
                '"max_nodes":10}')  # fmt: skip
    client.hset("fs:policies", "chat", '{"model":"chat","target_rps_per_replica":10,"pools":["od-a"]}')
    client.lpush(keys.decisions("chat"), '{"model":"chat","at":1700000000,"desired_replicas":2,'
                 '"winner":"hpa","pools":[{"pool":"od-a","capacity_type":"on-demand","nodes":2,'
                 '"replicas":2}]}')  # fmt: skip
    client.close()
    with live_api(redis_server.url, api_settings()) as url:
        yield url


@pytest.mark.timeout(120)
@schema.parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_api_conforms_to_its_document(case: schemathesis.Case, base_url: str) -> None:
    response = case.call(base_url=base_url, headers=dict(W))
    case.validate_response(response, checks=CHECKS)
