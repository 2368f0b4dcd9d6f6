"""The main recipe, top to bottom: fine-tune → generate → judge → store → summarise → report.

Every stage is keyed by a hash of what determines it. Adapters live in the shared cache and are
reused by any run with the same base model, data, LoRA settings and seeds; generation cells
(one model variant × one benchmark × one format) are committed to DuckDB atomically and skipped
on re-run, so a killed run resumes and loses at most the cell in flight. Verdicts are stored
per cell and judge version; the answers whose verdict was a judge error (an LLM judge's
endpoint down, unparseable output) are judged again on re-run.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)

from safedrift.benchmarks import load_benchmark
from safedrift.config import ExperimentConfig, SeedTriple, judge_name
from safedrift.errors import SafedriftError
from safedrift.finetune.data import load_examples
from safedrift.formats import chat_template_for, resolve_format
from safedrift.hashing import hash_obj, sha256_file
from safedrift.judges import judge_all, make_judge
from safedrift.judges.early_stop import RefusalEarlyStop
from safedrift.judges.validate import (labelled_kind, load_binary_labelled, load_labelled,
                                       unlabelled_note, validate_binary, validate_judge)
from safedrift.models import ResolvedModel, resolve_model
from safedrift.models.backends import Sampling
from safedrift.provenance import cache_dir, package_versions
from safedrift.stats.summary import RunSummary, summarise
from safedrift.store import ResultsStore

FINETUNE_RECIPE_VERSION = "lora-loop-2"  # bump when training code changes its numbers


@dataclass(frozen=True)
class Adapter:
    key: str
    seeds: SeedTriple
    folder: Path

    @property
    def gguf(self) -> Path:
        return self.folder / "adapter.gguf"

    @property
    def meta(self) -> dict:
        return json.loads((self.folder / "train.json").read_text())


@dataclass(frozen=True)
class Variant:
    model_id: str  # "base" or "tuned-s{init}-{data_order}-{dropout}"
    adapter: Adapter | None


@dataclass
class RunOutcome:
    run_id: str
    output: Path
    database: Path
    summary: RunSummary
    timings: dict[str, float] = field(default_factory=dict)
    trained: int = 0
    generated_cells: int = 0
    reused_cells: int = 0
    n_tokens: int = 0
    generation_seconds: float = 0.0


class LoggedProgress(Progress):
    """Rich progress bars that, where the console is not a terminal (a log file, nohup, a batch
    job), also print a plain line at every tenth of a task (the last at its end), or at the
    next step after a minute without one, so a log shows the work moving instead of nothing
    until the run ends."""

    def __init__(self, *columns, log_lines: bool = False, **kwargs):
        super().__init__(*columns, **kwargs)
        self.log_lines = log_lines
        self._logged: dict = {}  # task id -> (tenths printed, time of the last line)

    def update(self, task_id, **kwargs) -> None:
        super().update(task_id, **kwargs)
        self._log(task_id)

    def advance(self, task_id, advance: float = 1) -> None:
        super().advance(task_id, advance)
        self._log(task_id)

    def _log(self, task_id) -> None:
        if not self.log_lines or self.disable:
            return
        task = next(t for t in self.tasks if t.id == task_id)
        if not task.total:
            return
        tenths = int(10 * task.completed / task.total)
        last_tenths, last_time = self._logged.get(task_id, (0, time.monotonic()))
        now = time.monotonic()
        if tenths > last_tenths or now - last_time >= 60:
            info, elapsed = task.fields.get("info") or "", int(task.elapsed or 0)
            self.console.print(f"{task.description}: {task.completed:g}/{task.total:g} "
                               f"({elapsed // 60}m{elapsed % 60:02d}s) {info}".rstrip(),
                               highlight=False)
            self._logged[task_id] = (tenths, now)


def progress_bars(console: Console) -> Progress:
    """The progress display of long work (training, generation, judging); plain lines in logs
    that are not a terminal (and not the bars' final frame, which Rich would print there, cut
    to the log's width), quiet in CI logs."""
    return LoggedProgress(TextColumn("[bold]{task.description}"), BarColumn(),
                          MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                          TimeElapsedColumn(), TimeRemainingColumn(), console=console,
                          disable=not console.is_terminal and bool(os.environ.get("CI")),
                          log_lines=not console.is_terminal,
                          transient=not console.is_terminal)


# -- fine-tuning -----------------------------------------------------------------------------
def adapter_key(cfg: ExperimentConfig, model: ResolvedModel, seeds: SeedTriple) -> str:
    ft = cfg.finetune
    return hash_obj({"base": model.sha256, "device": ft.resolved_device(),
                     "data": ft.data.model_dump(mode="json"),
                     "lora": ft.lora.model_dump(mode="json"),
                     "train": ft.train.model_dump(mode="json"),
                     "format": resolve_format(ft.format).key(),
                     "seeds": seeds.model_dump(), "recipe": FINETUNE_RECIPE_VERSION})


def lora_settings(ft):
    """The training loop's LoRA settings from the config's finetune section."""
    from safedrift.finetune.train import LoraSettings

    modules = ft.lora.target_modules
    return LoraSettings(ft.lora.r, ft.lora.alpha, ft.lora.dropout,
                        modules if isinstance(modules, str) else tuple(modules))


def _train_adapters(cfg, model, template, examples, todo, progress, hf_state) -> None:
    """Train every adapter in `todo`, writing each to the cache atomically."""
    import torch
    from peft import get_peft_model_state_dict

    from safedrift.finetune.export_gguf_lora import export_lora_gguf
    from safedrift.finetune.train import FinetuneSeeds, TrainSettings, train_lora
    from safedrift.formats import gguf_metadata
    from safedrift.models.hf import load_causal_lm

    device, dtype = cfg.finetune.resolved_device()
    if "net" not in hf_state:
        task = progress.add_task("load base model (first run: dequantise and cache)", total=None,
                                 info="")
        hf_state["net"], hf_state["tok"] = load_causal_lm(model, dtype,
                                                          cfg.model.trust_remote_code, device)
        progress.update(task, total=1, completed=1)
    net, tok = hf_state["net"], hf_state["tok"]
    arch = (gguf_metadata(model.gguf_path).get("general.architecture")
            if model.gguf_path else net.config.model_type)
    ft = cfg.finetune
    lora = lora_settings(ft)
    train = TrainSettings(**ft.train.model_dump())
    fmt = resolve_format(ft.format)
    for adapter in todo:
        s = adapter.seeds
        task = progress.add_task(f"fine-tune seed {s.init}/{s.data_order}/{s.dropout}",
                                 total=train.steps, info="")
        t0 = time.perf_counter()
        peft_model, result = train_lora(
            net, tok, template, examples, fmt, lora, train,
            FinetuneSeeds(s.init, s.data_order, s.dropout),
            on_step=lambda step, loss: progress.update(task, advance=1, info=f"loss {loss:.3f}"))
        seconds = time.perf_counter() - t0
        tmp = adapter.folder.with_name(adapter.folder.name + f".tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        peft_model.save_pretrained(str(tmp), safe_serialization=True)
        if model.gguf_path is not None:
            state = {k: v.detach().to(torch.float32).cpu().numpy()
                     for k, v in get_peft_model_state_dict(peft_model).items()}
            c = net.config
            export_lora_gguf(state, ft.lora.alpha, str(arch), c.num_hidden_layers,
                             c.num_attention_heads,
                             getattr(c, "num_key_value_heads", c.num_attention_heads),
                             tmp / "adapter.gguf")
        meta = {"losses": result.losses, "learning_rates": result.learning_rates,
                "n_examples": result.n_examples, "threads": result.threads,
                "seconds": seconds, "seeds": s.model_dump(), "device": device, "dtype": dtype}
        (tmp / "train.json").write_text(json.dumps(meta))
        shutil.rmtree(adapter.folder, ignore_errors=True)
        os.replace(tmp, adapter.folder)
        hf_state["net"] = peft_model.unload()  # the untouched base, for the next seed
        net = hf_state["net"]


def prepare_adapters(cfg, model, template, store, progress, hf_state
                     ) -> tuple[list[Adapter], int, dict[str, str]]:
    """Adapters of every seed (trained now or from the cache), how many were trained, and the
    sha256 of each adapter's weights by adapter key."""
    adapters = []
    for s in cfg.finetune.seed_triples():
        key = adapter_key(cfg, model, s)
        adapters.append(Adapter(key, s, cache_dir() / "adapters" / key))
    todo = [a for a in adapters if not (a.folder / "train.json").is_file()]
    if todo:
        d = cfg.finetune.data
        examples = load_examples(d.source, d.n_examples, d.seed, d.split)
        _train_adapters(cfg, model, template, examples, todo, progress, hf_state)
    shas = {}
    for a in adapters:  # record every adapter in this database, trained now or cached
        meta = a.meta
        shas[a.key] = sha256_file(a.folder / "adapter_model.safetensors")
        store.record_adapter({
            "adapter_key": a.key, "base_sha256": model.sha256, "seed_init": a.seeds.init,
            "seed_data_order": a.seeds.data_order, "seed_dropout": a.seeds.dropout,
            "adapter_sha256": shas[a.key],
            "gguf_sha256": sha256_file(a.gguf) if a.gguf.is_file() else None,
            "n_examples": meta["n_examples"], "train_seconds": meta["seconds"],
            "threads": meta["threads"],
            "settings_json": json.dumps(cfg.finetune.model_dump(mode="json"), sort_keys=True)},
            meta["losses"], meta["learning_rates"])
    return adapters, len(todo), shas


# -- generation ------------------------------------------------------------------------------
class _Backends:
    """The backend of each model variant: batched llama.cpp keeps one model and switches
    adapters; the other backends open one per variant and close the previous one."""

    def __init__(self, cfg, model, hf_state):
        self.cfg, self.model, self.hf_state = cfg, model, hf_state
        self.current: tuple[str, object] | None = None

    def get(self, variant: Variant, prefix: str = ""):
        """The backend for `variant`; `prefix` is the prompt format's fixed prefix."""
        if self.current and self.current[0] == variant.model_id:
            if hasattr(self.current[1], "set_prefix"):
                self.current[1].set_prefix(prefix)
            return self.current[1]
        g = self.cfg.generation
        if g.backend == "llamacpp" and g.batch_size > 1:
            return self._batched(variant, prefix)
        if g.backend == "openai":
            from dataclasses import replace

            from safedrift.models.openai_compat import OpenAIBackend

            self.close()
            served = g.variant_models.get(variant.model_id, g.endpoint.model)
            backend = OpenAIBackend(replace(g.endpoint.settings(), model=served))
            self.current = (variant.model_id, backend)
            return backend
        self.close()
        if self.cfg.generation.backend == "llamacpp":
            from safedrift.models.backends import LlamaCppBackend

            lora = variant.adapter.gguf if variant.adapter else None
            backend = LlamaCppBackend(self.model.gguf_path, lora, self.cfg.generation.n_ctx,
                                      prefix)
        else:
            from safedrift.models.backends import TransformersBackend
            from safedrift.models.hf import load_causal_lm

            if "net" not in self.hf_state:
                device, dtype = self.cfg.finetune.resolved_device()
                self.hf_state["net"], self.hf_state["tok"] = load_causal_lm(
                    self.model, dtype, self.cfg.model.trust_remote_code, device)
            net = self.hf_state["net"]
            if variant.adapter:
                from peft import PeftModel

                net = PeftModel.from_pretrained(net, str(variant.adapter.folder))
                net.eval()
            backend = TransformersBackend(net, self.hf_state["tok"],
                                          self.cfg.generation.batch_size)
        self.current = (variant.model_id, backend)
        return backend

    def _batched(self, variant: Variant, prefix: str):
        """One llama.cpp model for every variant: adapters load once and switch in place."""
        from safedrift.models.batched import BatchedLlamaCppBackend

        if self.current is None or not isinstance(self.current[1], BatchedLlamaCppBackend):
            self.close()
            g = self.cfg.generation
            self.current = ("*", BatchedLlamaCppBackend(self.model.gguf_path, g.n_ctx,
                                                         g.batch_size))
        backend = self.current[1]
        if variant.adapter and variant.model_id not in backend._adapters:
            backend.load_adapter(variant.model_id, variant.adapter.gguf)
        backend.use_adapter(variant.model_id if variant.adapter else None)
        backend.set_prefix(prefix)
        return backend

    def close(self):
        if self.current is None:
            return
        backend = self.current[1]
        if hasattr(backend, "net"):  # transformers: the base stays loaded, the adapter goes
            if hasattr(backend.net, "unload"):
                self.hf_state["net"] = backend.net.unload()
        elif hasattr(backend, "close"):
            backend.close()
        elif hasattr(backend, "llm"):
            backend.llm.close()
        self.current = None


def chat_messages(text: str, fmt) -> list[dict]:
    """A prompt format as chat messages, for servers that apply their own template. The
    template's default system prompt (system None) is the server's to add."""
    if fmt.kind != "chat":
        raise SafedriftError(f"prompt format '{fmt.name}' ({fmt.kind}) needs the endpoint's "
                             "api 'completions'; api 'chat' sends chat messages only")
    if fmt.thinking is not None:
        raise SafedriftError(f"prompt format '{fmt.name}': thinking is applied by the template "
                             "safedrift renders; with api 'chat' the server renders it (vLLM: "
                             "extra_body: {chat_template_kwargs: {enable_thinking: false}})")
    system = [] if fmt.system is None else [{"role": "system", "content": fmt.system}]
    return [*system, {"role": "user", "content": text}]


def generation_device(cfg) -> str:
    """Where the answers are computed, recorded on every row. The transformers backend runs on
    the fine-tuning device and dtype; a GPU's bfloat16 and a CPU's float32 give different greedy
    answers (21 of 40 base-model answers identical on an H200, benchmarks/gpu_check.py), so
    answers of one are never reused for the other."""
    g = cfg.generation
    if g.backend == "transformers":
        return "/".join(cfg.finetune.resolved_device())
    return "server" if g.backend == "openai" else "cpu"  # llama.cpp: no layers offloaded


def _gen_key(cfg, model, variant, bench_cfg, items, fmt) -> str:
    g = cfg.generation
    batching = ({"batch_size": g.batch_size}
                if g.backend in ("llamacpp", "transformers") and g.batch_size > 1
                else {})  # batch 1 keeps the keys of runs made before batching existed
    if g.early_stop:
        batching["early_stop"] = RefusalEarlyStop.version
    if g.backend == "transformers":  # since it stops early and batches: new answers
        batching["transformers"] = 2
        device = generation_device(cfg)
        if device != "cpu/float32":  # CPU float32 keeps its earlier keys
            batching["device"] = device
    if g.backend == "openai":
        e = g.endpoint
        batching["endpoint"] = {"base_url": e.base_url, "api": e.api,
                                "extra_body": e.extra_body, "variant": variant.model_id,
                                "model": g.variant_models.get(variant.model_id, e.model)}
    return hash_obj({**batching, "base": model.sha256, "adapter": variant.adapter.key
                     if variant.adapter else None, "backend": g.backend, "n_ctx": g.n_ctx,
                     "benchmark": bench_cfg.model_dump(mode="json"),
                     "items": hash_obj([(i.item_id, i.prompt) for i in items]),
                     "format": fmt.key(),
                     "sampling": cfg.sampling.model_dump(mode="json")})


def render_prompt(cfg, template, text: str, fmt):
    """What the backend is sent: chat messages for an endpoint's chat API, else the text the
    chat template renders."""
    if cfg.generation.backend == "openai" and cfg.generation.endpoint.api == "chat":
        return chat_messages(text, fmt)
    return template.prompt(text, fmt)


def generate_answers(backend, prompts, sampling, seeds, stop_early=None, on_done=None):
    """Answers in order: batched where the backend takes many prompts, else one at a time."""
    if hasattr(backend, "generate_many"):
        return backend.generate_many(prompts, sampling, seeds, stop_early=stop_early,
                                     on_done=on_done)
    gens = []
    for i, (prompt, seed) in enumerate(zip(prompts, seeds)):
        gens.append(backend.generate(prompt, sampling, seed))
        if on_done:
            on_done(i)
    return gens


def _generate_cell(cfg, model, variant, bench_cfg, items, fmt, template, backend, progress,
                   task):
    s = cfg.sampling
    sampling = Sampling(s.temperature, s.top_p, bench_cfg.max_tokens or s.max_tokens)
    a = variant.adapter
    jobs = [(item, j) for item in items for j in range(s.n_samples)]
    prompts = {item.item_id: render_prompt(cfg, template, item.prompt, fmt) for item in items}
    stop = None
    if cfg.generation.early_stop:
        rule = RefusalEarlyStop()

        def stop(i: int, text: str) -> bool:
            item = jobs[i][0]
            return item.task == "refusal" and rule.decided(text, item.prompt)

    gens = generate_answers(backend, [prompts[item.item_id] for item, _ in jobs], sampling,
                            [s.seed + j for _, j in jobs], stop_early=stop,
                            on_done=lambda i: progress.update(task, advance=1))
    rows = []
    device = generation_device(cfg)
    for (item, j), g in zip(jobs, gens):
        rows.append({
            "model_id": variant.model_id, "model_ref": model.ref,
            "base_sha256": model.sha256, "adapter_key": a.key if a else None,
            "seed_init": a.seeds.init if a else None,
            "seed_data_order": a.seeds.data_order if a else None,
            "seed_dropout": a.seeds.dropout if a else None,
            "benchmark": item.benchmark, "item_id": item.item_id, "category": item.category,
            "harmful": item.harmful, "prompt": item.prompt, "format": fmt.name,
            "sample_index": j, "sampling_seed": s.seed + j, "temperature": s.temperature,
            "top_p": s.top_p, "max_tokens": sampling.max_tokens,
            "backend": cfg.generation.backend, "device": device, "response": g.text,
            "n_tokens": g.n_tokens, "finish_reason": g.finish_reason, "task": item.task,
            "reference": item.reference, "stopped_early": g.stopped_early})
    df = pd.DataFrame(rows)
    for col in ("seed_init", "seed_data_order", "seed_dropout"):
        df[col] = df[col].astype("Int32")
    return df


def _judge_rows(gens: pd.DataFrame, judge, run_id: str, versions: str,
                adapter_sha: dict[str, str]) -> pd.DataFrame:
    """Verdicts of `judge` on the generations of the tasks it judges (maybe none)."""
    for col, default in (("task", "refusal"), ("reference", None), ("stopped_early", False)):
        if col not in gens:
            gens = gens.assign(**{col: default})
    gens = gens[gens["task"].fillna("refusal").isin(judge.tasks)]
    references = gens["reference"].astype(object).where(gens["reference"].notna(), None)
    verdicts = judge_all(judge, list(gens["prompt"]), list(gens["response"]),
                         list(references))
    out = gens.copy()
    out["run_id"] = run_id
    out["config_hash"] = run_id
    out["adapter_sha256"] = out["adapter_key"].map(adapter_sha)
    out["judge"] = judge.name
    out["judge_version"] = judge.version
    out["judge_kind"] = judge.kind
    out["label"] = [v.label for v in verdicts]
    out["refused"] = [v.refused for v in verdicts]
    out["score"] = [v.score for v in verdicts]
    out["reason"] = [v.reason for v in verdicts]
    out["judge_raw"] = [v.raw for v in verdicts]
    out["package_versions"] = versions
    out["created_at"] = pd.Timestamp.now(tz="UTC").tz_localize(None)
    return out


# -- the recipe ------------------------------------------------------------------------------
def prepare(cfg: ExperimentConfig):
    """Everything cheap that can be wrong, checked before anything heavy or written: the model,
    benchmark files, judges, labelled files, prompt formats and fine-tuning data."""
    model = resolve_model(cfg.model.ref)
    if cfg.generation.backend == "llamacpp" and model.gguf_path is None:
        raise SafedriftError(f"model '{model.ref}': backend 'llamacpp' needs a GGUF model; "
                             "set generation.backend: transformers")
    benches = [(b, load_benchmark(b.name, b.path, b.hub_id, b.split, b.limit, b.per_category))
               for b in cfg.benchmarks]
    judges = [make_judge(n, model, cfg.sampling.temperature) for n in cfg.judges]
    validation_sets = []
    for path in cfg.judge_validation:  # each file measures the judges of its label kind
        kind = labelled_kind(path)
        if kind == "refusal":
            validation_sets.append((path, kind, *load_labelled(path)))
        else:
            validation_sets.append((path, kind, load_binary_labelled(path, kind), False))
    template = chat_template_for(str(model.gguf_path) if model.gguf_path else None,
                                 None if model.gguf_path else model.hf_source)
    formats = [resolve_format(f) for f in cfg.generation.formats]
    for fmt in [*formats, resolve_format(cfg.finetune.format)]:
        template.check(fmt)
    if cfg.generation.backend == "openai" and cfg.generation.endpoint.api == "chat":
        for fmt in formats:
            chat_messages("test", fmt)
    from safedrift.models.openai_compat import OpenAICompatClient

    endpoints = [j.endpoint for j in cfg.judges if not isinstance(j, str) and j.endpoint]
    if cfg.generation.backend == "openai":
        endpoints.append(cfg.generation.endpoint)
    for e in endpoints:  # an unreachable server fails here, before anything is written
        OpenAICompatClient(e.settings()).check()
    if cfg.finetune.seeds:
        d = cfg.finetune.data
        load_examples(d.source, 1 if d.source.startswith("builtin:") else d.n_examples,
                      d.seed, d.split)
    return model, benches, judges, validation_sets, template, formats


THINKING_TOKENS = 1024  # below this, a reasoning model's answers often end inside the thinking


def thinking_budget_note(cfg, template, formats, benches) -> str | None:
    """A warning before anything runs when a reasoning model (its chat template writes
    `<think>`) will think in some format with a token budget that thinking alone can use up:
    those answers would have no verdict (`no_answer`)."""
    thinking = [f.name for f in formats if template.thinks(f)]
    budgets = {b.name: b.max_tokens or cfg.sampling.max_tokens for b, _ in benches}
    short = {name: n for name, n in budgets.items() if n < THINKING_TOKENS}
    if not thinking or not short:
        return None
    return (f"note: the model thinks before it answers (its chat template writes <think>) in "
            f"format(s) {', '.join(thinking)}, and max_tokens is "
            f"{', '.join(f'{n} ({name})' for name, n in short.items())}: answers that end inside "
            f"the thinking get no verdict; give {THINKING_TOKENS} or more, or a format with "
            "thinking: false")


def variants_of(cfg: ExperimentConfig, model) -> list[Variant]:
    """The base model and one tuned variant per fine-tuning seed (adapters may not exist yet);
    with backend openai, the base and the served variants named in `variant_models`."""
    out = [Variant("base", None)]
    if cfg.generation.backend == "openai":
        return out + [Variant(name, None) for name in cfg.generation.variant_models]
    for s in cfg.finetune.seed_triples():
        key = adapter_key(cfg, model, s)
        out.append(Variant(f"tuned-s{s.init}-{s.data_order}-{s.dropout}",
                           Adapter(key, s, cache_dir() / "adapters" / key)))
    return out


def run_experiment(cfg: ExperimentConfig, console: Console | None = None) -> RunOutcome:
    console = console or Console()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    run_id = hash_obj(cfg.identity())
    out = Path(cfg.output).expanduser()

    # Validate everything cheap before anything heavy or anything written.
    model, benches, judges, validation_sets, template, formats = prepare(cfg)
    timings["prepare"] = time.perf_counter() - t0
    if note := thinking_budget_note(cfg, template, formats, benches):
        console.print(note, highlight=False, markup=False)

    out.mkdir(parents=True, exist_ok=True)
    versions = package_versions()
    outcome = None
    with ResultsStore(out / "results.duckdb") as store, progress_bars(console) as progress:
        store.start_run(run_id, cfg.identity(), versions, model.sha256)
        for path, kind, labelled, three in validation_sets:
            if note := unlabelled_note(path, labelled):
                console.print(note, highlight=False, markup=False)
            agreed = labelled.attrs.get("annotators") or {}
            for judge in (j for j in judges if j.kind == kind):
                task = progress.add_task(f"validating {judge.name}", total=len(labelled),
                                         info=Path(path).name)
                done = lambda _, task=task: progress.advance(task)  # noqa: E731
                v = (validate_judge(judge, labelled, path, three, on_done=done)
                     if kind == "refusal" else validate_binary(judge, labelled, path, done))
                store.record_validation(run_id, {
                    "judge": judge.name, "judge_version": judge.version, "source": path,
                    "source_sha256": sha256_file(path), "n": v.n,
                    "accuracy_3class": v.accuracy_3class, "accuracy_binary": v.accuracy_binary,
                    "auroc": v.auroc, "n_errors": v.n_errors,
                    "annotators_binary": agreed.get("binary"),
                    "annotators_3class": agreed.get("three_class")})
        hf_state: dict = {}
        t = time.perf_counter()
        if cfg.generation.backend == "openai":  # the server holds the models; nothing to train
            trained, adapter_sha = 0, {}
            variants = variants_of(cfg, model)
        else:
            adapters, trained, adapter_sha = prepare_adapters(cfg, model, template, store,
                                                              progress, hf_state)
            variants = [Variant("base", None)] + [
                Variant(f"tuned-s{a.seeds.init}-{a.seeds.data_order}-{a.seeds.dropout}", a)
                for a in adapters]
        timings["finetune"] = time.perf_counter() - t

        backends = _Backends(cfg, model, hf_state)
        t = time.perf_counter()
        generated = reused = n_tokens = 0
        gen_seconds = 0.0
        version_json = json.dumps(versions, sort_keys=True)
        try:
            cells = [(v, b, f) for v in variants for b in benches for f in formats]
            keys = []
            for variant, (bench_cfg, items), fmt in cells:
                key = _gen_key(cfg, model, variant, bench_cfg, items, fmt)
                keys.append(key)
                if store.has_gen_cell(key):
                    reused += 1
                else:
                    label = f"{variant.model_id} × {bench_cfg.name}" + (
                        f" × {fmt.name}" if len(formats) > 1 else "")
                    task = progress.add_task(f"generate {label}",
                                             total=len(items) * cfg.sampling.n_samples, info="")
                    backend = backends.get(variant, template.fixed_prefix(fmt))
                    tc = time.perf_counter()
                    rows = _generate_cell(cfg, model, variant, bench_cfg, items, fmt,
                                          template, backend, progress, task)
                    seconds = time.perf_counter() - tc
                    gen_seconds += seconds
                    n_tokens += int(rows["n_tokens"].sum())
                    rows.insert(0, "gen_key", key)
                    store.write_gen_cell(key, rows, {
                        "model_id": variant.model_id, "benchmark": bench_cfg.name,
                        "format": fmt.name, "backend": cfg.generation.backend,
                        "seconds": seconds})
                    generated += 1
                gens = None
                for judge in judges:
                    todo = None  # all of the cell's answers
                    if store.has_results(run_id, key, judge.name, judge.version):
                        todo = store.judge_errors(run_id, key, judge.name, judge.version)
                        if todo.empty:
                            continue
                        console.print(f"judge '{judge.name}': judging again the {len(todo)} "
                                      "answer(s) that got judge_error last time",
                                      highlight=False, markup=False)
                    gens = store.generations(key) if gens is None else gens
                    judged = _judge_rows(gens if todo is None else
                                         gens.merge(todo, on=["item_id", "sample_index"]),
                                         judge, run_id, version_json, adapter_sha)
                    if len(judged):
                        store.write_results(judged)  # replaces the judge errors
            # the same config run again by a newer safedrift may key its cells anew (a new
            # early-stopping rule, say): the old cells' verdicts are not this run's answers
            stale = store.drop_stale_results(run_id, keys)
            if stale:
                console.print(f"left out {stale} verdict(s) of cells an earlier safedrift "
                              "generated for this config, which this version keys anew (their "
                              "answers stay in the generations table)",
                              highlight=False, markup=False)
        finally:
            backends.close()
        timings["generate+judge"] = time.perf_counter() - t

        t = time.perf_counter()
        results = store.results(run_id)
        summary = summarise(results, judge_name(cfg.judges[0]), cfg.confidence)
        from safedrift.report.render import write_reports

        write_reports(out, cfg, run_id, summary, results, store.train_log(), versions, model,
                      store.validations(run_id))
        store.export_parquet(out / "results.parquet", run_id)
        store.finish_run(run_id)
        timings["report"] = time.perf_counter() - t
        timings["total"] = time.perf_counter() - t0
        outcome = RunOutcome(run_id, out, out / "results.duckdb", summary, timings, trained,
                             generated, reused, n_tokens, gen_seconds)
    (out / "timings.json").write_text(json.dumps(
        {**timings, "generation_tokens": outcome.n_tokens,
         "generation_seconds": outcome.generation_seconds, "trained": trained,
         "generated_cells": generated, "reused_cells": reused}, indent=2))
    return outcome
