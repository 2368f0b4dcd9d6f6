"""Benchmark loaders: the built-in smoke sets, and public benchmarks from a hub dataset id or a
local file in the upstream format (CSV, JSON, JSONL or Parquet, as the upstream repo ships it).

Each benchmark declares which upstream columns hold the prompt, id and category, whether an
item is a harmful request (refusal is the safe answer) or a harmless one (refusal is
over-refusal), and its task: what a response is measured for.

- task "refusal": did the model refuse? (every safety benchmark)
- task "toxicity": ToxiGen's prompts are lists of statements about a group; the model continues
  the list and the toxicity of the continuation is the measure, by target group.
- task "capability": harmless checks that the fine-tune still does its job; items with a
  `reference` answer (GSM8K) are scored by the `answer-match` judge.

Benchmarks that upstream ships as a folder of files (Do-Not-Answer and ToxiGen: plain text, one
prompt per line, by risk area or by kind and group; Safety-Tuned LLaMAs: one JSON file per
evaluation set) load from that folder or from one of its files; the category comes from the
file name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from safedrift.errors import SafedriftError
from safedrift.rows import read_rows

SMOKE_DIR = Path(__file__).parent / "smoke"


@dataclass(frozen=True)
class Item:
    benchmark: str
    item_id: str
    prompt: str
    category: str
    harmful: bool  # True: a request to refuse; False: a harmless request (over-refusal check)
    task: str = "refusal"  # "refusal" | "toxicity" | "capability"
    reference: str | None = None  # the reference answer of a capability item (GSM8K)


@dataclass(frozen=True)
class BenchmarkSpec:
    name: str
    description: str
    hub_id: str | None
    hub_split: str
    prompt_columns: tuple[str, ...]
    category_columns: tuple[str, ...] = ()
    id_columns: tuple[str, ...] = ()
    local_default: Path | None = None  # built-in sets ship with the package
    harmful: Callable[[dict], bool] = field(default=lambda row: True)
    render: Callable[[dict, str], str] | None = None
    task: str = "refusal"
    reference: Callable[[dict], str | None] | None = None
    hub_config: str | None = None
    files: str | None = None  # glob of the upstream files in a folder (.txt: one prompt a line)
    license: str = ""
    upstream: str = ""  # where to get the files, for a benchmark with no hub dataset


def _harmbench_render(row: dict, prompt: str) -> str:
    """HarmBench's contextual behaviours put the context above the request."""
    context = (row.get("ContextString") or "").strip()
    return f"{context}\n\n---\n\n{prompt}" if context else prompt


def _xstest_harmful(row: dict) -> bool:
    label = str(row.get("label", row.get("type", ""))).lower()
    return label.startswith("unsafe") or label.startswith("contrast")


def _toxigen_render(row: dict, prompt: str) -> str:
    """ToxiGen lines hold '- statement' demonstrations joined by a literal backslash-n and end
    with '-', the start of the next statement the model is to write."""
    return prompt.replace("\\n", "\n")


def _gsm8k_reference(row: dict) -> str | None:
    """GSM8K answers end with '#### <number>'."""
    answer = str(row.get("answer", ""))
    return answer.rsplit("####", 1)[-1].strip().replace(",", "") if "####" in answer else None


# Safety-Tuned LLaMAs' evaluation sets asking for something harmless (over-refusal checks)
_STL_HARMLESS = {"I-Alpaca", "I-PhysicalSafetySafe"}


def _first_turn(row: dict) -> dict:
    """MT-Bench questions have two turns; safedrift asks the first (single-turn evaluation)."""
    turns = row.get("turns", row.get("prompt"))
    if isinstance(turns, (list, tuple)) and turns:
        return {**row, "prompt": str(turns[0])}
    return row


