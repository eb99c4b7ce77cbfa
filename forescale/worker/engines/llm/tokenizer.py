"""Tokenizers: byte-level by default (nothing to download), a Hugging Face
``tokenizer.json`` through the ``tokenizers`` package when the model names one.

``visible_text`` is what a stream may show for a token prefix: the decoded text without
a trailing incomplete UTF-8 character. It depends on the tokens only, so a worker that
continues a sequence emits exactly the characters the first worker had not yet sent.
"""

from __future__ import annotations

from typing import Protocol

BOS, EOS = 256, 257


class Tokenizer(Protocol):
    vocab_size: int
    eos_id: int

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: list[int]) -> str: ...


class ByteTokenizer:
    """UTF-8 bytes are ids 0-255; 256 begins a sequence, 257 ends one."""

    vocab_size = 258
    eos_id = EOS

    def encode(self, text: str) -> list[int]:
        return [BOS, *text.encode("utf-8")]

    def decode(self, ids: list[int]) -> str:
        return bytes(i for i in ids if i < 256).decode("utf-8", errors="replace")


class HFTokenizer:
    def __init__(self, path: str) -> None:
        from tokenizers import Tokenizer as HFTok

        self._tok = HFTok.from_file(path)
        self.vocab_size = self._tok.get_vocab_size(with_added_tokens=True)
        eos = next(
            (
                t
                for t in ("</s>", "<|endoftext|>", "<|eot_id|>", "[SEP]")
                if self._tok.token_to_id(t) is not None
            ),
            None,
        )
        tid = None if eos is None else self._tok.token_to_id(eos)
        self.eos_id = -1 if tid is None else int(tid)

    def encode(self, text: str) -> list[int]:
        return list(self._tok.encode(text).ids)

    def decode(self, ids: list[int]) -> str:
        return str(self._tok.decode(ids))


def load(path: str | None) -> Tokenizer:
    return ByteTokenizer() if path is None else HFTokenizer(path)


def visible_text(tok: Tokenizer, ids: list[int]) -> str:
    """Decoded text of ``ids`` minus a trailing partial character (shown once complete)."""
    return tok.decode(ids).rstrip("\ufffd")
