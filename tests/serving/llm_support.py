"""Helpers of the llm serving tests: a tiny model, reference texts, an SSE reader."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import orjson

from forescale.worker.engines.llm import LLMEngine, SamplingParams

OPTS: dict[str, Any] = {"layers": 2, "d_model": 64, "heads": 4, "kv_heads": 2, "max_context": 512}


def body(i: int, max_tokens: int, model: str = "tiny") -> dict[str, Any]:
    return {"model": model, "prompt": f"stream {i}: once upon a time", "max_tokens": max_tokens,
            "temperature": 0.9, "seed": 1000 + i, "ignore_eos": True, "stream": True}  # fmt: skip


def reference(bodies: list[dict[str, Any]], **opts: Any) -> list[str]:
    """The text of each request from the engine alone, uninterrupted (batched together:
    the engine tests show batching does not change any sequence's tokens)."""
    e = LLMEngine(**{**OPTS, **opts})
    e.load()
    for i, b in enumerate(bodies):
        p = SamplingParams(b["max_tokens"], b["temperature"], seed=b["seed"], ignore_eos=True)
        e.add(str(i), e.encode_prompt(b["prompt"]), p, [])
    out = [""] * len(bodies)
    while e.scheduler.has_work():
        for o in e.step():
            out[int(o.seq_id)] += o.text
    return out


async def sse(http: aiohttp.ClientSession, url: str, doc: dict[str, Any], timeout_s: float = 20,
              progress: list[int] | None = None) -> dict[str, Any]:  # fmt: skip
    """One streamed completion: its text, whether it ended with [DONE], any error event."""
    t0 = time.monotonic()
    res: dict[str, Any] = {"text": "", "done": False, "error": None, "chunks": 0}
    async with http.post(url, json=doc, headers={"X-Request-Timeout": str(timeout_s)}) as resp:
        res["status"] = resp.status
        if resp.status != 200:
            res["error"] = await resp.json(content_type=None)
            return res
        async for raw in resp.content:
            line = raw.decode().strip()
            if not line.startswith("data: "):
                continue
            if line == "data: [DONE]":
                res["done"] = True
                break
            ev = orjson.loads(line[6:])
            if "error" in ev:
                res["error"] = ev["error"]
                continue
            res["text"] += ev["choices"][0]["text"]
            res["chunks"] += 1
            if progress is not None:
                progress.append(1)
    res["elapsed"] = time.monotonic() - t0
    return res
