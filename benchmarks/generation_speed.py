"""Generation tokens/s through safedrift's llama.cpp backends next to a bare llama-cpp-python
loop, on the same model, prompts and greedy settings, alternating rounds in one process:

- safedrift at batch 1 (LlamaCppBackend; goal ≥ 0.95× the bare loop);
- safedrift batched (BatchedLlamaCppBackend, --batch sequences per decode; goal ≥ 2×).

    python benchmarks/generation_speed.py [--model REF] [--max-tokens N] [--rounds R] [--batch B]

Prints a table with each loop's ratio to the bare loop.
"""

from __future__ import annotations

import argparse
import statistics
import time

from safedrift.benchmarks import load_benchmark
from safedrift.formats import chat_template_for
from safedrift.models import resolve_model
from safedrift.models.backends import (LlamaCppBackend, Sampling, _threads, extra_buffers_enabled,
                                       llama_model_params)
from safedrift.models.batched import BatchedLlamaCppBackend


def bare_loop(llm, prompts, max_tokens):
    tokens = 0
    t0 = time.perf_counter()
    for p in prompts:
        out = llm.create_completion(p, max_tokens=max_tokens, temperature=0.0, top_k=0,
                                    min_p=0.0, repeat_penalty=1.0)
        tokens += out["usage"]["completion_tokens"]
    return tokens, time.perf_counter() - t0


def safedrift_loop(backend, prompts, max_tokens):
    tokens = 0
    t0 = time.perf_counter()
    for p in prompts:
        tokens += backend.generate(p, Sampling(max_tokens=max_tokens), seed=0).n_tokens
    return tokens, time.perf_counter() - t0


def batched_loop(backend, prompts, max_tokens):
    t0 = time.perf_counter()
    gens = backend.generate_many(prompts, Sampling(max_tokens=max_tokens), [0] * len(prompts))
    return sum(g.n_tokens for g in gens), time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="embedded:qwen2.5-coder-0.5b-instruct")
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--items", type=int, default=10, help="items per smoke set")
    ap.add_argument("--batch", type=int, default=8, help="sequences per decode when batched")
    args = ap.parse_args()

    from llama_cpp import Llama

    model = resolve_model(args.model)
    template = chat_template_for(str(model.gguf_path), None)
    items = load_benchmark("smoke-harmful", limit=args.items) + \
        load_benchmark("smoke-harmless", limit=args.items)
    prompts = [template.prompt(i.prompt) for i in items]
    backend = LlamaCppBackend(model.gguf_path, n_ctx=1024, prefix=template.fixed_prefix())
    with llama_model_params(use_extra_bufts=extra_buffers_enabled()):
        bare = Llama(model_path=str(model.gguf_path), n_ctx=1024, n_threads=_threads(),
                     n_threads_batch=_threads(), verbose=False)
    batched = BatchedLlamaCppBackend(model.gguf_path, 1024, args.batch)
    batched.set_prefix(template.fixed_prefix())
    name_b = f"safedrift batched ({args.batch})"
    rows = {"bare llama-cpp-python": [], "safedrift LlamaCppBackend": [], name_b: []}
    for _ in range(args.rounds):  # alternate so drift on a noisy machine hits all alike
        rows["bare llama-cpp-python"].append(bare_loop(bare, prompts, args.max_tokens))
        rows["safedrift LlamaCppBackend"].append(safedrift_loop(backend, prompts, args.max_tokens))
        rows[name_b].append(batched_loop(batched, prompts, args.max_tokens))
    print(f"model {args.model}, {len(prompts)} prompts, max_tokens {args.max_tokens}, "
          f"{args.rounds} alternating rounds, {_threads()} threads")
    print("| loop | tokens | median s | tokens/s | ratio to bare |")
    print("|---|---|---|---|---|")
    rates = {}
    for name, runs in rows.items():
        tok = runs[0][0]
        sec = statistics.median(r[1] for r in runs)
        rates[name] = tok / sec
    for name, runs in rows.items():
        sec = statistics.median(r[1] for r in runs)
        print(f"| {name} | {runs[0][0]} | {sec:.2f} | {rates[name]:.1f} | "
              f"{rates[name] / rates['bare llama-cpp-python']:.2f} |")
    print("goals: batch 1 ≥ 0.95× bare; batched ≥ 2× bare")


if __name__ == "__main__":
    main()
