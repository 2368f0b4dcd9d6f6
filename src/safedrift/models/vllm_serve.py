"""The vLLM command that serves a run's base model and every one of its adapters from one
engine (multi-LoRA), and the `generation` section that evaluates them through it.

safedrift trains PEFT adapters (adapter_config.json + adapter_model.safetensors), which vLLM
loads with `--lora-modules NAME=DIR`; each tuned variant is served under its own model id
(`tuned-s0-0-0`, …), so `backend: openai` with `variant_models` sends each variant's prompts
to its adapter. The base vLLM loads is, by default, the folder the adapters were trained on
(for a GGUF model, safedrift's dequantised copy of it in the cache: the same weights), else
the model's hub id (the embedded GGUFs map to the original checkpoints, whose answers differ
slightly from the quantised ones).
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from safedrift.errors import SafedriftError


VLLM_LORA_RANKS = (8, 16, 32, 64, 128, 256, 512)  # the values vLLM's --max-lora-rank takes


@dataclass(frozen=True)
class ServePlan:
    argv: list[str]  # the vllm serve command
    generation_yaml: str  # the experiment's generation section for it

    @property
    def command(self) -> str:
        return shlex.join(self.argv)


def base_hub_id(model_ref: str) -> str:
    """What vLLM loads for a safedrift model reference."""
    from safedrift.models.embedded import EMBEDDED

    if model_ref.startswith("embedded:"):
        return EMBEDDED[model_ref.split(":", 1)[1]].hub_id
    if model_ref.startswith("hf:"):
        return model_ref[3:]
    if Path(model_ref).is_dir():
        return model_ref
    raise SafedriftError(f"model '{model_ref}' is a GGUF file; vLLM needs its original "
                         "weights: pass --base HUB_ID_OR_FOLDER")


def vllm_serve_plan(results: pd.DataFrame, adapters_dir: Path, base: str | None = None,
                    port: int = 8000) -> ServePlan:
    """`results`: a run's rows (model_id, adapter_key, model_ref); `adapters_dir`: where the
    adapters live ($SAFEDRIFT_CACHE/adapters)."""
    refs = results["model_ref"].dropna().unique()
    if len(refs) != 1:
        raise SafedriftError(f"the run has {len(refs)} base models; serve one at a time")
    variants = (results.dropna(subset=["adapter_key"])
                .drop_duplicates("model_id")[["model_id", "adapter_key"]]
                .sort_values("model_id"))
    if variants.empty:
        raise SafedriftError("the run has no tuned variants to serve")
    modules, ranks, trained_on = [], [], set()
    for model_id, key in variants.itertuples(index=False):
        folder = adapters_dir / key
        config = folder / "adapter_config.json"
        if not (config.is_file() and (folder / "adapter_model.safetensors").is_file()):
            raise SafedriftError(f"adapter {key} of '{model_id}' is not in {adapters_dir} "
                                 "(run the experiment here, or set SAFEDRIFT_CACHE)")
        settings = json.loads(config.read_text())
        ranks.append(int(settings.get("r", 8)))
        trained_on.add(settings.get("base_model_name_or_path") or "")
        modules.append(f"{model_id}={folder.resolve()}")
    rank = next(r for r in VLLM_LORA_RANKS if r >= max(ranks)) if max(ranks) <= \
        VLLM_LORA_RANKS[-1] else max(ranks)
    if base is None:
        folder = next(iter(trained_on)) if len(trained_on) == 1 else ""
        base = folder if folder and Path(folder).is_dir() else base_hub_id(str(refs[0]))
    argv = ["vllm", "serve", base, "--served-model-name", "base",
            "--port", str(port), "--enable-lora", "--max-lora-rank", str(rank),
            "--max-loras", str(len(modules)), "--seed", "0", "--lora-modules", *modules]
    mapping = ", ".join(f"{m}: {m}" for m in variants["model_id"])
    yaml = ("generation:\n  backend: openai\n"
            f"  endpoint: {{base_url: \"http://127.0.0.1:{port}/v1\", model: base, "
            "api: completions, concurrency: 16}\n"
            f"  variant_models: {{{mapping}}}\n")
    return ServePlan(argv, yaml)
