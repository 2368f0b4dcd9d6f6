"""Generation backends. Both take the exact prompt text rendered by `formats` and return the
continuation, so their outputs can be compared token for token.

- `LlamaCppBackend`: llama.cpp on the quantised GGUF, with a LoRA adapter in GGUF form. Fast on CPU.
- `TransformersBackend`: the reference, on the dequantised weights (+ PEFT adapter), any device;
  greedy answers batched (left-padded), early stopping per sequence.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from safedrift.errors import SafedriftError

_EOG_STRINGS = ("<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<end_of_turn>", "</s>")


@dataclass(frozen=True)
class Sampling:
    temperature: float = 0.0  # 0 means greedy
    top_p: float = 1.0
    max_tokens: int = 64


@dataclass(frozen=True)
class Generation:
    text: str
    n_tokens: int
    finish_reason: str  # "stop" (end-of-turn token, or stopped early) or "length"
    stopped_early: bool = False  # a judge found the verdict decided before the answer ended
    tokens: tuple[int, ...] = ()  # the generated token ids, where the backend exposes them


class Backend(Protocol):
    name: str

    def generate(self, prompt: str, sampling: Sampling, seed: int) -> Generation: ...


def _threads() -> int:
    return int(os.environ.get("SAFEDRIFT_THREADS", os.cpu_count() or 1))


@contextmanager
def _patched_defaults(function: str, overrides: dict):
    """Make llama_cpp's `function` (a *_default_params) return params with `overrides` set,
    for parameters that `Llama()` does not expose, while a Llama is constructed."""
    import llama_cpp
    import llama_cpp.llama as llama_module

    original = getattr(llama_cpp, function)

    def patched():
        params = original()
        for key, value in overrides.items():
            setattr(params, key, value)
        return params

    setattr(llama_module.llama_cpp, function, patched)
    try:
        yield
    finally:
        setattr(llama_module.llama_cpp, function, original)


def llama_model_params(**overrides):
    return _patched_defaults("llama_model_default_params", overrides)


def llama_context_params(**overrides):
    return _patched_defaults("llama_context_default_params", overrides)


def extra_buffers_enabled() -> bool:
    """llama.cpp's extra weight buffers (AMX, repacking) crash in decode on some virtualised
    Xeons (seen with AMX_INT8 exposed by the hypervisor); they stay off unless
    SAFEDRIFT_LLAMA_EXTRA_BUFFERS=1."""
    return os.environ.get("SAFEDRIFT_LLAMA_EXTRA_BUFFERS", "0") == "1"


def open_gguf(model_ref: str, user: str, **llama_kwargs):
    """(resolved model, llama_cpp.Llama) for a judge that runs a GGUF of its own: the
    reference resolved and required to be a GGUF, loaded quietly with safedrift's threads and
    llama.cpp parameters. `user` names the judge in errors."""
    try:
        from llama_cpp import Llama
        from llama_cpp._utils import suppress_stdout_stderr  # llama.cpp's load notices
    except ImportError:
        raise SafedriftError(f"{user} needs llama-cpp-python: pip install llama-cpp-python"
                             ) from None
    from safedrift.models import resolve_model

    model = resolve_model(model_ref)
    if model.gguf_path is None:
        raise SafedriftError(f"{user}: model '{model_ref}' must be a GGUF")
    with llama_model_params(use_extra_bufts=extra_buffers_enabled()), \
            suppress_stdout_stderr(disable=False):
        llm = Llama(model_path=str(model.gguf_path), n_threads=_threads(),
                    n_threads_batch=_threads(), verbose=False, **llama_kwargs)
    return model, llm


class LlamaCppBackend:
    name = "llamacpp"

    def __init__(self, gguf_path: Path, lora_path: Path | None = None, n_ctx: int = 1024,
                 prefix: str = ""):
        """`prefix`: text every prompt starts with (the template's system turn). It is
        evaluated once, on its own, and each prompt continues from it; since the prefix is
        always computed the same way, an answer does not depend on the previous prompt."""
        try:
            from llama_cpp import Llama
        except ImportError:
            raise SafedriftError("backend 'llamacpp' needs llama-cpp-python: "
                                 "pip install llama-cpp-python") from None
        kwargs = {"lora_path": str(lora_path)} if lora_path else {}
        try:
            with llama_model_params(use_extra_bufts=extra_buffers_enabled()):
                self.llm = Llama(model_path=str(gguf_path), n_ctx=n_ctx, n_threads=_threads(),
                                 n_threads_batch=_threads(), verbose=False, **kwargs)
        except (ValueError, RuntimeError) as e:
            raise SafedriftError(f"llama.cpp could not load {gguf_path}"
                                 f"{' with ' + str(lora_path) if lora_path else ''}: {e}") from None
        self.set_prefix(prefix)

    def set_prefix(self, prefix: str) -> None:
        """Change the shared prefix (a new prompt format); it is evaluated on next use."""
        tokens = self.tokenize(prefix) if prefix else []
        if tokens != getattr(self, "_prefix", None):
            self._prefix, self._prefix_ready = tokens, False

    def _start_from_prefix(self, tokens: list[int]) -> None:
        """Leave the context holding exactly the prefix (evaluated alone), or nothing."""
        n = len(self._prefix)
        if n and len(tokens) > n and tokens[:n] == self._prefix:
            if not self._prefix_ready:
                self.llm.reset()
                self.llm.eval(self._prefix)
                self._prefix_ready = True
            self.llm.n_tokens = n  # drop the last prompt and answer; keep the prefix
        else:  # a prompt that does not start with the prefix: evaluate it whole
            self.llm.reset()
            self._prefix_ready = False

    def tokenize(self, prompt: str) -> list[int]:
        # The chat template already renders any BOS token, so add none here.
        return self.llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)

    def generate(self, prompt: str, sampling: Sampling, seed: int) -> Generation:
        tokens = self.tokenize(prompt)
        if len(tokens) + sampling.max_tokens > self.llm.n_ctx():
            raise SafedriftError(f"prompt of {len(tokens)} tokens + {sampling.max_tokens} new "
                                 f"tokens exceeds the context of {self.llm.n_ctx()}")
        self._start_from_prefix(tokens)
        out = self.llm.create_completion(
            tokens, max_tokens=sampling.max_tokens, temperature=sampling.temperature,
            top_p=sampling.top_p, top_k=0, min_p=0.0, repeat_penalty=1.0, seed=seed)
        choice = out["choices"][0]
        return Generation(choice["text"], int(out["usage"]["completion_tokens"]),
                          "length" if choice["finish_reason"] == "length" else "stop")


class TransformersBackend:
    """transformers generation. Greedy answers are decoded `batch_size` prompts at a time
    (left-padded, so every answer continues its own prompt); sampled answers one at a time,
    each under its own seed, so a sample never depends on which prompts shared its batch."""

    name = "transformers"

    def __init__(self, net, tok, batch_size: int = 1):
        self.net, self.tok, self.batch_size = net, tok, max(1, batch_size)
        vocab = tok.get_vocab()
        eog = {tok.eos_token_id} if tok.eos_token_id is not None else set()
        eog |= {vocab[s] for s in _EOG_STRINGS if s in vocab}
        self.eog_ids = sorted(eog)

    def generate(self, prompt: str, sampling: Sampling, seed: int) -> Generation:
        return self.generate_many([prompt], sampling, [seed])[0]

    def generate_many(self, prompts, sampling: Sampling, seeds, stop_early=None,
                      on_done=None) -> list[Generation]:
        """Answers in order; `stop_early(i, text)` is asked after each sentence of answer i
        whether it can stop; `on_done(i)` reports progress."""
        size = self.batch_size if sampling.temperature <= 0 else 1
        out: list[Generation] = []
        for start in range(0, len(prompts), size):
            idx = list(range(start, min(start + size, len(prompts))))
            out += self._batch([prompts[i] for i in idx], sampling, seeds[idx[0]],
                               stop_early and (lambda row, text, idx=idx:
                                               stop_early(idx[row], text)))
            for i in idx:
                if on_done:
                    on_done(i)
        return out

    def _batch(self, prompts, sampling: Sampling, seed: int, stop_early) -> list[Generation]:
        import torch

        device = next(self.net.parameters()).device
        rows = [self.tok(p, add_special_tokens=False)["input_ids"] for p in prompts]
        width = max(len(r) for r in rows)
        pad = self.eog_ids[0] if self.eog_ids else 0
        ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows], device=device)
        mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows],
                            device=device)
        from transformers import StoppingCriteriaList

        criteria = _EarlyStop(self, width, len(rows), stop_early) if stop_early else None
        torch.manual_seed(seed)
        greedy = sampling.temperature <= 0
        with torch.no_grad():
            generated = self.net.generate(
                input_ids=ids, attention_mask=mask, max_new_tokens=sampling.max_tokens,
                do_sample=not greedy, temperature=None if greedy else sampling.temperature,
                top_p=None if greedy else sampling.top_p, top_k=None,
                eos_token_id=self.eog_ids, pad_token_id=pad,
                stopping_criteria=StoppingCriteriaList([criteria] if criteria else []))
        answers = []
        for row in range(len(rows)):
            new = generated[row, width:].tolist()
            ended = next((k for k, t in enumerate(new) if t in self.eog_ids), None)
            early = criteria is not None and criteria.stopped[row]
            if early:
                new = new[:criteria.length[row]]
            elif ended is not None:
                new = new[:ended]
            text = self.tok.decode(new, skip_special_tokens=True)
            finish = "stop" if early or ended is not None else "length"
            answers.append(Generation(text, len(new) + int(ended is not None and not early),
                                      finish, stopped_early=early))
        return answers


class _EarlyStop:
    """A transformers stopping criterion, per sequence (as `BatchedLlamaCppBackend` does it):
    when an answer's latest token ends a sentence or line, ask whether its verdict is decided;
    a decided sequence stops (later positions are padding) and remembers its length."""

    def __init__(self, backend: TransformersBackend, prompt_width: int, rows: int, decided):
        self.backend, self.width, self.decided = backend, prompt_width, decided
        self.stopped = [False] * rows
        self.length = [0] * rows  # answer tokens kept, for the stopped rows

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        for row in range(input_ids.shape[0]):
            if self.stopped[row]:
                continue
            new = input_ids[row, self.width:].tolist()
            if not new or any(t in self.backend.eog_ids for t in new):
                continue  # ended by itself (padding after its end)
            piece = self.backend.tok.decode(new[-1:])  # the latest token ends a sentence?
            if any(c in piece for c in ".!?\n") and self.decided(
                    row, self.backend.tok.decode(new, skip_special_tokens=True)):
                self.stopped[row], self.length[row] = True, len(new)
        return torch.tensor(self.stopped, dtype=torch.bool, device=input_ids.device)
