"""Greedy generation through the transformers backend, one prompt at a time vs `--batch`
prompts decoded together (left-padded), on the same model, prompts and settings, alternating
rounds in one process; also checks that both give the same answers.

    python benchmarks/transformers_batching.py [--model REF] [--batch 8] [--rounds 2]

Prints a table with tokens/s and the batched loop's ratio to batch 1.
"""

from __future__ import annotations

import argparse
import statistics
import time

from safedrift.benchmarks import load_benchmark
from safedrift.formats import chat_template_for
from safedrift.models import resolve_model
from safedrift.models.backends import Sampling, TransformersBackend, _threads
from safedrift.models.hf import load_causal_lm


def timed(backend, prompts, max_tokens):
    t0 = time.perf_counter()
    gens = backend.generate_many(prompts, Sampling(max_tokens=max_tokens), [0] * len(prompts))
    return gens, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="embedded:qwen2.5-coder-0.5b-instruct")
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--items", type=int, default=10, help="items per smoke set")
    ap.add_argument("--batch", type=int, default=8)
    args = ap.parse_args()
    model = resolve_model(args.model)
    net, tok = load_causal_lm(model)
    template = chat_template_for(str(model.gguf_path) if model.gguf_path else None,
                                 None if model.gguf_path else model.hf_source)
    items = (load_benchmark("smoke-harmful", limit=args.items)
             + load_benchmark("smoke-harmless", limit=args.items))
    prompts = [template.prompt(i.prompt) for i in items]
    loops = {"batch 1": TransformersBackend(net, tok, 1),
             f"batch {args.batch}": TransformersBackend(net, tok, args.batch)}
    runs = {name: [] for name in loops}
    answers = {}
    for _ in range(args.rounds):  # alternate so drift on a noisy machine hits both alike
        for name, backend in loops.items():
            gens, seconds = timed(backend, prompts, args.max_tokens)
            runs[name].append(seconds)
            answers[name] = gens
    first, second = answers.values()
    same = sum(a.text == b.text for a, b in zip(first, second))
    print(f"model {args.model} (transformers, float32, CPU), {len(prompts)} prompts, "
          f"max_tokens {args.max_tokens}, {args.rounds} alternating rounds, {_threads()} threads")
    print("| loop | tokens | median s | tokens/s | ratio to batch 1 |")
    print("|---|---|---|---|---|")
    rates = {}
    for name, seconds in runs.items():
        tokens = sum(g.n_tokens for g in answers[name])
        rates[name] = tokens / statistics.median(seconds)
        print(f"| {name} | {tokens} | {statistics.median(seconds):.1f} | {rates[name]:.1f} | "
              f"{rates[name] / rates['batch 1']:.2f} |")
    print(f"identical answers: {same} of {len(prompts)}")


if __name__ == "__main__":
    main()
