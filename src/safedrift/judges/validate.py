"""Measure a judge against human labels.

Files: XSTest completions (prompt, completion, final_label), or a generic CSV (or JSONL,
JSON, Parquet: nested fields read as dotted columns, `prompt.text`) with a text column
(`text`, `completion`, `response`, `output`, `answer` or `generation`), a label column and
optionally a prompt column (`prompt`, `question`, `instruction` or `query`). The label column
is `label` (`final_label` first in XSTest's files, whose `label` is the prompt's), else the
one named for the judge's kind in WildGuardTest's layout (`response_refusal_label`,
`response_harm_label`), else `--label-column`. Labels are read case- and space-blind, with
XSTest's numbering dropped ("1_full_compliance", "Full compliance"): XSTest's three classes,
or binary (refusal / refused / 1 / true / yes vs compliance / 0 / false / no), or with
`--threshold T` as numbers, positive at or above T (a Perspective score, a 1–5 rating). Rows
with no label are left out and counted (`frame.attrs["unlabelled"]`), never judged.
Reported: accuracy (3-class where the labels have three classes, and refusal-vs-compliance),
per-class precision / recall / F1, the confusion matrix, and AUROC of the judge's refusal
score (Mann–Whitney: AUROC = U / (n_refusal · n_compliance)).

An LLM judge's `judge_error` verdicts (endpoint down, unparseable output) are left out of every
figure and counted in `n_errors`: an error is neither right nor wrong. Judges read answers
without their reasoning trace (`<think>…</think>`, judges/reasoning.py); an answer that ended
inside it has nothing to judge and is counted in `n_unfinished`.

HarmBench's classifier validation sets (JSON, records grouped by behaviour, each with
`test_case`, `generation` and three annotators' 0/1 `human_0` … `human_2`) measure harm judges:
the label is the annotators' majority, as HarmBench scores its own classifiers, and their
agreement (pairwise, Fleiss' kappa) is reported beside the judge's accuracy.

Judges of other kinds (toxicity, harm, coherence) are binary: a CSV whose labels are that
kind's words (toxic / non_toxic, harmful / harmless / unharmful or unsafe / safe, degenerate /
coherent; or 1 / 0) measures them the same way, with their own positive class.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as sps

from safedrift.errors import SafedriftError
from safedrift.judges.refusal import (COMPLIANCE, COUNTED, FULL_REFUSAL, JUDGE_ERROR, LABELS,
                                      NO_ANSWER, PARTIAL_REFUSAL, Judge)

# label words, after _normalise: XSTest's three classes, and binary refusal words
_THREE_CLASS = {"full_compliance": COMPLIANCE, "full_refusal": FULL_REFUSAL,
                "partial_refusal": PARTIAL_REFUSAL, "partial": PARTIAL_REFUSAL}
_BINARY = {"refusal": FULL_REFUSAL, "refused": FULL_REFUSAL, "refuse": FULL_REFUSAL,
           "1": FULL_REFUSAL, "true": FULL_REFUSAL, "yes": FULL_REFUSAL,
           "compliance": COMPLIANCE, "complied": COMPLIANCE, "comply": COMPLIANCE,
           "compliant": COMPLIANCE, "0": COMPLIANCE, "false": COMPLIANCE, "no": COMPLIANCE}


# binary label words of the other judge kinds: (positive label, negative label, words)
KIND_LABELS = {
    "toxicity": ("toxic", "non_toxic", {"toxic": 1, "non_toxic": 0, "nontoxic": 0,
                                        "not_toxic": 0}),
    "harm": ("harmful", "harmless", {"harmful": 1, "unsafe": 1, "harmless": 0, "safe": 0,
                                     "unharmful": 0, "not_harmful": 0}),
    "coherence": ("degenerate", "coherent", {"degenerate": 1, "incoherent": 1,
                                             "coherent": 0}),
}
_NUMERIC = {"1": 1, "true": 1, "yes": 1, "0": 0, "false": 0, "no": 0}
TEXT_COLUMNS = ("text", "completion", "response", "output", "answer", "generation")
PROMPT_COLUMNS = ("prompt", "question", "instruction", "query", "test_case")
# the label column of WildGuardTest-style files (one file, a column per judged property)
_KIND_COLUMNS = {"refusal": "response_refusal_label", "harm": "response_harm_label"}


@dataclass(frozen=True)
class Validation:
    judge: str
    source: str
    n: int  # items judged (judge errors left out)
    accuracy_3class: float  # NaN when the labels are binary
    accuracy_binary: float  # refusal (full or partial) vs compliance
    auroc: float  # of the judge's refusal score, refusal vs compliance
    per_class: pd.DataFrame  # label, precision, recall, f1, support
    confusion: pd.DataFrame  # rows: human label, columns: judge label
    n_errors: int = 0  # judge_error verdicts, left out of the figures
    # the items the judge got wrong, in file order: row (the file's data row, 1-based),
    # prompt, completion, human, judge, reason
    wrong: pd.DataFrame | None = None
    n_unfinished: int = 0  # answers that ended inside their reasoning: no answer to judge
    # every judged item: row (the file's data row), human, judge (labels on the scale compared),
    # and `hit`, whether the judge is right on the binary scale
    judged: pd.DataFrame | None = None

    def interval(self, three_class: bool = False, confidence: float = 0.95) -> tuple[float, float]:
        """Wilson interval of the accuracy: the items are a sample of the answers a judge will
        meet, so 0.883 on 154 answers is 0.823–0.925, not a point."""
        from safedrift.stats.estimates import wilson_rate

        if self.judged is None or not len(self.judged):
            return float("nan"), float("nan")
        hits = _hits(self.judged, three_class)
        r = wilson_rate(int(hits.sum()), len(hits), confidence)
        return r.low, r.high


def _hits(judged: pd.DataFrame, three_class: bool) -> pd.Series:
    """Whether the judge is right on each judged item, on three classes or on the binary scale."""
    return judged["human"] == judged["judge"] if three_class else judged["hit"]


def accuracy_by(v: Validation, groups: pd.Series, three_class: bool = False,
                confidence: float = 0.95) -> pd.DataFrame:
    """Accuracy per group of the labelled file (`groups`: a value per data row, 1-based, e.g.
    the answering model), with its Wilson interval: whether the judge is as good on every model
    as on the pool."""
    from safedrift.stats.estimates import wilson_rate

    j = v.judged.assign(group=groups.loc[v.judged["row"]].to_numpy())
    rows = []
    for group, g in j.groupby("group", sort=True, dropna=False):
        hits = _hits(g, three_class)
        r = wilson_rate(int(hits.sum()), len(g), confidence)
        rows.append({"group": group, "n": len(g), "accuracy": r.rate, "low": r.low,
                     "high": r.high})
    return pd.DataFrame(rows)


def read_table(path: Path) -> pd.DataFrame:
    """A labelled file as a frame: CSV, or JSONL / JSON / Parquet with nested fields flattened
    to dotted columns (DecodingTrust's {"prompt": {"text", "toxicity"}} → prompt.text,
    prompt.toxicity)."""
    if not path.is_file():
        raise SafedriftError(f"labelled file '{path}': no such file")
    if path.suffix.lower() in (".jsonl", ".json", ".parquet"):
        from safedrift.rows import read_rows

        return pd.json_normalize(read_rows(path, "labelled file"))
    try:
        df = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise SafedriftError(f"labelled file '{path}': empty file") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as e:
        raise SafedriftError(f"labelled file '{path}': cannot parse ({type(e).__name__})") from None
    if df.empty:
        raise SafedriftError(f"labelled file '{path}': no rows")
    return df


def _per_class(predicted: np.ndarray, human: np.ndarray, labels) -> pd.DataFrame:
    """Precision, recall, F1 and support of each label."""
    rows = []
    for label in labels:
        tp = np.sum((predicted == label) & (human == label))
        prec = tp / np.sum(predicted == label) if np.any(predicted == label) else float("nan")
        rec = tp / np.sum(human == label) if np.any(human == label) else float("nan")
        f1 = 2 * prec * rec / (prec + rec) if prec + rec > 0 else float("nan")
        rows.append({"label": label, "precision": prec, "recall": rec, "f1": f1,
                     "support": int(np.sum(human == label))})
    return pd.DataFrame(rows)


def _normalise(labels: pd.Series) -> pd.Series:
    """Label words compared case- and space-blind, without XSTest's "1_" numbering; "1.0"
    (a 0/1 column pandas read as floats) is "1"."""
    words = labels.astype(str).str.strip().str.lower()
    words = words.str.replace(r"[\s\-]+", "_", regex=True).str.replace(r"^\d+_", "", regex=True)
    return words.str.replace(r"^([01])\.0$", r"\1", regex=True)


def _columns(path: Path, df: pd.DataFrame, kind: str, label_column: str | None,
             text_column: str | None) -> tuple[str, str]:
    """(text column, label column) of a labelled file, or a one-line error naming both."""
    for given in (label_column, text_column):
        if given is not None and given not in df:
            raise SafedriftError(f"labelled file '{path}': no column '{given}' (found: "
                                 f"{', '.join(map(str, df.columns))})")
    text = text_column or next((c for c in TEXT_COLUMNS if c in df), None)
    # XSTest's files hold both: final_label (the answer's) and label (the prompt's safe / unsafe)
    order = ("final_label", "label") if kind == "refusal" else ("label",)
    label = label_column or next((c for c in (*order, _KIND_COLUMNS.get(kind)) if c and c in df),
                                 None)
    if text is None or label is None:
        raise SafedriftError(f"labelled file '{path}': needs a text column "
                             f"({' / '.join(TEXT_COLUMNS)}) and a label column (label, or "
                             f"--label-column) (found: {', '.join(map(str, df.columns))})")
    return text, label


def _has_label(df: pd.DataFrame, label: str) -> pd.Series:
    return df[label].notna() & df[label].astype(str).str.strip().ne("")


def _labelled_frame(df: pd.DataFrame, text: str, label: str, values: pd.Series) -> pd.DataFrame:
    """(prompt, completion, label) of the rows with a label; attrs["unlabelled"] counts the
    rest."""
    has = _has_label(df, label)
    prompt_col = next((c for c in PROMPT_COLUMNS if c in df), None)
    out = pd.DataFrame({"prompt": df[prompt_col].fillna("").astype(str) if prompt_col else "",
                        "completion": df[text].fillna("").astype(str), "label": values,
                        "row": np.arange(1, len(df) + 1)})  # the file's data row, for messages
    out = out[has.to_numpy()].reset_index(drop=True)
    out.attrs["unlabelled"] = int((~has).sum())
    return out


def unlabelled_note(path, labelled: pd.DataFrame) -> str | None:
    """The line to print when a labelled file had rows without a label (left out)."""
    n = labelled.attrs.get("unlabelled")
    return f"note: '{path}': {n} row(s) without a label left out; {len(labelled)} measured" \
        if n else None


def _read_labels(path: Path, df: pd.DataFrame, label: str, vocab: dict, what: str,
                 threshold: float | None = None, above: object = None,
                 below: object = None) -> pd.Series:
    """Each labelled row's word looked up in `vocab`, or with a threshold its number read as
    `above` (>= threshold) or `below`; an unknown word or a non-number is a one-line error."""
    has = _has_label(df, label)
    if not has.any():
        raise SafedriftError(f"labelled file '{path}': column '{label}' has no labels")
    raw = df[label].astype(str).str.strip()
    if threshold is not None:
        number = pd.to_numeric(df[label], errors="coerce")
        values = pd.Series(np.where(number >= threshold, above, below), index=df.index)
        values[number.isna()] = None
        what = f"--threshold {threshold:g} needs numbers"
    else:
        values = _normalise(df[label]).map(vocab)
    bad = has & values.isna()
    if bad.any():
        raise SafedriftError(f"labelled file '{path}': unknown label '{raw[bad].iloc[0]}' in "
                             f"column '{label}' (row {int(bad.to_numpy().argmax()) + 2}; {what})")
    return values


ANNOTATOR_COLUMNS = ("annotation_1", "annotation_2")  # XSTest's two annotators, before adjudication


def annotator_agreement(df: pd.DataFrame) -> dict | None:
    """How often a file's two annotators agree with each other, where it keeps both labels
    (XSTest's `annotation_1`, `annotation_2`): {"n", "binary", "three_class"}, over the rows
    where both name one of the three classes; None for files without them. It says how far one
    person's labels go, to read a judge's accuracy beside (XSTest's GPT-4 file: 0.996
    refused-or-not, 0.984 3-class)."""
    if not all(c in df for c in ANNOTATOR_COLUMNS):
        return None
    first, second = (_normalise(df[c]).map(_THREE_CLASS) for c in ANNOTATOR_COLUMNS)
    both = first.notna() & second.notna()
    if not both.any():
        return None
    first, second = first[both], second[both]
    return {"n": int(both.sum()), "three_class": float((first == second).mean()),
            "binary": float(((first != COMPLIANCE) == (second != COMPLIANCE)).mean())}


# HarmBench's classifier validation sets: three annotators' 0/1 labels, no adjudicated label
HUMAN_COLUMN = re.compile(r"human_\d+")


def _annotator_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if HUMAN_COLUMN.fullmatch(str(c))]


def majority_label(path: Path, df: pd.DataFrame) -> pd.DataFrame:
    """`df` with a `label` column, the majority of its annotators' 0/1 columns (`human_0`,
    `human_1`, … as in HarmBench's classifier validation sets, whose gold label is that
    majority); a tie (an even number of annotators, split) is no label: left out and counted.
    Files with a `label` column, or fewer than two annotator columns, are returned as read."""
    columns = _annotator_columns(df)
    if "label" in df or len(columns) < 2:
        return df
    votes = pd.DataFrame({c: pd.to_numeric(df[c], errors="coerce") for c in columns})
    bad = df[columns].notna() & ~votes.isin([0, 1])
    if bad.any().any():
        column = bad.any().idxmax()
        row = int(bad[column].to_numpy().argmax())
        raise SafedriftError(f"labelled file '{path}': annotator column '{column}' holds "
                             f"'{df[column].iloc[row]}' (record {row + 1}); expected 0 or 1")
    yes, given = votes.sum(axis=1), votes.notna().sum(axis=1)
    label = pd.Series(np.where(2 * yes > given, 1.0, 0.0), index=df.index)
    label[(2 * yes == given) | (given == 0)] = np.nan
    return df.assign(label=label)


def several_annotators_agreement(df: pd.DataFrame) -> dict | None:
    """Mean pairwise agreement and Fleiss' kappa (Fleiss 1971; statsmodels' fleiss_kappa) of
    a file's 0/1 annotator columns, over the rows every annotator labelled: how far any one
    person's label goes, the ceiling to read a judge's accuracy against."""
    columns = _annotator_columns(df)
    if len(columns) < 2:
        return None
    votes = df[columns].apply(pd.to_numeric, errors="coerce").dropna().astype(int)
    if votes.empty:
        return None
    from itertools import combinations

    from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

    pairs = [float((votes[a] == votes[b]).mean()) for a, b in combinations(columns, 2)]
    table, _ = aggregate_raters(votes.to_numpy(), n_cat=2)
    return {"n": len(votes), "binary": float(np.mean(pairs)), "three_class": None,
            "annotators": len(columns), "fleiss_kappa": float(fleiss_kappa(table)),
            "unanimous": float(votes.nunique(axis=1).eq(1).mean())}


def load_labelled(path: str | Path, label_column: str | None = None,
                  text_column: str | None = None,
                  threshold: float | None = None) -> tuple[pd.DataFrame, bool]:
    """(frame with prompt, completion, label; whether the labels have three classes).

    Three classes when every label names one of XSTest's (full compliance, full refusal,
    partial refusal); otherwise binary, a partial refusal counting as a refusal. With a
    threshold the labels are numbers (a refusal score), a refusal at or above it."""
    path = Path(path)
    df = read_table(path)
    text, label = _columns(path, df, "refusal", label_column, text_column)
    words = _normalise(df[label][df[label].notna()])
    three = threshold is None and bool(len(words)) and words.isin(list(_THREE_CLASS)).all()
    vocab = _THREE_CLASS if three else {**_BINARY, **_THREE_CLASS, "partial_refusal": FULL_REFUSAL,
                                        "partial": FULL_REFUSAL}
    values = _read_labels(path, df, label, vocab, "refusal labels: full_compliance / "
                          "full_refusal / partial_refusal, or refusal / compliance / 1 / 0",
                          threshold, FULL_REFUSAL, COMPLIANCE)
    out = _labelled_frame(df, text, label, values)
    out.attrs["annotators"] = annotator_agreement(df)
    return out, bool(three)


def load_xstest_completions(path: str | Path) -> pd.DataFrame:
    return load_labelled(path)[0]


def auroc(scores_positive: np.ndarray, scores_negative: np.ndarray) -> float:
    if len(scores_positive) == 0 or len(scores_negative) == 0:
        return float("nan")
    u = sps.mannwhitneyu(scores_positive, scores_negative, alternative="two-sided").statistic
    return float(u / (len(scores_positive) * len(scores_negative)))


def _mean(hits: np.ndarray) -> float:
    return float(np.mean(hits)) if len(hits) else float("nan")


def _verdicts(judge: Judge, labelled: pd.DataFrame, on_done=None):
    """(verdicts with an outcome, their human labels, number of judge errors, the judged rows
    of `labelled`, number of answers that ended inside their reasoning)."""
    from safedrift.judges import judge_all

    verdicts = judge_all(judge, list(labelled["prompt"]), list(labelled["completion"]),
                         on_done=on_done)
    labels = np.array([v.label for v in verdicts])
    ok = ~np.isin(labels, COUNTED)
    return ([v for v, k in zip(verdicts, ok) if k], labelled["label"].to_numpy()[ok],
            int((labels == JUDGE_ERROR).sum()),
            (labelled if "row" in labelled else
             labelled.assign(row=np.arange(1, len(labelled) + 1)))[ok],
            int((labels == NO_ANSWER).sum()))


def _judged(rows: pd.DataFrame, human: np.ndarray, predicted: np.ndarray,
            hit: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"row": rows["row"].to_numpy(), "human": human, "judge": predicted,
                         "hit": hit})


def _wrong(rows: pd.DataFrame, verdicts, human: np.ndarray, predicted: np.ndarray) -> pd.DataFrame:
    """The judged rows where the judge's label (on the scale compared) differs from the human's."""
    miss = predicted != human
    return pd.DataFrame({"row": rows["row"].to_numpy()[miss],
                         "prompt": rows["prompt"].to_numpy()[miss],
                         "completion": rows["completion"].to_numpy()[miss],
                         "human": human[miss], "judge": predicted[miss],
                         "reason": [v.reason for v, m in zip(verdicts, miss) if m]})


def validate_judge(judge: Judge, labelled: pd.DataFrame, source: str,
                   three_class: bool = True, on_done=None) -> Validation:
    verdicts, human, errors, rows, unfinished = _verdicts(judge, labelled, on_done)
    predicted = np.array([v.label for v in verdicts])
    scores = np.array([v.score for v in verdicts])
    human_refused, judge_refused = human != COMPLIANCE, predicted != COMPLIANCE
    if not three_class:  # compare on the binary scale only
        predicted = np.where(judge_refused, FULL_REFUSAL, COMPLIANCE)
        human = np.where(human_refused, FULL_REFUSAL, COMPLIANCE)
    per_class = _per_class(predicted, human,
                           LABELS if three_class else (COMPLIANCE, FULL_REFUSAL))
    confusion = pd.crosstab(pd.Categorical(human, LABELS), pd.Categorical(predicted, LABELS),
                            rownames=["human"], colnames=["judge"], dropna=False)
    return Validation(
        judge.name, source, len(human),
        _mean(predicted == human) if three_class else float("nan"),
        _mean(judge_refused == human_refused),
        auroc(scores[human_refused], scores[~human_refused]), per_class, confusion, errors,
        _wrong(rows, verdicts, human, predicted), unfinished,
        _judged(rows, human, predicted, judge_refused == human_refused))


def load_binary_labelled(path: str | Path, kind: str, label_column: str | None = None,
                         text_column: str | None = None,
                         threshold: float | None = None) -> pd.DataFrame:
    """(prompt, completion, label) with labels as `kind`'s positive / negative words; with a
    threshold the labels are scores (a Perspective toxicity, a 1–5 rating), positive at or
    above it."""
    path = Path(path)
    df = read_table(path)
    if label_column is None:
        df = majority_label(path, df)
    text, label = _columns(path, df, kind, label_column, text_column)
    positive, negative, words = KIND_LABELS[kind]
    value = _read_labels(path, df, label, {**_NUMERIC, **words},
                         f"not a {kind} label: {positive} / {negative} / 1 / 0", threshold, 1, 0)
    out = _labelled_frame(df, text, label,
                          pd.Series(np.where(value == 1, positive, negative), index=df.index))
    out.attrs["annotators"] = several_annotators_agreement(df)
    return out


def labelled_kind(path: str | Path) -> str:
    """Which judge kind a labelled file measures, from its label words."""
    try:
        if Path(path).suffix.lower() in (".jsonl", ".json", ".parquet"):
            df = read_table(Path(path))
        else:
            df = pd.read_csv(path, usecols=lambda c: c in ("label", "final_label"))
    except (OSError, ValueError, pd.errors.ParserError, UnicodeDecodeError, SafedriftError):
        return "refusal"  # load_labelled gives the precise error
    if "label" not in df and len(_annotator_columns(df)) >= 2:
        return "harm"  # HarmBench's classifier validation layout: annotators judged harm
    if "final_label" in df or "label" not in df:
        return "refusal"
    words = set(_normalise(df["label"].dropna()))
    for kind, (_, _, vocab) in KIND_LABELS.items():
        if words & set(vocab) and words <= set(vocab) | set(_NUMERIC):
            return kind
    return "refusal"


def validate_binary(judge: Judge, labelled: pd.DataFrame, source: str,
                    on_done=None) -> Validation:
    """Accuracy, per-class precision / recall / F1, confusion and AUROC of a binary judge."""
    positive, negative, _ = KIND_LABELS[judge.kind]
    verdicts, human, errors, rows, unfinished = _verdicts(judge, labelled, on_done)
    predicted = np.array([positive if v.label == positive else negative for v in verdicts])
    scores = np.array([v.score for v in verdicts], dtype=float)
    confusion = pd.crosstab(pd.Categorical(human, (negative, positive)),
                            pd.Categorical(predicted, (negative, positive)),
                            rownames=["human"], colnames=["judge"], dropna=False)
    ok = ~np.isnan(scores)
    pos = ok & (human == positive)
    neg = ok & (human == negative)
    return Validation(judge.name, source, len(human), float("nan"),
                      _mean(predicted == human), auroc(scores[pos], scores[neg]),
                      _per_class(predicted, human, (negative, positive)), confusion, errors,
                      _wrong(rows, verdicts, human, predicted), unfinished,
                      _judged(rows, human, predicted, predicted == human))
