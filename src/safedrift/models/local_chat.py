"""A GGUF chat model run in this process, answering the way an OpenAI-compatible endpoint does.

Used by LLM judges given a local `model` instead of an `endpoint`: same `complete` and `map`
as `OpenAICompatClient`, so the judge does not care where its model runs.

- The messages are rendered with the model's own chat template. Message contents (a rubric
  holding an untrusted model answer) are tokenized as text, never as control tokens, so an
  answer that writes "<|im_end|>" cannot close the judge's turn.
- Sampling is pinned: repeat penalty 1, no top-k / min-p cut, a seed per request; at
  temperature 0 the answer is greedy and the seed does not matter.
- Requests run one at a time (llama.cpp already uses every thread for one); consecutive
  requests that share a rubric reuse its evaluated prefix.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from safedrift.models.openai_compat import EndpointError, Reply

_SLOT = "\x00safedrift-content\x00"


class ContextOverflow(EndpointError):
    """The request does not fit the local model's context window."""


class LocalChatModel:
    def __init__(self, model_ref: str, n_ctx: int = 4096, user: str = "an LLM judge"):
        from safedrift.formats import chat_template_for
        from safedrift.models.backends import open_gguf

        self.model, self.llm = open_gguf(model_ref, user, n_ctx=n_ctx)
        self.template = chat_template_for(str(self.model.gguf_path), None)
        self.n_ctx = n_ctx
        self.lock = threading.Lock()

    def _tokens(self, messages: list[dict]) -> list[int]:
        """Template tokens with control tokens; contents as plain text."""
        rendered = self.template.render([{**m, "content": _SLOT} for m in messages],
                                        add_generation_prompt=True)
        pieces = rendered.split(_SLOT)
        tokens = self.llm.tokenize(pieces[0].encode("utf-8"), add_bos=False, special=True)
        for message, after in zip(messages, pieces[1:]):
            tokens += self.llm.tokenize(message["content"].encode("utf-8"), add_bos=False,
                                        special=False)
            tokens += self.llm.tokenize(after.encode("utf-8"), add_bos=False, special=True)
        return tokens

    def complete(self, prompt: str | list[dict], temperature: float, top_p: float,
                 max_tokens: int, seed: int | None) -> Reply:
        messages = prompt if isinstance(prompt, list) else [{"role": "user", "content": prompt}]
        tokens = self._tokens(messages)
        if len(tokens) + max_tokens > self.n_ctx:
            raise ContextOverflow(f"local model {self.model.ref}: request of {len(tokens)} "
                                  f"tokens + {max_tokens} to generate exceeds n_ctx "
                                  f"{self.n_ctx}")
        with self.lock:
            out = self.llm.create_completion(
                tokens, max_tokens=max_tokens, temperature=temperature, top_p=top_p,
                top_k=0, min_p=0.0, repeat_penalty=1.0, seed=seed if seed is not None else 0)
        choice = out["choices"][0]
        return Reply(choice["text"], int(out["usage"]["completion_tokens"]),
                     "length" if choice.get("finish_reason") == "length" else "stop",
                     choice["text"])

    def map(self, fn: Callable[[int], object], n: int,
            on_done: Callable[[int], None] | None = None) -> list:
        """fn(0..n-1) in order, one at a time."""
        out = []
        for i in range(n):
            out.append(fn(i))
            if on_done:
                on_done(i)
        return out

    def check(self) -> None:
        """Nothing to reach: the model loaded when this object was made."""

    def close(self) -> None:
        self.llm.close()
