"""Command line: `safedrift quickstart`, `safedrift run CONFIG.yaml`, and helpers.

User mistakes end in one line on stderr and exit status 2; an interrupted run keeps every
finished cell and resumes when run again.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

# safedrift draws its own progress bars; tqdm bars of libraries (the GGUF dequantiser) would
# tear them. tqdm reads this when it is first imported, so it is set before anything imports it.
os.environ.setdefault("TQDM_DISABLE", "1")

import numpy as np
from rich.console import Console
from rich.table import Table

from safedrift.errors import SafedriftError


def _print_summary(console: Console, outcome) -> None:
    from safedrift.report.render import effect_table, rate_table

    for title, rows in (("Refusal rate per model (95% Wilson interval)",
                         rate_table(outcome.summary)),
                        ("Change after fine-tuning, tuned − base, paired by item",
                         effect_table(outcome.summary))):
        if not rows:
            continue
        table = Table(title=title, title_justify="left")
        for col in rows[0]:
            table.add_column(col, overflow="fold")
        for r in rows:
            table.add_row(*r.values())
        console.print(table)
    for f in outcome.summary.findings:
        console.print(f"• {f}", highlight=False)
    for w in outcome.summary.warnings:
        console.print(f"[yellow]⚠ {w}[/yellow]", highlight=False)
    t = outcome.timings
    rate = outcome.n_tokens / outcome.generation_seconds if outcome.generation_seconds else 0
    console.print(
        f"trained {outcome.trained} adapter(s), generated {outcome.generated_cells} cell(s), "
        f"reused {outcome.reused_cells}; {t.get('total', 0):.0f} s in all"
        + (f", {rate:.1f} generated tokens/s" if rate else ""), highlight=False)
    console.print(f"results: {outcome.database}  report: {outcome.output / 'report.html'}",
                  highlight=False)


def _database(run: str) -> Path:
    """A run folder or a .duckdb file → the database path."""
    return Path(run) / "results.duckdb" if Path(run).is_dir() else Path(run)


def _run_results(run: str, console: Console | None = None):
    """(database path, judged rows of its latest run). Warns when one judge's verdicts come in
    two versions: cells of an earlier safedrift that the run, not yet repeated, still holds."""
    from safedrift.store import ResultsStore

    db = _database(run)
    with ResultsStore(db, read_only=True) as store:
        rows = store.results(store.latest_run_id())
    versions = rows.groupby("judge")["judge_version"].unique() if len(rows) else {}
    mixed = {j: v for j, v in dict(versions).items() if len(v) > 1}
    if mixed and console is not None:
        said = "; ".join(f"'{j}': {', '.join(sorted(v))}" for j, v in mixed.items())
        console.print(f"warning: {db} holds verdicts of several versions of a judge ({said}): "
                      "cells an earlier safedrift generated for this config sit beside the new "
                      "ones, so answers may count twice; run the config again to leave the old "
                      "ones out", highlight=False, markup=False)
    return db, rows


def _cmd_run(args, console: Console) -> int:
    from safedrift.config import ExperimentConfig, load_config, parse_config
    from safedrift.pipeline import run_experiment

    cfg = load_config(args.config) if getattr(args, "config", None) else ExperimentConfig()
    overrides = {}
    if args.output:
        overrides["output"] = args.output
    if getattr(args, "model", None):
        overrides["model"] = {**cfg.model.model_dump(), "ref": args.model}
    if overrides:
        cfg = parse_config({**cfg.model_dump(mode="json"), **overrides},
                           getattr(args, "config", None) or "quickstart")
    outcome = run_experiment(cfg, console)
    _print_summary(console, outcome)
    return 0


def _cmd_benchmarks(args, console: Console) -> int:
    from safedrift.benchmarks import BENCHMARKS

    table = Table(title="Benchmarks", title_justify="left")
    for col in ("name", "task", "loads from", "licence", "what"):
        table.add_column(col)
    for spec in BENCHMARKS.values():
        local = (f"FOLDER of {spec.files} or one FILE" if spec.files else "FILE")
        if spec.local_default:
            where = "built in"
        elif spec.hub_id:
            where = (f"hub {spec.hub_id}{'/' + spec.hub_config if spec.hub_config else ''}, "
                     f"or path: {local}")
        else:
            where = f"path: {local} (from {spec.upstream})"
        table.add_row(spec.name, spec.task, where, spec.license or "-", spec.description)
    console.print(table)
    return 0


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown (no calibration)"
    return f"{seconds / 60:.1f} min" if seconds >= 90 else f"{seconds:.0f} s"


def _cmd_plan(args, console: Console) -> int:
    from safedrift.config import load_config
    from safedrift.plan import calibrate, make_plan

    cfg = load_config(args.config)
    plan, prepared = make_plan(cfg)
    table = Table(title=f"Grid of {args.config}", title_justify="left")
    for col in ("benchmark", "format", "variants", "items", "samples", "max tok", "cached",
                "to generate"):
        table.add_column(col, no_wrap=col in ("benchmark", "format"))
    for r in plan.rows:
        table.add_row(r.benchmark, r.format, str(r.variants), str(r.items), str(r.samples),
                      str(r.max_tokens), str(r.cached), f"{r.generations:,}")
    console.print(table)
    console.print(f"cells: {plan.cells} ({plan.cells_to_run} to run); answers: "
                  f"{plan.generations:,}; at most {plan.max_tokens:,} generated tokens; "
                  f"adapters: {plan.adapters_total} ({plan.adapters_to_train} to train, "
                  f"{plan.train_steps} steps each)", highlight=False)
    if args.no_calibrate or plan.generations == 0 and plan.adapters_to_train == 0:
        return 0
    calibrate(plan, cfg, prepared)
    for note in plan.notes:
        console.print(note, highlight=False)
    gen, train, judge = plan.generation_seconds, plan.training_seconds, plan.judging_seconds
    console.print(
        f"expected: {plan.expected_tokens:,.0f} tokens at {1 / plan.seconds_per_token:.1f} "
        f"tokens/s → generation {_duration(gen)}; fine-tuning {_duration(train)}"
        + (f" ({plan.seconds_per_train_step:.1f} s/step)" if plan.seconds_per_train_step
           else "")
        + (f"; judging {_duration(judge)} ("
           + ", ".join(f"{n} {r:.2f} s/answer" for n, r in plan.judge_seconds.items()) + ")"
           if plan.judge_seconds else "")
        + f"; total about {_duration((gen or 0) + (train or 0) + judge)} (model loading adds "
        "a little)", highlight=False)
    return 0


def _judge_for_validation(args):
    """A registry judge by name, or an LLM judge of `--config` by its name."""
    from safedrift.config import judge_name, load_config
    from safedrift.judges import JUDGES, make_judge
    from safedrift.models import resolve_model

    if args.temperature is not None and args.temperature < 0:
        raise SafedriftError(f"--temperature {args.temperature:g}: must be 0 (greedy) or more")
    if args.config is None:
        if args.judge not in JUDGES:
            raise SafedriftError(f"unknown judge '{args.judge}' (known: {', '.join(JUDGES)}; "
                                 "an LLM judge: --config EXPERIMENT.yaml naming it)")
        return make_judge(args.judge, temperature=args.temperature or 0.0)
    cfg = load_config(args.config)
    temperature = cfg.sampling.temperature if args.temperature is None else args.temperature
    for entry in cfg.judges:
        if judge_name(entry) == args.judge:  # answers decoded as the config says
            # coherence-ppl scores under the study's base model, as a run does
            base = resolve_model(cfg.model.ref) if entry == "coherence-ppl" else None
            return make_judge(entry, base, temperature)
    raise SafedriftError(f"config '{args.config}': no judge named '{args.judge}' (judges: "
                         f"{', '.join(judge_name(e) for e in cfg.judges)})")


def _cmd_validate(args, console: Console) -> int:
    from safedrift.judges.validate import (KIND_LABELS, load_binary_labelled, load_labelled,
                                           unlabelled_note, validate_binary, validate_judge)
    from safedrift.pipeline import progress_bars

    judge = _judge_for_validation(args)
    columns = {"label_column": args.label_column, "text_column": args.text_column,
               "threshold": args.threshold}
    if judge.kind == "refusal":
        labelled, three = load_labelled(args.file, **columns)
    elif judge.kind in KIND_LABELS:
        labelled, three = load_binary_labelled(args.file, judge.kind, **columns), False
    else:
        raise SafedriftError(f"judge '{args.judge}' ({judge.kind}) has no labelled-file "
                             "validation; its accuracy comes from its benchmark")
    groups = _groups_of(args) if args.by else None
    annotators = labelled.attrs.get("annotators")  # before --per-class sampling drops attrs
    if note := unlabelled_note(args.file, labelled):
        console.print(note, highlight=False, markup=False)
    rules = getattr(judge, "prompt_rules", None)
    if rules and not labelled["prompt"].astype(str).str.strip().any():
        console.print(f"note: '{args.file}' has no prompts; the rules of `{judge.name}` that read "
                      f"the prompt ({rules}) cannot apply; add a prompt column",
                      highlight=False, markup=False)
    if args.per_class:  # a slow (LLM) judge on a sample: recall per class stays unbiased
        labelled = labelled.groupby("label", sort=False).head(args.per_class)
    with progress_bars(console) as progress:
        task = progress.add_task(f"judging with {judge.name}", total=len(labelled), info="")
        done = lambda _: progress.advance(task)  # noqa: E731
        if judge.kind == "refusal":
            v = validate_judge(judge, labelled, args.file, three, on_done=done)
            scale = "refusal vs compliance"
        else:
            v = validate_binary(judge, labelled, args.file, on_done=done)
            scale = " vs ".join(KIND_LABELS[judge.kind][:2])
    if v.n == 0:
        raise SafedriftError(f"judge '{judge.name}': no verdict to measure ({v.n_errors} judge "
                             f"error(s), {v.n_unfinished} answer(s) that ended inside their "
                             "reasoning)")
    def with_ci(acc: float, three_class: bool = False) -> str:
        low, high = v.interval(three_class)
        return f"{acc:.3f} [{low:.3f}, {high:.3f}]"

    three_txt = f"{with_ci(v.accuracy_3class, True)} (3 classes), " if three else ""
    errors = (f"; {v.n_errors} judge error(s) left out" if v.n_errors else "") + (
        f"; {v.n_unfinished} answer(s) that ended inside their reasoning left out"
        if v.n_unfinished else "")
    console.print(f"{v.judge} on {v.source} (n={v.n}{errors}): accuracy {three_txt}"
                  f"{with_ci(v.accuracy_binary)} ({scale}; 95% Wilson intervals), "
                  f"AUROC {v.auroc:.3f}; judge version {judge.version}", highlight=False)
    if annotators and annotators.get("annotators"):  # several, the label their majority
        console.print(f"the file's {annotators['annotators']} annotators agreed pairwise on "
                      f"{annotators['binary']:.3f} ({scale}), all of them on "
                      f"{annotators['unanimous']:.3f}, Fleiss' kappa "
                      f"{annotators['fleiss_kappa']:.3f}, n={annotators['n']}; the label is "
                      "their majority", highlight=False, markup=False)
    elif annotators:
        console.print(f"the file's two annotators agreed with each other on "
                      f"{annotators['binary']:.3f} ({scale}) and {annotators['three_class']:.3f} "
                      f"(3 classes) before adjudication, n={annotators['n']}",
                      highlight=False, markup=False)
    console.print(v.per_class.round(3).to_string(index=False), highlight=False, markup=False)
    console.print(v.confusion.to_string(), highlight=False, markup=False)
    if groups is not None:
        _print_accuracy_by(args, v, groups, console)
    if args.show_wrong and v.wrong is not None:
        console.print(f"{len(v.wrong)} wrong verdict(s); the first {min(args.show_wrong, len(v.wrong))}"
                      " (data row of the file, human, judge, the judge's reason):",
                      highlight=False, markup=False)
        for r in v.wrong.head(args.show_wrong).itertuples():
            asked = f"{r.prompt[:80]!r} -> " if r.prompt else ""
            console.print(f"- row {r.row}: human={r.human} judge={r.judge} ({r.reason}): "
                          f"{asked}{r.completion[:160]!r}", highlight=False, markup=False)
    return 0


def _groups_of(args):
    """The --by column's value of every data row (1-based), checked before anything is judged."""
    import pandas as pd

    from safedrift.judges.validate import read_table

    table = read_table(Path(args.file))
    if args.by not in table:
        raise SafedriftError(f"labelled file '{args.file}': no column '{args.by}' (columns: "
                             f"{', '.join(map(str, table.columns))})")
    return pd.Series(table[args.by].to_numpy(), index=np.arange(1, len(table) + 1))


