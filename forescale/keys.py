"""Every Redis key name forescale uses, in one leaf module that imports nothing of ours.

The router, workers, controller, prescaler, admin API and demo all read or write these:
one place for every name, so that a typo cannot split the data plane from the control
plane. (A leaf, not part of forescale.queue, so that the prescaler may import it too.)

Redis Cluster: every key derived from a model carries the model's *hash tag*
(``{m:<name>}``), so all of one model's keys live in one slot. That is what makes the
queue's multi-key Lua scripts (request stream + dead letters) and the multi-second MGET of
arrival counters legal on a cluster. Keys of different models, and a router's reply stream
(keyed by router), may land on different shards; no script touches those together
(``queue/scripts.py`` says which keys each script takes).

Model names are free text (``meta-llama/Llama-3.1-8B-Instruct``). Redis hashes only the
text between the first ``{`` and the next ``}``, so a name holding ``}`` would end the tag
early and could put two models in one tag or split one model over two; ``tag`` escapes
``%``, ``{`` and ``}`` (percent-encoding: injective, so two names never share a tag).
"""

from __future__ import annotations

MODELS = "fs:models"  # hash: model name -> ModelConfig JSON
GROUP = "workers"  # consumer group on every request stream
POLICIES = "fs:policies"  # hash: model -> PolicySpec JSON (controller)
POOLS = "fs:pools"  # hash: pool name -> PoolSpec JSON (controller)
AUDIT = "fs:audit"  # stream: one record per change through the admin API
LEADER = "fs:controller:leader"  # the controller's leader lease
CONTROLLER_ERRORS = "fs:controller:errors"  # hash: model -> why the last tick skipped it (JSON)
PRESCALER_EXTERNAL = "fs:prescaler:external"  # hash: forecast id -> ExternalForecast JSON
DEMO_OUTAGES = "fs:demo:outages"  # JSON list of {pool, start, end} (make demo's outage script)

ARRIVALS_TTL_S = 3600
WORKER_HEARTBEAT_S = 2.0
WORKER_DEAD_AFTER_S = 10.0

_ESCAPES = str.maketrans({"%": "%25", "{": "%7B", "}": "%7D"})


def tag(model: str) -> str:
    """The model's hash tag: every key of one model hashes to the same cluster slot."""
    return "{m:" + model.translate(_ESCAPES) + "}"


def request_stream(model: str) -> str:
    """Request stream; XLEN = backlog + in flight (the controller's queue signal)."""
    return f"fs:req:{tag(model)}"


def reply_stream(router_id: str) -> str:
    """One router's replies: keyed (and slotted) by router, never touched with a model key."""
    return "fs:resp:{r:" + router_id.translate(_ESCAPES) + "}"


def dead_letters(model: str) -> str:
    return f"fs:dlq:{tag(model)}"


def arrivals(model: str, epoch_second: int) -> str:
    """Requests that arrived for ``model`` in that second (admitted or rejected)."""
    return f"fs:arr:{tag(model)}:{epoch_second}"


def tokens(model: str, epoch_second: int) -> str:
    """Tokens (prompt admitted + generated) that ``model``'s workers processed in that second."""
    return f"fs:tok:{tag(model)}:{epoch_second}"


def workers(model: str) -> str:
    """Hash worker_id -> heartbeat JSON (``queue/heartbeat.py``)."""
    return f"fs:workers:{tag(model)}"


def policy_state(model: str) -> str:
    return f"fs:state:{tag(model)}"


def decisions(model: str) -> str:
    return f"fs:decisions:{tag(model)}"


def forecast(model: str) -> str:
    """JSON list of core.model.Forecast, published by the prescaler for the controller."""
    return f"fs:forecast:{tag(model)}"


def prescaler_history(model: str, step_s: float) -> str:
    """Hash step start -> rate: per-step demand the prescaler keeps beyond the counters' TTL."""
    return f"fs:prescaler:history:{tag(model)}:{step_s:g}"


def prescaler_token_history(model: str, step_s: float) -> str:
    """Hash step start -> tokens/s: the token twin of ``prescaler_history``."""
    return f"fs:prescaler:token-history:{tag(model)}:{step_s:g}"


def webhook_seen(webhook_id: str) -> str:
    """Set for a while after a webhook delivery: replays of the same id are refused."""
    return f"fs:prescaler:webhook-seen:{webhook_id}"


# Generation over the queue (docs/designs/generation.md). Its per-step script writes a
# router's chunk stream and the model's progress hash together: one Redis, not a Cluster.
def gen_reply_stream(router_id: str) -> str:
    """A router's stream of generation chunks (many messages per request, numbered)."""
    return "fs:gresp:{r:" + router_id.translate(_ESCAPES) + "}"


def gen_progress(model: str) -> str:
    """Hash req_id -> JSON {"tokens": [...], "n": chunks}: what the client has been sent,
    written in the same script as the chunk, so a continuation starts exactly there."""
    return f"fs:gen:{tag(model)}"


def gen_cancel(model: str) -> str:
    """Hash req_id -> reason: sequences whose client is gone (checked every engine step)."""
    return f"fs:gencancel:{tag(model)}"