BENCHMARKS: dict[str, BenchmarkSpec] = {s.name: s for s in [
    BenchmarkSpec("smoke-harmful", "20 clearly harmful requests written for safedrift",
                  None, "train", ("prompt",), ("category",), ("id",), SMOKE_DIR / "harmful.jsonl"),
    BenchmarkSpec("smoke-harmless", "20 harmless requests written for safedrift (over-refusal)",
                  None, "train", ("prompt",), ("category",), ("id",), SMOKE_DIR / "harmless.jsonl",
                  harmful=lambda row: False),
    BenchmarkSpec("advbench", "AdvBench harmful behaviours (Zou et al. 2023), 520 items",
                  "walledai/AdvBench", "train", ("goal", "prompt"), license="MIT"),
    BenchmarkSpec("harmbench", "HarmBench text behaviours (Mazeika et al. 2024)",
                  "walledai/HarmBench", "train", ("Behavior", "prompt"),
                  ("SemanticCategory", "category"), ("BehaviorID",), render=_harmbench_render, license="MIT"),
    BenchmarkSpec("xstest", "XSTest (Röttger et al. 2024): 250 safe prompts (over-refusal) and "
                  "200 unsafe contrast prompts", "walledai/XSTest", "test", ("prompt",),
                  ("type",), ("id",), harmful=_xstest_harmful, license="CC-BY-4.0"),
    BenchmarkSpec("simplesafetytests", "SimpleSafetyTests (Vidgen et al. 2023), 100 items",
                  "Bertievidgen/SimpleSafetyTests", "test", ("prompts_final", "prompt"),
                  ("harm_area",), ("id",), license="CC-BY-4.0"),
    BenchmarkSpec("strongreject", "StrongREJECT forbidden prompts (Souly et al. 2024), 313 items",
                  "walledai/StrongREJECT", "train", ("forbidden_prompt", "prompt"),
                  ("category",), license="MIT"),
    BenchmarkSpec("do-not-answer", "Do-Not-Answer (Wang et al. 2023): 939 risky questions in 5 "
                  "risk areas; non-commercial licence", "LibrAI/do-not-answer", "train",
                  ("question", "prompt"), ("risk_area", "category"), ("id",),
                  files="*.txt", license="CC-BY-NC-SA-4.0"),
    BenchmarkSpec("beavertails", "BeaverTails-Evaluation (PKU-Alignment, SafeRLHF family): 700 "
                  "prompts, 14 harm categories; non-commercial licence",
                  "PKU-Alignment/BeaverTails-Evaluation", "test", ("prompt",), ("category",),
                  ("", "id"), license="CC-BY-NC-4.0"),
    BenchmarkSpec("toxigen", "ToxiGen (Hartvigsen et al. 2022) as a generation task: the model "
                  "continues hate / neutral statement lists about 16 groups; measure: toxicity "
                  "of the continuation", "skg/toxigen-data", "train", ("text", "prompt"),
                  ("target_group", "category"), ("id",), render=_toxigen_render,
                  harmful=lambda row: str(row.get("prompt_label", row.get("kind", "hate")))
                  .lower() in ("1", "hate", "true"),
                  task="toxicity", files="*_1k.txt", hub_config="prompts", license="MIT"),
    BenchmarkSpec("gsm8k", "GSM8K test (Cobbe et al. 2021): 1,319 maths word problems; "
                  "capability check, scored by exact final answer", "openai/gsm8k", "test",
                  ("question",), (), ("id",), harmful=lambda row: False, task="capability",
                  reference=_gsm8k_reference, hub_config="main", license="MIT"),
    BenchmarkSpec("mt-bench", "MT-Bench questions (Zheng et al. 2023), first turn: 80 open "
                  "questions in 8 categories; capability check", "HuggingFaceH4/mt_bench_prompts",
                  "train", ("prompt",), ("category",), ("question_id", "prompt_id"),
                  harmful=lambda row: False, task="capability", license="Apache-2.0"),
    BenchmarkSpec("safety-tuned-llamas", "Safety-Tuned LLaMAs evaluation sets (Bianchi et al. "
                  "2024): 518 harmful instructions and questions in 5 sets (I-CoNa hateful, "
                  "I-Controversial, I-MaliciousInstructions, I-PhysicalSafetyUnsafe, Q-Harm) "
                  "and 150 harmless (I-Alpaca, I-PhysicalSafetySafe: over-refusal); "
                  "non-commercial licence", None, "train",
                  ("instructions", "prompt"), ("category",), ("id",),
                  harmful=lambda row: row.get("category") not in _STL_HARMLESS,
                  files="*.json", license="CC-BY-NC-4.0",
                  upstream="GitHub vinid/safety-tuned-llamas, folder data/evaluation"),
]}
_ROW_HOOKS: dict[str, Callable[[dict], dict]] = {"mt-bench": _first_turn}


def _read_hub(spec: BenchmarkSpec, hub_id: str, split: str | None) -> list[dict]:
    try:
        import datasets
    except ImportError:
        raise SafedriftError(f"benchmark '{spec.name}' from the hub needs the 'hub' extra "
                             "(pip install 'safedrift[hub]'), or give a local 'path'") from None
    try:
        config = spec.hub_config if hub_id == spec.hub_id else None
        return [dict(r) for r in datasets.load_dataset(hub_id, config,
                                                       split=split or spec.hub_split)]
    except Exception as e:  # offline, gated, wrong split: all user-facing
        raise SafedriftError(f"benchmark '{spec.name}': cannot load hub dataset '{hub_id}' "
                             f"({type(e).__name__}); give a local 'path' instead") from None


def _pick(row: dict, columns: tuple[str, ...]) -> str | None:
    for c in columns:
        if c in row and row[c] is not None and str(row[c]).strip():
            return str(row[c])
    return None


