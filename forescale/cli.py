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

# Order is the order of `forescale --help`; the commands each module registers.
COMMAND_MODULES = {
    "forescale.queue.cli": ("models",),
    "forescale.router.cli": ("router",),
    "forescale.worker.cli": ("worker",),
    "forescale.controller.cli": ("controller",),
    "forescale.controller.api.cli": ("policy", "pool", "status"),  # through the admin API
    "forescale.prescaler.cli": ("prescaler", "backtest"),
    "forescale.sim.cli": ("simulate",),
    "forescale.stack.cli": ("demo",),  # the whole control plane live on this machine
    "forescale.loadgen.cli": ("loadgen",),
    "forescale.settingsdoc": ("settings",),
}


CLIENT_SETTINGS = """\
settings read by the command line itself (all in docs/settings.md):
  FORESCALE_API_URL      admin API for policy, pool and status (default http://127.0.0.1:8081)
  FORESCALE_API_TOKEN    bearer token for the admin API (a `read:` or `write:` token)
  config file            $XDG_CONFIG_HOME/forescale/config.yaml (~/.config/...): `url:` and
                         `token:`, used where the variables are not set
  FORESCALE_REDIS_URL    Redis of the `models` commands (default redis://127.0.0.1:6379/0)
each service's own settings: `forescale settings`"""


def version() -> str:
    """The installed distribution's version (``pyproject.toml``)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("forescale")
    except PackageNotFoundError:  # running from a checkout that was never installed
        return "unknown (not installed)"


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Every area's subcommands, or only the one module that registers ``command``.

    A service started as ``forescale worker`` imports the worker's area alone: with every
    area the prescaler's (pandas, scipy) made each worker start cost 2.5 s of CPU, and a
    node starting eight workers on two cores took 12 s to serve where one took 2 s."""
    parser = argparse.ArgumentParser(
        prog="forescale",
        description="forescale: keeps GPU serving capacity ahead of traffic.",
        epilog=CLIENT_SETTINGS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"forescale {version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    owners = [m for m, cmds in COMMAND_MODULES.items() if command in cmds] or list(COMMAND_MODULES)
    for name in owners:
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
    args = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(args[0] if args else None)
    return run_parsed(parser.parse_args(args))


if __name__ == "__main__":
    sys.exit(main())
