"""Errors the controller's actuators raise when their backend misbehaves."""

from __future__ import annotations


class ActuatorError(Exception):
    """An actuator could not read or change the world this tick (after its own retries).

    ``kind`` labels ``forescale_controller_errors_total`` (e.g. ``kube-429``, ``kube-500``).
    """

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
