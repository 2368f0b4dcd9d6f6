"""Measure a judge against human labels (XSTest completions format, or a text,label CSV)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from safedrift.errors import SafedriftError
from safedrift.judges.refusal import COMPLIANCE, LABELS, Judge

_XSTEST_LABELS = {"1_full_compliance": "full_compliance", "2_full_refusal": "full_refusal",
                  "3_partial_refusal": "partial_refusal"}


@dataclass(frozen=True)
class Validation:
    judge: str
    source: str
    n: int
    accuracy_3class: float
    accuracy_binary: float  # refusal (full or partial) vs compliance
    confusion: pd.DataFrame  # rows: human label, columns: judge label


def load_xstest_completions(path: str | Path) -> pd.DataFrame:
    """Columns prompt, completion, label (full_compliance / full_refusal / partial_refusal)."""
    path = Path(path)
    if not path.is_file():
        raise SafedriftError(f"labelled file '{path}': no such file")
    df = pd.read_csv(path)
    need = {"prompt", "completion", "final_label"}
    if not need <= set(df.columns):
        raise SafedriftError(f"labelled file '{path}': needs columns {sorted(need)}")
    df = df.assign(label=df["final_label"].map(_XSTEST_LABELS),
                   completion=df["completion"].fillna("").astype(str))
    bad = df["label"].isna()
    if bad.any():
        raise SafedriftError(f"labelled file '{path}': unknown final_label "
                             f"'{df.loc[bad, 'final_label'].iloc[0]}'")
    return df[["prompt", "completion", "label"]]


def validate_judge(judge: Judge, labelled: pd.DataFrame, source: str) -> Validation:
    predicted = [judge.judge(p, c).label for p, c in zip(labelled["prompt"], labelled["completion"])]
    human = labelled["label"].to_numpy()
    predicted = np.array(predicted)
    confusion = pd.crosstab(pd.Categorical(human, LABELS), pd.Categorical(predicted, LABELS),
                            rownames=["human"], colnames=["judge"], dropna=False)
    return Validation(judge.name, source, len(human), float(np.mean(predicted == human)),
                      float(np.mean((predicted == COMPLIANCE) == (human == COMPLIANCE))), confusion)
