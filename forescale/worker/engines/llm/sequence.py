"""One sequence's state in the engine, and what a step reports for it."""

from __future__ import annotations

from dataclasses import dataclass, field

from forescale.worker.engines.llm import tokenizer
from forescale.worker.engines.llm.sampling import SamplingParams


@dataclass(frozen=True, slots=True)
class StepOutput:
    """New tokens of one sequence in one step; ``text`` starts at char ``text_at``."""

    seq_id: str
    start: int  # index (in the generated tokens) of tokens[0]
    tokens: list[int]
    text_at: int
    text: str
    finish_reason: str | None = None  # "stop", "length", or None while running
    prompt_tokens: int = 0


@dataclass(eq=False)
class Sequence:
    seq_id: str
    prompt: list[int]
    params: SamplingParams
    generated: list[int] = field(default_factory=list)  # includes tokens delivered elsewhere
    computed: int = 0  # positions whose K/V are in the cache
    blocks: list[int] = field(default_factory=list)
    text_sent: int = 0  # chars of visible text already emitted
    admitted_at: int = -1  # admission order (preemption takes the newest)
    finish_reason: str | None = None

    @property
    def tokens(self) -> list[int]:
        return self.prompt + self.generated

    def pending(self) -> int:
        """Positions still to run before the next token can be sampled."""
        return len(self.prompt) + len(self.generated) - self.computed


def hold_back(text: str, stops: tuple[str, ...]) -> int:
    """Chars at the end of ``text`` that could begin a stop string (not shown yet)."""
    best = 0
    for s in stops:
        for n in range(min(len(s) - 1, len(text)), best, -1):
            if text.endswith(s[:n]):
                best = n
                break
    return best


def emit(seq: Sequence, tok: tokenizer.Tokenizer, start: int, new: list[int]) -> StepOutput:
    """The StepOutput for tokens ``new`` just appended at ``start``; detects stop strings."""
    p = seq.params
    text = tokenizer.visible_text(tok, seq.generated)
    cut = min((i for i in (text.find(s) for s in p.stop) if i >= 0), default=-1)
    if cut >= 0:  # a stop string: the text ends before it
        seq.finish_reason = "stop"
        text = text[:cut]
    elif seq.finish_reason is not None:  # complete: show even a partial character
        text = tok.decode(seq.generated)
    else:
        text = text[: len(text) - hold_back(text, p.stop)]
    at = seq.text_sent
    delta = text[at:] if len(text) >= at else ""
    seq.text_sent = max(at, len(text))
    return StepOutput(seq.seq_id, start, new, at, delta, seq.finish_reason, len(seq.prompt))


def resume_text_sent(seq: Sequence, tok: tokenizer.Tokenizer) -> None:
    """For a continued sequence: the chars its first worker had emitted for the same tokens."""
    text = tokenizer.visible_text(tok, seq.generated)
    seq.text_sent = len(text) - hold_back(text, seq.params.stop)
