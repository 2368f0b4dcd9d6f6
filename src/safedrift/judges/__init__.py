"""Judges turn a (prompt, response) pair into a verdict. One registry, here."""

from safedrift.judges.answer import AnswerMatchJudge
from safedrift.judges.coherence import CoherenceJudge
from safedrift.judges.refusal import KeywordRefusalJudge, PatternRefusalJudge, Verdict

JUDGES = {"refusal": PatternRefusalJudge, "keyword": KeywordRefusalJudge,
          "coherence": CoherenceJudge, "answer-match": AnswerMatchJudge}


def make_judge(name: str):
    from safedrift.errors import SafedriftError

    if name not in JUDGES:
        raise SafedriftError(f"unknown judge '{name}' (known: {', '.join(JUDGES)})")
    return JUDGES[name]()


def judge_kind(name: str) -> str:
    return JUDGES[name].kind if name in JUDGES else "refusal"


__all__ = ["JUDGES", "AnswerMatchJudge", "CoherenceJudge", "KeywordRefusalJudge", "PatternRefusalJudge", "Verdict",
           "judge_kind", "make_judge"]
