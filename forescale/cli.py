"""The one console script, ``forescale``, with a subcommand per service or tool.

Each area registers its own subcommands in its ``cli.py`` (``register(subparsers)``) and
imports heavy modules (torch, sklearn, aiohttp apps) inside the handler, so that
``forescale --help`` stays fast. Handlers return an exit code; ``CliError`` becomes one
line on stderr and exit code 2, with no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from forescale.cliutil import run_parsed
from forescale.versioning import add_version_flags

# Order is the order of `forescale --help`.
COMMAND_MODULES = (
    "forescale.queue.cli",  # models add|list|remove
    "forescale.router.cli",  # router
    "forescale.worker.cli",  # worker
    "forescale.controller.cli",  # controller
    "forescale.controller.api.cli",  # policy, pool, status (through the admin API)
    "forescale.prescaler.cli",  # prescaler, backtest
    "forescale.sim.cli",  # simulate
    "forescale.stack.cli",  # demo: the whole control plane live on this machine
    "forescale.loadgen.cli",  # loadgen
    "forescale.settingsdoc",  # settings
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="forescale", description="forescale: keeps GPU serving capacity ahead of traffic."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):  # that area is not built yet
                continue
            raise
        module.register(sub)
    add_version_flags(parser, sub.choices)  # every service answers --version too
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    return run_parsed(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
