"""`safedrift plan CONFIG`: the grid an experiment will run and how long it should take, before
anything heavy runs.

The grid is variants (base + one per fine-tuning seed) × benchmarks × prompt formats; each cell
generates items × samples answers of at most max_tokens tokens. Cells already in the results
database are reused and cost nothing. The time estimate comes from a short calibration on this
machine: the base model answers a few items of the first benchmark (as the run would, same
backend and batch size), which gives seconds per generated token (prompt evaluation included)
and how long answers really are; fine-tuning is timed over two optimiser steps; each judge
that runs a model here (`coherence-ppl`, `toxicity`, an LLM judge with a local `model`) is
timed on the calibration answers, since those take seconds per answer where the text judges
take microseconds. LLM judges behind an endpoint are not timed: that would send requests to it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from safedrift.config import ExperimentConfig
from safedrift.models.backends import Sampling
from safedrift.pipeline import (Variant, _Backends, _gen_key, generate_answers,
                                lora_settings, prepare, render_prompt, variants_of)


@dataclass
class CellPlan:
    benchmark: str
    format: str
    variants: int
    items: int
    samples: int
    max_tokens: int
    cached: int  # cells of this row already in the results database
    task: str = "refusal"  # the benchmark's task: which judges judge its answers

    @property
    def generations(self) -> int:
        return (self.variants - self.cached) * self.items * self.samples


@dataclass
class Plan:
    rows: list[CellPlan]
    adapters_total: int
    adapters_to_train: int
    train_steps: int
    # filled by calibrate()
    seconds_per_token: float | None = None
    mean_answer_fraction: float | None = None  # answer length / max_tokens in the calibration
    seconds_per_train_step: float | None = None
    judge_seconds: dict[str, float] = field(default_factory=dict)  # per answer, timed judges
    judge_tasks: dict[str, tuple[str, ...]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def cells(self) -> int:
        return sum(r.variants for r in self.rows)

    @property
    def cells_to_run(self) -> int:
        return sum(r.variants - r.cached for r in self.rows)

    @property
    def generations(self) -> int:
        return sum(r.generations for r in self.rows)

    @property
    def max_tokens(self) -> int:
        return sum(r.generations * r.max_tokens for r in self.rows)

    @property
    def expected_tokens(self) -> float | None:
        if self.mean_answer_fraction is None:
            return None
        return self.max_tokens * self.mean_answer_fraction

    @property
    def generation_seconds(self) -> float | None:
        if self.seconds_per_token is None or self.expected_tokens is None:
            return None
        return self.expected_tokens * self.seconds_per_token

    @property
    def judging_seconds(self) -> float:
        """Timed judges × the answers of the benchmarks whose task they judge."""
        return sum(rate * sum(r.generations for r in self.rows
                              if r.task in self.judge_tasks.get(name, ()))
                   for name, rate in self.judge_seconds.items())

    @property
    def training_seconds(self) -> float | None:
        if self.adapters_to_train == 0:
            return 0.0
        if self.seconds_per_train_step is None:
            return None
        return self.adapters_to_train * self.train_steps * self.seconds_per_train_step


def make_plan(cfg: ExperimentConfig) -> tuple[Plan, tuple]:
    """The grid of `cfg` (validated as a run would), and what `prepare` returned."""
    prepared = prepare(cfg)
    model, benches, _, _, _, formats = prepared
    variants = variants_of(cfg, model)
    done: set[str] = set()
    db = Path(cfg.output).expanduser() / "results.duckdb"
    if db.is_file():
        from safedrift.store import ResultsStore

        with ResultsStore(db, read_only=True) as store:
            done = {k for (k,) in store.con.execute("SELECT gen_key FROM gen_cells").fetchall()}
    rows = []
    for bench_cfg, items in benches:
        for fmt in formats:
            cached = sum(_gen_key(cfg, model, v, bench_cfg, items, fmt) in done
                         for v in variants)
            rows.append(CellPlan(bench_cfg.name, fmt.name, len(variants), len(items),
                                 cfg.sampling.n_samples,
                                 bench_cfg.max_tokens or cfg.sampling.max_tokens, cached,
                                 items[0].task if items else "refusal"))
    adapters = [v.adapter for v in variants if v.adapter]  # none with backend openai
    to_train = sum(not (a.folder / "train.json").is_file() for a in adapters)
    return Plan(rows, len(adapters), to_train, cfg.finetune.train.steps), prepared


def calibrate(plan: Plan, cfg: ExperimentConfig, prepared: tuple, n_items: int = 16,
              max_tokens: int = 64) -> Plan:
    """Time a few real answers (and two fine-tuning steps, when adapters are to be trained)."""
    model, benches, judges, _, template, formats = prepared
    bench_cfg, items = benches[0]
    items = items[:n_items]
    fmt = formats[0]
    cap = min(max_tokens, bench_cfg.max_tokens or cfg.sampling.max_tokens)
    s = cfg.sampling
    sampling = Sampling(s.temperature, s.top_p, cap)
    prompts = [render_prompt(cfg, template, i.prompt, fmt) for i in items]
    backends = _Backends(cfg, model, {})  # the backend the run would open for the base model
    try:
        backend = backends.get(Variant("base", None), template.fixed_prefix(fmt))
        t0 = time.perf_counter()
        gens = generate_answers(backend, prompts, sampling, [s.seed] * len(prompts))
        seconds = time.perf_counter() - t0
    finally:
        backends.close()
    tokens = sum(x.n_tokens for x in gens)
    plan.seconds_per_token = seconds / max(tokens, 1)
    # an answer that hit the calibration cap may run to the configured max_tokens
    lengths = [x.n_tokens / cap if x.finish_reason == "stop" else 1.0 for x in gens]
    plan.mean_answer_fraction = sum(lengths) / len(lengths)
    plan.notes.append(f"calibration: {len(gens)} answers of {bench_cfg.name} from the base "
                      f"model, {tokens} tokens in {seconds:.1f} s")
    _time_judges(plan, judges, [(i.prompt, g.text) for i, g in zip(items, gens)])
    if plan.adapters_to_train:
        plan.seconds_per_train_step = _time_train_steps(cfg, model, template)
    return plan


def _time_judges(plan: Plan, judges, answers: list[tuple[str, str]]) -> None:
    """Seconds per answer of each judge that runs a model, after one untimed answer (which
    loads the model)."""
    if len(answers) < 2:
        return
    for judge in judges:
        if not getattr(judge, "runs_model", False):
            continue
        # a local LLM judge caches verdicts: time the model, not the cache
        cache = getattr(judge, "cache", None)
        if cache is not None:
            judge.cache = None
        try:
            judge.judge(*answers[0])
            t0 = time.perf_counter()
            for prompt, text in answers[1:]:
                judge.judge(prompt, text)
        finally:
            if cache is not None:
                judge.cache = cache
        plan.judge_seconds[judge.name] = (time.perf_counter() - t0) / (len(answers) - 1)
        plan.judge_tasks[judge.name] = tuple(judge.tasks)
    untimed = [j.name for j in judges
               if hasattr(j, "judge_many") and not getattr(j, "runs_model", False)]
    if untimed:
        plan.notes.append(f"not timed: LLM judges {', '.join(untimed)} (their endpoint's speed)")


def _time_train_steps(cfg: ExperimentConfig, model, template, steps: int = 2) -> float:
    from safedrift.finetune.data import load_examples
    from safedrift.finetune.train import FinetuneSeeds, TrainSettings, train_lora
    from safedrift.formats import resolve_format
    from safedrift.models.hf import load_causal_lm

    ft = cfg.finetune
    device, dtype = ft.resolved_device()
    net, tok = load_causal_lm(model, dtype, cfg.model.trust_remote_code, device)
    examples = load_examples(ft.data.source, ft.data.n_examples, ft.data.seed, ft.data.split)
    lora = lora_settings(ft)
    train = TrainSettings(**{**ft.train.model_dump(), "steps": steps})
    times: list[float] = []
    t = [time.perf_counter()]

    def tick(step, loss):
        now = time.perf_counter()
        times.append(now - t[0])
        t[0] = now

    train_lora(net, tok, template, examples, resolve_format(ft.format), lora, train,
               FinetuneSeeds(0, 0, 0), on_step=tick)
    return min(times)  # the first step also warms up
