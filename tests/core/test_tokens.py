"""Token terms: throughput per replica, batch limits, replicas for a token demand."""

from __future__ import annotations

import math

import pytest

from forescale.core.tokens import (
    ReplicaTokens,
    batch_limit,
    concurrency,
    decode_step_s,
    kv_usage,
    replicas_for_tokens,
    token_throughput,
)

# Roughly an 8B model on one H100: 10k prefill tok/s, 12 ms + 0.1 ms/seq steps, 200k KV tokens.
R = ReplicaTokens(
    prefill_tokens_per_s=10_000, step_base_s=0.012, step_per_seq_s=0.0001, kv_capacity_tokens=200_000
)


def test_batch_is_limited_by_kv_max_batch_and_tpot() -> None:
    assert batch_limit(R, 1000, 200) == 181  # 200k / 1100 KV tokens per request
    assert batch_limit(R, 100, 20) == 256  # max_batch
    assert batch_limit(R, 100, 20, tpot_bound_s=0.02) == 80  # (20 - 12) ms / 0.1 ms
    assert decode_step_s(R, 80) == pytest.approx(0.02)


def test_throughput_splits_each_second_between_prefill_and_decode() -> None:
    t = token_throughput(R, 1000, 200)
    d = t.batch / t.tpot_s
    # the second is full: prefill time + decode time = 1
    assert t.prompt_tokens_per_s / R.prefill_tokens_per_s + t.output_tokens_per_s / d == pytest.approx(1.0)
    assert t.output_tokens_per_s == pytest.approx(200 * t.rps)
    long_prompts = token_throughput(R, 4000, 200)
    assert long_prompts.rps < 0.5 * t.rps  # 4,000-token prompts are a heavier load than 1,000


def test_replicas_for_a_token_demand_add_prefill_and_decode_time() -> None:
    t = token_throughput(R, 1000, 200)
    n = replicas_for_tokens(R, 10 * t.prompt_tokens_per_s, 10 * t.output_tokens_per_s)
    assert n == 10
    assert replicas_for_tokens(R, 0, 0) == 0
    assert replicas_for_tokens(R, 25_000, 0) == 3


def test_concurrency_and_kv_usage() -> None:
    assert concurrency(20, 3.5) == 70
    assert kv_usage(150_000, 70_000, R) == pytest.approx(1.1)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -1.0])
def test_non_finite_or_negative_inputs_are_errors(bad: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        token_throughput(R, bad, 10)
    with pytest.raises(ValueError, match="finite"):
        ReplicaTokens(prefill_tokens_per_s=bad, step_base_s=0.01, step_per_seq_s=0, kv_capacity_tokens=10)
