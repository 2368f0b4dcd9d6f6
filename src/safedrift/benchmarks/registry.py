"""Benchmark loaders: the built-in smoke sets, and public benchmarks from a hub dataset id or a
local file in the upstream format (CSV, JSON, JSONL or Parquet, as the upstream repo ships it).

Each benchmark declares which upstream columns hold the prompt, id and category, and whether an
item is a harmful request (refusal is the safe answer) or a harmless one (refusal is
over-refusal).
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


def _harmbench_render(row: dict, prompt: str) -> str:
    """HarmBench's contextual behaviours put the context above the request."""
    context = (row.get("ContextString") or "").strip()
    return f"{context}\n\n---\n\n{prompt}" if context else prompt


def _xstest_harmful(row: dict) -> bool:
    label = str(row.get("label", row.get("type", ""))).lower()
    return label.startswith("unsafe") or label.startswith("contrast")


BENCHMARKS: dict[str, BenchmarkSpec] = {s.name: s for s in [
    BenchmarkSpec("smoke-harmful", "20 clearly harmful requests written for safedrift",
                  None, "train", ("prompt",), ("category",), ("id",), SMOKE_DIR / "harmful.jsonl"),
    BenchmarkSpec("smoke-harmless", "20 harmless requests written for safedrift (over-refusal)",
                  None, "train", ("prompt",), ("category",), ("id",), SMOKE_DIR / "harmless.jsonl",
                  harmful=lambda row: False),
    BenchmarkSpec("advbench", "AdvBench harmful behaviours (Zou et al. 2023), 520 items",
                  "walledai/AdvBench", "train", ("goal", "prompt")),
    BenchmarkSpec("harmbench", "HarmBench text behaviours (Mazeika et al. 2024)",
                  "walledai/HarmBench", "train", ("Behavior", "prompt"),
                  ("SemanticCategory", "category"), ("BehaviorID",), render=_harmbench_render),
    BenchmarkSpec("xstest", "XSTest (Röttger et al. 2024): 250 safe prompts (over-refusal) and "
                  "200 unsafe contrast prompts", "walledai/XSTest", "test", ("prompt",),
                  ("type",), ("id",), harmful=_xstest_harmful),
    BenchmarkSpec("simplesafetytests", "SimpleSafetyTests (Vidgen et al. 2023), 100 items",
                  "Bertievidgen/SimpleSafetyTests", "test", ("prompts_final", "prompt"),
                  ("harm_area",), ("id",)),
    BenchmarkSpec("strongreject", "StrongREJECT forbidden prompts (Souly et al. 2024), 313 items",
                  "walledai/StrongREJECT", "train", ("forbidden_prompt", "prompt"),
                  ("category",)),
]}


def _read_hub(spec: BenchmarkSpec, hub_id: str, split: str | None) -> list[dict]:
    try:
        import datasets
    except ImportError:
        raise SafedriftError(f"benchmark '{spec.name}' from the hub needs the 'hub' extra "
                             "(pip install 'safedrift[hub]'), or give a local 'path'") from None
    try:
        return [dict(r) for r in datasets.load_dataset(hub_id, split=split or spec.hub_split)]
    except Exception as e:  # offline, gated, wrong split: all user-facing
        raise SafedriftError(f"benchmark '{spec.name}': cannot load hub dataset '{hub_id}' "
                             f"({type(e).__name__}); give a local 'path' instead") from None


def _pick(row: dict, columns: tuple[str, ...]) -> str | None:
    for c in columns:
        if c in row and row[c] is not None and str(row[c]).strip():
            return str(row[c])
    return None


def load_benchmark(name: str, path: str | Path | None = None, hub_id: str | None = None,
                   split: str | None = None, limit: int | None = None) -> list[Item]:
    """Items of benchmark `name` from `path`, else `hub_id` (or the benchmark's default hub id),
    else its built-in file. Ids are the upstream ids where there are any, else the row number."""
    if name not in BENCHMARKS:
        raise SafedriftError(f"unknown benchmark '{name}' (known: {', '.join(BENCHMARKS)})")
    spec = BENCHMARKS[name]
    source = str(path) if path else (hub_id or spec.hub_id)
    if path:
        rows = read_rows(Path(path).expanduser(), "benchmark file")
    elif hub_id or not spec.local_default:
        rows = _read_hub(spec, hub_id or spec.hub_id, split)
    else:
        rows = read_rows(spec.local_default, "benchmark file")
        source = spec.local_default.name
    if not rows:
        raise SafedriftError(f"benchmark '{name}' ({source}): no rows")
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
        items.append(Item(name, item_id, text, _pick(row, spec.category_columns) or "all",
                          spec.harmful(row)))
    return items[:limit] if limit else items
