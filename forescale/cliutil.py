"""Helpers shared by every subcommand's ``cli.py``."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError


class CliError(Exception):
    """Bad input on the command line: printed as one line, exit code 2, no traceback."""


def validation_message(source: str | Path, exc: ValidationError) -> str:
    """``FILE: field.path: message`` for the first error pydantic found (one line)."""
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "(root)"
    return f"{source}: {where}: {err['msg']}"
