"""Compile the pure decision core with mypyc, next to its sources; pure Python when it cannot.

    python scripts/build_core.py [--root DIR] [--strict]

The modules in ``MODULES`` (everything ``plan_tick`` runs per model and tick) are compiled
UNCHANGED by mypyc (it ships inside mypy, a dev dependency) into one group library
``forescale/core/_native__mypyc*.so`` and one small extension module per source, placed
beside the ``.py`` files; CPython then imports the extension first. ~30 s on two cores.

``forescale/core/_native.json`` records the SHA-256 of every compiled source.
``forescale/core/__init__.py`` checks it on import and, if any source changed since the
build (or the manifest is missing), imports the ``.py`` files instead, with one warning:
a stale build never shadows edited source. The manifest is written on failure too
(``"compiled": false``), so `make` does not retry a build this machine cannot do.

No compiler, no Python headers, no mypyc: the build is skipped with one line on stderr
and exit status 0 (``--strict``: 1); forescale runs the same, in pure Python.
``make install`` runs this (and `make` again when a core source changed); so does the
wheel build (``hatch_build.py``, on a copy of the sources), which is how the
control-plane image gets the compiled core.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import sysconfig
import tempfile
from pathlib import Path

CORE = Path("forescale") / "core"
GROUP = "forescale.core._native"  # the group library: forescale/core/_native__mypyc*.so
MANIFEST = "_native.json"
# Compiled: what plan_tick runs for every model, and the values it reads and makes most
# (natives.py: native classes when compiled). Not compiled: the pydantic models
# (model.py, targets.py, metrics_spec.py: mypyc cannot compile pydantic classes) and what
# runs at the edges or once (observe, execute, clock, ports).
MODULES = (
    "backlog",
    "capacity",
    "coverage",
    "forecast",
    "hpa",
    "leadtime",
    "ledger",
    "metric_terms",
    "natives",
    "panic",
    "policy",
    "pooltable",
    "poolview",
    "schedule",
    "tick",
    "token_floor",
)


def source_hashes(core: Path, modules: tuple[str, ...] = MODULES) -> dict[str, str]:
    """SHA-256 of each module's source, by module name (what the manifest records)."""
    return {m: hashlib.sha256((core / f"{m}.py").read_bytes()).hexdigest() for m in modules}


def clean(core: Path) -> None:
    """Remove a previous build: its extension modules and manifest."""
    suffixes = tuple(s for s in (sysconfig.get_config_var("EXT_SUFFIX"), ".so", ".pyd") if s)
    for path in core.iterdir():
        if path.name.endswith(suffixes):
            path.unlink()
    (core / MANIFEST).unlink(missing_ok=True)


def why_not(root: Path) -> str | None:
    """Why this machine cannot compile (None: it can)."""
    try:
        import mypyc.build  # noqa: F401  (mypy's compiler)
        import setuptools  # noqa: F401
    except ImportError as exc:
        return f"mypyc or setuptools not installed ({exc.name})"
    include = sysconfig.get_paths()["include"]
    if not (Path(include) / "Python.h").exists():
        return f"no Python headers ({include}/Python.h; Debian: python3-dev)"
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(cc) is None:
        return f"no C compiler ({cc}; Debian: gcc)"
    return None


# mypy's options for the build: the project's own (pyproject.toml) load the pydantic plugin,
# which a wheel's isolated build environment lacks; these need nothing but mypy.
MYPY_CONFIG = "[mypy]\npython_version = 3.11\nignore_missing_imports = True\n"


def compile_core(root: Path) -> None:
    """mypycify ``MODULES`` in place under ``root`` (raises on failure)."""
    from mypyc.build import mypycify
    from setuptools import setup

    paths = [str(CORE / f"{m}.py") for m in MODULES]
    with tempfile.TemporaryDirectory(prefix="forescale-mypyc-") as tmp:
        config = Path(tmp) / "mypy.ini"
        config.write_text(MYPY_CONFIG)
        cwd = os.getcwd()
        os.chdir(root)  # mypyc derives module names from paths relative to here
        try:
            ext = mypycify(
                ["--config-file", str(config), *paths],
                opt_level="3",
                target_dir=os.path.join(tmp, "c"),
                group_name=GROUP,
            )
            args = ["build_ext", "--inplace", "--build-temp", os.path.join(tmp, "o")]
            setup(
                name="forescale-core-native",
                packages=[],
                py_modules=[],
                ext_modules=ext,
                script_args=["-q", *args, "--build-lib", os.path.join(tmp, "lib")],
            )
        finally:
            os.chdir(cwd)


def built(root: Path) -> list[Path]:
    """The files a build under ``root`` made (extension modules and the manifest)."""
    suffixes = tuple(s for s in (sysconfig.get_config_var("EXT_SUFFIX"), ".so", ".pyd") if s)
    core = root / CORE
    return sorted(p for p in core.iterdir() if p.name.endswith(suffixes) or p.name == MANIFEST)


def build(root: Path) -> str | None:
    """Compile the core under ``root``; returns why it was not compiled (None: it was)."""
    core = root / CORE
    clean(core)
    reason = why_not(root)
    if reason is None:
        try:
            compile_core(root)
        except (Exception, SystemExit) as exc:  # setuptools reports a compiler error as SystemExit
            clean(core)
            reason = f"mypyc build failed: {exc}"
    manifest = {"compiled": reason is None, "group": GROUP, "sources": source_hashes(core)}
    if reason is not None:
        manifest["why_not"] = reason
    (core / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return reason


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    ap.add_argument("--strict", action="store_true", help="exit 1 when the core is not compiled")
    args = ap.parse_args()
    reason = build(args.root.resolve())
    if reason is None:
        print(f"compiled forescale.core with mypyc: {len(MODULES)} modules")
        return
    print(f"forescale.core not compiled, it runs in pure Python (same results): {reason}", file=sys.stderr)
    sys.exit(1 if args.strict else 0)


if __name__ == "__main__":
    main()
