"""Use the mypyc build of the core only while it matches the sources (see ``__init__``).

Never compiled itself (``scripts/build_core.py`` lists what is): it decides what is.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

PACKAGE = "forescale.core"
MANIFEST = "_native.json"
PURE_ENV = "FORESCALE_PURE_CORE"  # "1": ignore the build (tests run the core both ways)

log = logging.getLogger(PACKAGE)


def stale(core: Path) -> str | None:
    """Why the build in ``core`` must not be used (None: it is current, or there is none)."""
    suffix = importlib.machinery.EXTENSION_SUFFIXES
    built = [p.name for p in core.iterdir() if p.name.endswith(tuple(suffix))]
    if not built:
        return None  # nothing compiled: plain imports are the .py files
    if os.environ.get(PURE_ENV) == "1":
        return f"{PURE_ENV}=1"
    try:
        manifest = json.loads((core / MANIFEST).read_text())
        sources: dict[str, str] = manifest["sources"]
    except (OSError, ValueError, KeyError, TypeError):
        return f"{MANIFEST} missing or unreadable beside the compiled modules"
    changed = []
    for module, digest in sorted(sources.items()):
        try:
            now = hashlib.sha256((core / f"{module}.py").read_bytes()).hexdigest()
        except OSError:
            now = None
        if now != digest:
            changed.append(module)
    return f"source changed since the build: {', '.join(changed)}" if changed else None


class PureCore(importlib.abc.MetaPathFinder):
    """Finds ``forescale.core.<name>`` in ``<name>.py``, never in a compiled module."""

    def __init__(self, core: Path) -> None:
        self.core = core

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        package, _, name = fullname.rpartition(".")
        source = self.core / f"{name}.py"
        if package != PACKAGE or not source.is_file():
            return None
        loader = importlib.machinery.SourceFileLoader(fullname, str(source))
        return importlib.util.spec_from_file_location(fullname, source, loader=loader)


def select(core_dir: str) -> bool:
    """Called once by ``forescale/core/__init__.py``: whether the compiled core is used.

    When a build is there but must not be used, installs ``PureCore`` ahead of the normal
    finders and logs one warning.
    """
    core = Path(core_dir)
    why = stale(core)
    if why is None:
        return any(p.name.startswith("_native__mypyc") for p in core.iterdir())
    if not any(isinstance(f, PureCore) and f.core == core for f in sys.meta_path):
        sys.meta_path.insert(0, PureCore(core))
    if os.environ.get(PURE_ENV) != "1":
        log.warning("forescale.core: not using the compiled modules (%s); rebuild with `make install`", why)
    return False