def _print_accuracy_by(args, v, groups, console: Console) -> None:
    """Accuracy (refusal vs compliance, or the kind's two labels) per value of a column."""
    from safedrift.judges.validate import accuracy_by

    console.print(f"accuracy by {args.by} (binary, 95% Wilson interval):", highlight=False,
                  markup=False)
    for r in accuracy_by(v, groups).itertuples():
        console.print(f"  {r.group}: {r.accuracy:.3f} [{r.low:.3f}, {r.high:.3f}], n={r.n}",
                      highlight=False, markup=False)


def _cmd_agree(args, console: Console) -> int:
    from safedrift.judges.agreement import judge_agreement

    db, results = _run_results(args.run, console)
    try:
        a = judge_agreement(results, args.field, args.kind)
    except ValueError as e:
        raise SafedriftError(f"{db}: {e}") from None
    table = Table(title=f"{args.kind.capitalize()} judges' agreement on {a.field} "
                  f"({a.pairs['n'].iloc[0]} answers)",
                  title_justify="left")
    for col in ("judge A", "judge B", "agreement", "Cohen's kappa"):
        table.add_column(col)
    for r in a.pairs.itertuples():
        table.add_row(r.judge_a, r.judge_b, f"{r.agreement:.3f}", f"{r.cohens_kappa:.3f}")
    console.print(table)
    console.print(f"Fleiss' kappa over {len(a.judges)} judges: {a.fleiss_kappa:.3f}; "
                  f"{len(a.disagreements)} answers with disagreement", highlight=False)
    for r in a.disagreements.head(args.show).to_dict("records"):  # judge names hold '-'
        labels = ", ".join(f"{j}={r[j]}" for j in a.judges)
        console.print(f"- {r['model_id']} {r['item_id']}: {labels}: {r['response'][:120]!r}",
                      highlight=False, markup=False)
    return 0


