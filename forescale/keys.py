"""Every Redis key name forescale uses, in one leaf module that imports nothing of ours.

The router, workers, controller, prescaler, admin API and demo all read or write these:
one place for every name, so that a typo cannot split the data plane from the control
plane. (A leaf, not part of forescale.queue, so that the prescaler may import it too.)
"""

from __future__ import annotations

MODELS = "fs:models"  # hash: model name -> ModelConfig JSON
GROUP = "workers"  # consumer group on every request stream
POLICIES = "fs:policies"  # hash: model -> PolicySpec JSON (controller)
POOLS = "fs:pools"  # hash: pool name -> PoolSpec JSON (controller)

ARRIVALS_TTL_S = 3600
WORKER_HEARTBEAT_S = 2.0
WORKER_DEAD_AFTER_S = 10.0


def request_stream(model: str) -> str:
    """Request stream; XLEN = backlog + in flight (the controller's queue signal)."""
    return f"fs:req:{model}"


def reply_stream(router_id: str) -> str:
    return f"fs:resp:{router_id}"


def dead_letters(model: str) -> str:
    return f"fs:dlq:{model}"


def arrivals(model: str, epoch_second: int) -> str:
    """Requests that arrived for ``model`` in that second (admitted or rejected)."""
    return f"fs:arr:{model}:{epoch_second}"


def workers(model: str) -> str:
    """Hash worker_id -> {"state", "at", "pid"}; refreshed every 2 s, dead after 10 s."""
    return f"fs:workers:{model}"


def policy_state(model: str) -> str:
    return f"fs:state:{model}"


def decisions(model: str) -> str:
    return f"fs:decisions:{model}"


def forecast(model: str) -> str:
    """JSON list of core.model.Forecast, published by the prescaler for the controller."""
    return f"fs:forecast:{model}"


# Generation over the queue (docs/designs/generation.md).
def gen_reply_stream(router_id: str) -> str:
    """A router's stream of generation chunks (many messages per request, numbered)."""
    return f"fs:gresp:{router_id}"


def gen_progress(model: str) -> str:
    """Hash req_id -> JSON {"tokens": [...], "n": chunks}: what the client has been sent,
    written in the same script as the chunk, so a continuation starts exactly there."""
    return f"fs:gen:{model}"


def gen_cancel(model: str) -> str:
    """Hash req_id -> reason: sequences whose client is gone (checked every engine step)."""
    return f"fs:gencancel:{model}"
