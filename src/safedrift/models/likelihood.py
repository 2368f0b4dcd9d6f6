"""How surprising an answer is to a reference model: mean negative log-likelihood per token.

Used by the `coherence-ppl` judge. The answer is scored as the assistant turn after the
prompt, rendered with the reference model's own chat template, so the number is "how would
this model have continued" rather than the likelihood of the text in a vacuum:

    NLL = -(1/T) * sum_{t=1..T} log p(a_t | prompt, a_<t)

over the answer's tokens a_1..a_T (at most `max_answer_tokens`). Perplexity is exp(NLL).
Word salad and broken text score high; fluent answers, whatever they say, score low.
Only the answer positions ask llama.cpp for logits, so one call costs one forward pass over
prompt + answer.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from safedrift.errors import SafedriftError


@dataclass(frozen=True)
class AnswerLikelihood:
    nll: float  # mean negative log-likelihood per answer token, in nats
    n_tokens: int  # answer tokens scored

    @property
    def perplexity(self) -> float:
        return float(np.exp(self.nll))


class LikelihoodScorer:
    """Scores answers under a GGUF model through llama.cpp (CPU)."""

    def __init__(self, model_ref: str, max_prompt_tokens: int = 384,
                 max_answer_tokens: int = 256, user: str = "the coherence-ppl judge"):
        from safedrift.formats import chat_template_for
        from safedrift.models.backends import open_gguf

        n_ctx = max_prompt_tokens + max_answer_tokens
        self.model, self.llm = open_gguf(model_ref, user, n_ctx=n_ctx,
                                         n_batch=n_ctx)
        import llama_cpp  # present: open_gguf loaded the model with it

        self.template = chat_template_for(str(self.model.gguf_path), None)
        self.max_prompt, self.max_answer = max_prompt_tokens, max_answer_tokens
        self._lc = llama_cpp
        self.ctx = self.llm._ctx.ctx
        self.memory = llama_cpp.llama_get_memory(self.ctx)
        self.n_vocab = self.llm.n_vocab()
        self.batch = llama_cpp.llama_batch_init(n_ctx, 0, 1)
        self.lock = threading.Lock()

    def _tokens(self, text: str, special: bool) -> list[int]:
        return self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=special)

    def _logits(self, tokens: list[int], first: int, last: int) -> np.ndarray:
        """One forward pass over `tokens`; the logit rows of positions first..last-1 only."""
        lc, b = self._lc, self.batch
        with self.lock:
            lc.llama_memory_clear(self.memory, True)
            b.n_tokens = len(tokens)
            for i, t in enumerate(tokens):
                b.token[i], b.pos[i], b.n_seq_id[i] = t, i, 1
                b.seq_id[i][0] = 0
                b.logits[i] = first <= i < last
            if lc.llama_decode(self.ctx, b) != 0:
                raise SafedriftError("llama.cpp could not score an answer (decode failed)")
            logits = np.empty((last - first, self.n_vocab), dtype=np.float32)
            for k in range(last - first):
                row = lc.llama_get_logits_ith(self.ctx, first + k)
                logits[k] = np.ctypeslib.as_array(row, shape=(self.n_vocab,))
        return logits

    def __call__(self, prompt: str, answer: str) -> AnswerLikelihood:
        context = self._tokens(self.template.prompt(prompt), special=True)[-self.max_prompt:]
        # the answer is untrusted text: role markers in it are scored as text, not as control
        target = self._tokens(answer, special=False)[:self.max_answer]
        if not target:
            return AnswerLikelihood(float("nan"), 0)
        first = len(context) - 1  # the position whose logits predict the first answer token
        logits = self._logits(context + target, first, first + len(target))
        top = logits.max(axis=1, keepdims=True)
        log_z = np.log(np.exp(logits - top).sum(axis=1)) + top[:, 0]
        nll = log_z - logits[np.arange(len(target)), target]
        return AnswerLikelihood(float(nll.mean()), len(target))

    def choice_margin(self, prompt: str, first: str, second: str) -> float:
        """log p(first) - log p(second) for the answer's first token after `prompt`: a zero-shot
        classifier's score ("Reply Yes or No") read without generating, so it ranks (AUROC)
        rather than only votes. `first` and `second` must each be one token; the softmax's
        normaliser cancels, so this is the difference of their logits."""
        context = self._tokens(self.template.prompt(prompt), special=True)[-self.max_prompt:]
        ids = []
        for word in (first, second):
            tokens = self._tokens(word, special=False)
            if len(tokens) != 1:
                raise SafedriftError(f"choice_margin: {word!r} is {len(tokens)} tokens for "
                                     f"{self.model.short_name}; it must be one")
            ids.append(tokens[0])
        row = self._logits(context, len(context) - 1, len(context))[0]
        return float(row[ids[0]] - row[ids[1]])
