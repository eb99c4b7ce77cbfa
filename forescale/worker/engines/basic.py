"""``echo`` (returns its inputs: for overhead benchmarks) and ``sleep`` (a service time
drawn from a distribution: for control-plane experiments).

Both take ``poison``: a number that, found in any input, makes the engine raise as a
crashing model would (for the dead-letter path), and ``run_log``: a file to which each
run appends a line "<first element of the first input> <epoch start> <pid>" per
request (tests use it to prove that a request ran once, and never after its deadline).
"""

from __future__ import annotations

import os
import random
import threading
import time
from pathlib import Path

import numpy as np

from forescale.worker.engines import Tensors


class EngineCrash(RuntimeError):
    """The poison value was seen: stands in for a model that dies on some input."""


class _Base:
    def __init__(self, poison: float | None = None, run_log: str | None = None) -> None:
        self.poison = poison
        self.run_log = Path(run_log) if run_log else None
        self._lock = threading.Lock()

    def load(self) -> None:
        return None

    def infer(self, batch: list[Tensors]) -> list[Tensors]:
        raise NotImplementedError

    def warm_up(self) -> None:
        run_log, self.run_log = self.run_log, None  # the run log is for requests only
        try:
            self.infer([{"x": np.zeros(1, dtype=np.float32)}])
        finally:
            self.run_log = run_log

    def _check(self, batch: list[Tensors]) -> None:
        if self.poison is not None:
            for item in batch:
                for arr in item.values():
                    if arr.dtype.kind in "iuf" and np.any(arr == self.poison):
                        raise EngineCrash(f"poison value {self.poison} in the input")

    def _log_runs(self, batch: list[Tensors]) -> None:
        if self.run_log is None:
            return
        now, pid = time.time(), os.getpid()
        lines = [f"{next(iter(item.values())).ravel()[0]} {now:.6f} {pid}" for item in batch]
        with self._lock, self.run_log.open("a") as f:
            f.write("".join(f"{x}\n" for x in lines))


class EchoEngine(_Base):
    def infer(self, batch: list[Tensors]) -> list[Tensors]:
        self._log_runs(batch)
        self._check(batch)
        return [dict(item) for item in batch]


class SleepEngine(_Base):
    """Sleeps ``base_ms + per_item_ms * len(batch)`` scaled by a draw from ``dist``.

    dist: ``constant`` (factor 1), ``exponential`` (mean 1) or ``lognormal`` (median 1,
    shape ``sigma``). Seeded, so a run is reproducible.
    """

    def __init__(self, base_ms: float = 10.0, per_item_ms: float = 0.0, dist: str = "constant",
                 sigma: float = 0.5, seed: int = 0, poison: float | None = None,
                 run_log: str | None = None) -> None:  # fmt: skip
        super().__init__(poison, run_log)
        if dist not in ("constant", "exponential", "lognormal"):
            raise ValueError(f"sleep engine: unknown dist {dist!r}")
        self.base_ms, self.per_item_ms, self.dist, self.sigma = base_ms, per_item_ms, dist, sigma
        self._rng = random.Random(seed)

    def _factor(self) -> float:
        if self.dist == "exponential":
            return self._rng.expovariate(1.0)
        if self.dist == "lognormal":
            return self._rng.lognormvariate(0.0, self.sigma)
        return 1.0

    def warm_up(self) -> None:
        return None  # sleeping to warm up would only delay readiness

    def infer(self, batch: list[Tensors]) -> list[Tensors]:
        self._log_runs(batch)
        self._check(batch)
        time.sleep((self.base_ms + self.per_item_ms * len(batch)) * self._factor() / 1000)
        return [dict(item) for item in batch]