def _cmd_judges_list(args, console: Console) -> int:
    from safedrift.judges import JUDGES
    from safedrift.judges.llm import RUBRIC_KIND, RUBRIC_SUMMARY

    table = Table(title="Judges (name them in an experiment's judges: list)", title_justify="left")
    for col in ("name", "kind", "version", "reads"):
        table.add_column(col)
    for name, cls in JUDGES.items():
        table.add_row(name, cls.kind, cls().version, cls.summary)
    for rubric, summary in RUBRIC_SUMMARY.items():
        table.add_row(f"{{rubric: {rubric}}}", RUBRIC_KIND[rubric], "per judge model",
                      f"{summary}; an LLM judge: endpoint or local GGUF")
    console.print(table)
    console.print("Accuracy against human labels, speed and known mistakes: docs/judges.md. "
                  "Measure a judge on your own labelled answers: safedrift judges validate "
                  "JUDGE FILE.csv", highlight=False)
    return 0


def _cmd_judges(args, console: Console) -> int:
    handlers = {"validate": _cmd_validate, "agree": _cmd_agree, "list": _cmd_judges_list}
    return handlers[args.judges_command](args, console)


def _cmd_export(args, console: Console) -> int:
    from safedrift.store import ResultsStore

    with ResultsStore(_database(args.run), read_only=True) as store:
        path = store.export_parquet(args.parquet, store.latest_run_id())
    console.print(f"wrote {path}", highlight=False)
    return 0