def _read_folder(spec: BenchmarkSpec, path: Path) -> list[dict]:
    """Rows of every upstream file in the folder (or of one file); the file name gives the
    category (and, for ToxiGen, the kind), the file and row number the id."""
    files = sorted(path.glob(spec.files)) if path.is_dir() else [path]
    if not files:
        raise SafedriftError(f"benchmark '{spec.name}' ({path}): no files matching "
                             f"'{spec.files}' in this folder")
    rows = []
    for f in files:
        stem = f.stem.removesuffix("_1k")
        kind, _, group = stem.partition("_")
        if spec.name == "toxigen" and kind not in ("hate", "neutral"):
            raise SafedriftError(f"benchmark 'toxigen' ({f}): file names must be "
                                 "hate_<group>_1k.txt or neutral_<group>_1k.txt")
        category = group if spec.name == "toxigen" else stem
        if f.suffix == ".txt":
            lines = [x.strip() for x in f.read_text(encoding="utf-8").splitlines()]
            rows += [{"prompt": line, "category": category, "kind": kind,
                      "id": f"{stem}-{n:04d}"} for n, line in enumerate(lines, 1) if line]
        else:
            rows += [{**row, "category": category, "id": f"{stem}-{n:04d}"}
                     for n, row in enumerate(read_rows(f, "benchmark file"), 1)]
    return rows


def load_benchmark(name: str, path: str | Path | None = None, hub_id: str | None = None,
                   split: str | None = None, limit: int | None = None,
                   per_category: int | None = None) -> list[Item]:
    """Items of benchmark `name` from `path`, else `hub_id` (or the benchmark's default hub id),
    else its built-in file. Ids are the upstream ids where there are any, else the row number
    (the file and line for one-prompt-per-line files). `per_category` keeps the first N items of
    each category, separately for harmful and harmless items (before `limit`), so a small sample still covers every group."""
    if name not in BENCHMARKS:
        raise SafedriftError(f"unknown benchmark '{name}' (known: {', '.join(BENCHMARKS)})")
    spec = BENCHMARKS[name]
    source = str(path) if path else (hub_id or spec.hub_id)
    local = Path(path).expanduser() if path else None
    if local is not None and spec.files and (local.is_dir() or local.suffix == ".txt"
                                             or local.match(spec.files)):
        if not local.exists():
            raise SafedriftError(f"benchmark file '{local}': no such file")
        rows = _read_folder(spec, local)
    elif local is not None:
        rows = read_rows(local, "benchmark file")
    elif hub_id or spec.hub_id:
        rows = _read_hub(spec, hub_id or spec.hub_id, split)
    elif not spec.local_default:
        raise SafedriftError(f"benchmark '{name}' has no hub dataset; give a local 'path' "
                             f"(upstream: {spec.upstream})")
    else:
        rows = read_rows(spec.local_default, "benchmark file")
        source = spec.local_default.name
    if not rows:
        raise SafedriftError(f"benchmark '{name}' ({source}): no rows")
    if name in _ROW_HOOKS:
        rows = [_ROW_HOOKS[name](r) for r in rows]
    if not any(c in rows[0] for c in spec.prompt_columns):
        raise SafedriftError(f"benchmark '{name}' ({source}): no prompt column; expected one of "
                             f"{', '.join(spec.prompt_columns)} (found: {', '.join(rows[0])})")
    items, seen = [], set()
    for i, row in enumerate(rows):
        prompt = _pick(row, spec.prompt_columns)
        if prompt is None:
            raise SafedriftError(f"benchmark '{name}' ({source}) row {i + 1}: empty prompt")
        raw_id = _pick(row, spec.id_columns)
        item_id = f"{name}-{raw_id}" if raw_id and not raw_id.startswith(name) else \
            (raw_id or f"{name}-{i + 1:04d}")
        if item_id in seen:
            raise SafedriftError(f"benchmark '{name}' ({source}): duplicate id '{item_id}'")
        seen.add(item_id)
        text = spec.render(row, prompt.strip()) if spec.render else prompt.strip()
        reference = spec.reference(row) if spec.reference else None
        if spec.reference and reference is None:
            raise SafedriftError(f"benchmark '{name}' ({source}) row {i + 1}: no reference "
                                 "answer")
        items.append(Item(name, item_id, text, _pick(row, spec.category_columns) or "all",
                          spec.harmful(row), spec.task, reference))
    if per_category:
        taken: dict[tuple[str, bool], int] = {}
        kept = []
        for item in items:  # strata: category × harmful (ToxiGen: group × hate/neutral)
            stratum = (item.category, item.harmful)
            if taken.get(stratum, 0) < per_category:
                taken[stratum] = taken.get(stratum, 0) + 1
                kept.append(item)
        items = kept
    return items[:limit] if limit else items
