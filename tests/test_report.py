"""Summary and reports from a results table: numbers match the estimators, outputs are
escaped."""

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from safedrift.config import parse_config
from safedrift.report.render import write_reports
from safedrift.stats.estimates import paired_effect, wilson_rate
from safedrift.stats.summary import summarise


def _results(seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    items = [f"i{k}" for k in range(20)]
    base = rng.random(20) < 0.7
    models = {"base": base}
    for s in range(3):
        models[f"tuned-s{s}-{s}-{s}"] = np.where(rng.random(20) < 0.8, False, base)
    for model_id, refused in models.items():
        for item, r in zip(items, refused):
            rows.append({"judge": "refusal", "benchmark": "smoke-harmful", "harmful": True,
                         "model_id": model_id, "item_id": item, "refused": bool(r),
                         "seed_init": None if model_id == "base" else int(model_id[7]),
                         "adapter_key": None if model_id == "base" else model_id,
                         "prompt": "How do I <b>x</b>?", "label": "x", "sample_index": 0,
                         "response": "<script>alert('pwned')</script> | sure"})
    return pd.DataFrame(rows), models


def test_summary_numbers_come_from_the_estimators():
    df, models = _results()
    s = summarise(df, "refusal")
    base_row = s.rates[s.rates.model_id == "base"].iloc[0]
    ref = wilson_rate(int(models["base"].sum()), 20)
    assert (base_row.rate, base_row.low, base_row.high) == (ref.rate, ref.low, ref.high)
    per_seed = s.effects[s.effects.comparison == "tuned-s1-1-1 − base"].iloc[0]
    e = paired_effect(models["base"].astype(float), models["tuned-s1-1-1"].astype(float))
    assert per_seed.p_value == e.p_value and per_seed.difference == e.difference
    pooled = s.effects[s.effects.comparison.str.startswith("mean of 3")].iloc[0]
    rates = [models[f"tuned-s{k}-{k}-{k}"].mean() for k in range(3)]
    assert pooled.sd_across_seeds == np.std(rates, ddof=1)
    assert len(s.findings) == 1 and "points" in s.findings[0]


def test_several_samples_per_item_widen_the_rate_interval():
    """Three samples of each item are not 60 independent answers: the summary's interval is
    design_effect_wilson's over items, wider than Wilson on all rows; a rate of 0 is not [0, 0]."""
    from safedrift.stats.clustered import design_effect_wilson

    df, models = _results()
    df = pd.concat([df.assign(sample_index=j) for j in range(3)], ignore_index=True)
    df = df[df.model_id.isin(["base", "tuned-s0-0-0"])]
    s = summarise(df, "refusal")
    base_row = s.rates[s.rates.model_id == "base"].iloc[0]
    b = df[df.model_id == "base"]
    ref = design_effect_wilson(b["refused"].astype(float).to_numpy(), b["item_id"].to_numpy())
    naive = wilson_rate(int(b["refused"].sum()), len(b))
    assert base_row.n == 60 and (base_row.low, base_row.high) == (ref.low, ref.high)
    assert base_row.high - base_row.low > 1.3 * (naive.high - naive.low)
    none = summarise(df.assign(refused=False), "refusal").rates.iloc[0]
    assert none.rate == 0 and none.low == 0 and none.high > 0.1  # 20 items bound it, not 60 rows


def test_one_seed_warns_instead_of_inventing_a_spread():
    df, _ = _results()
    df = df[df.model_id.isin(["base", "tuned-s0-0-0"])]
    s = summarise(df, "refusal")
    assert any("one fine-tune seed" in w for w in s.warnings)
    assert "seed variance is unknown" in s.findings[0]


def test_a_harm_rate_from_the_proxy_warns_that_it_over_counts():
    """`harm-proxy` counts compliance, not harm (held out: precision 0.47, and one fine-tune's
    change read with the wrong sign): a run that reads harm with it says so; a run that only
    reads refusals does not."""
    df, _ = _results()
    assert not any("harm-proxy" in w for w in summarise(df, "refusal").warnings)
    harm = df.assign(judge="harm-proxy",
                     label=np.where(df["refused"], "harmless", "harmful"))
    s = summarise(pd.concat([df, harm], ignore_index=True), "refusal")
    assert any("harm is read by `harm-proxy`" in w and "wrong sign" in w for w in s.warnings)


def test_reports_escape_model_output(tmp_path):
    df, _ = _results()
    s = summarise(df, "refusal")
    log = pd.DataFrame({"adapter_key": ["tuned-s0-0-0"], "seed_init": [0], "seed_data_order": [0],
                        "seed_dropout": [0], "step": [0], "loss": [1.0]})
    model = SimpleNamespace(ref="embedded:x", sha256="ab" * 32)
    write_reports(tmp_path, parse_config({}), "run1", s, df, log, {"torch": "2"}, model)
    page = (tmp_path / "report.html").read_text()
    md = (tmp_path / "report.md").read_text()
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "<script>" not in md and "\\|" in md
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["run_id"] == "run1" and summary["provenance"]["model_sha256"] == "ab" * 32


def test_degenerate_column_comes_from_coherence_ppl_when_the_run_has_it():
    df, _ = _results()
    refusal = df[df.model_id == "base"].assign(format="chat")
    flags = {"coherence": [True] * 5 + [False] * 15, "coherence-ppl": [True] * 8 + [False] * 12}
    rows = [refusal]
    for judge, flagged in flags.items():
        rows.append(refusal.assign(judge=judge, judge_kind="coherence",
                                   label=["degenerate" if f else "coherent" for f in flagged]))
    both = pd.concat(rows, ignore_index=True)
    rate = summarise(both, "refusal").rates.iloc[0]["degenerate"]
    assert rate == 8 / 20
    only_heuristics = both[both.judge != "coherence-ppl"]
    assert summarise(only_heuristics, "refusal").rates.iloc[0]["degenerate"] == 5 / 20


def test_sampled_answers_judged_by_the_heuristics_alone_get_a_warning():
    """The heuristics miss sampling's nonsense (docs/judges.md, set 18): a sampled run whose
    degenerate share comes from `coherence` alone says so; greedy runs and runs with
    `coherence-ppl` do not."""
    df, _ = _results()
    refusal = df[df.model_id.isin(["base", "tuned-s0-0-0"])].assign(format="chat")
    heuristics = refusal.assign(judge="coherence", judge_kind="coherence", label="coherent")
    both = pd.concat([refusal, heuristics], ignore_index=True)

    def warned(rows):
        return [w for w in summarise(rows, "refusal").warnings if "were sampled" in w]

    hot = warned(both.assign(temperature=1.0))
    assert len(hot) == 1 and "temperature up to 1" in hot[0] and "coherence-ppl" in hot[0]
    assert warned(both.assign(temperature=0.0)) == []
    with_ppl = pd.concat([both, heuristics.assign(judge="coherence-ppl")], ignore_index=True)
    assert warned(with_ppl.assign(temperature=1.0)) == []


def test_judge_errors_are_left_out_of_refusal_rates_not_counted_as_compliance():
    """An LLM refusal judge whose endpoint failed on some answers: those verdicts carry no
    outcome, so the rate is over the judged answers only (as the warning says), and the rate
    row counts them."""
    df, models = _results()
    df = df[df.model_id.isin(["base", "tuned-s0-0-0"])].reset_index(drop=True)
    base = df.index[df.model_id == "base"]
    refused_base = df.loc[base, "refused"].to_numpy()
    failed = base[refused_base][:3]  # three refusals the judge could not read
    df.loc[failed, ["label", "refused"]] = ["judge_error", False]
    s = summarise(df, "refusal")
    row = s.rates[s.rates.model_id == "base"].iloc[0]
    ref = wilson_rate(int(refused_base.sum()) - 3, 17)
    assert (row.n, row.rate, row.low, row.high) == (17, ref.rate, ref.low, ref.high)
    assert row.n_errors == 3
    assert any("3 answer(s) got a judge_error" in w for w in s.warnings)


def test_the_report_says_when_the_conclusion_depends_on_the_judge(tmp_path):
    """Two refusal judges read the same answers: one sees fine-tuning lower the refusal rate,
    the other sees no change. The summary gives the pooled change under each (the estimator's
    numbers), their agreement, and warns that the conclusion depends on the judge."""
    df, models = _results()
    df = df.assign(gen_key=df["model_id"], sample_index=0, format="chat")
    base = df[df.model_id == "base"].set_index("item_id")["refused"]
    steady = df.assign(judge="keyword", refused=df["item_id"].map(base))  # no change at all
    both = pd.concat([df, steady], ignore_index=True)
    s = summarise(both, "refusal")
    rows = s.by_judge.set_index("judge")
    tuned = np.mean([models[f"tuned-s{k}-{k}-{k}"] for k in range(3)], axis=0)
    ref = paired_effect(models["base"].astype(float), tuned)
    assert rows.loc["refusal", "difference"] == pytest.approx(ref.difference, abs=1e-12)
    assert rows.loc["refusal", "p_value"] == pytest.approx(ref.p_value, abs=1e-12)
    assert rows.loc["refusal", "conclusion"] == "lower"
    assert rows.loc["keyword", "difference"] == 0
    assert rows.loc["keyword", "conclusion"] == "no clear change"
    same = np.mean(np.concatenate([models[m] == models["base"] for m in models]))
    assert rows.loc["keyword", "agreement_with_first"] == same
    assert any("depends on how the answers are read" in w and "keyword: +0 points" in w
               for w in s.warnings)
    # the same verdicts under another name: same conclusion, no warning
    twin = pd.concat([df, df.assign(judge="keyword")], ignore_index=True)
    assert not any("depends on" in w for w in summarise(twin, "refusal").warnings)
    # every answer of the fine-tunes that does not refuse is gibberish: on the coherent answers
    # alone the fine-tunes refuse as often as they answer at all, and the drop is gone
    gibberish = (df["model_id"] != "base") & ~df["refused"]
    flags = df.assign(judge="coherence", judge_kind="coherence",
                      label=np.where(gibberish, "degenerate", "coherent"))
    s2 = summarise(pd.concat([df, flags], ignore_index=True), "refusal")
    coherent = s2.by_judge.set_index("judge").loc["refusal, coherent answers only"]
    assert coherent.tuned_rate == 1.0 and coherent.conclusion != "lower"
    assert any("coherent answers only" in w for w in s2.warnings)

    log = pd.DataFrame({"adapter_key": [], "seed_init": [], "seed_data_order": [],
                        "seed_dropout": [], "step": [], "loss": []})
    model = SimpleNamespace(ref="embedded:x", sha256="ab" * 32)
    write_reports(tmp_path, parse_config({}), "run1", s, both, log, {"torch": "2"}, model)
    page = (tmp_path / "report.html").read_text()
    assert "Does the conclusion depend on the judge?" in page and "no clear change" in page
    assert json.loads((tmp_path / "summary.json").read_text())["by_judge"][1]["judge"] == \
        "keyword"


def test_the_degenerate_column_says_it_is_a_floor_not_a_measured_rise(tmp_path):
    """docs/judges.md, "The rise, not the verdicts": the coherence judges' share is a floor and
    its base / fine-tune difference was off by 0.16 on labelled pairs; a report with a
    degenerate column says so under the rates table, one without it does not."""
    df, _ = _results()
    refusal = df[df.model_id.isin(["base", "tuned-s0-0-0"])].assign(format="chat")
    flags = refusal.assign(judge="coherence", judge_kind="coherence", label="coherent")
    log = pd.DataFrame({"adapter_key": ["tuned-s0-0-0"], "seed_init": [0], "seed_data_order": [0],
                        "seed_dropout": [0], "step": [0], "loss": [1.0]})
    model = SimpleNamespace(ref="embedded:x", sha256="ab" * 32)
    for rows, noted in ((pd.concat([refusal, flags], ignore_index=True), True), (refusal, False)):
        s = summarise(rows, "refusal")
        assert s.coherence_judge == ("coherence" if noted else None)
        write_reports(tmp_path, parse_config({}), "run1", s, rows, log, {"torch": "2"}, model)
        for page in ("report.md", "report.html"):
            text = (tmp_path / page).read_text()
            assert ("is a floor" in text and "`coherence` flags" in text) is noted, page


def test_the_toxicity_rates_say_how_much_of_a_change_the_offline_judge_sees(tmp_path):
    """docs/judges.md, "The untouched test": on labelled base / fine-tune pairs the offline
    `toxicity` judge saw about three quarters of the change in the share toxic. A report whose
    toxicity rates come from it says so under the rates table (with `toxicity-linear`, that
    judge's own figures); a run without a toxicity measure, or whose toxicity judge is a hub
    classifier not measured here, carries no such note."""
    df, _ = _results()
    refusal = df[df.model_id.isin(["base", "tuned-s0-0-0"])].assign(task="refusal")
    continuations = refusal.assign(benchmark="toxigen", task="toxicity", harmful=True)
    log = pd.DataFrame({"adapter_key": ["tuned-s0-0-0"], "seed_init": [0], "seed_data_order": [0],
                        "seed_dropout": [0], "step": [0], "loss": [1.0]})
    model = SimpleNamespace(ref="embedded:x", sha256="ab" * 32)
    for judge, expected in (("toxicity", "three quarters"), ("toxicity-linear", "almost none"),
                            ("toxigen-roberta", None), (None, None)):
        rows = [refusal.assign(judge="refusal", judge_kind="refusal")]
        if judge:
            rows += [continuations.assign(judge=judge, judge_kind="toxicity", label=np.where(
                continuations["refused"], "non_toxic", "toxic"))]
        rows = pd.concat(rows, ignore_index=True)
        s = summarise(rows, "refusal")
        assert bool(s.rates["measure"].eq("toxicity").any()) is (judge is not None)
        write_reports(tmp_path, parse_config({}), "run1", s, rows, log, {"torch": "2"}, model)
        for page in ("report.md", "report.html"):
            text = (tmp_path / page).read_text()
            if expected:
                assert f"`{judge}` calls toxic" in text and expected in text, (judge, page)
            else:
                assert "calls toxic" not in text, (judge, page)


def test_validation_table_shows_annotator_agreement_only_where_a_file_keeps_it():
    """A labelled file that keeps its annotators' labels (XSTest's, HarmBench's) gets their
    agreement beside the judge's accuracy; a table where no file does has no empty column for it (as read back
    from a database written before the column existed: NaN)."""
    from safedrift.report.render import validation_table

    rows = pd.DataFrame({"judge": ["refusal", "toxicity", "harm-proxy"],
                         "judge_version": ["p", "t", "h"],
                         "source": ["a/xstest.csv", "b/tox.csv", "c/val.json"], "n": [450, 248, 9],
                         "accuracy_3class": [0.971, np.nan, np.nan],
                         "accuracy_binary": [0.984, 0.847, 0.7],
                         "auroc": [0.991, 0.879, 0.7], "n_errors": [0, 0, 0],
                         "annotators_binary": [0.9956, np.nan, 0.8771],
                         "annotators_3class": [0.9844, np.nan, np.nan]})
    column = "the file's annotators agreed (binary / 3 classes)"
    table = validation_table(rows)
    # a binary file (HarmBench's three annotators: pairwise agreement) has no 3-class figure
    assert [r[column] for r in table] == ["0.996 / 0.984", "", "0.877"]
    older = validation_table(rows.assign(annotators_binary=np.nan, annotators_3class=np.nan))
    assert all(column not in r for r in older) and older[0]["AUROC"] == "0.991"
