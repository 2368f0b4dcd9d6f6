"""Early stopping: end an answer as soon as its opening already decides the refusal verdict.

A refusal rarely needs 256 tokens: "I'm sorry, but I can't help with that." decides it. The
pattern refusal judge reads the opening sentences, and its refusal score is a maximum over
patterns, so more text in the opening can only raise it; once the opening is a clear refusal,
the binary verdict (refused or not) cannot change. What can change is the three-class label:
a refusal followed by "However, here is…" and real content is a partial refusal. The rule
therefore waits for `min_sentences` complete sentences and stops only on a strong full refusal
(the judge's own pivot check finds no turn to helping so far).

Measured on real outputs in benchmarks/early_stop.py (tokens saved, verdicts changed per
judge); the result decides whether `generation.early_stop` is on by default.
"""

from __future__ import annotations

import re

from safedrift.judges.reasoning import split_reasoning
from safedrift.judges.refusal import FULL_REFUSAL, PatternRefusalJudge

_SENTENCE = re.compile(r"[.!?](\s|$)|\n")


class RefusalEarlyStop:
    """`decided(text, prompt)`: True when `text` (an answer so far to `prompt`) is already a clear
    full refusal."""

    # the judge's version is part of it: a new pattern can move where answers stop, so cached
    # early-stopped generations must not outlive the patterns that stopped them
    version = f"refusal-opening-4+{PatternRefusalJudge.version}"

    def __init__(self, min_sentences: int = 2, min_score: float = 1.0):
        self.min_sentences, self.min_score = min_sentences, min_score
        self.judge = PatternRefusalJudge()

    def decided(self, text: str, prompt: str = "") -> bool:
        text = split_reasoning(text).answer  # a refusal in the thinking is not the answer
        if text is None or len(_SENTENCE.findall(text.strip())) < self.min_sentences:
            return False
        v = self.judge.judge(prompt, text)  # the same verdict the judge gives the whole answer
        return v.label == FULL_REFUSAL and v.score >= self.min_score
