"""Accuracy of the offline refusal judges against human labels, per answering model.

Sets: XSTest's two completion files (GPT-4, Llama-2-70b-chat; ../shared/data), and answers of
models safedrift's patterns were not written for, hand-labelled here (benchmarks/data, see its
README): `refusal_labels.csv` (patterns-6 was written on it), `refusal_labels_heldout.csv`
(labelled with patterns-6 frozen; patterns-7 was then written on it) and
`refusal_labels_heldout2.csv` (labelled with patterns-7 frozen; patterns-8 then read it) and
`refusal_labels_heldout3.csv` (labelled with patterns-8 frozen; patterns-9 then read it) and
`refusal_labels_heldout4.csv` (labelled with patterns-9 frozen; patterns-10 then read it) and
`refusal_labels_heldout5.csv` (labelled with patterns-10 frozen). A set's held-out figure is
the judge version it was held out from, on today's labels: `--judge-at REV` loads the pattern
judge from a git revision (`git log -S '"patterns-7"' -- src/safedrift/judges/refusal.py`
finds it). The project files hold item ids; prompts come from ../shared/data.

    python benchmarks/refusal_judge.py --shared ../shared/data [--judge-at REV]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from safedrift.judges.refusal import KeywordRefusalJudge, PatternRefusalJudge
from safedrift.judges.validate import load_labelled, validate_judge

from labelled_answers import module_at, with_prompts  # benchmarks/, next to this script

DATA = Path(__file__).parent / "data"
# each file was labelled blind, with the judge version named frozen, then read to write the next
PROJECT_SETS = {"dev (patterns-6 written on it)": "refusal_labels.csv",
                "held out from patterns-6": "refusal_labels_heldout.csv",
                "held out from patterns-7": "refusal_labels_heldout2.csv",
                "held out from patterns-8": "refusal_labels_heldout3.csv",
                "held out from patterns-9": "refusal_labels_heldout4.csv",
                "held out from patterns-10": "refusal_labels_heldout5.csv"}
XSTEST = {"GPT-4": "xstest_v2_completions_gpt4.csv",
          "Llama-2-70b-chat": "xstest_v2_completions_llama2orig.csv"}


def labelled_sets(shared: Path):
    """(set name, answering model, labelled frame) for every file and model in it."""
    for model, name in XSTEST.items():
        frame, _ = load_labelled(shared / "xstest" / name)
        yield "XSTest", model, frame
    for set_name, file in PROJECT_SETS.items():
        frame, _ = load_labelled(with_prompts(DATA / file, shared))
        sources = pd.read_csv(DATA / file)["source"]
        for source in sources.unique():
            yield set_name, source, frame[(sources == source).to_numpy()].reset_index(drop=True)
        yield set_name, "all of the above", frame


def pattern_judge_at(rev: str):
    """The pattern refusal judge as it was at git revision `rev`."""
    return module_at(rev, "src/safedrift/judges/refusal.py").PatternRefusalJudge()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default="../shared/data")
    ap.add_argument("--judge-at", help="git revision to take the pattern judge from")
    args = ap.parse_args()
    if not (Path(args.shared) / "xstest").is_dir():
        raise SystemExit(f"--shared {args.shared}: no xstest/ folder (point it at ../shared/data)")
    pattern = pattern_judge_at(args.judge_at) if args.judge_at else PatternRefusalJudge()
    judges = [pattern, KeywordRefusalJudge()]
    rows = []
    for set_name, model, frame in labelled_sets(Path(args.shared)):
        row = {"set": set_name, "answering model": model, "n": len(frame),
               "refusals": int((frame["label"] != "full_compliance").sum())}
        for judge in judges:
            v = validate_judge(judge, frame, model)
            row[f"{judge.name} binary"] = round(v.accuracy_binary, 3)
            if frame["label"].eq("partial_refusal").any():
                row[f"{judge.name} 3-class"] = round(v.accuracy_3class, 3)
        rows.append(row)
    table = pd.DataFrame(rows).astype(object).fillna("")
    print(f"judges: {', '.join(f'{j.name} ({j.version})' for j in judges)}; 3-class only "
          "where the labels have partial refusals")
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
