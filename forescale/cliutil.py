"""Helpers shared by every subcommand's ``cli.py``."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError


class CliError(Exception):
    """Bad input on the command line: printed as one line, exit code 2, no traceback."""


def validation_message(source: str | Path, exc: ValidationError) -> str:
    """``FILE: field.path: message`` for the first error pydantic found (one line); a
    whole-object error has no field, and pydantic's ``Value error, `` is not news."""
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    msg = str(err["msg"]).removeprefix("Value error, ")
    return f"{source}: {where}: {msg}" if where else f"{source}: {msg}"


def yaml_line(text: str, loc: tuple[Any, ...]) -> int:
    """The 1-based line of the deepest YAML node on the path ``loc`` (keys and list
    indexes, as in a pydantic error's ``loc``); 1 when nothing matches."""
    import yaml

    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return 1
    line = 1
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            match = [v for k, v in node.value if k.value == str(key)]
            if not match:
                break
            node = match[0]
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            break
        line = node.start_mark.line + 1
    return line


def yaml_reason(exc: Exception) -> str:
    """``line N: <the parser's own reason>`` for a YAML (or JSON-as-YAML) syntax error."""
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    reason = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    return f"{where}not valid YAML: {reason}" + (f" ({context})" if context else "")


def command_name(args: Any) -> str:
    """``models add``, ``policy get``, ``simulate``: the words the user typed."""
    command = str(getattr(args, "command", "") or "")
    action = getattr(args, f"{command}_command", None)
    return f"{command} {action}" if action else command


def one_line(message: str, args: Any) -> str:
    """The message without a prefix the caller already printed (``models add: ...`` after
    ``forescale models add: error:``), so no line says the same thing twice."""
    import re

    name = command_name(args)
    for prefix in (f"{name}: ", f"{name.split(' ')[0]}: ", "error: "):
        if name and message.startswith(prefix):
            message = message[len(prefix) :]
    # A layer that prefixed what the layer below had already prefixed (`X: X: reason`).
    message = re.sub(r"(?<![^\s])([^\s:][^:]*: )\1+", r"\1", message)
    return " ".join(message.split("\n"))


def run_parsed(args: Any) -> int:
    """Run a parsed subcommand: ``CliError`` becomes one line on stderr and exit code 2;
    a closed stdout (``forescale policy get | head``) ends the command quietly."""
    try:
        return int(args.func(args) or 0)
    except CliError as exc:
        print(f"forescale {command_name(args)}: error: {one_line(str(exc), args)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`| head`): what it wanted was printed. Point stdout at
        # /dev/null so the interpreter's final flush does not raise again at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 0


def publish_mode(folder: Path) -> None:
    """Give a folder made by ``tempfile.mkdtemp`` (mode 0700) the mode ``mkdir`` would
    (0777 less the umask), before it is renamed into place as the user's ``--out``."""
    umask = os.umask(0)
    os.umask(umask)
    folder.chmod(0o777 & ~umask)


def reject_archive(path: str | Path, flag: str = "--trace") -> None:
    """A tarball is not a trace: say what it holds and how to pass one member, instead of
    failing deep in a CSV parser."""
    import tarfile

    path = Path(path)
    if not path.is_file():
        return
    try:
        if not tarfile.is_tarfile(path):
            return
        with tarfile.open(path) as tar:
            members = [m.name for m in tar.getmembers() if m.isfile()]
    except (OSError, tarfile.TarError):
        return
    shown = ", ".join(members[:5]) + (f", ... ({len(members)} files)" if len(members) > 5 else "")
    raise CliError(
        f"{flag} {path}: a tar archive ({shown or 'no files'}), not a trace file; "
        f"extract the member you want (tar -xf {path} MEMBER) and pass that file"
    )


def is_interactive(stream: Any = None) -> bool:
    """Progress bars only where a person watches: a terminal, not a pipe or a log file."""
    stream = sys.stderr if stream is None else stream
    return bool(getattr(stream, "isatty", lambda: False)())


def run_area(register: Callable[[Any], None], command: str) -> int:
    """``python -m forescale.AREA ...`` = ``forescale COMMAND ...`` with only that area's
    parser: tests and benchmarks start child processes this way, so that they do not
    depend on every other area's subcommands loading."""
    parser = argparse.ArgumentParser(prog="forescale")
    register(parser.add_subparsers(dest="command", required=True))
    return run_parsed(parser.parse_args([command, *sys.argv[1:]]))
