"""Helpers shared by every subcommand's ``cli.py``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError


class CliError(Exception):
    """Bad input on the command line: printed as one line, exit code 2, no traceback."""


def validation_message(source: str | Path, exc: ValidationError) -> str:
    """``FILE: field.path: message`` for the first error pydantic found (one line)."""
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "(root)"
    return f"{source}: {where}: {err['msg']}"


def run_parsed(args: Any) -> int:
    """Run a parsed subcommand: ``CliError`` becomes one line on stderr and exit code 2."""
    try:
        return int(args.func(args) or 0)
    except CliError as exc:
        print(f"forescale {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def run_area(register: Callable[[Any], None], command: str) -> int:
    """``python -m forescale.AREA ...`` = ``forescale COMMAND ...`` with only that area's
    parser: tests and benchmarks start child processes this way, so that they do not
    depend on every other area's subcommands loading."""
    parser = argparse.ArgumentParser(prog="forescale")
    register(parser.add_subparsers(dest="command", required=True))
    return run_parsed(parser.parse_args([command, *sys.argv[1:]]))
