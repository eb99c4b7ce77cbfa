"""Spot capacity over time: availability traces and random preemptions."""

from __future__ import annotations

import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from forescale.cliutil import CliError
from forescale.sim.scenario import AvailabilityTrace, PoolScenario


@dataclass(frozen=True)
class Availability:
    """Fraction of a pool's ``max_nodes`` that can be held, per tick of ``gap_s`` (it wraps)."""

    gap_s: float
    fraction: np.ndarray
    offset_s: float = 0.0

    def at(self, t_rel: float) -> float:
        """Fraction available ``t_rel`` seconds after the simulation start."""
        idx = int((t_rel + self.offset_s) // self.gap_s) % len(self.fraction)
        return float(self.fraction[idx])

    def mean(self) -> float:
        return float(self.fraction.mean())


ALWAYS = Availability(gap_s=1e9, fraction=np.ones(1))


def load_availability(spec: AvailabilityTrace) -> Availability:
    """Read ``{"metadata": {"gap_seconds": G}, "data": [...]}`` from a JSON file or a tarball member."""
    where = f"{spec.path}:{spec.member}" if spec.member else spec.path
    try:
        if spec.member is not None:
            with tarfile.open(spec.path) as tar:
                fh = tar.extractfile(spec.member)
                if fh is None:
                    raise CliError(f"{where}: not a file in the tarball")
                doc = json.load(fh)
        else:
            doc = json.loads(Path(spec.path).read_text())
    except KeyError:
        raise CliError(f"{where}: no such member in the tarball") from None
    except (OSError, tarfile.TarError) as exc:
        raise CliError(f"{where}: cannot read spot availability: {exc}") from None
    except json.JSONDecodeError as exc:
        raise CliError(f"{where}: line {exc.lineno}: not JSON: {exc.msg}") from None
    try:
        gap = float(doc["metadata"]["gap_seconds"])
        data = np.asarray(doc["data"], dtype=float)
    except (KeyError, TypeError, ValueError):
        raise CliError(f"{where}: field metadata.gap_seconds or data missing or not numbers") from None
    if gap <= 0 or data.ndim != 1 or len(data) == 0 or not np.all(np.isfinite(data)) or data.min() < 0:
        raise CliError(f"{where}: field data: need a non-empty list of counts >= 0 and gap_seconds > 0")
    peak = data.max()
    fraction = data / peak if peak > 0 else data
    return Availability(gap_s=gap * spec.time_scale, fraction=fraction, offset_s=spec.offset_s)


def pool_availability(pool: PoolScenario) -> Availability:
    if pool.spot is None or pool.spot.availability is None:
        return ALWAYS
    return load_availability(pool.spot.availability)


def preemption_delay(pool: PoolScenario, rng: np.random.Generator) -> float:
    """Seconds from a node's launch to its interruption notice (inf: never)."""
    rate = pool.spot.preemption_rate_per_hour if pool.spot else 0.0
    if rate <= 0:
        return float("inf")
    return float(rng.exponential(3600.0 / rate))


def launch_delay(pool: PoolScenario, rng: np.random.Generator) -> float:
    d = pool.launch_delay
    if d.kind == "fixed":
        return d.low_s
    if d.kind == "uniform":
        return float(rng.uniform(d.low_s, d.high_s))
    return float(d.median_s * np.exp(rng.normal(0.0, d.sigma)))
