import numpy as np
import pandas as pd
import pytest

from safedrift.judges.agreement import judge_agreement


def _frame(labels: dict[str, list[bool]]) -> pd.DataFrame:
    rows = []
    for judge, values in labels.items():
        for i, v in enumerate(values):
            rows.append({"run_id": "r", "gen_key": "g", "item_id": f"i{i}", "sample_index": 0,
                         "judge": judge, "refused": v, "model_id": "base",
                         "response": f"answer {i}"})
    return pd.DataFrame(rows)


def test_cohens_kappa_by_hand_and_disagreements():
    a = [True, True, True, False, False, False, True, False, True, True]
    b = [True, True, False, False, False, True, True, False, True, True]
    res = judge_agreement(_frame({"a": a, "b": b}))
    pair = res.pairs.iloc[0]
    po = np.mean(np.array(a) == np.array(b))
    pa, pb = np.mean(a), np.mean(b)
    pe = pa * pb + (1 - pa) * (1 - pb)
    assert pair.agreement == pytest.approx(po)
    assert pair.cohens_kappa == pytest.approx((po - pe) / (1 - pe))
    assert len(res.disagreements) == 2
    assert set(res.disagreements["item_id"]) == {"i2", "i5"}
    assert "response" in res.disagreements


def test_fleiss_kappa_three_judges_perfect_and_chance():
    same = [True, False] * 5
    res = judge_agreement(_frame({"a": same, "b": same, "c": same}))
    assert res.fleiss_kappa == pytest.approx(1.0) and len(res.pairs) == 3
    rng = np.random.default_rng(0)
    noise = {j: list(rng.random(400) < 0.5) for j in "abc"}
    assert abs(judge_agreement(_frame(noise)).fleiss_kappa) < 0.1


def test_an_llm_judges_errors_are_not_compared():
    """A judge_error verdict (refused False) must not count as a 'compliance' that agrees or
    disagrees with the other judge: the answer drops out of the comparison."""
    frame = _frame({"a": [True, True, False, False], "llm": [True, False, False, True]})
    frame["label"] = np.where(frame["refused"], "full_refusal", "full_compliance")
    errors = (frame["judge"] == "llm") & frame["item_id"].isin(["i1", "i3"])
    frame.loc[errors, ["label", "refused"]] = ["judge_error", False]
    res = judge_agreement(frame)
    assert res.pairs.iloc[0]["n"] == 2 and res.pairs.iloc[0]["agreement"] == 1.0
    assert res.disagreements.empty


def test_one_judge_is_an_error():
    with pytest.raises(ValueError, match="two refusal judges"):
        judge_agreement(_frame({"a": [True, False]}))


def test_coherence_judges_agree_on_their_labels_and_the_command_lists_them(tmp_path, capsys):
    """Judges of another kind are compared among themselves, on their labels; names with '-'
    (coherence-ppl) print."""
    from safedrift.cli import main
    from safedrift.store import ResultsStore

    heur = ["degenerate"] * 3 + ["coherent"] * 7
    ppl = ["degenerate"] * 4 + ["coherent"] * 6
    rows = []
    for judge, labels in {"coherence": heur, "coherence-ppl": ppl}.items():
        for i, label in enumerate(labels):
            rows.append({"run_id": "r", "gen_key": "g", "item_id": f"i{i}", "sample_index": 0,
                         "judge": judge, "judge_kind": "coherence", "label": label,
                         "refused": False, "model_id": "tuned", "benchmark": "b",
                         "response": f"answer {i}"})
    frame = pd.concat([pd.DataFrame(rows), _frame({"refusal": [True] * 10})],
                      ignore_index=True)
    res = judge_agreement(frame, kind="coherence")
    assert res.judges == ("coherence", "coherence-ppl") and res.field == "label"
    assert res.pairs.iloc[0].agreement == pytest.approx(0.9)
    assert list(res.disagreements["item_id"]) == ["i3"]
    with pytest.raises(ValueError, match="two toxicity judges"):
        judge_agreement(frame, kind="toxicity")

    db = tmp_path / "results.duckdb"
    with ResultsStore(db) as store:
        store.start_run("r", {}, {}, "sha")
        store.write_results(pd.DataFrame(rows))
    assert main(["judges", "agree", str(db), "--kind", "coherence"]) == 0
    out = capsys.readouterr().out
    assert "coherence-ppl=degenerate" in out and "1 answers with disagreement" in out
