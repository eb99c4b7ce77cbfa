"""The command line as a new user meets it: --version, --help naming every setting the
CLI reads, one-line errors that do not repeat themselves, `models` options where users
type them, an unknown engine refused at once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import redis

from forescale import keys
from forescale.cli import COMMAND_MODULES, main
from forescale.cliutil import one_line
from forescale.worker.engines import ENGINES

REPO = Path(__file__).resolve().parents[1]


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith("forescale ") and len(out.split()) == 2 and out.split()[1][0].isdigit()


@pytest.mark.parametrize("argv", [["--help"], ["policy", "--help"], ["status", "--help"]])
def test_help_names_the_cli_settings(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(argv)
    text = " ".join(capsys.readouterr().out.split())
    for name in ("FORESCALE_API_URL", "FORESCALE_API_TOKEN", "forescale/config.yaml", "docs/settings.md"):
        assert name in text, (argv, name)


def test_settings_doc_has_the_cli_settings() -> None:
    doc = (REPO / "docs" / "settings.md").read_text()
    for name in ("`FORESCALE_API_URL`", "`FORESCALE_API_TOKEN`", "config.yaml", "`FORESCALE_REDIS_URL`"):
        assert name in doc


@pytest.mark.parametrize(
    ("message", "argv", "expected"),
    [
        ("models add: name: bad", {"command": "models", "models_command": "add"}, "name: bad"),
        ("models: x", {"command": "models", "models_command": "list"}, "x"),
        ("error: boom", {"command": "simulate"}, "boom"),
        ("two\nlines", {"command": "simulate"}, "two lines"),
        ("GET /v1/x: 404", {"command": "policy", "policy_command": "get"}, "GET /v1/x: 404"),
        ("A_B: A_B: line 1: bad", {"command": "controller"}, "A_B: line 1: bad"),
        ("f.yaml: line 2: x: x: y", {"command": "simulate"}, "f.yaml: line 2: x: y"),
        ("a: ba: c", {"command": "simulate"}, "a: ba: c"),
    ],
)
def test_no_repeated_prefix(message: str, argv: dict[str, str], expected: str) -> None:
    assert one_line(message, SimpleNamespace(**argv)) == expected


def test_models_redis_url_after_the_action(redis_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "add", "m", "--engine", "echo", "--redis-url", redis_url]) == 0
    capsys.readouterr()
    assert main(["models", "list", "--redis-url", redis_url]) == 0
    assert [json.loads(line)["name"] for line in capsys.readouterr().out.splitlines()] == ["m"]
    assert main(["models", "--redis-url", redis_url, "list"]) == 0  # before the action still works
    assert "m" in capsys.readouterr().out
    assert main(["models", "remove", "m", "--redis-url", redis_url]) == 0
    assert redis.Redis.from_url(redis_url).hget(keys.MODELS, "m") is None


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (
            ["add", "m", "--engine", "pytorch"],
            "forescale models add: error: --engine: unknown engine 'pytorch'; "
            f"expected one of: {', '.join(ENGINES)}",
        ),
        (["remove", "ghost"], "forescale models remove: error: no model named 'ghost'"),
        (
            ["add", "m", "--engine", "echo", "--max-batch", "0"],
            "forescale models add: error: model 'm': max_batch: ",
        ),
        (  # a required engine option missing: named at once, with what the engine expects
            ["add", "m", "--engine", "torchscript"],
            "forescale models add: error: model 'm': engine 'torchscript': bad options: "
            "path: Field required; sha256: Field required",
        ),
    ],
)
def test_models_errors_are_one_clean_line(
    redis_url: str, argv: list[str], line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["models", *argv, "--redis-url", redis_url]) == 2
    err = capsys.readouterr().err
    assert err.startswith(line) and err.count("\n") == 1
    assert redis.Redis.from_url(redis_url).hlen(keys.MODELS) == 0


def test_missing_required_option_lists_what_is_expected(capsys: pytest.CaptureFixture[str]) -> None:
    """argparse's own message, with the usage line naming the options."""
    with pytest.raises(SystemExit) as done:
        main(["models", "add", "m"])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert "the following arguments are required: --engine" in err and "Traceback" not in err


def test_closed_stdout_is_not_a_traceback() -> None:
    """`forescale settings | head -1`: the reader leaves early; exit 0, nothing on stderr."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "forescale.cli", "settings"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # before it writes anything: every write fails with EPIPE
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0, err
    assert err == ""


@pytest.mark.parametrize("module", list(COMMAND_MODULES))
def test_each_area_registers_the_commands_the_table_names(module: str) -> None:
    """``forescale COMMAND`` imports only the module the table names for it: a command
    missing from the table would fall back to every area, one named wrongly would fail."""
    import argparse
    import importlib

    sub = argparse.ArgumentParser().add_subparsers()
    importlib.import_module(module).register(sub)
    assert tuple(sub.choices) == COMMAND_MODULES[module]


def test_a_worker_starts_without_the_other_areas() -> None:
    """A worker pod pays for its own imports only (the prescaler's pandas and scipy once
    cost every worker start 2.5 s of CPU; the core's pydantic models 0.15 s more)."""
    heavy = ("pandas", "scipy", "sklearn", "torch", "forescale.core.model")
    code = (
        "import sys; from forescale.cli import build_parser; build_parser('worker');"
        "import forescale.worker.app;"
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "[]"
