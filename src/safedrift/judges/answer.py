"""Capability: does the answer end in the reference number? (GSM8K's exact-match scoring.)

GSM8K's reference answers end with `#### <number>`. The model's answer is read the way the
GSM8K and lm-eval-harness "flexible extract" scorers read it: the last number in the text, with
thousands separators, currency signs and a trailing full stop removed; it is correct when it
equals the reference numerically.
"""

from __future__ import annotations

import re

from safedrift.judges.refusal import NO_REFERENCE, Verdict

CORRECT, INCORRECT = "correct", "incorrect"
_NUMBER = re.compile(r"-?\$?\d[\d,]*(?:\.\d+)?")


def last_number(text: str) -> float | None:
    found = _NUMBER.findall(text)
    if not found:
        return None
    try:
        return float(found[-1].replace(",", "").replace("$", "").rstrip("."))
    except ValueError:
        return None


class AnswerMatchJudge:
    name = "answer-match"
    version = "last-number-1"
    kind = "capability"
    summary = "the answer's last number against the reference (GSM8K's #### N)"
    tasks = ("capability",)

    def judge(self, prompt: str, response: str, reference: str | None = None) -> Verdict:
        if reference is None:
            return Verdict(NO_REFERENCE, float("nan"), "item has no reference answer")
        want = last_number(reference)
        got = last_number(response)
        if want is None:
            return Verdict(NO_REFERENCE, float("nan"), f"reference '{reference}' is not a number")
        if got is None:
            return Verdict(INCORRECT, 0.0, "no number in the answer")
        ok = abs(got - want) < 1e-6 * max(1.0, abs(want))
        return Verdict(CORRECT if ok else INCORRECT, float(ok),
                       f"last number {got:g}, reference {want:g}")
