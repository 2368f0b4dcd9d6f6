"""llama.cpp with several sequences per decode step, and LoRA adapters switched in place.

On a CPU, one decode step for one sequence is bound by reading the weights from memory; the
same step for eight sequences reads them once, so throughput grows with the batch. This
backend keeps up to `n_parallel` prompts in flight (continuous batching: a finished sequence
frees its slot for the next prompt), each in its own KV-cache sequence:

- sequence 0 holds the prompt format's fixed prefix (the template's system turn), evaluated
  once; every prompt's sequence starts as a copy of it (llama.cpp shares those cache cells);
- each sequence has its own sampler, seeded with its own recorded seed;
- a sequence ends at an end-of-generation token, at `max_tokens`, or when `stop_early` says
  the text so far already decides the verdict (see `judges.early_stop`).

Adapters are loaded once next to the base model and switched with `llama_set_adapters_lora`
(the cache is cleared on a switch), so a sweep of N fine-tunes loads the base weights once.

Answers are deterministic for a given batch size (same prompts, seeds and schedule), but can
differ from batch size 1 at near-ties of the logits, as matrix products over a different
number of rows round differently; the batch size is therefore part of a generation cell's key.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from safedrift.errors import SafedriftError
from safedrift.models.backends import (Generation, Sampling, _threads, extra_buffers_enabled,
                                       llama_context_params, llama_model_params)


@dataclass
class _Sequence:
    index: int  # position of the job in the caller's list
    slot: int  # KV-cache sequence id
    prompt: list[int]
    sampler: object
    pos: int  # position of the next token to decode
    pending: int | None = None  # sampled, not yet decoded
    out: list[int] | None = None


class BatchedLlamaCppBackend:
    name = "llamacpp"

    def __init__(self, gguf_path: Path, n_ctx: int = 1024, n_parallel: int = 8,
                 adapters: dict[str, Path] | None = None):
        """`n_ctx`: tokens per sequence (prompt + answer); `adapters`: LoRA GGUF files by name,
        loaded once; `use_adapter(name)` selects one (None: the base model)."""
        try:
            import llama_cpp
            from llama_cpp import Llama
        except ImportError:
            raise SafedriftError("backend 'llamacpp' needs llama-cpp-python: "
                                 "pip install llama-cpp-python") from None
        self._lc = llama_cpp
        self.n_parallel, self.n_ctx_seq = n_parallel, n_ctx
        try:
            with llama_model_params(use_extra_bufts=extra_buffers_enabled()), \
                    llama_context_params(n_seq_max=n_parallel + 1, kv_unified=True):
                self.llm = Llama(model_path=str(gguf_path), n_ctx=n_ctx * n_parallel + n_ctx,
                                 n_batch=512, n_threads=_threads(), n_threads_batch=_threads(),
                                 verbose=False)
        except (ValueError, RuntimeError) as e:
            raise SafedriftError(f"llama.cpp could not load {gguf_path}: {e}") from None
        self.ctx = self.llm._ctx.ctx
        self.memory = llama_cpp.llama_get_memory(self.ctx)
        self.vocab = llama_cpp.llama_model_get_vocab(self.llm._model.model)
        self.batch = llama_cpp.llama_batch_init(512, 0, 1)
        self._adapters: dict[str, object] = {}
        for name, path in (adapters or {}).items():
            self.load_adapter(name, path)
        self._adapter: str | None = None
        self._prefix: list[int] = []
        self._prefix_ready = False

    # -- adapters and prefix ---------------------------------------------------------------
    def load_adapter(self, name: str, path: Path) -> None:
        handle = self._lc.llama_adapter_lora_init(self.llm._model.model, str(path).encode())
        if not handle:
            raise SafedriftError(f"llama.cpp could not load the LoRA adapter {path}")
        self._adapters[name] = handle

    def use_adapter(self, name: str | None) -> None:
        """Switch to adapter `name` (None: the base model) without reloading the base."""
        if name == self._adapter:
            return
        if name is None:
            rc = self._lc.llama_set_adapters_lora(self.ctx, None, 0, None)
        else:
            if name not in self._adapters:
                raise SafedriftError(f"adapter '{name}' was not loaded")
            handles = (self._lc.llama_adapter_lora_p_ctypes * 1)(self._adapters[name])
            rc = self._lc.llama_set_adapters_lora(self.ctx, handles, 1,
                                                  (ctypes.c_float * 1)(1.0))
        if rc != 0:
            raise SafedriftError(f"llama.cpp could not switch to adapter '{name}' ({rc})")
        self._adapter = name
        self._lc.llama_memory_clear(self.memory, True)
        self._prefix_ready = False

    def set_prefix(self, prefix: str) -> None:
        tokens = self.tokenize(prefix) if prefix else []
        if tokens != self._prefix:
            self._prefix, self._prefix_ready = tokens, False

    def tokenize(self, text: str) -> list[int]:
        return self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)

    # -- decoding ----------------------------------------------------------------------------
    def _decode(self, entries: Sequence[tuple[int, int, int, bool]]) -> None:
        """Decode (token, position, sequence, want_logits) entries, in chunks of the batch."""
        b = self.batch
        for start in range(0, len(entries), 512):
            chunk = entries[start:start + 512]
            b.n_tokens = len(chunk)
            for i, (tok, pos, seq, logits) in enumerate(chunk):
                b.token[i], b.pos[i], b.n_seq_id[i], b.logits[i] = tok, pos, 1, logits
                b.seq_id[i][0] = seq
            rc = self._lc.llama_decode(self.ctx, b)
            if rc != 0:
                raise SafedriftError(f"llama.cpp decode failed ({rc}); lower "
                                     "generation.batch_size or generation.n_ctx")

    def _ensure_prefix(self) -> None:
        if self._prefix_ready:
            return
        self._lc.llama_memory_clear(self.memory, True)
        if self._prefix:
            self._decode([(t, i, 0, False) for i, t in enumerate(self._prefix)])
        self._prefix_ready = True

    def _sampler(self, sampling: Sampling, seed: int):
        from llama_cpp._internals import LlamaSampler

        s = LlamaSampler()
        if sampling.temperature <= 0:
            s.add_greedy()
        else:
            s.add_top_p(sampling.top_p, 1)
            s.add_temp(sampling.temperature)
            s.add_dist(seed)
        return s

    def _start(self, seq: _Sequence) -> None:
        """Evaluate the prompt of `seq` in its slot and sample its first token."""
        n = len(self._prefix)
        lc = self._lc
        lc.llama_memory_seq_rm(self.memory, seq.slot, -1, -1)
        if n and len(seq.prompt) > n and seq.prompt[:n] == self._prefix:
            lc.llama_memory_seq_cp(self.memory, 0, seq.slot, -1, -1)
            rest, start = seq.prompt[n:], n
        else:
            rest, start = seq.prompt, 0
        entries = [(t, start + i, seq.slot, i == len(rest) - 1) for i, t in enumerate(rest)]
        self._decode(entries)
        last = (len(entries) - 1) % 512
        seq.pos = len(seq.prompt)
        seq.pending = lc.llama_sampler_sample(seq.sampler.sampler, self.ctx, last)

    def generate_many(self, prompts: Sequence[str], sampling: Sampling, seeds: Sequence[int],
                      stop_early: Callable[[int, str], bool] | None = None,
                      on_done: Callable[[int], None] | None = None) -> list[Generation]:
        """Answers to `prompts` (prompt i sampled with seeds[i]). `stop_early(i, text)` is asked
        at the end of each sentence whether answer i can stop; `on_done(i)` reports progress."""
        jobs = [self.tokenize(p) for p in prompts]
        for tokens in jobs:
            if len(tokens) + sampling.max_tokens > self.n_ctx_seq:
                raise SafedriftError(f"prompt of {len(tokens)} tokens + {sampling.max_tokens} "
                                     f"new tokens exceeds the context of {self.n_ctx_seq}")
        self._ensure_prefix()
        results: list[Generation | None] = [None] * len(jobs)
        queue = list(range(len(jobs)))
        free = list(range(self.n_parallel, 0, -1))
        active: list[_Sequence] = []
        lc = self._lc
        while queue or active:
            while free and queue:
                i = queue.pop(0)
                seq = _Sequence(i, free.pop(), jobs[i], self._sampler(sampling, seeds[i]), 0,
                                out=[])
                self._start(seq)
                active.append(seq)
            still = []
            for seq in active:  # every sequence holds a freshly sampled token
                tok = seq.pending
                reason = None
                if lc.llama_vocab_is_eog(self.vocab, tok):
                    reason = "stop"
                else:
                    seq.out.append(tok)
                    if len(seq.out) >= sampling.max_tokens:
                        reason = "length"
                    elif stop_early is not None and self._sentence_end(seq):
                        if stop_early(seq.index, self._text(seq)):
                            reason = "early"
                if reason:
                    results[seq.index] = Generation(self._text(seq), len(seq.out),
                                                    "stop" if reason == "early" else reason,
                                                    stopped_early=reason == "early",
                                                    tokens=tuple(seq.out))
                    lc.llama_memory_seq_rm(self.memory, seq.slot, -1, -1)
                    free.append(seq.slot)
                    seq.sampler.close()
                    if on_done:
                        on_done(seq.index)
                else:
                    still.append(seq)
            active = still
            if not active:
                continue
            self._decode([(s.pending, s.pos, s.slot, True) for s in active])
            for k, s in enumerate(active):
                s.pos += 1
                s.pending = lc.llama_sampler_sample(s.sampler.sampler, self.ctx, k)
        return results  # type: ignore[return-value]

    def _text(self, seq: _Sequence) -> str:
        return self.llm.detokenize(seq.out, prev_tokens=seq.prompt).decode("utf-8",
                                                                           errors="ignore")

    def _sentence_end(self, seq: _Sequence) -> bool:
        piece = self.llm.detokenize(seq.out[-1:]).decode("utf-8", errors="ignore")
        return any(c in piece for c in ".!?\n")

    def generate(self, prompt: str, sampling: Sampling, seed: int) -> Generation:
        return self.generate_many([prompt], sampling, [seed])[0]

    def close(self) -> None:
        if self.batch is not None:
            self._lc.llama_batch_free(self.batch)
            self.batch = None
        self._adapters.clear()  # llama.cpp frees adapters with their model
        self.llm.close()
