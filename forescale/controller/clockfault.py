"""The controller's side of clock faults (``core/clockfault.py``): check, count, log."""

from __future__ import annotations

import logging

from forescale.controller.metrics import ControllerMetrics
from forescale.core import clockfault
from forescale.core.model import Decision, Observation, PolicyState, Reason

log = logging.getLogger(__name__)

# How many ticks may pass between two of a model's ticks before it is a forward jump.
MAX_GAP_TICKS = 4


class ClockGuard:
    def __init__(self, interval_s: float, max_gap_s: float | None = None) -> None:
        self.interval_s = interval_s
        self.max_gap_s = max_gap_s if max_gap_s is not None else MAX_GAP_TICKS * interval_s
        self.faults: dict[str, str] = {}  # this tick: model -> what happened

    def annotate(self, decision: Decision) -> Decision:
        """The decision with a ``clock`` reason when its model's clock faulted this tick."""
        why = self.faults.get(decision.model)
        if why is None:
            return decision
        return decision.model_copy(update={"reasons": (*decision.reasons, Reason("clock", None, why))})

    def check(
        self, obs: Observation, state: PolicyState, metrics: ControllerMetrics
    ) -> tuple[Observation, PolicyState]:
        """Hold and re-stamp on a fault (counted as ``forescale_controller_errors_total{kind=
        "clock-backward"|"clock-forward"}``); the observation and state to decide with."""
        obs, state, fault = clockfault.check(obs, state, self.interval_s, self.max_gap_s)
        if fault is not None:
            self.faults[obs.model] = (
                f"clock: stepped {fault} ({obs.stale[-1]}); held this tick, history re-stamped"
            )
            metrics.error(f"clock-{fault}")
            log.warning(
                "%s: clock stepped %s; holding this tick and re-stamping its history", obs.model, fault
            )
        return obs, state