def _cmd_vllm_command(args, console: Console) -> int:
    from safedrift.models.vllm_serve import vllm_serve_plan
    from safedrift.provenance import cache_dir

    _, results = _run_results(args.run)
    plan = vllm_serve_plan(results, Path(cache_dir()) / "adapters", args.base, args.port)
    print(plan.command)
    print("\n# and in the experiment file:\n" + plan.generation_yaml, end="")
    return 0


def _cmd_analyze(args, console: Console) -> int:
    import json

    from safedrift.stats.analyze import analyze, from_results

    db, results = _run_results(args.run, console)
    judges = list(dict.fromkeys(results["judge"]))
    judge = args.judge or ("refusal" if "refusal" in judges else judges[0])
    if judge not in judges:
        raise SafedriftError(f"judge '{judge}' has no verdicts in {db} (has: {', '.join(judges)})")
    a = analyze(from_results(results[results["judge"] == judge]),
                n_resamples=args.resamples, seed=args.seed)
    out = db.parent
    a.estimates.to_csv(out / "analysis.csv", index=False)
    (out / "analysis.json").write_text(json.dumps(
        {"judge": judge, "findings": a.findings, "warnings": a.warnings,
         "estimates": a.estimates.to_dict("records"),
         "stability": a.stability.to_dict("records")}, indent=2, default=str))
    table = Table(title=f"Estimates ({judge} judge)", title_justify="left")
    for col in ("quantity", "benchmark", "model", "factor", "estimate", "95% CI", "p (Holm)"):
        table.add_column(col)
    for r in a.estimates.itertuples():
        if r.quantity not in ("refusal rate", "change", "variance share"):
            continue
        ci = "" if np.isnan(r.low) else f"[{r.low:.3f}, {r.high:.3f}]"
        p = getattr(r, "p_holm", float("nan"))
        estimate = "n/a" if np.isnan(r.estimate) else f"{r.estimate:.3f}"
        table.add_row(r.quantity, r.benchmark, r.model, str(getattr(r, "factor", "") or "")
                      .replace("nan", ""), estimate, ci,
                      "" if p is None or np.isnan(p) else f"{p:.4f}")
    console.print(table)
    for f in a.findings:
        console.print(f"• {f}", highlight=False)
    for w in a.warnings:
        console.print(f"[yellow]⚠ {w}[/yellow]", highlight=False)
    console.print(f"wrote {out / 'analysis.csv'} and {out / 'analysis.json'}", highlight=False)
    return 0


