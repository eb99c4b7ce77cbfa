"""Per-request token counts: prompt and output tokens of every request in a trace.

Three public layouts are found by column name (case-insensitive), or any other by naming
the columns:

- Azure LLM inference traces (../shared/traces/azure_llm_2023_*.csv.gz): ``TIMESTAMP``,
  ``ContextTokens``, ``GeneratedTokens``;
- Mooncake JSONL: ``timestamp`` (milliseconds from the trace start), ``input_length``,
  ``output_length`` (a JSONL file with ``input_length`` defaults to milliseconds);
- BurstGPT CSV: ``Timestamp`` (seconds), ``Request tokens``, ``Response tokens``.

Errors are ``TraceError`` lines naming file, line and field, as for ``load_trace``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forescale.traces.reader import (
    TIME_NAMES,
    TraceError,
    _bad,
    _find,
    _parse_times,
    _pick_column,
    _read_rows,
)
from forescale.traces.trace import Trace

PROMPT_NAMES = (
    "contexttokens", "context_tokens", "input_length", "request tokens", "request_tokens",
    "prompt_tokens", "input_tokens", "prompt_len", "input_len", "num_prompt_tokens",
)  # fmt: skip
OUTPUT_NAMES = (
    "generatedtokens", "generated_tokens", "output_length", "response tokens", "response_tokens",
    "completion_tokens", "output_tokens", "output_len", "num_generated_tokens",
)  # fmt: skip
MOONCAKE_MARK = "input_length"


@dataclass(frozen=True)
class TokenTrace:
    """Requests sorted by arrival: epoch seconds, prompt tokens, output tokens."""

    source: str
    times: np.ndarray
    prompt: np.ndarray
    output: np.ndarray

    @property
    def start(self) -> float:
        return float(self.times[0])

    def requests_trace(self) -> Trace:
        """The arrivals alone, for the request-level simulator and forecasters."""
        return Trace(self.source, self.start, float(self.times[-1]) + 1.0, arrivals=self.times)

    def tokens_per_second(self, start: float, n: int) -> np.ndarray:
        """Prompt + output tokens of the requests arriving in each of the ``n`` seconds
        from ``start`` (the simulator's token demand, on the request demand's grid)."""
        idx = np.floor(self.times - start).astype(np.int64)
        keep = (idx >= 0) & (idx < n)
        weights = (self.prompt + self.output).astype(float)[keep]
        return np.bincount(idx[keep], weights=weights, minlength=n)[:n]

    def per_second(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(requests, prompt tokens, output tokens) arriving in each second from the start."""
        idx = (self.times - self.start).astype(int)
        n = int(idx[-1]) + 1
        return (
            np.bincount(idx, minlength=n).astype(float),
            np.bincount(idx, weights=self.prompt, minlength=n),
            np.bincount(idx, weights=self.output, minlength=n),
        )


def load_token_trace(
    path: str | Path,
    *,
    time_column: str | None = None,
    prompt_column: str | None = None,
    output_column: str | None = None,
    time_unit: str | None = None,
    rate_scale: float = 1.0,
) -> TokenTrace:
    """Read a per-request token trace. ``rate_scale`` copies (or thins) requests, seeded,
    each copy keeping its token counts and moved by under a second."""
    path = Path(path)
    if not rate_scale > 0:
        raise TraceError(f"{path}: rate scale must be > 0")
    frame, lines = _read_rows(path)
    if len(frame) == 0:
        raise TraceError(f"{path}: no rows")
    tcol = _pick_column(path, frame, time_column, TIME_NAMES, "time")
    pcol = _pick_column(path, frame, prompt_column, PROMPT_NAMES, "prompt")
    ocol = _pick_column(path, frame, output_column, OUTPUT_NAMES, "output")
    if time_unit is None and _find(frame, (MOONCAKE_MARK,)) is not None:
        time_unit = "ms"  # Mooncake's timestamps are milliseconds from the trace start
    times = _parse_times(path, frame[tcol], lines, tcol, time_unit)
    prompt = _tokens(path, frame[pcol], lines, pcol)
    output = _tokens(path, frame[ocol], lines, ocol)
    order = np.argsort(times, kind="stable")
    times, prompt, output = times[order], prompt[order], output[order]
    if rate_scale != 1.0:
        times, prompt, output = _rescale(times, prompt, output, rate_scale)
    if len(times) == 0:
        raise TraceError(f"{path}: no requests left after --rate-scale {rate_scale:g}")
    return TokenTrace(str(path), times, prompt, output)


def _tokens(path: Path, col: pd.Series, lines: np.ndarray, field: str) -> np.ndarray:
    numeric = pd.to_numeric(col, errors="coerce")
    _bad(path, lines, numeric.isna().to_numpy(), field, "not a number", col)
    values = numeric.to_numpy(dtype=float)
    bad = ~np.isfinite(values) | (values < 0) | (values != np.floor(values))
    _bad(path, lines, bad, field, "must be a whole number of tokens >= 0", col)
    return values.astype(np.int64)


def _rescale(
    times: np.ndarray, prompt: np.ndarray, output: np.ndarray, scale: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    copies = np.full(len(times), int(scale))
    copies += rng.random(len(times)) < (scale - int(scale))
    src = np.repeat(np.arange(len(times)), copies)
    first = np.concatenate([[True], np.diff(src) != 0]) if len(src) else np.empty(0, bool)
    t = times[src] + np.where(first, 0.0, rng.random(len(src)))
    order = np.argsort(t, kind="stable")
    return t[order], prompt[src][order], output[src][order]


def token_trace_from_args(args: Any) -> TokenTrace:
    """The token trace the shared trace flags name (``--prompt-column``, ``--output-column``)."""
    if getattr(args, "time_scale", 1.0) != 1.0:
        raise TraceError(f"{args.trace}: --time-scale is not supported with token traces (the llm model)")
    return load_token_trace(
        args.trace,
        time_column=args.time_column,
        prompt_column=args.prompt_column,
        output_column=args.output_column,
        time_unit=args.time_unit,
        rate_scale=args.rate_scale,
    )
