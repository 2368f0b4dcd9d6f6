"""Write a PEFT LoRA adapter as a llama.cpp GGUF adapter, so llama.cpp can apply it to the
quantised base model it was trained on (transformers trained on the same GGUF, dequantised).

Format (llama.cpp `convert_lora_to_gguf.py`, `llama-adapter.cpp`): general.type=adapter,
adapter.type=lora, adapter.lora.alpha; for each adapted weight `W` named in GGUF terms,
tensors `W.lora_a` (r × in, PyTorch layout) and `W.lora_b` (out × r). llama.cpp scales by
alpha / r, as PEFT does.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from safedrift.errors import SafedriftError

_SUPPORTED = {"qwen2", "llama"}


def _permute_rows(w: np.ndarray, n_head: int) -> np.ndarray:
    """The q/k row permutation llama.cpp's converter applies to llama-architecture weights
    (rotary layout); the LoRA B matrix, whose rows are output features, must follow it."""
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


def export_lora_gguf(adapter_state: dict[str, "np.ndarray"], alpha: float, arch: str,
                     n_layers: int, n_head: int, n_head_kv: int, out_path: Path) -> Path:
    """`adapter_state`: PEFT state dict names (…layers.N.self_attn.q_proj.lora_A.weight) to
    float32 arrays."""
    import gguf

    if arch not in _SUPPORTED:
        raise SafedriftError(f"exporting a LoRA adapter to GGUF is supported for {sorted(_SUPPORTED)}"
                             f", not '{arch}'; use generation backend 'transformers'")
    arch_enum = {v: k for k, v in gguf.MODEL_ARCH_NAMES.items()}[arch]
    names = gguf.get_tensor_name_map(arch_enum, n_layers)
    writer_tensors: list[tuple[str, np.ndarray]] = []
    for key in sorted(adapter_state):
        if ".lora_A." not in key:
            continue
        b_key = key.replace(".lora_A.", ".lora_B.")
        hf_name = key.split("base_model.model.", 1)[-1].replace(".lora_A.weight", ".weight")
        gguf_name = names.get_name(hf_name, try_suffixes=(".weight",))
        if gguf_name is None:
            raise SafedriftError(f"LoRA export: no GGUF name for '{hf_name}'")
        a = np.ascontiguousarray(adapter_state[key], dtype=np.float32)
        b = np.ascontiguousarray(adapter_state[b_key], dtype=np.float32)
        if arch == "llama" and hf_name.endswith("q_proj.weight"):
            b = np.ascontiguousarray(_permute_rows(b, n_head))
        elif arch == "llama" and hf_name.endswith("k_proj.weight"):
            b = np.ascontiguousarray(_permute_rows(b, n_head_kv))
        writer_tensors += [(f"{gguf_name}.lora_a", a), (f"{gguf_name}.lora_b", b)]
    if not writer_tensors:
        raise SafedriftError("LoRA export: the adapter has no LoRA weights")
    tmp = out_path.with_suffix(f".tmp{os.getpid()}")
    writer = gguf.GGUFWriter(str(tmp), arch)
    writer.add_string("general.type", "adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", float(alpha))
    for name, arr in writer_tensors:
        writer.add_tensor(name, arr)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    os.replace(tmp, out_path)
    return out_path
