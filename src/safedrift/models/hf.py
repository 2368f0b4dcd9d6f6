"""Load a model into transformers: GGUF files are dequantised once and cached as safetensors."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from safedrift.errors import SafedriftError
from safedrift.models.resolve import ResolvedModel
from safedrift.provenance import cache_dir


def _quiet_transformers():
    """safedrift draws its own progress bars; library bars and deprecation chatter only hide
    them."""
    import warnings

    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"(transformers|peft)\.")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def dequantised_folder(model: ResolvedModel) -> Path:
    """A transformers folder holding the GGUF's weights in float32 safetensors (built once)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = cache_dir() / "models" / model.sha256[:16] / "hf"
    if (folder / "config.json").is_file():
        return folder
    _quiet_transformers()
    assert model.gguf_path is not None
    src, name = str(model.gguf_path.parent), model.gguf_path.name
    try:
        tok = AutoTokenizer.from_pretrained(src, gguf_file=name)
        net = AutoModelForCausalLM.from_pretrained(src, gguf_file=name, dtype="float32")
        net.hf_quantizer = None
    except (ValueError, KeyError, NotImplementedError) as e:
        raise SafedriftError(f"{model.gguf_path}: transformers cannot load this GGUF "
                             f"({str(e).splitlines()[0]})") from None
    tmp = folder.with_name(f"hf.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    # transformers marks GGUF-loaded models as "quantised" and refuses save_pretrained; the
    # weights are plain float32 by now, so write them ourselves.
    from safetensors.torch import save_model

    tmp.mkdir(parents=True)
    if hasattr(net.config, "quantization_config"):
        del net.config.quantization_config
    net.config.save_pretrained(tmp)
    net.generation_config.save_pretrained(tmp)
    save_model(net, str(tmp / "model.safetensors"))
    tok.save_pretrained(tmp)
    os.replace(tmp, folder)
    return folder


def load_causal_lm(model: ResolvedModel, dtype: str = "float32", trust_remote_code: bool = False,
                   device: str = "cpu"):
    """(model, tokenizer) for training or reference generation. Weights load from safetensors
    only, never from pickles."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _quiet_transformers()
    source = str(dequantised_folder(model)) if model.kind == "gguf" else model.hf_source
    try:
        tok = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code)
        net = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, use_safetensors=True,
                                                   trust_remote_code=trust_remote_code)
    except OSError as e:
        raise SafedriftError(f"model '{model.ref}': {str(e).splitlines()[0]}") from None
    net.to(device)
    net.eval()
    return net, tok
