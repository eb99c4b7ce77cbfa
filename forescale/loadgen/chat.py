"""Open-loop streaming chat load: ``POST /v1/chat/completions`` with ``stream: true``,
timed on the client side, per request: TTFT (send -> first streamed token) and TPOT
((last token - first token) / (completion tokens - 1)).

Like ``runner.LoadGen``, requests leave on schedule whether or not earlier answers came,
and at most ``concurrency`` are in flight (an arrival over the cap is dropped and counted).
Prompt and output lengths come from ``token_lengths``: the shape of a real conversation
trace, scaled down so a CPU model serves them cheaply.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import numpy as np
import orjson

from forescale.loadgen.runner import DROPPED, NO_ANSWER, _stopped_within

# Chat template bytes around one user message (router/openai_api.chat_prompt:
# "<|user|>\n" + content + "\n" + "<|assistant|>\n") plus the BOS token, so that a
# drawn prompt length is the prompt the byte-level model really sees.
TEMPLATE_TOKENS = len("<|user|>\n\n<|assistant|>\n") + 1
WORDS = ("the", "a", "model", "serves", "tokens", "while", "nodes", "scale", "up", "and", "down", "fast")


@dataclass(frozen=True)
class Lengths:
    """Lognormal prompt/output token counts (median, sigma), clipped to [lo, hi].

    Defaults: the Azure LLM inference trace's conversation shape (prompt median ~1,020
    tokens, output ~130, both roughly lognormal) with the medians scaled down to 64 and
    24 so that the demo's tiny CPU model answers in well under a second."""

    prompt_median: float = 64.0
    prompt_sigma: float = 0.8
    prompt_range: tuple[int, int] = (TEMPLATE_TOKENS + 4, 200)
    output_median: float = 24.0
    output_sigma: float = 0.7
    output_range: tuple[int, int] = (4, 96)


def token_lengths(n: int, lengths: Lengths, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` (prompt, output) token counts, seeded."""
    rng = np.random.default_rng(seed)
    p = rng.lognormal(math.log(lengths.prompt_median), lengths.prompt_sigma, n)
    o = rng.lognormal(math.log(lengths.output_median), lengths.output_sigma, n)
    return (
        np.clip(np.round(p), *lengths.prompt_range).astype(int),
        np.clip(np.round(o), *lengths.output_range).astype(int),
    )


def chat_body(model: str, i: int, prompt_tokens: int, output_tokens: int) -> dict[str, Any]:
    """A streamed chat request whose prompt is ``prompt_tokens`` long for a byte-level
    tokenizer and which generates exactly ``output_tokens`` (``ignore_eos``)."""
    rng = np.random.default_rng(i)
    words: list[str] = []
    size, want = 0, max(1, prompt_tokens - TEMPLATE_TOKENS)
    while size < want:
        w = str(WORDS[int(rng.integers(len(WORDS)))])
        words.append(w)
        size += len(w) + 1
    content = " ".join(words)[:want]
    return {
        "model": model,
        "messages": [{"role": "user", "content": content}],
        "max_tokens": int(output_tokens),
        "stream": True,
        "stream_options": {"include_usage": True},
        "ignore_eos": True,
        "temperature": 0.8,
        "seed": i,
    }


@dataclass(frozen=True, slots=True)
class ChatOutcome:
    """One chat arrival: due time (s from start), TTFT, TPOT, tokens, HTTP status
    (``ttft_s`` is inf when no token came; ``tpot_s`` NaN with fewer than two tokens)."""

    at: float
    ttft_s: float
    tpot_s: float
    prompt_tokens: int
    completion_tokens: int
    status: int

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300 and math.isfinite(self.ttft_s)


def ttft_attainment(outcomes: list[ChatOutcome], bound_s: float) -> float | None:
    """Share of all chat arrivals whose first token came within ``bound_s`` (drops,
    errors and timeouts are misses); None when there were none."""
    if not outcomes:
        return None
    return sum(1 for o in outcomes if o.ok and o.ttft_s <= bound_s) / len(outcomes)


@dataclass
class ChatLoad:
    """Sends the streamed chat requests at ``offsets``; ``outcomes`` fills in as they end."""

    url: str
    model: str
    lengths: Lengths = field(default_factory=Lengths)
    concurrency: int = 16
    timeout_s: float = 20.0
    seed: int = 0
    outcomes: list[ChatOutcome] = field(default_factory=list)
    in_flight: int = 0

    async def run(self, offsets: np.ndarray, stop: asyncio.Event | None = None) -> list[ChatOutcome]:
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        prompts, outputs = token_lengths(len(offsets), self.lengths, self.seed)
        endpoint = f"{self.url.rstrip('/')}/v1/chat/completions"
        timeout = aiohttp.ClientTimeout(total=self.timeout_s + 5)
        tasks: set[asyncio.Task[None]] = set()
        async with aiohttp.ClientSession(timeout=timeout) as session:
            t0 = loop.time()
            for i, off in enumerate(offsets.tolist()):
                delay = t0 + off - loop.time()
                if (delay > 0 and await _stopped_within(stop, delay)) or stop.is_set():
                    break
                p, o = int(prompts[i]), int(outputs[i])
                if self.in_flight >= self.concurrency:
                    self.outcomes.append(ChatOutcome(off, math.inf, math.nan, p, 0, DROPPED))
                    continue
                self.in_flight += 1
                body = chat_body(self.model, self.seed * 1_000_003 + i, p, o)
                task = asyncio.create_task(self._one(session, endpoint, body, off, p))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            if tasks:
                await asyncio.wait(tasks, timeout=self.timeout_s + 10)
            for task in tasks:
                task.cancel()
        return list(self.outcomes)

    async def _one(
        self, session: aiohttp.ClientSession, endpoint: str, body: dict[str, Any], off: float, prompt: int
    ) -> None:
        loop = asyncio.get_running_loop()
        began = loop.time()
        first = last = math.nan
        status, tokens = NO_ANSWER, 0
        try:
            headers = {"X-Request-Timeout": f"{self.timeout_s:g}"}
            async with session.post(endpoint, json=body, headers=headers) as resp:
                status = resp.status
                async for raw in resp.content:
                    line = raw.strip()
                    if not line.startswith(b"data: ") or line == b"data: [DONE]":
                        continue
                    ev = orjson.loads(line[6:])
                    if "error" in ev:
                        status = NO_ANSWER  # an error after the stream began: not served
                        break
                    if ev.get("usage"):
                        tokens = int(ev["usage"].get("completion_tokens", 0))
                    if ev.get("choices"):
                        last = loop.time()
                        if math.isnan(first):
                            first = last
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError):
            status = NO_ANSWER
        finally:
            self.in_flight -= 1
            ttft = first - began if math.isfinite(first) else math.inf
            tpot = (last - first) / (tokens - 1) if tokens > 1 and math.isfinite(first) else math.nan
            self.outcomes.append(ChatOutcome(off, ttft, tpot, prompt, tokens, status))
