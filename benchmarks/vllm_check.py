"""The one GPU check of the vLLM route: one engine serves the base model and every adapter of a
sweep (multi-LoRA), and its answers match safedrift's own backend.

    pip install 'safedrift[vllm]'      # on the GPU machine
    python benchmarks/vllm_check.py examples/quickstart.yaml [--port 8000] [--reference-backend transformers]

1. runs the experiment with safedrift's own backend (`--reference-backend`: transformers on the
   GPU by default, the same weights vLLM loads; or llamacpp) — this trains the adapters;
2. starts the `vllm serve` command that `safedrift vllm-command` prints for that run and waits
   for it (at most --timeout s);
3. runs the same experiment through it (`backend: openai`, every tuned variant sent to its
   adapter by name);
4. prints, per model, answers identical between the two backends, both refusal rates, and each
   run's generation time. Greedy decoding on both sides, so answers should match except where
   the two numerics tip a near-tie.

Exit status 0 with the table; 1 with one line when vLLM or a GPU is missing or the server does
not come up (its log's last lines are printed).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import yaml


def _fail(message: str) -> None:
    print(f"vllm_check: {message}", file=sys.stderr)
    sys.exit(1)


def _run(config: dict, output: Path) -> tuple[pd.DataFrame, float]:
    from rich.console import Console

    from safedrift.config import parse_config
    from safedrift.pipeline import run_experiment
    from safedrift.store import ResultsStore

    cfg = parse_config({**config, "output": str(output)})
    t0 = time.perf_counter()
    outcome = run_experiment(cfg, Console(stderr=True))
    seconds = time.perf_counter() - t0
    with ResultsStore(outcome.database, read_only=True) as store:
        rows = store.results(outcome.run_id, cfg.judges[0] if isinstance(cfg.judges[0], str)
                             else cfg.judges[0].judge_name)
    return rows, seconds


def compare(reference: pd.DataFrame, served: pd.DataFrame,
            names: tuple[str, str] = ("ref", "vllm")) -> pd.DataFrame:
    """Per model: answers compared, identical answers, refusal rate under each backend (or
    device: benchmarks/gpu_check.py)."""
    key = ["model_id", "benchmark", "format", "item_id", "sample_index"]
    a, b = names
    both = reference.merge(served, on=key, suffixes=(f"_{a}", f"_{b}"))
    return (both.assign(same=both[f"response_{a}"] == both[f"response_{b}"])
            .groupby("model_id")
            .agg(answers=("same", "size"), identical=("same", "sum"),
                 **{f"refusal_{n}": (f"refused_{n}", "mean") for n in names})
            .reset_index())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("config")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--timeout", type=int, default=900, help="seconds to wait for the server")
    ap.add_argument("--reference-backend", choices=["transformers", "llamacpp"],
                    default="transformers")
    ap.add_argument("--output", default="runs/vllm-check")
    args = ap.parse_args()
    if shutil.which("vllm") is None:
        _fail("the vllm command is not installed: pip install 'safedrift[vllm]'")
    import torch

    if not torch.cuda.is_available():
        _fail("no CUDA GPU visible; vLLM needs one")
    from safedrift.config import load_config
    from safedrift.models.vllm_serve import vllm_serve_plan
    from safedrift.provenance import cache_dir

    config = load_config(args.config).model_dump(mode="json")
    out = Path(args.output)
    config["generation"] = {**config["generation"], "backend": args.reference_backend}
    reference, ref_seconds = _run(config, out / "reference")

    plan = vllm_serve_plan(reference, Path(cache_dir()) / "adapters", port=args.port)
    log = open(out / "vllm.log", "w")  # noqa: SIM115 - the server outlives this block
    print(plan.command, file=sys.stderr)
    server = subprocess.Popen(plan.argv, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + args.timeout
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{args.port}/v1/models", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.time() > deadline:
                    tail = (out / "vllm.log").read_text(errors="replace").splitlines()[-15:]
                    _fail("vllm serve did not come up:\n" + "\n".join(tail))
                time.sleep(3)
        served_cfg = {**config, "generation": {**config["generation"],
                                               **yaml.safe_load(plan.generation_yaml)[
                                                   "generation"]}}
        served, served_seconds = _run(served_cfg, out / "vllm")
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()
    table = compare(reference, served)
    print(f"reference: {args.reference_backend}, {ref_seconds:.0f} s (training included); "
          f"vLLM: {served_seconds:.0f} s; server: {plan.command}")
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
