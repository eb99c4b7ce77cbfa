"""The forecast floor in tokens: token throughput over the next lead time, in replicas.

A request of 4,000 prompt tokens and one of 40 are not the same load: when the request
rate is flat but prompts grow (a new client, a longer system prompt, RAG), the request
floor sees nothing coming while the replicas' token budget runs out. Forecasts whose
points carry ``tokens`` (the prescaler forecasts token throughput beside the request rate
with the same forecaster; external windows may give it) therefore get a second floor:

    replicas = ceil(peak tokens/s over the lead time x (1 + headroom) / service_tokens_per_replica)

and the policy takes the larger of the two floors (``core/policy.py`` adds it as the
``forecast-tokens`` term beside ``forecast``). The peak is the request floor's own: the
token columns are viewed as a ``Forecast`` and handed to ``forecast.peak`` with the same
quantile, age limit, SLO-window smoothing and pooling, so the two floors can differ only
in the demand they read, never in how they read it.

``service_tokens_per_replica`` is tokens/s (prompt + generated) one replica sustains
within its TTFT/TPOT SLOs at the model's usual mix: ``service_tokens_per_replica`` below
computes it from the replica's measured numbers (``core/tokens.py``). One number for two
kinds of token is a simplification: prefill tokens are cheaper than decode tokens, so a
mix that shifts far from the one measured is over- or under-counted (design note
docs/designs/token-floor.md).

Pure: no clock but ``Observation.now``. Costs nothing when the spec sets no token rate.
"""

from __future__ import annotations

from collections.abc import Sequence

from forescale.core import forecast, hpa
from forescale.core.model import Forecast, ForecastPoint, Observation, PolicySpec, Reason
from forescale.core.tokens import ReplicaTokens, token_throughput

TERM = "forecast-tokens"


def token_view(f: Forecast) -> Forecast | None:
    """``f`` with its token columns in the value columns (points without tokens left
    out); None when no point has tokens. Built without re-validation: ``f`` was
    validated where it came in (tokens finite, >= 0, aligned with the quantiles)."""
    points = tuple(
        ForecastPoint.model_construct(t=p.t, rps=p.tokens, tokens=None)
        for p in f.points
        if p.tokens is not None
    )
    if not points:
        return None
    return Forecast.model_construct(
        source=f.source, issued_at=f.issued_at, step_s=f.step_s, quantiles=f.quantiles, points=points
    )


def token_views(forecasts: Sequence[Forecast]) -> list[Forecast]:
    return [v for v in map(token_view, forecasts) if v is not None]


def term(
    obs: Observation, spec: PolicySpec, lead_s: float, reasons: list[Reason]
) -> list[tuple[str, int, str]]:
    """The token floor as a candidate ``(term, replicas, detail)``; none when the spec
    sets no ``service_tokens_per_replica`` or no fresh forecast carries tokens.
    ``forecast-only`` mode records it in ``reasons`` without acting on it."""
    pre = spec.prescale
    per = pre.service_tokens_per_replica
    if per is None or not obs.forecasts:
        return []
    views = token_views(obs.forecasts)
    if not views:
        return []
    smooth_s = spec.latency_slo_s if pre.smooth_over_slo else 0.0
    peak, used = forecast.peak(
        views, obs.now, lead_s, pre.quantile, pre.max_forecast_age_s, smooth_s, pre.quantile_of_window_mean
    )
    if peak is None:
        return []
    n = hpa.ceil_div(peak * (1 + pre.headroom), per)
    detail = (
        f"forecast tokens: {n} replicas = ceil(p{pre.quantile * 100:g} peak {peak:.0f} tokens/s x "
        f"(1 + {pre.headroom:g} headroom) / {per:g} tokens/s per replica) "
        f"over the next {lead_s:.0f} s lead time ({used} forecasts)"
    )
    if pre.mode == "forecast-only":
        reasons.append(Reason(TERM, n, detail + "; forecast-only mode, not acted on"))
        return []
    return [(TERM, n, detail)]


def service_tokens_per_replica(
    replica: ReplicaTokens, mean_prompt: float, mean_output: float, tpot_bound_s: float | None = None
) -> float:
    """Tokens/s (prompt + generated) one replica sustains at this mix within the TPOT
    bound: the value for ``PrescaleSpec.service_tokens_per_replica``."""
    t = token_throughput(replica, mean_prompt, mean_output, tpot_bound_s)
    return t.prompt_tokens_per_s + t.output_tokens_per_s
