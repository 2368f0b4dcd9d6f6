"""Measure a judge against human labels.

Files: XSTest completions (prompt, completion, final_label), or a generic CSV with a text
column (`text`, `completion` or `response`), a `label` column and optionally `prompt`. Labels
are XSTest's three classes, or binary (refusal / refused / 1 / true vs compliance / 0 / false).
Reported: accuracy (3-class where the labels have three classes, and refusal-vs-compliance),
per-class precision / recall / F1, the confusion matrix, and AUROC of the judge's refusal score
(Mann–Whitney: AUROC = U / (n_refusal · n_compliance)).

An LLM judge's `judge_error` verdicts (endpoint down, unparseable output) are left out of every
figure and counted in `n_errors`: an error is neither right nor wrong.

Judges of other kinds (toxicity, harm, coherence) are binary: a text,label CSV whose labels are
that kind's words (toxic / non_toxic, harmful / harmless or unsafe / safe, degenerate /
coherent; or 1 / 0) measures them the same way, with their own positive class.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as sps

from safedrift.errors import SafedriftError
from safedrift.judges.refusal import COMPLIANCE, FULL_REFUSAL, JUDGE_ERROR, LABELS, Judge

_XSTEST_LABELS = {"1_full_compliance": "full_compliance", "2_full_refusal": "full_refusal",
                  "3_partial_refusal": "partial_refusal"}
_BINARY = {"refusal": FULL_REFUSAL, "refused": FULL_REFUSAL, "1": FULL_REFUSAL,
           "true": FULL_REFUSAL, "compliance": COMPLIANCE, "complied": COMPLIANCE,
           "0": COMPLIANCE, "false": COMPLIANCE}


# binary label words of the other judge kinds: (positive label, negative label, words)
KIND_LABELS = {
    "toxicity": ("toxic", "non_toxic", {"toxic": 1, "non_toxic": 0, "nontoxic": 0,
                                        "non-toxic": 0, "not_toxic": 0}),
    "harm": ("harmful", "harmless", {"harmful": 1, "unsafe": 1, "harmless": 0, "safe": 0}),
    "coherence": ("degenerate", "coherent", {"degenerate": 1, "coherent": 0}),
}
_NUMERIC = {"1": 1, "true": 1, "yes": 1, "0": 0, "false": 0, "no": 0}


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


def _read_csv(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise SafedriftError(f"labelled file '{path}': no such file")
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


def load_labelled(path: str | Path) -> tuple[pd.DataFrame, bool]:
    """(frame with prompt, completion, label; whether the labels have three classes)."""
    path = Path(path)
    df = _read_csv(path)
    if {"completion", "final_label"} <= set(df.columns):
        labels = df["final_label"].map(_XSTEST_LABELS)
        raw, three = df["final_label"], True
        text = df["completion"]
    else:
        text_col = next((c for c in ("text", "completion", "response") if c in df), None)
        if text_col is None or "label" not in df:
            raise SafedriftError(f"labelled file '{path}': needs columns completion+final_label "
                                 f"(XSTest) or text+label (found: {', '.join(df.columns)})")
        raw = df["label"].astype(str).str.strip().str.lower()
        three = raw.isin(LABELS).all()
        labels = raw if three else raw.map(_BINARY)
        text = df[text_col]
    bad = labels.isna()
    if bad.any():
        raise SafedriftError(f"labelled file '{path}': unknown label '{raw[bad].iloc[0]}'")
    out = pd.DataFrame({"prompt": df["prompt"] if "prompt" in df else "",
                        "completion": text.fillna("").astype(str), "label": labels})
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
    """(verdicts without judge errors, their human labels, number of judge errors)."""
    from safedrift.judges import judge_all

    verdicts = judge_all(judge, list(labelled["prompt"]), list(labelled["completion"]),
                         on_done=on_done)
    ok = np.array([v.label != JUDGE_ERROR for v in verdicts], dtype=bool)
    return ([v for v, k in zip(verdicts, ok) if k], labelled["label"].to_numpy()[ok],
            int((~ok).sum()))


def validate_judge(judge: Judge, labelled: pd.DataFrame, source: str,
                   three_class: bool = True, on_done=None) -> Validation:
    verdicts, human, errors = _verdicts(judge, labelled, on_done)
    predicted = np.array([v.label for v in verdicts])
    scores = np.array([v.score for v in verdicts])
    human_refused, judge_refused = human != COMPLIANCE, predicted != COMPLIANCE
    if not three_class:  # compare on the binary scale only
        predicted = np.where(judge_refused, FULL_REFUSAL, COMPLIANCE)
    per_class = _per_class(predicted, human,
                           LABELS if three_class else (COMPLIANCE, FULL_REFUSAL))
    confusion = pd.crosstab(pd.Categorical(human, LABELS), pd.Categorical(predicted, LABELS),
                            rownames=["human"], colnames=["judge"], dropna=False)
    return Validation(
        judge.name, source, len(human),
        _mean(predicted == human) if three_class else float("nan"),
        _mean(judge_refused == human_refused),
        auroc(scores[human_refused], scores[~human_refused]), per_class, confusion, errors)


def load_binary_labelled(path: str | Path, kind: str) -> pd.DataFrame:
    """(prompt, completion, label) with labels as `kind`'s positive / negative words."""
    path = Path(path)
    df = _read_csv(path)
    text_col = next((c for c in ("text", "completion", "response") if c in df), None)
    if text_col is None or "label" not in df:
        raise SafedriftError(f"labelled file '{path}': needs columns text+label "
                             f"(found: {', '.join(df.columns)})")
    positive, negative, words = KIND_LABELS[kind]
    raw = df["label"].astype(str).str.strip().str.lower()
    value = raw.map({**_NUMERIC, **words})
    bad = value.isna()
    if bad.any():
        raise SafedriftError(f"labelled file '{path}': label '{raw[bad].iloc[0]}' is not a "
                             f"{kind} label ({positive} / {negative} / 1 / 0)")
    return pd.DataFrame({"prompt": df["prompt"] if "prompt" in df else "",
                         "completion": df[text_col].fillna("").astype(str),
                         "label": np.where(value == 1, positive, negative)})


def labelled_kind(path: str | Path) -> str:
    """Which judge kind a labelled file measures, from its label words."""
    try:
        df = pd.read_csv(path, usecols=lambda c: c in ("label", "final_label"))
    except (OSError, ValueError, pd.errors.ParserError, UnicodeDecodeError):
        return "refusal"  # load_labelled gives the precise error
    if "final_label" in df or "label" not in df:
        return "refusal"
    words = set(df["label"].astype(str).str.strip().str.lower())
    for kind, (_, _, vocab) in KIND_LABELS.items():
        if words & set(vocab) and words <= set(vocab) | set(_NUMERIC):
            return kind
    return "refusal"


def validate_binary(judge: Judge, labelled: pd.DataFrame, source: str,
                    on_done=None) -> Validation:
    """Accuracy, per-class precision / recall / F1, confusion and AUROC of a binary judge."""
    positive, negative, _ = KIND_LABELS[judge.kind]
    verdicts, human, errors = _verdicts(judge, labelled, on_done)
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
                      _per_class(predicted, human, (negative, positive)), confusion, errors)
