"""``--version`` on ``forescale`` and on every service subcommand.

A container's entry point is a subcommand (``forescale controller``), so an operator asks
the running image ``forescale controller --version``; the top-level flag alone would not
answer there. Flags that already exist are left alone.
"""

from __future__ import annotations

import argparse
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as dist_version


def installed_version() -> str:
    """The installed distribution's version (``pyproject.toml``)."""
    try:
        return dist_version("forescale")
    except PackageNotFoundError:  # a checkout that was never installed
        return "unknown (not installed)"


def add_version_flags(parser: argparse.ArgumentParser, commands: dict[str, argparse.ArgumentParser]) -> None:
    """Add ``--version`` to ``parser`` and each of ``commands`` that lacks one."""
    text = f"forescale {installed_version()}"
    for p in (parser, *commands.values()):
        if "--version" not in p._option_string_actions:
            p.add_argument("--version", action="version", version=text)
