"""Knative KPA panic mode.

KPA compares the demand seen over the short panic window with the ready capacity. When
``ceil-less desired pods / max(1, ready pods) >= panic_threshold`` it panics: the panic
window's count is applied at once (no rate rule delays it) and the count never drops while
panicking. Each tick still over the threshold extends the panic; it ends once a whole
stable window has passed without the condition (the surge is then in the stable metric).

Unlike KPA's pods, GPU replicas often need a new node: capacity asked for now is ready a
lead time later. A surge whose queue the ready replicas drain within that lead time is
over before panic's capacity arrives; panicking for it only pays for idle GPUs (the
backlog term still sizes for the queue against the SLO). So the policy passes
``deep=False`` for such a surge and panic does not enter or extend on it.
"""

from __future__ import annotations

from dataclasses import dataclass

from forescale.core.hpa import ceil_div


# A slotted dataclass, not a NamedTuple: compiled (scripts/build_core.py), it is a native
# class, read as struct fields. Its own __init__: the one @dataclass writes is Python code
# even in a compiled class, while mypyc compiles object.__setattr__ here to a struct write.
@dataclass(frozen=True, slots=True, init=False)
class PanicStep:
    panicking: bool
    replicas: int  # what panic mode asks for (0 when not panicking)
    panic_at: float | None
    panic_max: int
    detail: str

    def __init__(
        self, panicking: bool, replicas: int, panic_at: float | None, panic_max: int, detail: str
    ) -> None:
        object.__setattr__(self, "panicking", panicking)
        object.__setattr__(self, "replicas", replicas)
        object.__setattr__(self, "panic_at", panic_at)
        object.__setattr__(self, "panic_max", panic_max)
        object.__setattr__(self, "detail", detail)


def panic_step(
    rps_short: float | None,
    target_rps: float,
    ready: int,
    threshold: float,
    stable_window_s: float,
    now: float,
    panic_at: float | None,
    panic_max: int,
    deep: bool = True,
) -> PanicStep:
    """One tick of KPA's panic state machine; ``deep``: the queue outlasts the lead time."""
    over = False
    ratio = 0.0
    if rps_short is not None:
        ratio = rps_short / target_rps / max(1, ready)
        over = ratio >= threshold and deep
    if over:
        panic_at = now  # enter, or extend
    elif panic_at is not None and panic_at + stable_window_s <= now:
        panic_at, panic_max = None, 0
    if panic_at is None:
        shallow = "" if deep else "; its queue drains within the lead time, before new capacity"
        return PanicStep(
            False, 0, None, 0, f"panic: off, short-window demand is {ratio:.2f}x ready capacity{shallow}"
        )
    want = ceil_div(rps_short, target_rps) if rps_short is not None else 0
    want = max(want, panic_max)
    why = "over" if over else "was over"
    detail = (
        f"panic: {want} replicas, short-window demand {why} {threshold:g}x ready capacity "
        f"({ratio:.2f}x of {ready} ready); no scale-down until {stable_window_s:g} s calm"
    )
    return PanicStep(True, want, panic_at, want, detail)
