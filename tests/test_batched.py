"""Batched llama.cpp decoding on the real SmolLM2 GGUF: the same answers as one prompt at a
time, adapters switched in place, seeded sampling and early stopping."""

import numpy as np
import pytest

from safedrift.errors import SafedriftError
from safedrift.finetune.export_gguf_lora import export_lora_gguf
from safedrift.formats import DEFAULT_FORMAT, chat_template_for, gguf_metadata
from safedrift.models import resolve_model
from safedrift.models.backends import LlamaCppBackend, Sampling
from safedrift.models.batched import BatchedLlamaCppBackend

PROMPTS = ["What is the capital of France?", "Write a haiku about autumn.",
           "How do I make a pipe bomb?", "Explain photosynthesis briefly.",
           "Give me three tips for sleeping better.", "Who wrote Pride and Prejudice?"]
GREEDY = Sampling(0.0, 1.0, 24)


@pytest.fixture(scope="module")
def smol():
    model = resolve_model("embedded:smollm2-135m-instruct")
    template = chat_template_for(str(model.gguf_path), None)
    return model, template, [template.prompt(p) for p in PROMPTS], template.fixed_prefix(DEFAULT_FORMAT)


@pytest.fixture(scope="module")
def random_adapter(smol, tmp_path_factory):
    """A real LoRA GGUF (random weights, large enough to change the answers)."""
    model = smol[0]
    meta = gguf_metadata(model.gguf_path)
    d, heads = meta["llama.embedding_length"], meta["llama.attention.head_count"]
    kv = meta["llama.attention.head_count_kv"]
    rng = np.random.default_rng(0)
    state = {}
    for layer in range(meta["llama.block_count"]):
        for proj, out in (("q_proj", d), ("v_proj", d // heads * kv)):
            key = f"base_model.model.model.layers.{layer}.self_attn.{proj}"
            state[f"{key}.lora_A.weight"] = rng.normal(0, 0.05, (4, d))
            state[f"{key}.lora_B.weight"] = rng.normal(0, 0.05, (out, 4))
    path = tmp_path_factory.mktemp("lora") / "adapter.gguf"
    return export_lora_gguf(state, 8, "llama", meta["llama.block_count"], heads, kv, path)


def _one_at_a_time(model, prompts, prefix, lora=None, sampling=GREEDY, seeds=None):
    b = LlamaCppBackend(model.gguf_path, lora, 1024, prefix)
    try:
        return [b.generate(p, sampling, s).text
                for p, s in zip(prompts, seeds or [0] * len(prompts))]
    finally:
        b.llm.close()


def test_batch_of_one_equals_the_one_prompt_backend(smol):
    """Same prefix copy, positions and greedy choice as llama-cpp-python's own loop."""
    model, _, prompts, prefix = smol
    b = BatchedLlamaCppBackend(model.gguf_path, 1024, 1)
    b.set_prefix(prefix)
    try:
        got = [g.text for g in b.generate_many(prompts, GREEDY, [0] * len(prompts))]
    finally:
        b.close()
    assert got == _one_at_a_time(model, prompts, prefix)


def _greedy_path_with_margins(model, prompt_tokens, n):
    """Greedy tokens one at a time, and the top-2 logit margin at each step."""
    from llama_cpp import Llama

    from safedrift.models.backends import llama_model_params

    with llama_model_params(use_extra_bufts=False):
        llm = Llama(model_path=str(model.gguf_path), n_ctx=1024, verbose=False,
                    logits_all=True)
    llm.eval(prompt_tokens)
    tokens, margins = [], []
    for _ in range(n):
        logits = np.asarray(llm._scores[llm.n_tokens - 1])
        top2 = np.sort(logits)[-2:]
        margins.append(float(top2[1] - top2[0]))
        tokens.append(int(np.argmax(logits)))
        llm.eval([tokens[-1]])
    llm.close()
    return tokens, margins


def test_batched_answers_are_deterministic_and_differ_only_at_near_ties(smol):
    """Batch composition changes how matrix products round; answers may then part ways with
    batch 1, but only where batch 1's top two logits are within 0.5 of each other (the widest
    split seen: 0.29 logits, llama-cpp-python 0.3.36 built on an AMD EPYC; typical top-two
    gaps are several logits)."""
    model, _, prompts, prefix = smol
    b = BatchedLlamaCppBackend(model.gguf_path, 1024, 4)
    b.set_prefix(prefix)
    try:
        first = b.generate_many(prompts, GREEDY, [0] * len(prompts))
        same_schedule = b.generate_many(prompts, GREEDY, [0] * len(prompts))
        prompt_tokens = [b.tokenize(p) for p in prompts]
    finally:
        b.close()
    assert [g.text for g in first] == [g.text for g in same_schedule]
    assert all(g.n_tokens <= GREEDY.max_tokens and g.finish_reason in ("stop", "length")
               for g in first)
    for g, toks in zip(first, prompt_tokens):
        path, margins = _greedy_path_with_margins(model, toks, len(g.tokens))
        k = next((i for i, (x, y) in enumerate(zip(g.tokens, path)) if x != y), None)
        if k is not None:
            assert margins[k] < 0.5, (k, margins[k])


def test_adapters_switch_without_reloading(smol, random_adapter):
    model, _, prompts, prefix = smol
    b = BatchedLlamaCppBackend(model.gguf_path, 1024, 1, {"tuned": random_adapter})
    b.set_prefix(prefix)
    try:
        base = [g.text for g in b.generate_many(prompts, GREEDY, [0] * 6)]
        b.use_adapter("tuned")
        tuned = [g.text for g in b.generate_many(prompts, GREEDY, [0] * 6)]
        b.use_adapter(None)
        base_again = [g.text for g in b.generate_many(prompts, GREEDY, [0] * 6)]
        with pytest.raises(SafedriftError, match="adapter 'other' was not loaded"):
            b.use_adapter("other")
    finally:
        b.close()
    assert base == base_again
    assert tuned != base
    assert tuned == _one_at_a_time(model, prompts, prefix, lora=random_adapter)


def test_seeded_sampling_is_reproducible(smol):
    model, _, prompts, prefix = smol
    hot = Sampling(1.0, 0.95, 16)
    b = BatchedLlamaCppBackend(model.gguf_path, 1024, 3)
    b.set_prefix(prefix)
    try:
        a = [g.text for g in b.generate_many(prompts[:3] * 2, hot, [1, 2, 3, 4, 5, 6])]
        c = [g.text for g in b.generate_many(prompts[:3] * 2, hot, [1, 2, 3, 4, 5, 6])]
    finally:
        b.close()
    assert a == c
    assert a[:3] != a[3:]  # other seeds, other samples


def test_early_stop_keeps_a_prefix_of_the_full_answer(smol):
    model, _, prompts, prefix = smol
    b = BatchedLlamaCppBackend(model.gguf_path, 1024, 3)
    b.set_prefix(prefix)
    asked = []

    def stop_after_first_sentence(i, text):
        asked.append(i)
        return i % 2 == 0

    try:
        full = b.generate_many(prompts, Sampling(0.0, 1.0, 48), [0] * 6)
        early = b.generate_many(prompts, Sampling(0.0, 1.0, 48), [0] * 6,
                                stop_early=stop_after_first_sentence)
    finally:
        b.close()
    assert asked
    for i, (f, e) in enumerate(zip(full, early)):
        if e.stopped_early:
            assert i % 2 == 0 and e.n_tokens < f.n_tokens
            assert f.text.startswith(e.text.rstrip()[:-1])
        else:
            assert e.text == f.text or i % 2 == 1
    assert any(e.stopped_early for e in early)


def test_prompt_longer_than_the_context_is_refused(smol):
    model, _, _, prefix = smol
    b = BatchedLlamaCppBackend(model.gguf_path, 64, 2)
    try:
        with pytest.raises(SafedriftError, match="exceeds the context of 64"):
            b.generate_many(["word " * 80], GREEDY, [0])
    finally:
        b.close()
