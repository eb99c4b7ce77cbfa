"""Item 11 of the hardening review: a Redis password never appears in any output."""

from __future__ import annotations

import subprocess
import sys

import pytest

from forescale.cli import main
from forescale.devstack.ports import free_port
from forescale.redact import redact_url

SECRET = "hunter2-s3cret"


@pytest.mark.parametrize(("url", "shown"), [
    (f"rediss://:{SECRET}@cache.example:6380/0", "rediss://:***@cache.example:6380/0"),
    (f"redis://app:{SECRET}@10.0.0.1/2", "redis://app:***@10.0.0.1/2"),
    (f"redis://10.0.0.1:6379/0?password={SECRET}", "redis://10.0.0.1:6379/0?password=%2A%2A%2A"),
    ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
])  # fmt: skip
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown and SECRET not in redact_url(url)


def test_models_cli_error_hides_the_password(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"redis://:{SECRET}@127.0.0.1:{free_port()}/0"
    assert main(["models", "--redis-url", url, "list"]) == 2
    captured = capsys.readouterr()
    assert "redis at redis://:***@127.0.0.1" in captured.err
    assert SECRET not in captured.err + captured.out


def test_worker_error_hides_the_password() -> None:
    url = f"rediss://:{SECRET}@127.0.0.1:{free_port()}/0"
    args = [sys.executable, "-m", "forescale.worker", "--model", "m", "--redis-url", url, "--port", "0"]
    res = subprocess.run(args, capture_output=True, text=True, timeout=90)
    assert res.returncode == 2, res.stderr
    assert SECRET not in res.stderr + res.stdout and "***" in res.stderr


def test_models_list_shows_invalid_entries(redis_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    import redis

    from forescale import keys

    redis.Redis.from_url(redis_url).hset(keys.MODELS, "bad", json.dumps({"name": "bad", "engine": "nope"}))
    assert main(["models", "--redis-url", redis_url, "list"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert lines[0]["name"] == "bad" and "unknown engine" in lines[0]["invalid"]
    assert main(["models", "--redis-url", redis_url, "remove", "bad"]) == 0
