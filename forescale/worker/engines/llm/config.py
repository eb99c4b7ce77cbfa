"""The ``llm`` engine's options live in queue/ (checked at registration without torch)."""

from forescale.queue.llm_options import LLMOptions

__all__ = ["LLMOptions"]
