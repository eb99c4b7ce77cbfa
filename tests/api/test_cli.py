"""``forescale policy|pool|status`` against the API on a real port (parser from this
package's ``register`` alone, as ``forescale.cli`` would build it)."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from forescale.cliutil import CliError
from forescale.controller.api import cli
from tests.api.conftest import READ, WRITE, settings
from tests.api.live import live_api

pytestmark = pytest.mark.timeout(60)

FILE = """\
pools:
  - name: od-a
    capacity_type: on-demand
    price_per_node_hour: 4.0
    max_nodes: 10
policies:
  - model: chat
    target_rps_per_replica: 10
    min_replicas: {min}
    pools: [od-a]
"""


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="forescale")
    cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


@pytest.fixture
def url(redis_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # no stray user config
    with live_api(redis_url, settings()) as base:
        monkeypatch.setenv("FORESCALE_API_URL", base)
        monkeypatch.setenv("FORESCALE_API_TOKEN", WRITE)
        yield base


def write(tmp_path: Path, min_replicas: int) -> str:
    path = tmp_path / "policy.yaml"
    path.write_text(FILE.format(min=min_replicas))
    return str(path)


def test_apply_get_diff_delete_round_trip(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = write(tmp_path, 1)
    assert run("policy", "apply", "-f", f) == 0
    assert capsys.readouterr().out.splitlines() == ["pool/od-a created", "policy/chat created"]
    assert run("policy", "apply", "-f", f) == 0
    assert "policy/chat unchanged" in capsys.readouterr().out
    assert run("policy", "diff", "-f", f) == 0
    f = write(tmp_path, 3)
    assert run("policy", "diff", "-f", f) == 1
    assert "~ /min_replicas: 1 -> 3" in capsys.readouterr().out
    assert run("policy", "apply", "-f", f) == 0
    assert "policy/chat configured" in capsys.readouterr().out
    assert run("policy", "get") == 0
    header, row = capsys.readouterr().out.splitlines()
    assert header.split()[:4] == ["NAME", "POLICY", "MODE", "MIN"] and row.split()[:4] == [
        "chat",
        "forescale",
        "active",
        "3",
    ]
    assert run("policy", "get", "chat", "-o", "json") == 0
    assert '"min_replicas": 3' in capsys.readouterr().out
    assert run("pool", "get") == 0
    assert "od-a" in capsys.readouterr().out
    assert run("status") == 0
    assert capsys.readouterr().out.splitlines()[1].split()[0] == "chat"
    with pytest.raises(CliError, match="409"):  # the policy still names the pool
        run("pool", "delete", "od-a")
    assert run("policy", "delete", "chat") == 0
    assert run("pool", "delete", "od-a") == 0
    assert capsys.readouterr().out.splitlines() == ["policy/chat deleted", "pool/od-a deleted"]


def test_dry_run_apply_stores_nothing(url: str, tmp_path: Path, redis_url: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    assert run("pool", "apply", "-f", write(tmp_path, 1)) == 0
    capsys.readouterr()
    path = tmp_path / "only.yaml"
    path.write_text("model: chat\ntarget_rps_per_replica: 10\nmin_replicas: 2\n")
    assert run("policy", "apply", "-f", str(path), "--dry-run") == 0
    out = capsys.readouterr().out
    assert "policy/chat would be created (dry run)" in out and "what-if: not available" in out
    assert redis.Redis.from_url(redis_url).hget("fs:policies", "chat") is None


def test_a_bad_file_names_file_line_and_field_and_sends_nothing(
    url: str, tmp_path: Path, redis_url: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(FILE.format(min=1).replace("max_nodes: 10", "max_nodes: -1"))
    with pytest.raises(CliError, match=r"bad.yaml: line 5: pools\[0\]\.max_nodes"):
        run("policy", "apply", "-f", str(path))
    assert redis.Redis.from_url(redis_url).hlen("fs:pools") == 0


def test_read_token_cannot_apply_and_the_error_is_one_line(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORESCALE_API_TOKEN", READ)
    with pytest.raises(CliError, match="403 Forbidden") as err:
        run("policy", "apply", "-f", write(tmp_path, 1))
    assert "\n" not in str(err.value)


def test_url_and_token_from_the_config_file(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    monkeypatch.delenv("FORESCALE_API_URL")
    monkeypatch.delenv("FORESCALE_API_TOKEN")
    conf = tmp_path / "config" / "forescale" / "config.yaml"
    conf.parent.mkdir(parents=True)
    conf.write_text(f"url: {url}\ntoken: {READ}\n")
    assert run("status") == 0
    assert capsys.readouterr().out.strip() == "No policies found."


def test_unreachable_api_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from forescale.devstack.ports import free_port

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setenv("FORESCALE_API_URL", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(CliError, match="cannot reach the admin API"):
        run("policy", "get")


async def test_the_controller_hosts_the_api_with_tokens_from_the_environment(
    aredis: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import aiohttp

    from forescale.controller.api.app import bound_port
    from forescale.controller.api.hosting import controller_api
    from forescale.controller.api.settings import ApiSettings
    from forescale.controller.settings import ControllerSettings
    from forescale.controller.store import Store
    from forescale.core.clock import SystemClock

    tokens = tmp_path / "tokens"
    tokens.write_text("write:from-file\n")
    monkeypatch.setenv("FORESCALE_API_TOKENS", "read:from-env")
    monkeypatch.setenv("FORESCALE_API_TOKENS_FILE", str(tokens))
    async with (
        controller_api(ControllerSettings(), ApiSettings(), Store(aredis), SystemClock(), port=0) as runner,
        aiohttp.ClientSession(f"http://127.0.0.1:{bound_port(runner)}") as http,
    ):
        for token, method, status in [("from-env", "GET", 200), ("from-file", "GET", 200),
                                      ("from-env", "DELETE", 403), ("from-file", "DELETE", 404)]:  # fmt: skip
            r = await http.request(method, "/v1/policies/chat" if method == "DELETE" else "/v1/status",
                                   headers={"Authorization": f"Bearer {token}"})  # fmt: skip
            assert r.status == status, (token, method)


def test_forescale_main_runs_these_commands(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    from forescale.cli import main

    assert main(["policy", "get"]) == 0
    assert capsys.readouterr().out.strip() == "No policies found."
    assert main(["policy", "delete", "ghost"]) == 2
    assert "404" in capsys.readouterr().err


POLICY_FILE_ERRORS = [
    # (file text, what the one line must say)
    ("policies:\n  - model: chat\n    min_replicas: 1\n    target_rps_per_replica: -5\n",
     "line 4: policies[0].target_rps_per_replica: Input should be greater than 0"),
    ("policies:\n  - model: chat\n    min_replicas: 1\n",  # missing: the entry's line
     "line 2: policies[0].target_rps_per_replica: Field required"),
    ("model: chat\ntarget_rps_per_replica: 5\nscale_down:\n  stabilization_window_s: nope\n",
     "line 4: policies[0].scale_down.stabilization_window_s"),
    ("policies:\n  - model: chat\n    pools: [a, b\n",
     "line 4, column 1: not valid YAML: expected ',' or ']', but got '<stream end>'"),
    ("policy:\n  - model: chat\n    target_rps_per_replica: 5\n",
     "unknown top-level key 'policy': did you mean `policies:`?"),
    ("pool:\n  - name: a\n", "unknown top-level key 'pool': did you mean `pools:`?"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), POLICY_FILE_ERRORS)
def test_policy_file_errors_name_the_fields_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    from forescale.cli import main

    path = tmp_path / "p.yaml"
    path.write_text(text)
    assert main(["policy", "apply", "-f", str(path)]) == 2  # refused before any request
    err = capsys.readouterr().err
    assert err.startswith(f"forescale policy apply: error: {path}: {expected}") and err.count("\n") == 1


@pytest.mark.parametrize(
    ("token", "hint"),
    [
        ("", "set FORESCALE_API_TOKEN to one of the controller's FORESCALE_API_TOKENS"),
        ("wrong", "FORESCALE_API_TOKEN (or `token:` in the config file) is not one the controller accepts"),
    ],
)
def test_401_names_the_variable_to_set(
    url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], token: str, hint: str
) -> None:
    from forescale.cli import main

    monkeypatch.setenv("FORESCALE_API_TOKEN", token)
    assert main(["status"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("forescale status: error: GET /v1/status: 401") and hint in err
    assert err.count("\n") == 1


def test_policy_get_into_a_closed_pipe_is_quiet(url: str, tmp_path: Path) -> None:
    """`forescale policy get | head`: the reader leaves early; no traceback, exit 0."""
    import os
    import subprocess
    import sys

    assert run("policy", "apply", "-f", write(tmp_path, 1)) == 0
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(repo)}
    proc = subprocess.Popen([sys.executable, "-m", "forescale.cli", "policy", "get", "-o", "yaml"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0 and err == "", err
