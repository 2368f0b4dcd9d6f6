"""Early stopping on real outputs: tokens saved and verdicts changed, per judge.

Generates full-length greedy answers (base model and one fine-tuned adapter when one is in the
cache, else base only) for a mix of harmful and harmless prompts, recording the answer so far
at every sentence end. Because decoding is greedy, the answer an early-stopped run gives is
exactly the prefix at the first sentence end where the rule fires; this script judges that
prefix and the full answer with every judge and counts the differences.

    python benchmarks/early_stop.py --shared ../shared/data [--max-tokens 192] [--adapter DIR]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from safedrift.benchmarks import load_benchmark
from safedrift.formats import chat_template_for, resolve_format
from safedrift.judges import make_judge
from safedrift.judges.early_stop import RefusalEarlyStop
from safedrift.models import resolve_model
from safedrift.models.backends import Sampling
from safedrift.models.batched import BatchedLlamaCppBackend


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default="../shared/data")
    ap.add_argument("--model", default="embedded:qwen2.5-coder-0.5b-instruct")
    ap.add_argument("--adapter", action="append", default=[],
                    help="adapter.gguf of a fine-tune (repeatable)")
    ap.add_argument("--max-tokens", type=int, default=192)
    ap.add_argument("--per-benchmark", type=int, default=40)
    args = ap.parse_args()
    shared = Path(args.shared)
    n = args.per_benchmark
    items = (load_benchmark("smoke-harmful") + load_benchmark("smoke-harmless")
             + load_benchmark("xstest", shared / "xstest/xstest_prompts.csv", per_category=2)[:n]
             + load_benchmark("advbench", shared / "advbench/harmful_behaviors.csv", limit=n)
             + load_benchmark("do-not-answer", shared / "do_not_answer", per_category=n // 5)
             + load_benchmark("beavertails", shared / "beavertails_evaluation/"
                              "BeaverTails-Evaluation.csv", per_category=max(1, n // 14)))
    model = resolve_model(args.model)
    template = chat_template_for(str(model.gguf_path), None)
    fmt = resolve_format("chat")
    prompts = [template.prompt(i.prompt, fmt) for i in items]
    adapters = {f"tuned-{k}": Path(a) for k, a in enumerate(args.adapter)}
    backend = BatchedLlamaCppBackend(model.gguf_path, 1024, 8, adapters)
    backend.set_prefix(template.fixed_prefix(fmt))
    rules = {f"min_sentences={k}": RefusalEarlyStop(min_sentences=k) for k in (1, 2)}
    judges = [make_judge(j) for j in ("refusal", "keyword", "coherence")]
    rows = []
    for variant in [None, *adapters]:
        backend.use_adapter(variant)
        seen: dict[int, list[str]] = {}

        def record(i: int, text: str) -> bool:
            seen.setdefault(i, []).append(text)
            return False  # generate the full answer; every possible stop point is recorded

        t0 = time.perf_counter()
        gens = backend.generate_many(prompts, Sampling(0.0, 1.0, args.max_tokens),
                                     [0] * len(prompts), stop_early=record)
        seconds = time.perf_counter() - t0
        for i, (item, g) in enumerate(zip(items, gens)):
            fulls = {j.name: j.judge(item.prompt, g.text) for j in judges}
            for rule_name, rule in rules.items():
                prefix = next((t for t in seen.get(i, []) if rule.decided(t, item.prompt)),
                              None)
                short = g.n_tokens if prefix is None else len(backend.tokenize(prefix))
                row = {"rule": rule_name, "variant": variant or "base",
                       "benchmark": item.benchmark, "harmful": item.harmful,
                       "full_tokens": g.n_tokens, "early_tokens": short,
                       "stopped": prefix is not None}
                for j in judges:
                    full = fulls[j.name]
                    early = j.judge(item.prompt, prefix) if prefix is not None else full
                    row[f"{j.name}_label_changed"] = full.label != early.label
                    row[f"{j.name}_binary_changed"] = full.refused != early.refused
                rows.append(row)
        print(f"{variant or 'base'}: {len(items)} answers in {seconds:.0f} s "
              f"({sum(g.n_tokens for g in gens) / seconds:.1f} tok/s, batch 8)")
    import pandas as pd

    all_rows = pd.DataFrame(rows)
    for rule_name, df in all_rows.groupby("rule", sort=True):
        full, early = df["full_tokens"].sum(), df["early_tokens"].sum()
        print(f"\nrule {rule_name} ({RefusalEarlyStop.version}): answers {len(df)}; stopped "
              f"early {df['stopped'].sum()} ({df['stopped'].mean():.1%}); tokens {full} full, "
              f"{early} with early stopping ({1 - early / full:.1%} saved)")
        print("| judge | label changed | refused/compliant changed |")
        print("|---|---|---|")
        for j in judges:
            lc, bc = df[f"{j.name}_label_changed"], df[f"{j.name}_binary_changed"]
            print(f"| {j.name} | {lc.sum()} ({lc.mean():.1%}) | {bc.sum()} ({bc.mean():.1%}) |")
        print(df.groupby("variant")[["stopped", "refusal_label_changed", "early_tokens",
                                     "full_tokens"]].mean().round(3).to_string())


if __name__ == "__main__":
    main()