def _count(value: str) -> int:
    """A number of items to show or sample: a whole number, 0 or more (argparse type)."""
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{value}' is not a whole number") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"{n} is negative; give 0 or more")
    return n


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="safedrift", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    q = sub.add_parser("quickstart", help="fine-tune the embedded model on arithmetic, 3 seeds, "
                       "and measure its refusals before and after")
    q.add_argument("--output", help="output folder (default runs/quickstart)")
    q.add_argument("--model", help="model reference (default embedded:qwen2.5-coder-0.5b-instruct)")
    r = sub.add_parser("run", help="run an experiment file")
    r.add_argument("config", help="experiment YAML (see examples/quickstart.yaml)")
    r.add_argument("--output", help="override the output folder")
    sub.add_parser("benchmarks", help="list the benchmarks and where each loads from")
    pl = sub.add_parser("plan", help="dry run: the grid of an experiment, its size, and a time "
                        "estimate from a short calibration")
    pl.add_argument("config")
    pl.add_argument("--no-calibrate", action="store_true",
                    help="print the grid only; run nothing")
    j = sub.add_parser("judges", help="judge tools")
    jsub = j.add_subparsers(dest="judges_command", required=True)
    jsub.add_parser("list", help="the judges, what each reads and its version")
    v = jsub.add_parser("validate", help="measure a judge against human labels "
                        "(XSTest completions CSV, or a text,label CSV / JSONL / Parquet; "
                        "refusal, toxicity, harm and coherence judges)")
    v.add_argument("judge", help="a judge name, or the name of an LLM judge in --config")
    v.add_argument("file")
    v.add_argument("--config", help="experiment YAML whose LLM judge (endpoint or local "
                   "model) to measure")
    v.add_argument("--label-column", metavar="NAME", help="the column of human labels "
                   "(default: label; final_label in XSTest's files; response_refusal_label / "
                   "response_harm_label in WildGuardTest's)")
    v.add_argument("--text-column", metavar="NAME", help="the column of judged answers "
                   "(default: the first of text, completion, response, output, answer, "
                   "generation)")
    v.add_argument("--threshold", type=float, metavar="T", help="the labels are scores: "
                   "refusal / toxic / harmful / degenerate at or above T (a Perspective "
                   "toxicity of 0.5, a 1-5 rating of 3)")
    v.add_argument("--temperature", type=float, metavar="T", help="the sampling temperature "
                   "of the labelled answers (default 0, greedy; with --config, the config's): "
                   "coherence-ppl judges sampled answers at its lower threshold")
    v.add_argument("--show-wrong", type=_count, default=0, metavar="N",
                   help="list the first N answers the judge got wrong, with its reason")
    v.add_argument("--by", metavar="COLUMN", help="also give the accuracy per value of this "
                   "column of the file (e.g. the answering model), with its interval")
    v.add_argument("--per-class", type=_count, default=0, metavar="N",
                   help="judge only the first N answers of each human label (for slow LLM "
                   "judges; accuracy then describes the sample, per-class recall the file)")
    g = jsub.add_parser("agree", help="pairwise agreement, Cohen's and Fleiss' kappa, and the "
                        "answers on which a run's judges disagree")
    g.add_argument("run", help="run folder or results.duckdb")
    g.add_argument("--field", choices=["refused", "label"], default="refused",
                   help="refusal judges: binary refused, or the 3-class label")
    g.add_argument("--kind", choices=["refusal", "coherence", "toxicity", "harm"],
                   default="refusal", help="which judges to compare (one label space)")
    g.add_argument("--show", type=_count, default=10, help="disagreements to print")
    a = sub.add_parser("analyze", help="intervals, paired tests, variance decomposition, "
                       "stability and power for a run")
    a.add_argument("run", help="run folder or results.duckdb")
    a.add_argument("--judge", help="whose verdicts to analyse (default: refusal)")
    a.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples")
    a.add_argument("--seed", type=int, default=0, help="seed of the bootstrap and permutations")
    e = sub.add_parser("export", help="export a run's results to Parquet")
    e.add_argument("run", help="run folder or results.duckdb")
    e.add_argument("parquet", help="output .parquet path")
    vc = sub.add_parser("vllm-command", help="the vllm serve command that serves a run's base "
                        "model and all its adapters from one engine, and the generation "
                        "section to evaluate them through it")
    vc.add_argument("run", help="run folder or results.duckdb")
    vc.add_argument("--base", help="what vLLM loads as the base (hub id or folder); default: "
                    "the run's model (embedded models map to their hub ids)")
    vc.add_argument("--port", type=int, default=8000)
    return p


def _console() -> Console:
    """The CLI's console. Written to a pipe or a log file (`nohup`, `| tee`), rich would lay
    tables out for 80 columns, folding words and cutting names short with "…"; there, unless
    COLUMNS says otherwise, tables keep their full width and lines are not wrapped."""
    console = Console()
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(width=1000)
    return console


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = _console()
    handlers = {"quickstart": _cmd_run, "run": _cmd_run, "benchmarks": _cmd_benchmarks, "plan": _cmd_plan,
                "judges": _cmd_judges, "export": _cmd_export, "analyze": _cmd_analyze,
                "vllm-command": _cmd_vllm_command}
    try:
        return handlers[args.command](args, console)
    except SafedriftError as e:
        print(f"safedrift: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("safedrift: interrupted; finished cells are stored, run again to resume",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
