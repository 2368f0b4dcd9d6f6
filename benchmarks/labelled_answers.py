"""Hand-labelled answers kept with benchmark item ids instead of prompts (benchmarks/data):
safedrift ships no benchmark text, so the prompts are joined back from ../shared/data by id."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from safedrift.benchmarks import load_benchmark

# benchmark name -> its upstream file(s) (or folder) under ../shared/data
SOURCES = {"advbench": "advbench/harmful_behaviors.csv",
           "harmbench": ("harmbench/harmbench_behaviors_text_test.csv",
                         "harmbench/harmbench_behaviors_text_val.csv"),
           "xstest": "xstest/xstest_prompts.csv",
           "do-not-answer": "do_not_answer",
           "simplesafetytests": "simplesafetytests/SimpleSafetyTests - test cases.csv",
           "strongreject": "strongreject/strongreject_dataset.csv",
           "beavertails": "beavertails_evaluation/BeaverTails-Evaluation.csv",
           "mt-bench": "mt_bench/question.jsonl",
           "gsm8k": "gsm8k/test.jsonl",
           "safety-tuned-llamas": "safety_tuned_llamas_eval"}


def with_prompts(labels: Path, shared: Path) -> Path:
    """The labelled answers with their benchmark prompts, as a text,label CSV (temporary)."""
    if not shared.is_dir():
        raise SystemExit(f"{shared}: no such folder (point --shared at ../shared/data)")
    df = pd.read_csv(labels)
    prompts = {}
    for name in sorted(set(df["benchmark"])):
        if name not in SOURCES:
            raise SystemExit(f"{labels}: benchmark '{name}' has no file in {shared}")
        files = SOURCES[name] if isinstance(SOURCES[name], tuple) else (SOURCES[name],)
        for file in files:
            for item in load_benchmark(name, str(shared / file)):
                prompts[item.item_id] = item.prompt
    missing = sorted(set(df["item_id"]) - set(prompts))
    if missing:
        raise SystemExit(f"{labels}: items not in {shared}: {', '.join(missing[:5])}")
    df["prompt"] = df["item_id"].map(prompts)
    # named by content, so that runs on the same labels reuse one file instead of adding one
    digest = hashlib.sha256(labels.read_bytes() + str(shared.resolve()).encode()).hexdigest()
    out = Path(tempfile.gettempdir()) / f"safedrift-{labels.stem}-{digest[:16]}.csv"
    part = out.with_suffix(f".{os.getpid()}.part")
    df.to_csv(part, index=False)
    os.replace(part, out)  # whole, even if two runs write it at once
    return out


def module_at(rev: str, path: str):
    """The project module at `path` (src/safedrift/...) as it was at git revision `rev`: a
    judge version a labelled set was held out from, measured on today's labels."""
    source = subprocess.run(["git", "show", f"{rev}:{path}"], capture_output=True, text=True,
                            cwd=Path(__file__).parents[1])
    if source.returncode:
        raise SystemExit(f"--judge-at {rev}: {source.stderr.strip()}")
    file = Path(tempfile.mkdtemp()) / f"{Path(path).stem}_{rev}.py"
    file.write_text(source.stdout)
    spec = importlib.util.spec_from_file_location(file.stem, file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[file.stem] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


def leave_one_set_out(x: dict[str, np.ndarray], y: dict[str, np.ndarray],
                      l2: float) -> dict[str, np.ndarray]:
    """Each set's probabilities from a logistic head (L2 `l2`) fitted on all the other sets:
    how a learned judge would do on answers of a kind it never saw."""
    from safedrift.judges.toxicity import head_probability
    from safedrift.judges.toxicity_train import fit_logistic

    out = {}
    for held in x:
        rest = [n for n in x if n != held]
        w, b = fit_logistic(np.vstack([x[n] for n in rest]),
                            np.concatenate([y[n] for n in rest]).astype(float), l2)
        out[held] = head_probability(x[held], w, b)
    return out


def second_reading(file: Path, shared: Path, load) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A second, blind reading of answers drawn from labelled files (`file`: columns file, row,
    item_id, source, first_label, label): prints the two readings' agreement (Wilson 95%
    interval) and Cohen's kappa (Cohen 1960, statsmodels) and their confusion table; returns the
    readings and the answers they read (prompt, completion), row for row. `load` turns a
    labelled file with prompts into a (prompt, completion, label) frame."""
    from statsmodels.stats.inter_rater import cohens_kappa
    from statsmodels.stats.proportion import proportion_confint

    readings = pd.read_csv(file)
    data = file.parent
    frames = {}
    for name in readings["file"].unique():
        has_ids = "item_id" in pd.read_csv(data / name, nrows=0).columns
        frames[name] = load(with_prompts(data / name, shared) if has_ids else data / name)
    answers = pd.concat([frames[f].iloc[[r]] for f, r in zip(readings["file"], readings["row"])],
                        ignore_index=True)
    first, again = readings["first_label"], readings["label"]
    cats = sorted(set(first) | set(again))
    table = pd.crosstab(pd.Categorical(first, cats), pd.Categorical(again, cats), dropna=False)
    same = int((first == again).sum())
    low, high = proportion_confint(same, len(first), method="wilson")
    print(f"\nsecond reading of {len(readings)} answers ({file.name}, blind to the first label): "
          f"agreement {same / len(first):.3f} [{low:.3f}, {high:.3f}], Cohen's kappa "
          f"{cohens_kappa(table.to_numpy()).kappa:.3f}")
    print(pd.crosstab(first.rename("first reading"), again.rename("second reading")).to_string())
    return readings, answers


def print_changed(readings: pd.DataFrame, answers: pd.DataFrame) -> None:
    """The answers the two readings label differently."""
    differ = (readings["first_label"] != readings["label"]).to_numpy()
    for (_, row), (_, answer) in zip(readings[differ].iterrows(), answers[differ].iterrows()):
        print(f"  {row['file']} row {row['row']}: {row['first_label']} -> {row['label']} | "
              f"{answer['prompt'][:70]!r} | {answer['completion'][:110]!r}")


def fine_tune_changes(frame: pd.DataFrame, sources: pd.Series, columns: list[str]) -> list[dict]:
    """Per answering model and format, each fine-tune's mean of `columns` (booleans: refused,
    degenerate) minus the base model's on the same prompts. `sources` names each answer's
    model as `model:variant:format` or `run:model:variant:format` (`run:variant:format` for
    the first files); variant `base` is the base model, any other a fine-tune."""
    parts = sources.str.split(":").to_numpy()
    frame = frame.assign(_model=[":".join(p[:-2]) for p in parts], _variant=[p[-2] for p in parts],
                         _format=[p[-1] for p in parts])
    rows = []
    for (model, fmt), group in frame.groupby(["_model", "_format"]):
        base = group[group["_variant"] == "base"]
        for variant, tuned in group[group["_variant"] != "base"].groupby("_variant"):
            if len(base):
                rows.append({"model": model, "format": fmt, "fine-tune": variant,
                             "n": len(base) + len(tuned),
                             **{c: tuned[c].mean() - base[c].mean() for c in columns}})
    return rows


def error_summary(estimate: pd.Series, truth: pd.Series) -> str:
    """How far a judge's per-pair changes are from the labels': "N pairs, mean error …, mean
    |error| …, largest …, correlation …"."""
    error = estimate - truth
    return (f"{len(error)} pairs, mean error {error.mean():+.3f}, mean |error| "
            f"{error.abs().mean():.3f}, largest {error.abs().max():.3f}, correlation "
            f"{np.corrcoef(estimate, truth)[0, 1]:.3f}")
