"""Generation backends. Both take the exact prompt text rendered by `formats` and return the
continuation, so their outputs can be compared token for token.

- `LlamaCppBackend`: llama.cpp on the quantised GGUF, with a LoRA adapter in GGUF form. Fast on CPU.
- `TransformersBackend`: the reference, on the dequantised weights (+ PEFT adapter), any device.
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
    name = "transformers"

    def __init__(self, net, tok):
        self.net, self.tok = net, tok
        vocab = tok.get_vocab()
        eog = {tok.eos_token_id} if tok.eos_token_id is not None else set()
        eog |= {vocab[s] for s in _EOG_STRINGS if s in vocab}
        self.eog_ids = sorted(eog)

    def generate(self, prompt: str, sampling: Sampling, seed: int) -> Generation:
        import torch

        ids = self.tok(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
        ids = ids.to(next(self.net.parameters()).device)
        torch.manual_seed(seed)
        greedy = sampling.temperature <= 0
        with torch.no_grad():
            out = self.net.generate(
                input_ids=ids, attention_mask=torch.ones_like(ids),
                max_new_tokens=sampling.max_tokens, do_sample=not greedy,
                temperature=None if greedy else sampling.temperature,
                top_p=None if greedy else sampling.top_p, top_k=None,
                eos_token_id=self.eog_ids, pad_token_id=self.eog_ids[0] if self.eog_ids else 0)
        new = out[0, ids.shape[1]:].tolist()
        stopped = bool(new) and new[-1] in self.eog_ids
        if stopped:
            new = new[:-1]
        text = self.tok.decode(new, skip_special_tokens=True)
        return Generation(text, len(new) + int(stopped), "stop" if stopped else "length")
