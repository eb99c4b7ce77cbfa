"""The llm engine alone: paged attention against dense attention, continuous batching
against one sequence at a time, seeded determinism and continuation, preemption,
weights and tokenizers."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from forescale.worker.engines.llm import LLMEngine, SamplingParams, StepOutput
from forescale.worker.engines.llm import weights as W
from forescale.worker.engines.llm.model import Chunk
from forescale.worker.engines.llm.sequence import hold_back

OPTS = {"layers": 2, "d_model": 32, "heads": 4, "kv_heads": 2, "max_context": 96, "block_size": 4}


def engine(**kw: object) -> LLMEngine:
    e = LLMEngine(**{**OPTS, **kw})
    e.load()
    return e


def run(e: LLMEngine, reqs: dict[str, tuple[str, SamplingParams]], prior: dict[str, list[int]] | None = None
        ) -> dict[str, tuple[list[int], str, str | None]]:  # fmt: skip
    """Tokens, text and finish reason of every request, all added at once."""
    for sid, (prompt, p) in reqs.items():
        e.add(sid, e.encode_prompt(prompt), p, (prior or {}).get(sid, []))
    outs: dict[str, list[StepOutput]] = {sid: [] for sid in reqs}
    while e.scheduler.has_work():
        for o in e.step():
            outs[o.seq_id].append(o)
    res = {}
    for sid, os in outs.items():
        text, base = "", os[0].text_at if os else 0  # a continuation starts at the chars already sent
        for o in os:
            assert o.text_at == base + len(text)  # each chunk starts where the last one ended
            text += o.text
        res[sid] = ([t for o in os for t in o.tokens], text, os[-1].finish_reason if os else None)
    return res


def test_paged_attention_equals_dense() -> None:
    e = engine()
    toks = e.encode_prompt("paged attention, block by block")
    dense = e.scheduler.model.dense_logits(toks)
    table: list[int] = []
    e.pool.grow(table, len(toks))
    # Prefill in uneven chunks (3, then 7, then one at a time): every last-position row matches.
    at = 0
    for n in [3, 7] + [1] * (len(toks) - 10):
        chunk = Chunk(toks[at : at + n], at, e.pool.slots(table, at + n))
        got = e.scheduler.model.forward([chunk], e.pool)[0]
        torch.testing.assert_close(got, dense[at + n - 1], rtol=1e-4, atol=1e-4)
        at += n


def test_continuous_batching_equals_sequential_and_is_deterministic() -> None:
    reqs = {
        f"s{i}": (f"prompt {i} " * (i + 1), SamplingParams(max_tokens=5 + 7 * i, temperature=0.8, seed=i,
                                                                   top_p=0.9, top_k=50, ignore_eos=True))
        for i in range(5)
    }  # fmt: skip
    together = run(engine(step_tokens=16), reqs)  # chunked prefill: prompts span steps
    for sid, r in reqs.items():
        assert run(engine(), {sid: r})[sid] == together[sid]
    assert run(engine(step_tokens=16), reqs) == together
    assert all(len(together[f"s{i}"][0]) == 5 + 7 * i for i in range(5))
    assert together["s1"][0] != together["s2"][0]


def test_continuation_from_delivered_tokens_draws_the_same() -> None:
    p = SamplingParams(max_tokens=30, temperature=1.0, seed=42, ignore_eos=True)
    full_tokens, full_text, _ = run(engine(), {"a": ("continue me", p)})["a"]
    tail_tokens, tail_text, fin = run(engine(), {"a": ("continue me", p)}, {"a": full_tokens[:11]})["a"]
    assert full_tokens[:11] + tail_tokens == full_tokens and fin == "length"
    assert full_text.endswith(tail_text)


def test_tiny_pool_preempts_and_resumes_identically() -> None:
    reqs = {f"s{i}": (f"seq {i}", SamplingParams(max_tokens=40, seed=i, temperature=0.7, ignore_eos=True))
            for i in range(4)}  # fmt: skip
    big = run(engine(), reqs)
    small = engine(kv_blocks=20)  # 80 slots for 4 x ~46 tokens
    assert run(small, reqs) == big
    assert small.scheduler.preemptions > 0 and small.pool.used == 0


def test_stop_strings_and_max_tokens() -> None:
    e = engine()
    _, text, _ = run(e, {"a": ("x", SamplingParams(max_tokens=40, ignore_eos=True))})["a"]
    stop = text[5:7]
    _, cut, fin = run(e, {"b": ("x", SamplingParams(max_tokens=40, stop=(stop,), ignore_eos=True))})["b"]
    assert fin == "stop" and cut == text[: text.find(stop)]
    assert hold_back("abc<", ("<end>",)) == 1 and hold_back("abc", ("<end>",)) == 0


def test_prompt_longer_than_context_is_bad_input() -> None:
    from forescale.worker.engines import BadInput

    with pytest.raises(BadInput, match="context holds 96"):
        engine().encode_prompt("x" * 200)


def pinned(model_dir: Path, name: str) -> dict[str, str]:
    """Options naming ``name`` (weights or tokenizer file) in ``model_dir`` with its sha256 pin."""
    key = "tokenizer" if name.endswith(".json") else "weights"
    return {key: name, f"{key}_sha256": hashlib.sha256((model_dir / name).read_bytes()).hexdigest()}


def test_safetensors_weights_are_checked(tmp_path: Path) -> None:
    e = engine()
    w = W.seeded(e.o, e.vocab)
    save_file(w, str(tmp_path / "good.safetensors"))
    p = SamplingParams(max_tokens=6, ignore_eos=True)
    good = engine(model_dir=str(tmp_path), **pinned(tmp_path, "good.safetensors"))
    assert run(good, {"a": ("hi", p)}) == run(engine(), {"a": ("hi", p)})
    bad = dict(w)
    bad["layers.1.wk.weight"] = torch.zeros(3, 3)
    save_file(bad, str(tmp_path / "bad.safetensors"))
    with pytest.raises(
        W.WeightsMismatch, match=r"'layers.1.wk.weight' has shape \[3, 3\], expected \[16, 32\]"
    ):
        LLMEngine(str(tmp_path), **OPTS, **pinned(tmp_path, "bad.safetensors"))
    del bad["layers.1.wk.weight"]
    save_file(bad, str(tmp_path / "missing.safetensors"))
    with pytest.raises(W.WeightsMismatch, match=r"missing tensor 'layers\.1\.wk\.weight'"):
        LLMEngine(str(tmp_path), **OPTS, **pinned(tmp_path, "missing.safetensors"))


def test_hugging_face_tokenizer_json(tmp_path: Path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"[UNK]": 0, "</s>": 1, "hello": 2, "world": 3}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    path = tmp_path / "tokenizer.json"
    tok.save(str(path))
    e = engine(model_dir=str(tmp_path), **pinned(tmp_path, "tokenizer.json"))
    assert e.vocab == 4 and e.tok.eos_id == 1
    assert e.encode_prompt("hello world") == [2, 3]
    tokens, _, fin = run(e, {"a": ("hello", SamplingParams(max_tokens=5))})["a"]
    assert fin in ("stop", "length") and all(0 <= t < 4 for t in tokens)
