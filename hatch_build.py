"""Hatch build hook: a wheel of forescale carries its decision core compiled by mypyc.

``pip install .`` (what the control-plane image runs) builds the wheel; this hook compiles
a copy of ``forescale/core`` with ``scripts/build_core.py`` and adds the extension modules
and their manifest to the wheel, which is then tagged for this interpreter and platform.
Where the build machine cannot compile (no C compiler or Python headers), the wheel is the
pure-Python one, with a warning: forescale gives the same results either way. Editable
installs (``make install``) are left alone: the Makefile compiles in place.
"""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

ROOT = Path(__file__).resolve().parent


def _pinned(name: str) -> str:
    """``name==version`` as constraints.txt pins it (what `make test` tested), else ``name``."""
    constraints = ROOT / "constraints.txt"
    if constraints.exists():
        for line in constraints.read_text().splitlines():
            if line.split("==")[0].strip().lower() == name:
                return line.split("#")[0].strip()
    return name


class CompiledCore(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def dependencies(self) -> list[str]:
        return [_pinned("mypy"), "setuptools>=70"]

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or version == "editable":
            return
        script = ROOT / "scripts" / "build_core.py"
        spec = importlib.util.spec_from_file_location("build_core", script)
        if not script.exists() or spec is None or spec.loader is None:
            self.app.display_warning(f"forescale.core not compiled, the wheel is pure Python: no {script}")
            return
        build_core = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(build_core)
        self._tmp = Path(tempfile.mkdtemp(prefix="forescale-wheel-"))
        (self._tmp / "forescale" / "core").mkdir(parents=True)
        shutil.copy(ROOT / "forescale" / "__init__.py", self._tmp / "forescale")
        for source in (ROOT / "forescale" / "core").glob("*.py"):
            shutil.copy(source, self._tmp / "forescale" / "core")
        reason = build_core.build(self._tmp)
        if reason is not None:
            self.app.display_warning(f"forescale.core not compiled, the wheel is pure Python: {reason}")
            return
        for path in build_core.built(self._tmp):
            build_data["force_include"][str(path)] = f"forescale/core/{path.name}"
        build_data["pure_python"] = False
        build_data["infer_tag"] = True

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        tmp = getattr(self, "_tmp", None)
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
