"""``forescale models add|list|remove`` against a real Redis."""

from __future__ import annotations

import json

import pytest
import redis

from forescale import keys
from forescale.cli import main


def test_add_list_remove(redis_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    r = redis.Redis.from_url(redis_url)
    base = ["models", "--redis-url", redis_url]
    assert main([*base, "add", "m", "--engine", "sleep", "-o", "base_ms=3", "-o", "dist=exponential",
                 "--max-batch", "4", "--queue-limit", "50"]) == 0  # fmt: skip
    stored = json.loads(r.hget(keys.MODELS, "m"))
    assert stored["engine_options"] == {"base_ms": 3, "dist": "exponential"}
    assert (stored["max_batch"], stored["queue_limit"]) == (4, 50)
    assert r.exists(keys.request_stream("m"))  # the group exists from the start
    capsys.readouterr()
    assert main([*base, "list"]) == 0
    assert [json.loads(line)["name"] for line in capsys.readouterr().out.splitlines()] == ["m"]
    assert main([*base, "remove", "m"]) == 0
    assert r.hget(keys.MODELS, "m") is None


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["add", "m", "--engine", "echo", "--max-batch", "0"], "max_batch"),
        (["add", "bad name", "--engine", "echo"], "name"),
        (["add", "m", "--engine", "echo", "-o", "novalue"], "KEY=VALUE"),
        (["remove", "ghost"], "ghost"),
    ],
)
def test_bad_input_is_one_line_exit_2(
    redis_url: str, argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["models", "--redis-url", redis_url, *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err


def test_unreachable_redis_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    from forescale.devstack.ports import free_port

    assert main(["models", "--redis-url", f"redis://127.0.0.1:{free_port()}/0", "list"]) == 2
    assert "redis at" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("setup", "needle"),
    [
        (None, "no model named 'ghost'"),
        ({"engine": "nope"}, "unknown engine"),
        ({"engine": "sleep", "engine_options": {"dist": "zipf"}}, "dist"),
        ({"engine": "transformer", "engine_options": {"threads": -1}}, "threads"),
    ],
)
def test_worker_with_bad_model_exits_2(redis_url: str, setup: dict[str, object] | None, needle: str) -> None:
    import subprocess
    import sys

    if setup is not None:  # written by hand: registration itself refuses these now
        entry = {"name": "ghost", "engine_options": {}, **setup}
        redis.Redis.from_url(redis_url).hset(keys.MODELS, "ghost", json.dumps(entry))
    args = [sys.executable, "-m", "forescale.worker", "--model", "ghost", "--redis-url", redis_url]
    res = subprocess.run([*args, "--port", "0"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 2, res.stderr
    assert needle in res.stderr and len(res.stderr.strip().splitlines()) == 1
