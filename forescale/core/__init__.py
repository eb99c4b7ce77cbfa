"""The pure decision core: no asyncio, Redis, HTTP, torch or wall clock (DESIGN.md).

Part of it may be compiled by mypyc (``scripts/build_core.py``: extension modules beside
the sources, and ``_native.json``, the SHA-256 of each source compiled). CPython imports an
extension module before a ``.py`` of the same name, so a build older than its source would
run the old code. ``native`` below checks the manifest once, here, before any core module
is imported: if any compiled source changed since the build (or the manifest is missing,
or ``FORESCALE_PURE_CORE=1``), every core module is imported from its ``.py`` instead and
one warning says so. All or nothing, not module by module: compiled modules of one group
call each other's compiled code directly, so one fresh ``.py`` beside stale neighbours
would still run the neighbours' old code.
"""

from forescale.core import native as _native

COMPILED = _native.select(__path__[0])
"""Whether the core runs compiled (mypyc) code: the build is there and matches the sources."""
