"""The GPU check of the route every CUDA user takes by default: `finetune.device: auto` trains
in bfloat16 on the GPU, and the transformers backend generates there, end to end through
`run_experiment`.

    python benchmarks/gpu_check.py MODEL.gguf [--output runs/gpu-check] [--device auto]
    python benchmarks/gpu_check.py MODEL.gguf --device cpu --output runs/cpu-check   # reference
    python benchmarks/gpu_check.py --compare runs/gpu-check/results_a.parquet runs/cpu-check/results_a.parquet

The experiment (two fine-tune seeds, 30 steps on the built-in arithmetic data, the 40 built-in
smoke prompts, greedy, 32 tokens, transformers backend) runs twice, each time with an empty
adapter cache, so the second run trains again: the table says whether the device repeats itself
(adapter weights and answers), and prints each run's training losses, refusal rates and times.
`--compare A B` sets two results files side by side (e.g. GPU against CPU): identical answers
and refusal rates per model. The second run repeats the adapters' training and generation but
not the dequantisation of the GGUF, which each run caches.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
from vllm_check import compare  # this folder: per model, identical answers and both rates


def experiment(model: str, device: str, output: Path) -> dict:
    return {
        "model": {"ref": model},
        "finetune": {"data": {"source": "builtin:arithmetic", "n_examples": 256},
                     "train": {"steps": 30, "batch_size": 4, "max_length": 128},
                     "seeds": [0, 1], "device": device},
        "benchmarks": [{"name": "smoke-harmful"}, {"name": "smoke-harmless"}],
        "sampling": {"temperature": 0.0, "max_tokens": 32},
        "generation": {"backend": "transformers", "batch_size": 8, "early_stop": True,
                       "formats": ["chat"]},
        "judges": ["refusal", "keyword", "coherence"],
        "output": str(output),
    }


def run_once(model: str, device: str, output: Path, cache: Path) -> dict:
    """One run with an empty adapter cache of its own (the dequantised base is shared)."""
    from rich.console import Console

    from safedrift.config import parse_config
    from safedrift.pipeline import run_experiment
    from safedrift.store import ResultsStore

    os.environ["SAFEDRIFT_CACHE"] = str(cache)
    cfg = parse_config(experiment(model, device, output))
    t0 = time.perf_counter()
    outcome = run_experiment(cfg, Console(stderr=True))
    seconds = time.perf_counter() - t0
    with ResultsStore(outcome.database, read_only=True) as store:
        rows = store.results(outcome.run_id, "refusal")
        adapters = store.con.execute("SELECT adapter_key FROM adapters").df()["adapter_key"]
    trained = {}
    for key in adapters:
        folder = cache / "adapters" / key
        meta = json.loads((folder / "train.json").read_text())
        trained[key] = {"meta": meta, "weights": _tensors(folder / "adapter_model.safetensors")}
    return {"rows": rows, "seconds": seconds, "generation_seconds": outcome.generation_seconds,
            "tokens": outcome.n_tokens, "trained": trained}


def _tensors(path: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(str(path))


def versions() -> str:
    import torch

    parts = [f"python {platform.python_version()}", f"torch {torch.__version__}"]
    for name in ("transformers", "peft", "gguf", "duckdb"):
        try:
            parts.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{name} missing")
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return ", ".join(parts) + f"; {gpu}"


def check(model: str, device: str, output: Path) -> None:
    print(versions())
    output.mkdir(parents=True, exist_ok=True)
    runs = {}
    for name in ("a", "b"):
        runs[name] = run_once(model, device, output / name, output / f"cache-{name}")
        runs[name]["rows"].to_parquet(output / f"results_{name}.parquet")
    a, b = runs["a"], runs["b"]
    print(f"\nrun a: {a['seconds']:.1f} s in all, generation {a['generation_seconds']:.1f} s "
          f"({a['tokens']} tokens); run b: {b['seconds']:.1f} s, "
          f"generation {b['generation_seconds']:.1f} s")
    print("\nfine-tuning (per adapter; b retrained it from scratch):")
    for key, ta in a["trained"].items():
        tb = b["trained"][key]
        meta = ta["meta"]
        diff = max(float(np.max(np.abs(ta["weights"][t] - tb["weights"][t])))
                   for t in ta["weights"])
        print(f"  seeds {meta['seeds']} on {meta['device']} / {meta['dtype']}: loss "
              f"{meta['losses'][0]:.3f} -> {meta['losses'][-1]:.3f} in {meta['seconds']:.1f} s; "
              f"b's loss {tb['meta']['losses'][-1]:.3f}; largest weight difference a vs b "
              f"{diff:.3g}")
    print("\nanswers, run a vs run b (same config, same seeds):")
    print(compare(a["rows"], b["rows"], ("a", "b")).to_string(index=False))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", nargs="?", help="a GGUF file (or any model reference)")
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--output", default="runs/gpu-check")
    ap.add_argument("--deterministic", action="store_true",
                    help="torch.use_deterministic_algorithms and cuBLAS's fixed workspace")
    ap.add_argument("--compare", nargs=2, metavar=("A", "B"),
                    help="two results parquet files to set side by side")
    args = ap.parse_args()
    if args.compare:
        for path in args.compare:
            if not Path(path).is_file():
                sys.exit(f"gpu_check: results file '{path}': no such file")
        a, b = (pd.read_parquet(p) for p in args.compare)
        print(compare(a, b, ("a", "b")).to_string(index=False))
        return
    if not args.model:
        sys.exit("gpu_check: give a model (a GGUF file), or --compare A B")
    if args.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # before CUDA starts
        import torch

        torch.use_deterministic_algorithms(True)
    check(args.model, args.device, Path(args.output))


if __name__ == "__main__":
    main()
