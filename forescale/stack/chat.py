"""The demo's chat leg: a second model served by the ``llm`` engine beside the main one.

A tiny decoder (2 layers, d=64, byte-level tokenizer) whose weights the demo writes itself
into ``<out>/models/chat-tiny/`` and pins by sha256, as any model artifact is pinned (no
download; the worker checks the hash before it parses the file). It has its own pools (a
one-node reservation, one on-demand node) and its own policy under the same controller,
so its workers never take a node the main model's fidelity figure counts, and the main
model's policy names its own pools. A light load of streamed chat completions
(``loadgen/chat.py``) goes through the router's OpenAI route; TTFT is judged against
``ChatPlan.ttft`` (a quantile and a bound, the simulator's ``TokenSlo``).

CPU budget: the machine has two cores, shared with the main model's workers, router,
Redis and controller. At the default 0.25 req/s with ~24 output tokens the chat worker
is busy a few per cent of the time (the engine makes ~500 tokens/s on one thread here).
``DEMO_CHAT=0`` turns the leg off.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from forescale.core.model import PolicySpec, PoolSpec, PrescaleSpec
from forescale.loadgen.chat import ChatOutcome, Lengths, ttft_attainment
from forescale.queue.config import ModelConfig
from forescale.sim.llm_replica import TokenSlo

CHAT_MODEL = "assistant"
MODEL_DIR = "models"  # under the demo's out folder: the workers' FORESCALE_WORKER_MODEL_DIR
WEIGHTS = "chat-tiny/weights.safetensors"
ENGINE: dict[str, Any] = {"layers": 2, "d_model": 64, "heads": 4, "kv_heads": 2, "max_context": 320,
                          "cpu_threads": 1, "seed": 11}  # fmt: skip


@dataclass(frozen=True)
class ChatPlan:
    rate_rps: float = 0.25  # Poisson arrivals, steady over the day
    ttft: TokenSlo = field(default_factory=lambda: TokenSlo(quantile=0.9, bound_s=0.5))
    lengths: Lengths = field(default_factory=Lengths)
    window_s: float = 10.0  # the live view's TTFT quantile window
    seed: int = 13


def chat_pools() -> tuple[PoolSpec, ...]:
    return (
        PoolSpec(
            name="llm-reserved",
            capacity_type="reserved",
            price_per_node_hour=2.5,
            max_nodes=1,
            reservation_nodes=1,
            lead_time_s=4,
        ),
        PoolSpec(
            name="llm-on-demand",
            capacity_type="on-demand",
            price_per_node_hour=3.9,
            max_nodes=1,
            lead_time_s=6,
        ),
    )


def chat_policy(main: PolicySpec, plan: ChatPlan) -> PolicySpec:
    """The main policy's demo-second behaviour, on the chat leg's pools: one replica
    carries the light load, a second comes from on-demand if it grows fourfold."""
    return main.model_copy(
        update={
            "model": CHAT_MODEL,
            "min_replicas": 1,
            "max_replicas": 2,
            "target_rps_per_replica": 4 * plan.rate_rps,
            "pools": tuple(p.name for p in chat_pools()),
            "prescale": PrescaleSpec(mode="off"),  # steady load: nothing to forecast
        }
    )


def build_model_dir(out: Path) -> dict[str, Any]:
    """Write the tiny model's seeded weights under ``out/models``; its engine options,
    weights pinned by sha256. Same seed, same file: a rerun rewrites identical bytes."""
    from safetensors.torch import save_file

    from forescale.queue.llm_options import LLMOptions
    from forescale.worker.engines.llm.tokenizer import ByteTokenizer
    from forescale.worker.engines.llm.weights import seeded

    path = out / MODEL_DIR / WEIGHTS
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(seeded(LLMOptions(**ENGINE), ByteTokenizer.vocab_size), str(path))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return {**ENGINE, "weights": WEIGHTS, "weights_sha256": digest}


def chat_config(options: dict[str, Any]) -> ModelConfig:
    return ModelConfig(
        name=CHAT_MODEL,
        engine="llm",
        engine_options=options,
        max_batch=16,
        queue_limit=64,
        default_timeout_s=20,
    )


def offsets(plan: ChatPlan, load_s: float) -> np.ndarray:
    """Poisson arrival times over the day (seeded apart from the main load)."""
    rng = np.random.default_rng(plan.seed)
    n = rng.poisson(plan.rate_rps * load_s)
    return np.sort(rng.random(n) * load_s)


def window_quantile(outcomes: Sequence[ChatOutcome], t: float, window_s: float, q: float) -> float | None:
    """TTFT quantile of the requests whose first token (or failure) came in ``(t - window, t]``."""
    ttft = [o.ttft_s for o in outcomes if t - window_s < o.at + _finite(o.ttft_s) <= t]
    return float(np.quantile(ttft, q, method="higher")) if ttft else None


def cpu_share(samples: Sequence[dict[str, Any]]) -> float | None:
    """The chat workers' CPU over the load, in cores (from the recorder's ``chat_cpu_s``)."""
    got = [s for s in samples if "chat_cpu_s" in s]
    if len(got) < 2 or got[-1]["t"] <= got[0]["t"]:
        return None
    return round((got[-1]["chat_cpu_s"] - got[0]["chat_cpu_s"]) / (got[-1]["t"] - got[0]["t"]), 4)


def figures(plan: ChatPlan, outcomes: Sequence[ChatOutcome]) -> dict[str, Any]:
    """The chat leg's figures for the JSON line and the report."""
    ok = [o for o in outcomes if o.ok]
    ttft = np.array([o.ttft_s for o in ok])
    tpot = np.array([o.tpot_s for o in ok if math.isfinite(o.tpot_s)])
    att = ttft_attainment(list(outcomes), plan.ttft.bound_s)

    def pct(a: np.ndarray, q: float) -> float | None:
        return round(float(np.percentile(a, q)), 4) if len(a) else None

    return {
        "chat_requests": len(outcomes),
        "chat_ok": len(ok),
        "chat_ttft_slo": f"p{plan.ttft.quantile * 100:g} <= {plan.ttft.bound_s:g} s",
        "chat_ttft_attainment": None if att is None else round(att, 4),
        "chat_ttft_slo_met": None if att is None else att >= plan.ttft.quantile,
        "chat_ttft_p50_s": pct(ttft, 50),
        "chat_ttft_p90_s": pct(ttft, 90),
        "chat_tpot_p50_s": pct(tpot, 50),
        "chat_tpot_p90_s": pct(tpot, 90),
        "chat_output_tokens": int(sum(o.completion_tokens for o in ok)),
    }


def _finite(x: float) -> float:
    return x if math.isfinite(x) else 0.0
