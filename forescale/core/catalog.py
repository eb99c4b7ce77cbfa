"""The tick's pools, with the layouts worked out for them so far (``core/pooltable.py``).

Its own module because it subclasses ``tuple`` (what ``decide`` takes as its pools is a
sequence of them), which mypyc cannot compile: the modules around it are compiled
(``scripts/build_core.py``), this one is not.
"""

from __future__ import annotations

from collections.abc import Sequence

from forescale.core.model import PoolSpec
from forescale.core.pooltable import Layout


class Catalog(tuple[PoolSpec, ...]):
    """The tick's pools, with the layouts worked out for them so far.

    Built once per tick by ``plan_tick`` and passed to every ``decide``: policies with the
    same ``pools`` and ``gpus_per_replica`` share one layout. It lives for one tick, so
    nothing is kept across ticks or keyed on object identity.
    """

    layouts: dict[tuple[tuple[str, ...], int], tuple[Layout, list[str]]]

    def __new__(cls, pools: Sequence[PoolSpec]) -> Catalog:
        self = super().__new__(cls, pools)
        self.layouts = {}
        return self
