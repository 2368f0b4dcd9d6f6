"""Write report.md, report.html and summary.json for a run.

Model outputs are untrusted text: the HTML template autoescapes everything, and Markdown cells
escape the characters that would change the table or inject HTML.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import jinja2
import pandas as pd

from safedrift.stats.summary import RunSummary, measure_judge
from safedrift.stats.text import is_missing, pct, points, pvalue


def rate_table(summary: RunSummary) -> list[dict[str, str]]:
    several = summary.rates["format"].ne("all").any() if "format" in summary.rates else False
    measures = summary.rates["measure"].nunique() > 1 if "measure" in summary.rates else False
    return [{**({"measure": r.measure} if measures else {}),
             "benchmark": r.benchmark, "requests": "harmful" if r.harmful else "harmless",
             **({"format": r.format} if several else {}), "model": r.model_id, "n": _judged(r),
             ("rate" if measures else "refusal rate"): pct(r.rate, ""),
             "95% CI": f"[{pct(r.low, '')}, {pct(r.high, '')}]",
             "degenerate": pct(getattr(r, "degenerate", float("nan")), "")}
            for r in summary.rates.itertuples()]


def effect_table(summary: RunSummary) -> list[dict[str, str]]:
    rows = []
    for r in summary.effects.itertuples():
        sd = getattr(r, "sd_across_seeds", float("nan"))
        measure = getattr(r, "measure", "refusal")
        rows.append({"benchmark": r.benchmark if measure == "refusal"
                     else f"{r.benchmark} ({measure})", "comparison": r.comparison,
                     "base": pct(r.base_rate, ""), "tuned": pct(r.tuned_rate, ""),
                     "change (points)": points(r.difference, ""),
                     "95% CI": f"[{points(r.low, '')}, {points(r.high, '')}]",
                     "p": pvalue(r.p_value, "", prefix=""),
                     "test": r.test,
                     "SD across seeds": "" if is_missing(sd)
                     else f"{100 * sd:.1f} pts"})
    return rows


def degenerate_note(summary: RunSummary) -> str | None:
    """What the degenerate column can and cannot say: measured on hand-labelled answers of
    fine-tuned small models (docs/judges.md, "The rise, not the verdicts")."""
    if not summary.coherence_judge:
        return None
    return (f"degenerate: the share of answers `{summary.coherence_judge}` flags. What the "
            "coherence judges flag is degenerate (precision 0.92–1.00 on eighteen labelled sets "
            "of fine-tunes), but they miss fluent nonsense (recall 0.006–0.86), so the share is "
            "a floor, and its difference between a base model and a fine-tune is not a measured "
            "rise: on 27 labelled base / fine-tune pairs the `coherence` heuristics' difference "
            "was off by 0.16 on average, in either direction (docs/judges.md).")


# What the offline toxicity judges' share and its base / fine-tune change can say, measured on
# four hand-labelled sets of small models' ToxiGen continuations (docs/judges.md, "The
# untouched test"); the hub classifiers are not measured here, so they get no note.
_TOXICITY_NOTES = {
    "toxicity": "agreed with 0.85–0.94 of the labels on four hand-labelled sets of small models' "
                "continuations, each judged by a head that never trained on it (0.847 on the "
                "set labelled after its recipe was chosen), and saw about "
                "three quarters of a fine-tune's change in the share toxic (8 base / fine-tune "
                "pairs: off by 0.065 on average, at most 0.10), so a change under about five "
                "points is within its error",
    "toxicity-linear": "agreed with 0.78–0.88 of the labels on four hand-labelled sets of small "
                       "models' continuations and, on the set labelled after it was built, saw "
                       "almost none of the fine-tune's change (−0.03 and 0.00 where the labels "
                       "fell by 0.23 and 0.15)",
}


def toxicity_note(summary: RunSummary, results: pd.DataFrame) -> str | None:
    """What the toxicity column can say, for the offline judge that filled it."""
    if "measure" not in summary.rates or not summary.rates["measure"].eq("toxicity").any():
        return None
    judge = measure_judge(results, "toxicity")
    if judge not in _TOXICITY_NOTES:
        return None
    return (f"toxicity: the share of continuations `{judge}` calls toxic. It "
            f"{_TOXICITY_NOTES[judge]}. It reacts to a group named with strong feeling more "
            "than to what is said about it: counter-speech is often called toxic, and hate "
            "restated in a quiz or in an academic frame often missed (docs/judges.md).")


BY_JUDGE = "Does the conclusion depend on the judge? (mean of tuned − base, each judge)"


def judge_table(summary: RunSummary) -> list[dict[str, str]]:
    """The pooled change under each judge: the same answers, read by each judge."""
    if summary.by_judge is None or summary.by_judge.empty:
        return []
    return [{"benchmark": r.benchmark if r.measure == "refusal" else f"{r.benchmark} (harm)",
             "judge": r.judge, "base": pct(r.base_rate, ""), "tuned": pct(r.tuned_rate, ""),
             "change (points)": points(r.difference, ""),
             "95% CI": f"[{points(r.low, '')}, {points(r.high, '')}]",
             "p": pvalue(r.p_value, "", prefix=""), "conclusion": r.conclusion,
             "agreement with the first judge (κ)": "" if is_missing(r.agreement_with_first)
             else f"{r.agreement_with_first:.3f} ({r.kappa_with_first:.2f})"}
            for r in summary.by_judge.itertuples()]


def _md_cell(text: str, untrusted: bool = False) -> str:
    """Table-safe Markdown; untrusted text (model outputs, prompts) is HTML-escaped too."""
    text = html.escape(str(text)) if untrusted else str(text)
    return text.replace("|", "\\|").replace("\n", " ")


def _md_table(rows: list[dict[str, str]], untrusted: bool = False) -> str:
    if not rows:
        return "_none_\n"
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_md_cell(r[c], untrusted) for c in cols) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _examples(results: pd.DataFrame, judge: str, n: int = 3) -> list[dict[str, str]]:
    """A few harmful-request answers per model, so a reader sees what the numbers count."""
    df = results[(results["judge"] == judge) & results["harmful"]]
    out = []
    for model_id, mdf in df.groupby("model_id", sort=True):
        for r in mdf.head(n).itertuples():
            out.append({"model": model_id, "item": r.item_id, "prompt": r.prompt[:160],
                        "response": r.response[:300], "verdict": r.label})
    return out


_HTML = jinja2.Environment(autoescape=True).from_string("""<!doctype html>
<html><head><meta charset="utf-8"><title>safedrift run {{ run_id }}</title>
<style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;
text-align:left;vertical-align:top}th{background:#f3f3f3}.warn{color:#a60}
pre{white-space:pre-wrap}</style></head><body>
<h1>safedrift: does this fine-tune change safety?</h1>
<p>Run <code>{{ run_id }}</code> · model <code>{{ model_ref }}</code> (sha256
<code>{{ model_sha[:16] }}…</code>) · judge <code>{{ judge }}</code></p>
<h2>Findings</h2><ul>{% for f in findings %}<li>{{ f }}</li>{% endfor %}</ul>
{% if warnings %}<ul class="warn">{% for w in warnings %}<li>{{ w }}</li>{% endfor %}</ul>{% endif %}
{% for title, rows, note in tables %}<h2>{{ title }}</h2><table><tr>{% for c in rows[0] %}<th>{{ c }}</th>
{% endfor %}</tr>{% for r in rows %}<tr>{% for c in r %}<td>{{ r[c] }}</td>{% endfor %}</tr>
{% endfor %}</table>{% if note %}<p>{{ note }}</p>{% endif %}{% endfor %}
<h2>Training loss</h2><table><tr><th>seeds (init/order/dropout)</th><th>first</th><th>last</th>
<th>steps</th></tr>{% for r in losses %}<tr><td>{{ r.seeds }}</td><td>{{ r.first }}</td>
<td>{{ r.last }}</td><td>{{ r.steps }}</td></tr>{% endfor %}</table>
<h2>Provenance</h2><pre>{{ provenance }}</pre></body></html>
""")


def _loss_rows(train_log: pd.DataFrame) -> list[dict[str, str]]:
    rows = []
    order = train_log.sort_values(["seed_init", "seed_data_order", "seed_dropout", "step"])
    for key, g in order.groupby("adapter_key", sort=False):
        rows.append({"seeds": f"{g.seed_init.iloc[0]}/{g.seed_data_order.iloc[0]}/"
                     f"{g.seed_dropout.iloc[0]}", "first": f"{g.loss.iloc[0]:.3f}",
                     "last": f"{g.loss.iloc[-1]:.3f}", "steps": str(len(g))})
    return rows


def _judged(row) -> str:
    """n, and the judge errors and unfinished answers left out of the figures (none on rows
    written before those columns existed)."""
    left = [f"{int(k)} {what} left out" for k, what in
            ((getattr(row, "n_errors", None), "judge errors"),
             (getattr(row, "n_unfinished", None), "unfinished answers"))
            if k is not None and not pd.isna(k) and k]
    return f"{row.n} ({'; '.join(left)})" if left else str(row.n)


def validation_table(validations: pd.DataFrame | None) -> list[dict[str, str]]:
    if validations is None or validations.empty:
        return []
    binary = "accuracy (binary: refused / toxic / harmful / degenerate or not) [95% CI]"
    agreed = "the file's annotators agreed (binary / 3 classes)"
    rows = [{"judge": f"{r.judge} ({r.judge_version})", "labelled file": Path(r.source).name,
             "n": _judged(r), "accuracy (3 classes) [95% CI]": _accuracy(r.accuracy_3class, r.n),
             binary: _accuracy(r.accuracy_binary, r.n),
             "AUROC": "" if is_missing(r.auroc) else f"{r.auroc:.3f}", agreed: _agreed(r)}
            for r in validations.itertuples()]
    if not any(r[agreed] for r in rows):
        for r in rows:  # no file keeps both annotators' labels: no empty column
            del r[agreed]
    return rows


def _agreed(row) -> str:
    """How often the labelled file's annotators agreed before adjudication (pairwise, where
    it has more than two), if it says; a binary file has no 3-class figure."""
    binary, three = (getattr(row, c, None) for c in ("annotators_binary", "annotators_3class"))
    if binary is None or is_missing(binary):
        return ""
    return f"{binary:.3f}" if three is None or is_missing(three) else f"{binary:.3f} / {three:.3f}"


def _accuracy(accuracy: float, n: int) -> str:
    """An accuracy over n labelled answers with its Wilson interval (a sample, not a truth)."""
    if is_missing(accuracy):
        return ""
    from safedrift.stats.estimates import wilson_rate

    r = wilson_rate(round(accuracy * n), int(n))
    return f"{accuracy:.3f} [{r.low:.3f}, {r.high:.3f}]"


def write_reports(out: Path, cfg, run_id: str, summary: RunSummary, results: pd.DataFrame,
                  train_log: pd.DataFrame, versions: dict, model,
                  validations: pd.DataFrame | None = None) -> None:
    rates, effects, judges = rate_table(summary), effect_table(summary), judge_table(summary)
    validation = validation_table(validations)
    notes = [n for n in (degenerate_note(summary), toxicity_note(summary, results)) if n]
    note = " ".join(notes) or None  # under the rates table of both reports
    examples = _examples(results, summary.judge)
    losses = _loss_rows(train_log[train_log["adapter_key"].isin(results["adapter_key"].dropna())])
    provenance = {"run_id": run_id, "config_hash": run_id, "model": model.ref,
                  "model_sha256": model.sha256, "packages": versions,
                  "config": cfg.identity()}
    md = [f"# safedrift run {run_id}\n",
          f"Model `{model.ref}` (sha256 `{model.sha256}`), judge `{summary.judge}`.\n",
          "## Findings\n", *[f"- {_md_cell(f)}" for f in summary.findings], "",
          *[f"- ⚠ {_md_cell(w)}" for w in summary.warnings], "",
          "## Refusal rates (95% Wilson intervals)\n", _md_table(rates),
          *[line for n in notes for line in (_md_cell(n), "")],
          "## Change after fine-tuning (paired by item)\n", _md_table(effects),
          *([f"## {BY_JUDGE}\n", _md_table(judges)] if judges else []),
          "## Training loss\n", _md_table(losses),
          *(["## Judge validation against human labels\n", _md_table(validation)]
            if validation else []),
          "## Example answers to harmful requests\n", _md_table(examples, untrusted=True),
          "## Provenance\n", "```json", json.dumps(provenance, indent=2, default=str), "```", ""]
    (out / "report.md").write_text("\n".join(md), encoding="utf-8")
    tables = [("Refusal rates (95% Wilson intervals)", rates, note),
              ("Change after fine-tuning (paired by item)", effects, None),
              (BY_JUDGE, judges, None),
              ("Judge validation against human labels", validation, None),
              ("Example answers to harmful requests", examples, None)]
    (out / "report.html").write_text(_HTML.render(
        run_id=run_id, model_ref=model.ref, model_sha=model.sha256, judge=summary.judge,
        findings=summary.findings, warnings=summary.warnings,
        tables=[(t, r, n) for t, r, n in tables if r], losses=losses,
        provenance=json.dumps(provenance, indent=2, default=str)), encoding="utf-8")
    (out / "summary.json").write_text(json.dumps({
        "run_id": run_id, "judge": summary.judge, "findings": summary.findings,
        "warnings": summary.warnings,
        "rates": summary.rates.to_dict("records"), "effects": summary.effects.to_dict("records"),
        "by_judge": summary.by_judge.to_dict("records"),
        "judge_validation": validation,
        "provenance": provenance}, indent=2, default=str), encoding="utf-8")
