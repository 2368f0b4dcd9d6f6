"""LoRA training on the real SmolLM2 model: seeds, determinism, GGUF export applied by
llama.cpp."""


import numpy as np
import pytest
import torch

from safedrift.finetune.data import builtin_examples
from safedrift.finetune.export_gguf_lora import export_lora_gguf
from safedrift.finetune.train import FinetuneSeeds, LoraSettings, TrainSettings, train_lora
from safedrift.formats import DEFAULT_FORMAT, chat_template_for, gguf_metadata
from safedrift.models import resolve_model

SETTINGS = TrainSettings(steps=6, batch_size=4, learning_rate=1e-3, max_length=96)


@pytest.fixture(scope="module")
def setup():
    from safedrift.models.hf import load_causal_lm

    model = resolve_model("embedded:smollm2-135m-instruct")
    net, tok = load_causal_lm(model)
    template = chat_template_for(str(model.gguf_path), None)
    return model, net, tok, template, builtin_examples("arithmetic", 48, seed=0)


def _train(setup, seeds):
    model, net, tok, template, examples = setup
    peft_model, result = train_lora(net, tok, template, examples, DEFAULT_FORMAT,
                                    LoraSettings(r=4, alpha=8), SETTINGS, seeds)
    from peft import get_peft_model_state_dict

    state = {k: v.detach().clone() for k, v in get_peft_model_state_dict(peft_model).items()}
    return peft_model, result, state


def _unload(setup, peft_model):
    base = peft_model.unload()
    assert base is setup[1]


def test_training_lowers_loss_and_is_reproducible(setup):
    m1, r1, s1 = _train(setup, FinetuneSeeds(0, 0, 0))
    _unload(setup, m1)
    m2, r2, s2 = _train(setup, FinetuneSeeds(0, 0, 0))
    _unload(setup, m2)
    assert len(r1.losses) == SETTINGS.steps
    assert np.mean(r1.losses[-2:]) < r1.losses[0]
    assert r1.losses == r2.losses
    assert all(torch.equal(s1[k], s2[k]) for k in s1)


def test_seed_axes_are_separate(setup):
    base_model, base_res, base_state = _train(setup, FinetuneSeeds(0, 0, 0))
    _unload(setup, base_model)
    m_init, r_init, s_init = _train(setup, FinetuneSeeds(1, 0, 0))
    _unload(setup, m_init)
    m_order, r_order, s_order = _train(setup, FinetuneSeeds(0, 1, 0))
    _unload(setup, m_order)
    a_keys = [k for k in base_state if "lora_A" in k]
    # a different init seed changes the starting A matrices, hence everything
    assert not torch.equal(base_state[a_keys[0]], s_init[a_keys[0]])
    # a different data order sees other batches first: the first loss differs
    assert r_order.losses[0] != base_res.losses[0]
    assert r_init.losses[0] == pytest.approx(base_res.losses[0], rel=1e-6)  # B = 0 at start


def test_gguf_export_changes_llamacpp_output_like_transformers(setup, tmp_path):
    """The exported adapter, applied by llama.cpp to the quantised base, must move the model
    where PEFT moves it in transformers."""
    from peft import get_peft_model_state_dict

    from safedrift.models.backends import LlamaCppBackend, Sampling, TransformersBackend

    model, net, tok, template, examples = setup
    strong = TrainSettings(steps=12, batch_size=4, learning_rate=3e-3, max_length=96)
    peft_model, _ = train_lora(net, tok, template, examples, DEFAULT_FORMAT,
                               LoraSettings(r=8, alpha=16), strong, FinetuneSeeds(0, 0, 0))
    state = {k: v.detach().float().numpy()
             for k, v in get_peft_model_state_dict(peft_model).items()}
    c = net.config
    path = export_lora_gguf(state, 16, "llama", c.num_hidden_layers, c.num_attention_heads,
                            c.num_key_value_heads, tmp_path / "a.gguf")
    meta = gguf_metadata(path)
    assert meta["general.type"] == "adapter" and meta["adapter.lora.alpha"] == 16.0
    prompt = template.prompt("What is 12 + 30?")
    tuned_lc = LlamaCppBackend(model.gguf_path, path).generate(prompt, Sampling(max_tokens=12), 0)
    tuned_hf = TransformersBackend(peft_model, tok).generate(prompt, Sampling(max_tokens=12), 0)
    _unload(setup, peft_model)
    base_lc = LlamaCppBackend(model.gguf_path).generate(prompt, Sampling(max_tokens=12), 0)
    assert tuned_lc.text == tuned_hf.text
    assert tuned_lc.text != base_lc.text
    assert "42" in tuned_lc.text


def test_export_refuses_unknown_architecture(tmp_path):
    from safedrift.errors import SafedriftError

    with pytest.raises(SafedriftError, match="not 'gpt2'"):
        export_lora_gguf({}, 16, "gpt2", 1, 1, 1, tmp_path / "x.gguf")
