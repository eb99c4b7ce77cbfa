"""``python -m forescale.queue ...`` = ``forescale models ...``, with only this area's parser.

Tests and benchmarks start child processes this way, so that they do not depend on
every other area's subcommands loading.
"""

from __future__ import annotations

import argparse
import sys

from forescale.cliutil import CliError
from forescale.queue import cli


def main() -> int:
    parser = argparse.ArgumentParser(prog="forescale")
    sub = parser.add_subparsers(dest="command", required=True)
    cli.register(sub)
    args = parser.parse_args(["models", *sys.argv[1:]])
    try:
        return int(args.func(args) or 0)
    except CliError as exc:
        print(f"forescale models: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
