"""Fuzzing the generation routes (OpenAI ``/v1/completions``, ``/v1/chat/completions``,
streamed or not, and KServe ``/v2/models/{m}/generate[_stream]``) with hypothesis, against
a real router process on a real Redis.

No worker runs: every request is either rejected (4xx, nothing enqueued) or admitted and
then answered 504 when its 50 ms deadline (``X-Request-Timeout``) passes, so no example
waits. Per example: no 5xx other than that deadline, and a 504 only for a request that was
enqueued (the stream's ``entries-added`` counter moved by exactly one); a rejection leaves
both XLEN and ``entries-added`` unchanged; OpenAI routes answer errors as OpenAI error
objects, KServe routes as problem+json. The router must still serve afterwards.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forescale import keys
from forescale.devstack.ports import free_port, wait_port
from forescale.devstack.redis_server import RedisServer
from forescale.queue.config import ModelConfig
from tests.security import strategies

# Bounded: 3 tests x 40 examples, each at most one 50 ms deadline; no hypothesis deadline.
FUZZ = settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
OPTS = {"layers": 1, "d_model": 16, "heads": 2, "kv_heads": 1, "max_context": 64}
STREAM = keys.request_stream("tiny")


class Live:
    def __init__(self, port: int, r: redis.Redis) -> None:
        self.port = port
        self.redis = r

    def post(self, path: str, body: bytes) -> tuple[int, str, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            headers = {"Content-Type": "application/json", "X-Request-Timeout": "0.05"}
            conn.request("POST", path, body=body, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.getheader("Content-Type", ""), resp.read()
        finally:
            conn.close()

    def added(self) -> tuple[int, int]:
        """(XLEN, entries ever added) of the model's request stream."""
        if not self.redis.exists(STREAM):
            return 0, 0
        info: dict[str, Any] = self.redis.xinfo_stream(STREAM)
        return int(info["length"]), int(info["entries-added"])


@pytest.fixture(scope="module")
def live(redis_server: RedisServer) -> Iterator[Live]:
    r = redis.Redis.from_url(redis_server.url)
    r.flushall()
    cfg = ModelConfig(name="tiny", engine="llm", engine_options=OPTS, default_timeout_s=10)
    r.hset(keys.MODELS, "tiny", cfg.model_dump_json())
    port = free_port()
    env = {**os.environ, "FORESCALE_REDIS_URL": redis_server.url, "FORESCALE_ROUTER_PORT": str(port)}
    proc = subprocess.Popen([sys.executable, "-m", "forescale.router"], env=env)
    try:
        wait_port(port, 60)
        yield Live(port, r)
    finally:
        proc.terminate()
        proc.wait(30)
        r.close()


def _check(live: Live, path: str, body: bytes) -> None:
    before = live.added()
    status, ctype, raw = live.post(path, body)
    after = live.added()
    assert status < 500 or status == 504, (status, raw)
    if status == 504:  # admitted, then the deadline passed with no worker: enqueued exactly once
        assert after[1] == before[1] + 1, (before, after)
    else:
        assert status >= 400, (status, raw)  # nothing can be answered without a worker
        assert after == before, (status, raw)  # a rejection enqueues nothing
    doc = json.loads(raw)
    if path.startswith("/v1"):
        assert ctype.startswith("application/json"), ctype
        err = doc["error"]
        assert isinstance(err["message"], str) and err["message"] and isinstance(err["type"], str)
    else:
        assert ctype.startswith("application/problem+json"), ctype
        assert doc["status"] == status and doc["detail"]


json_scalar = strategies.json_scalar
json_any = strategies.json_any(max_leaves=12)
# Near-valid values (so admission is reached) mixed with anything at all.
model = st.sampled_from(["tiny", "nope", ""]) | json_scalar
text = st.text(max_size=24) | st.just("x" * 80) | json_any  # 80 bytes: past the 64-token context
sampling = {
    "max_tokens": st.integers(-2, 80) | json_scalar,
    "temperature": st.floats(-1, 3) | json_scalar,
    "top_p": st.floats(-0.5, 1.5) | json_scalar,
    "top_k": st.integers(-1, 50) | json_scalar,
    "seed": st.integers(-(2**64), 2**64) | json_scalar,
    "stop": st.lists(st.text(max_size=4), max_size=6) | json_any,
    "stream": st.booleans() | json_scalar,
    "ignore_eos": st.booleans() | json_scalar,
    "n": json_scalar,
}
# Valid values only, so that a share of the examples is admitted (and must then be enqueued).
valid_sampling = {
    "max_tokens": st.integers(1, 8),
    "temperature": st.floats(0, 2),
    "top_p": st.floats(0.01, 1),
    "top_k": st.integers(0, 50),
    "seed": st.integers(0, 2**32),
    "stop": st.lists(st.text(min_size=1, max_size=4), max_size=4),
    "stream": st.booleans(),
    "ignore_eos": st.booleans(),
}
prompt = st.text(min_size=1, max_size=20)
completion_ok = st.fixed_dictionaries({"model": st.just("tiny"), "prompt": prompt}, optional=valid_sampling)
chat_ok = st.fixed_dictionaries(
    {"model": st.just("tiny"),
     "messages": st.lists(st.fixed_dictionaries({"role": st.just("user"), "content": prompt}), min_size=1,
                          max_size=2)},
    optional=valid_sampling,
)  # fmt: skip
generate_ok = st.fixed_dictionaries(
    {"text_input": prompt},
    optional={"parameters": st.fixed_dictionaries({}, optional=valid_sampling)},
)
message = (
    st.fixed_dictionaries(
        {"role": st.sampled_from(["user", "system", "assistant", "robot"]) | json_scalar, "content": text}
    )
    | json_any
)
completion = st.fixed_dictionaries({"model": model, "prompt": text}, optional=sampling)
chat = st.fixed_dictionaries({"model": model, "messages": st.lists(message, max_size=3) | json_any},
                             optional=sampling)  # fmt: skip
generate = st.fixed_dictionaries(
    {"text_input": text},
    optional={"parameters": st.fixed_dictionaries({}, optional=sampling) | json_any, "id": json_scalar},
)


def _encode(body: Any) -> bytes:
    return body if isinstance(body, bytes) else json.dumps(body).encode()


@FUZZ
@given(body=completion_ok | completion | json_any | st.binary(max_size=16))
def test_fuzz_completions(live: Live, body: Any) -> None:
    _check(live, "/v1/completions", _encode(body))


@FUZZ
@given(body=chat_ok | chat | json_any | st.binary(max_size=16))
def test_fuzz_chat_completions(live: Live, body: Any) -> None:
    _check(live, "/v1/chat/completions", _encode(body))


@FUZZ
@given(
    path=st.sampled_from(["/v2/models/tiny/generate", "/v2/models/tiny/generate_stream",
                          "/v2/models/nope/generate_stream"]),
    body=generate_ok | generate | json_any | st.binary(max_size=16),
)  # fmt: skip
def test_fuzz_kserve_generate(live: Live, path: str, body: Any) -> None:
    _check(live, path, _encode(body))


def test_router_still_serves_after_fuzzing(live: Live) -> None:
    """A valid request is still admitted (then times out: no worker) and a bad one refused."""
    before = live.added()
    status, _, raw = live.post("/v1/completions", b'{"model": "tiny", "prompt": "hi", "max_tokens": 2}')
    assert status == 504 and live.added()[1] == before[1] + 1, raw
    status, _, raw = live.post("/v1/completions", b'{"model": "tiny", "prompt": "hi", "max_tokens": -1}')
    assert status == 400 and json.loads(raw)["error"]["param"] == "max_tokens"
