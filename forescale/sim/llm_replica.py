"""An LLM replica model: each request's TTFT and TPOT on a policy's ready replicas.

The request-level simulator decides capacity; this model replays the same trace, with each
request's prompt and output tokens, on the ready replicas each second of a ``Run`` and
reports attainment per SLO (TTFT, TPOT, end to end). Per replica, as vLLM schedules:

- **admission**: a global FIFO queue; a request joins the replica with the most free KV
  cache when its prompt (plus what it generated, when recomputed) fits and the batch is
  under ``max_batch``;
- **steps**: each step decodes one token for every running sequence and takes a chunk of
  pending prefill up to ``max_batched_tokens`` (chunked prefill, decode first); a step
  lasts ``step_base_s + step_per_seq_s x batch + chunk / prefill_tokens_per_s``. Within a
  second the replica runs steps with prefill until the prefill backlog is done, then
  decode-only steps; a request's first token comes when its prefill completes (TTFT);
- **KV cache**: prompt and generated tokens; when the running sequences outgrow it the
  newest is preempted (recompute: back to the queue's head, its KV freed);
- **capacity loss**: when ready replicas fall, the newest replicas go and their running
  requests return to the queue's head (recompute), as after a spot interruption.

One second is one step of the model (fluid within the second), fast enough for an hour of
chat traffic on a hundred replicas in seconds. Requests unserved at the end miss every SLO.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import Field

from forescale.core.model import Frozen
from forescale.core.tokens import ReplicaTokens
from forescale.traces.tokens import TokenTrace

if TYPE_CHECKING:
    from forescale.sim.engine import Run
    from forescale.sim.run import Outcome


class LlmReplica(Frozen):
    """One replica of the model on the scenario's accelerator (measured: see the design note)."""

    prefill_tokens_per_s: float = Field(gt=0, description="Prompt tokens prefilled per second.")
    step_base_s: float = Field(gt=0, le=10, description="Decode step time, fixed part.")
    step_per_seq_s: float = Field(default=0, ge=0, le=1, description="Decode step time per running sequence.")
    kv_capacity_tokens: int = Field(ge=1, description="KV cache size in tokens.")
    max_batch: int = Field(default=256, ge=1, description="Most running sequences (max_num_seqs).")
    max_batched_tokens: int = Field(
        default=2048, ge=1, description="Tokens per step (decode + prefill chunk)."
    )

    def tokens(self) -> ReplicaTokens:
        return ReplicaTokens(
            self.prefill_tokens_per_s,
            self.step_base_s,
            self.step_per_seq_s,
            self.kv_capacity_tokens,
            self.max_batch,
        )


class TokenSlo(Frozen):
    quantile: float = Field(gt=0, lt=1, description="This share of requests must be within the bound.")
    bound_s: float = Field(gt=0, le=3600)


class LlmScenario(Frozen):
    """The scenario's ``llm`` section: the replica model and the TTFT/TPOT SLOs."""

    replica: LlmReplica
    ttft: TokenSlo | None = None
    tpot: TokenSlo | None = None


def serve_tokens(
    trace: TokenTrace, origin: float, ready: np.ndarray, rep: LlmReplica
) -> dict[str, np.ndarray]:
    """Per request: ``ttft``, ``tpot`` and ``e2e`` seconds (inf: never served)."""
    n = len(trace.times)
    arrival = trace.times - origin
    prompt = trace.prompt.astype(float)
    out_left = np.maximum(trace.output.astype(float), 1.0)  # the first token counts as one
    total_out = out_left.copy()
    prefill_left = prompt.copy()
    kv = np.zeros(n)
    first = np.full(n, np.inf)
    done = np.full(n, np.inf)
    queue: deque[int] = deque()
    replicas: list[list[int]] = []
    nxt = 0
    second = np.floor(arrival).astype(int)
    for t in range(len(ready)):
        target = int(ready[t])
        while len(replicas) > target:  # the newest replicas go; their requests recompute
            for i in reversed(replicas.pop()):
                _requeue(i, queue, kv, prefill_left, prompt, out_left, total_out)
        replicas.extend([] for _ in range(target - len(replicas)))
        while nxt < n and second[nxt] <= t:
            queue.append(nxt)
            nxt += 1
        _admit(queue, replicas, kv, prefill_left, rep)
        for running in replicas:
            if running:
                _second(t, running, rep, arrival, prefill_left, out_left, kv, first, done)
                _preempt(running, queue, kv, prefill_left, prompt, out_left, total_out, rep)
    served = np.isfinite(done)
    tpot = np.full(n, np.inf)
    tpot[served] = np.where(
        total_out[served] > 1, (done[served] - first[served]) / np.maximum(total_out[served] - 1, 1), 0.0
    )
    return {"ttft": first - arrival, "tpot": tpot, "e2e": done - arrival}


def _requeue(i: int, queue: deque[int], kv: np.ndarray, pre: np.ndarray, prompt: np.ndarray,
             out_left: np.ndarray, total_out: np.ndarray) -> None:  # fmt: skip
    kv[i] = 0.0
    pre[i] = prompt[i] + (total_out[i] - out_left[i])  # recompute what it had
    queue.appendleft(i)


