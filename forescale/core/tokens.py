"""Capacity in tokens: what one LLM replica sustains, and what a token demand needs.

A request of 4,000 prompt tokens and one of 40 are not the same load. An LLM replica's
time goes to prefill (prompt tokens at ``prefill_tokens_per_s``) and to decode steps (one
token for every running sequence per step, a step taking ``step_base_s + step_per_seq_s x
batch``); its KV cache holds ``kv_capacity_tokens`` of prompt and generated tokens. Users
judge it by time to first token (TTFT) and time per output token (TPOT, the step time).

Pure functions of these few numbers (STYLE.md #3: no clock, no I/O), used by the
simulator's replica model (``forescale/sim/llm_replica.py``) and meant for the decision
core's token terms: token throughput per replica, concurrency, KV usage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ReplicaTokens:
    """One replica of one model on one accelerator (see docs/designs/fair-evaluation.md for
    how to measure these with ``bench/generation.py`` or a vLLM benchmark)."""

    prefill_tokens_per_s: float
    step_base_s: float  # decode step time at batch 1, less the per-sequence part
    step_per_seq_s: float  # added to a decode step per running sequence
    kv_capacity_tokens: int
    max_batch: int = 256

    def __post_init__(self) -> None:
        for name in ("prefill_tokens_per_s", "step_base_s", "step_per_seq_s"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if self.prefill_tokens_per_s <= 0 or self.step_base_s + self.step_per_seq_s <= 0:
            raise ValueError("prefill_tokens_per_s and the decode step time must be > 0")
        if self.kv_capacity_tokens < 1 or self.max_batch < 1:
            raise ValueError("kv_capacity_tokens and max_batch must be >= 1")


@dataclass(frozen=True, slots=True)
class TokenThroughput:
    """Steady state of one replica at a request mix: requests/s, tokens/s, batch, TPOT."""

    rps: float
    prompt_tokens_per_s: float
    output_tokens_per_s: float
    batch: int
    tpot_s: float


def decode_step_s(r: ReplicaTokens, batch: int) -> float:
    """Seconds per decode step with ``batch`` running sequences (the TPOT they see)."""
    return r.step_base_s + r.step_per_seq_s * max(1, batch)


def kv_per_request(mean_prompt: float, mean_output: float) -> float:
    """KV tokens a running request holds on average: its prompt and half its output."""
    return max(1.0, mean_prompt + mean_output / 2.0)


def batch_limit(
    r: ReplicaTokens, mean_prompt: float, mean_output: float, tpot_bound_s: float | None = None
) -> int:
    """Running sequences a replica can hold: KV cache, max_batch, and the TPOT bound."""
    kv = int(r.kv_capacity_tokens // kv_per_request(mean_prompt, mean_output))
    b = max(1, min(kv, r.max_batch))
    if tpot_bound_s is not None and r.step_per_seq_s > 0:
        b = min(b, max(1, int((tpot_bound_s - r.step_base_s) / r.step_per_seq_s)))
    return b


def token_throughput(
    r: ReplicaTokens, mean_prompt: float, mean_output: float, tpot_bound_s: float | None = None
) -> TokenThroughput:
    """What one replica sustains at this mix: with chunked prefill, a second splits into
    prefill (``rps x prompt / prefill rate``) and decode (``b / step(b)`` tokens/s over the
    rest), so ``rps = D / (output + D x prompt / P)`` with ``D = b / step(b)``."""
    _check_mix(mean_prompt, mean_output)
    b = batch_limit(r, mean_prompt, mean_output, tpot_bound_s)
    step = decode_step_s(r, b)
    d = b / step
    rps = d / (max(mean_output, 1.0) + d * mean_prompt / r.prefill_tokens_per_s)
    return TokenThroughput(rps, rps * mean_prompt, rps * mean_output, b, step)


def replicas_for_tokens(
    r: ReplicaTokens, prompt_tokens_per_s: float, output_tokens_per_s: float,
    tpot_bound_s: float | None = None, mean_prompt: float = 1000.0, mean_output: float = 200.0,
) -> int:  # fmt: skip
    """Replicas for a token demand: prefill time plus decode time per second, per replica."""
    _check_mix(prompt_tokens_per_s, output_tokens_per_s)
    b = batch_limit(r, mean_prompt, mean_output, tpot_bound_s)
    busy = prompt_tokens_per_s / r.prefill_tokens_per_s + output_tokens_per_s * decode_step_s(r, b) / b
    return max(0, math.ceil(busy - 1e-9))


def concurrency(rps: float, latency_s: float) -> float:
    """Requests in flight (Little's law)."""
    _check_mix(rps, latency_s)
    return rps * latency_s


def kv_usage(prompt_tokens: float, generated_tokens: float, r: ReplicaTokens) -> float:
    """Fraction of the KV cache the running sequences hold (may exceed 1: preemption)."""
    _check_mix(prompt_tokens, generated_tokens)
    return (prompt_tokens + generated_tokens) / r.kv_capacity_tokens


def _check_mix(a: float, b: float) -> None:
    if not (math.isfinite(a) and math.isfinite(b)) or a < 0 or b < 0:
        raise ValueError(f"token amounts must be finite and >= 0, got {a!r}, {b!r}")