def _admit(
    queue: deque[int], replicas: list[list[int]], kv: np.ndarray, pre: np.ndarray, rep: LlmReplica
) -> None:
    if not replicas:
        return
    used = [float(kv[r].sum()) if r else 0.0 for r in replicas]
    while queue:
        i = queue[0]
        k = max(range(len(replicas)), key=lambda j: rep.kv_capacity_tokens - used[j])
        need = pre[i]
        if len(replicas[k]) >= rep.max_batch or used[k] + need > rep.kv_capacity_tokens:
            # the emptiest replica is full: try the one with the smallest batch with room
            free = [j for j in range(len(replicas)) if len(replicas[j]) < rep.max_batch
                    and used[j] + need <= rep.kv_capacity_tokens]  # fmt: skip
            if not free:
                return
            k = free[0]
        queue.popleft()
        replicas[k].append(i)
        kv[i] = need
        used[k] += need


def _second(t: int, running: list[int], rep: LlmReplica, arrival: np.ndarray, pre: np.ndarray,
            out_left: np.ndarray, kv: np.ndarray, first: np.ndarray, done: np.ndarray) -> None:  # fmt: skip
    """One second of steps on one replica; finished requests leave ``running``."""
    idx = np.asarray(running)
    backlog = pre[idx]
    decoding = backlog <= 0
    b = int(decoding.sum())
    x = float(backlog.sum())
    t_a, n_a = 0.0, 0.0
    if x > 0:
        chunk = max(1.0, rep.max_batched_tokens - b)
        step = rep.step_base_s + rep.step_per_seq_s * b + chunk / rep.prefill_tokens_per_s
        rate = chunk / step  # prefill tokens per second while prefilling
        t_a = min(1.0, x / rate)
        n_a = t_a / step
        cum = np.cumsum(np.where(decoding, 0.0, backlog))
        finished = ~decoding & (cum <= rate * t_a + 1e-9)
        # a request that arrived within this second starts no earlier than its arrival
        first_at = np.maximum(t + cum / rate, arrival[idx] + backlog / rate)
        fi = idx[finished]
        first[fi] = np.minimum(first[fi], first_at[finished])
        out_left[fi] -= 1.0
        kv[fi] += 1.0
        progressed = np.minimum(backlog, np.maximum(0.0, rate * t_a - (cum - backlog)))
        pre[idx] = np.maximum(0.0, backlog - progressed)
    else:
        finished = np.zeros(len(idx), bool)
    b2 = b + int(finished.sum())
    step2 = rep.step_base_s + rep.step_per_seq_s * max(b2, 1)
    n_b = (1.0 - t_a) / step2
    step_a = t_a / n_a if n_a > 0 else 0.0
    left = out_left[idx]
    # decoding all second: n_a tokens in the prefill phase, then n_b; newly prefilled: n_b
    got = np.where(decoding, n_a + n_b, np.where(finished, n_b, 0.0))
    before_b = np.where(decoding, n_a, 0.0)
    end_at = np.where(left <= before_b, t + left * step_a, t + t_a + (left - before_b) * step2)
    if x > 0:
        end_at = np.where(finished & (left <= 0), first[idx], np.maximum(end_at, first[idx]))
    ends = (decoding | finished) & (got >= left - 1e-9)
    done[idx[ends]] = end_at[ends]
    used = np.minimum(got, np.maximum(left, 0.0))
    out_left[idx] = left - used
    kv[idx] += used
    running[:] = [int(i) for i in idx[~ends]]


def _preempt(running: list[int], queue: deque[int], kv: np.ndarray, pre: np.ndarray, prompt: np.ndarray,
             out_left: np.ndarray, total_out: np.ndarray, rep: LlmReplica) -> None:  # fmt: skip
    total = float(kv[running].sum()) if running else 0.0
    while running and total > rep.kv_capacity_tokens:
        i = running.pop()
        total -= kv[i]
        _requeue(i, queue, kv, pre, prompt, out_left, total_out)


def llm_summary(llm: LlmScenario, trace: TokenTrace, origin: float, ready: np.ndarray) -> dict[str, Any]:
    """Attainment per SLO (share of requests within the bound), the value at its quantile,
    and whether the SLO is met; p50/p99 of each metric (None: infinite)."""
    got = serve_tokens(trace, origin, ready, llm.replica)
    out: dict[str, Any] = {}
    for name, slo in (("ttft", llm.ttft), ("tpot", llm.tpot)):
        values = got[name]
        row: dict[str, Any] = {"p50_s": _q(values, 0.5), "p99_s": _q(values, 0.99)}
        if slo is not None:
            at = _q(values, slo.quantile)
            row.update({
                "bound_s": slo.bound_s, "quantile": slo.quantile, "at_quantile_s": at,
                "attainment": float(np.mean(values <= slo.bound_s)) if len(values) else 1.0,
                "met": at is not None and at <= slo.bound_s,
            })  # fmt: skip
        out[name] = row
    out["unserved"] = int(np.sum(~np.isfinite(got["e2e"])))
    return out


def _q(values: np.ndarray, q: float) -> float | None:
    if len(values) == 0:
        return None
    v = float(np.quantile(values, q, method="inverted_cdf"))  # no interpolation into inf
    return v if np.isfinite(v) else None


def add_llm_results(outcome: Outcome, llm: LlmScenario, trace: TokenTrace) -> None:
    """Each policy's TTFT/TPOT attainment into ``results.json`` (``policies.<name>.llm``)."""
    for name, row in outcome.results["policies"].items():
        row["llm"] = llm_summary(llm, trace, outcome.start, outcome.runs[name].ready)


def slo_attainments(llm: LlmScenario, trace: TokenTrace, origin: float) -> Callable[[Run], dict[str, float]]:
    """For the sweep: a run's attainment of each token SLO the scenario sets."""

    def score(run: Run) -> dict[str, float]:
        got = llm_summary(llm, trace, origin, run.ready)
        return {
            name: float(got[name]["attainment"]) for name in ("ttft", "tpot") if "attainment" in got[name]
        }

    return score
